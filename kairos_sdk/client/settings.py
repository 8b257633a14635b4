"""The client's settings as small frozen objects: :class:`Timeouts`, :class:`Limits` and
:class:`Auth`.

:class:`~kairos_sdk.client.KairosClient` takes the common setting of each as a plain keyword
(``timeout_s=2.0``, ``concurrency=2``, ``token="..."``) and the full object where more is
needed (``timeout_s=Timeouts(request_s=2.0, wait_ready_s=30)``, ``concurrency=Limits(2,
max_connections=50)``, ``token=Auth(headers={"X-Api-Key": key}, verify="ca.pem")``), the way
httpx takes ``timeout=5.0`` or ``timeout=httpx.Timeout(...)``. Each object checks its values
once, when it is made.

Examples
--------
>>> from kairos_sdk.client import Auth, Limits, Timeouts
>>> Timeouts(request_s=2.0, wait_ready_s=30)
Timeouts(request_s=2, ready_s=2, unavailable_s=2, wait_ready_s=30, check_ready='all', hold_s=1, after_hold='serve')
>>> Limits(concurrency=4).connections_for(3)
100
>>> Auth(token="secret", headers={"X-Team": "ml"})
Auth(token=<hidden>, headers=[X-Team], verify=True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._checks import instance_of, non_negative_float, one_of, positive_float, positive_int
from ..errors import ArgumentError

__all__ = ["Auth", "Limits", "Timeouts"]

#: the readiness calls' own timeout never exceeds this (a ready server answers them at once)
_READY_TIMEOUT_CAP_S = 5.0


# ---------------------------------------------------------------------------- argument checks
def _seconds(name: str, value: Any, *, allow_zero: bool = False) -> float:
    check = non_negative_float if allow_zero else positive_float
    return check(value, name, unit="seconds")


# ---------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Timeouts:
    """How long the client waits, in real seconds.

    Parameters
    ----------
    request_s : per-request timeout (``timeout_s``). A request without a complete answer by
        then fails with kind ``"timeout"`` and is retried elsewhere.
    ready_s : timeout of each readiness call (default: ``request_s``, at most 5 s).
    unavailable_s : when every instance has been out of rotation this long, pending queries
        fail with :class:`~kairos_sdk.errors.EndpointError` instead of waiting.
    wait_ready_s : at start, keep re-checking readiness for up to this long before giving up.
    check_ready : at start, ``"all"`` endpoints must be ready within ``wait_ready_s``
        (default), ``"any"`` (the others start out of rotation and are probed), or ``"skip"``;
        ``True``/``False`` mean ``"all"``/``"skip"``.
    hold_s : while an instance is out of rotation, a query the policy keeps pending for this
        long although an instance in rotation sits idle is *stranded* (the policy is waiting
        for a type that is out, e.g. the only GPU): it is then handled by ``after_hold``.
    after_hold : ``"serve"`` (default) sends a stranded query to the idle instance in
        rotation with the least expected latency for its batch size (it is served, late);
        ``"fail"`` ends it as ``QueryFailed(kind="unavailable")``.
    deadline_s : a query not yet sent this long after it was submitted (pending, or waiting
        to be retried) ends as ``QueryFailed(kind="deadline")``; ``None`` (default): no
        deadline, a query waits as long as the queue makes it.
    """

    request_s: float = 10.0
    ready_s: float | None = None
    unavailable_s: float = 2.0
    wait_ready_s: float = 0.0
    check_ready: Literal["all", "any", "skip"] = "all"
    hold_s: float = 1.0
    after_hold: Literal["serve", "fail"] = "serve"
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "request_s", _seconds("timeout_s", self.request_s))
        ready = min(self.request_s, _READY_TIMEOUT_CAP_S) if self.ready_s is None else _seconds("ready_s", self.ready_s)
        set_(self, "ready_s", ready)
        set_(self, "unavailable_s", _seconds("unavailable_timeout_s", self.unavailable_s, allow_zero=True))
        set_(self, "wait_ready_s", _seconds("wait_ready_s", self.wait_ready_s, allow_zero=True))
        check = "all" if self.check_ready is True else "skip" if self.check_ready is False else self.check_ready
        set_(self, "check_ready", one_of(check, "check_ready", ("all", "any", "skip")))
        set_(self, "hold_s", _seconds("hold_s", self.hold_s, allow_zero=True))
        set_(self, "after_hold", one_of(self.after_hold, "after_hold", ("serve", "fail")))
        if self.deadline_s is not None:
            set_(self, "deadline_s", _seconds("deadline_s", self.deadline_s))

    def __repr__(self) -> str:
        return (f"Timeouts(request_s={self.request_s:g}, ready_s={self.ready_s:g}, unavailable_s={self.unavailable_s:g}, "
                f"wait_ready_s={self.wait_ready_s:g}, check_ready={self.check_ready!r}, hold_s={self.hold_s:g}, "
                f"after_hold={self.after_hold!r}" + (f", deadline_s={self.deadline_s:g})" if self.deadline_s is not None else ")"))


@dataclass(frozen=True)
class Limits:
    """How much the client sends at once.

    Parameters
    ----------
    concurrency : queries in flight per instance (1 = a single-worker server).
    max_connections : connection limit of the session (default: enough for the pool,
        see :meth:`connections_for`).
    max_pending : most queries waiting in the client (submitted, not in flight); a query
        submitted beyond it ends at once as ``QueryFailed(kind="overloaded")``
        (:class:`~kairos_sdk.errors.OverloadedError`). ``None`` (default): unbounded.
    """

    concurrency: int = 1
    max_connections: int | None = None
    max_pending: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "concurrency", positive_int(self.concurrency, "concurrency"))
        if self.max_connections is not None:
            object.__setattr__(self, "max_connections", positive_int(self.max_connections, "max_connections"))
        if self.max_pending is not None:
            object.__setattr__(self, "max_pending", positive_int(self.max_pending, "max_pending"))

    def connections_for(self, n_instances: int) -> int:
        """The session's connection limit for a pool of ``n_instances``."""
        if self.max_connections is not None:
            return self.max_connections
        return max(100, 2 * n_instances * self.concurrency + 2 * n_instances)


