""":class:`RetryPolicy`: which failures are retried, how often, and how failing endpoints are
probed back into rotation.

A failed attempt has a *kind*:

=================  ==========================================================
``"connect"``      could not connect, or the connection broke mid-request
``"timeout"``      no complete answer within the client's ``timeout_s``
``"server_error"`` HTTP 5xx
``"client_error"`` HTTP 4xx (the request itself is wrong: not retried by default)
``"protocol"``     a 2xx reply that is malformed (the server's fault: retried elsewhere)
``"tls"``          TLS handshake or certificate verification failed (not retried)
=================  ==========================================================

A query whose attempt fails with a kind in ``retry_on`` goes back to the pending queue
(after a capped exponential backoff with jitter) while fewer than ``max_attempts`` attempts
were made (inference is idempotent); after ``eject_after`` such failures in a row the
instance it failed on is taken out of rotation (outlier ejection; an instance answering
malformed replies is never the last one taken out) and probed with its own capped
exponential backoff: it comes back once its readiness calls answer *and* a small test query
(batch 1) succeeds, so an endpoint that is up but fails, stalls or garbles inference stays
out.

Examples
--------
>>> from kairos_sdk.client import RetryPolicy
>>> r = RetryPolicy(max_attempts=4, backoff_ms=10, max_backoff_ms=25, jitter=0.0)
>>> [r.backoff_delay_ms(a) for a in (1, 2, 3, 4)]
[10.0, 20.0, 25.0, 25.0]
>>> RetryPolicy.none().max_attempts
1
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .._checks import finite_float, non_negative_float, positive_int
from ..errors import ArgumentError

__all__ = ["FAILURE_KINDS", "RetryPolicy"]

FAILURE_KINDS = frozenset({"connect", "timeout", "server_error", "client_error", "protocol", "tls"})


@dataclass(frozen=True)
class RetryPolicy:
    """How the client retries failed attempts and probes failed endpoints.

    Parameters
    ----------
    max_attempts : attempts per query in total (1 = never retry).
    backoff_ms : delay before the first retry; doubles per further retry.
    max_backoff_ms : cap of the retry delay.
    jitter : relative jitter of every delay (0.25: uniformly within ±25 %).
    retry_on : failure kinds that are retried and count towards taking the instance out of
        rotation (default: connect, timeout, server_error, protocol).
    eject_after : consecutive failed attempts of a ``retry_on`` kind on one instance that
        take it out of rotation (1: at the first; a success resets the count).
    probe_ms, max_probe_ms : first and largest delay between readiness probes of an
        instance out of rotation (doubling in between).
    seed : seeds the jitter of the client's backoff and probe delays (default: unseeded).
    """

    max_attempts: int = 3
    backoff_ms: float = 10.0
    max_backoff_ms: float = 1000.0
    jitter: float = 0.25
    retry_on: frozenset[str] = field(default=frozenset({"connect", "timeout", "server_error", "protocol"}))
    eject_after: int = 1
    probe_ms: float = 100.0
    max_probe_ms: float = 2000.0
    seed: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "max_attempts", positive_int(self.max_attempts, "RetryPolicy.max_attempts"))
        for name in ("backoff_ms", "max_backoff_ms", "probe_ms", "max_probe_ms"):
            set_(self, name, non_negative_float(getattr(self, name), f"RetryPolicy.{name}", unit="milliseconds"))
        jitter = finite_float(self.jitter, "RetryPolicy.jitter")
        if not 0.0 <= jitter < 1.0:
            raise ArgumentError(f"RetryPolicy.jitter must be in [0, 1), got {self.jitter!r}")
        set_(self, "jitter", jitter)
        set_(self, "eject_after", positive_int(self.eject_after, "RetryPolicy.eject_after"))
        kinds = frozenset([self.retry_on] if isinstance(self.retry_on, str) else self.retry_on)
        unknown = sorted(kinds - FAILURE_KINDS)
        if unknown:
            raise ArgumentError(f"RetryPolicy.retry_on has unknown kind(s) {', '.join(unknown)}; choose from {', '.join(sorted(FAILURE_KINDS))}")
        object.__setattr__(self, "retry_on", kinds)

    @classmethod
    def none(cls) -> RetryPolicy:
        """Never retry (failing instances are still taken out of rotation and probed)."""
        return cls(max_attempts=1)

    def backoff_delay_ms(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retrying after the ``attempt``-th failed attempt (1-based)."""
        return self._jittered(min(self.max_backoff_ms, self.backoff_ms * 2.0 ** (attempt - 1)), rng)

    def probe_delay_ms(self, failures: int, rng: random.Random | None = None) -> float:
        """Delay before the next readiness probe after ``failures`` failed probes."""
        return self._jittered(min(self.max_probe_ms, self.probe_ms * 2.0 ** min(failures, 30)), rng)

    def _jittered(self, base: float, rng: random.Random | None) -> float:
        if self.jitter == 0 or base == 0:
            return float(base)
        u = (rng or random).uniform(-self.jitter, self.jitter)
        return float(base * (1.0 + u))

    def __repr__(self) -> str:
        kinds = ",".join(sorted(self.retry_on))
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, backoff={self.backoff_ms:g}..{self.max_backoff_ms:g} ms, "
            f"jitter={self.jitter:g}, retry_on={{{kinds}}}, eject_after={self.eject_after}, "
            f"probe={self.probe_ms:g}..{self.max_probe_ms:g} ms)"
        )