@dataclass(frozen=True, repr=False)
class Auth:
    """Who the client is and whom it trusts: sent with every request, never shown.

    Parameters
    ----------
    token : bearer token sent as ``Authorization: Bearer ...``.
    headers : extra headers for every request (e.g. an API-key header).
    verify : TLS verification, on by default; ``False``, a CA bundle path or an SSLContext.
    """

    token: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    verify: Any = True

    def __post_init__(self) -> None:
        if self.token is not None:
            instance_of(self.token, "token", str)
            if not self.token:
                raise ArgumentError("token must be a non-empty string")
        object.__setattr__(self, "headers", {str(k): str(v) for k, v in (self.headers or {}).items()})

    def all_headers(self) -> dict[str, str]:
        """The headers to send: ``headers`` plus the bearer token's ``Authorization``."""
        out = dict(self.headers)
        if self.token is not None:
            out["Authorization"] = f"Bearer {self.token}"
        return out

    def __repr__(self) -> str:
        token = "<hidden>" if self.token is not None else "None"
        verify = self.verify if isinstance(self.verify, bool) else "<custom>"
        return f"Auth(token={token}, headers=[{', '.join(self.headers)}], verify={verify})"


# ---------------------------------------------------------------------------- keyword or object
def as_timeouts(timeout_s: float | Timeouts) -> Timeouts:
    """``timeout_s=`` as given to the client: seconds per request, or a :class:`Timeouts`."""
    return timeout_s if isinstance(timeout_s, Timeouts) else Timeouts(request_s=timeout_s)


def as_limits(concurrency: int | Limits) -> Limits:
    """``concurrency=`` as given to the client: queries in flight per instance, or a :class:`Limits`."""
    return concurrency if isinstance(concurrency, Limits) else Limits(concurrency=concurrency)


def as_auth(token: str | Auth | None) -> Auth:
    """``token=`` as given to the client: a bearer token, an :class:`Auth`, or None."""
    return token if isinstance(token, Auth) else Auth(token=token)
