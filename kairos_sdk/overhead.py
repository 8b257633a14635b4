"""The per-query overhead: time a query spends outside the server's compute.

Every live query pays time that a latency profile does not hold: the client's CPU, the
loopback or network round trip, the server's HTTP framing and JSON work. :class:`Overhead`
is that time as a distribution (not a constant), measured once per endpoint set (by
:func:`~kairos_sdk.client.measure_profile`, or from a live run's breakdown with
:meth:`Overhead.from_run`) and carried by the profile (:meth:`Profile.with_overhead
<kairos_sdk.Profile.with_overhead>`), so that the planner, the simulator and the policies
all see it without further plumbing:

* the planner judges eligibility against the service time at the QoS percentile plus the
  overhead at that percentile (and the capacity against mean service plus mean overhead);
* the simulator adds a sampled overhead to each query, which also holds the instance's slot
  (the client sends the next query only when the reply is back);
* the policies' completion-time estimates (:mod:`kairos_sdk.distribute.estimates`) add it.

The default, :meth:`Overhead.zero`, changes nothing: every number stays bit-identical.

Also here: :func:`breakdown` and :func:`format_breakdown`, the split of a live run's
latencies into where the time went (the ``kairos run`` printout).

Examples
--------
>>> import numpy as np
>>> from kairos_sdk.overhead import Overhead
>>> ov = Overhead.from_samples([0.8, 1.0, 1.2, 1.0, 3.0])
>>> ov.quantile(0.5), ov.mean_ms
(1.0, 1.4)
>>> Overhead.zero().quantile(0.99), Overhead.zero().is_zero
(0.0, True)
>>> Overhead.from_dict(ov.to_dict()) == ov
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ArgumentError

__all__ = ["Overhead", "breakdown", "format_breakdown"]

#: An overhead keeps at most this many points: more samples are reduced to evenly spaced
#: quantiles (their empirical distribution, to within the spacing).
MAX_POINTS = 1001


@dataclass(frozen=True, eq=False, repr=False)
class Overhead:
    """A per-query overhead distribution in ms: sorted points of an empirical distribution.

    Build one with :meth:`from_samples`, :meth:`constant`, :meth:`zero` or
    :meth:`from_dict`. Quantiles and samples interpolate linearly between the points
    (numpy's default quantile rule), so ``quantile(q)`` of ``from_samples(x)`` is
    ``np.quantile(x, q)`` when ``x`` has at most :data:`MAX_POINTS` values.

    Attributes
    ----------
    points_ms : sorted, finite, non-negative ms (empty for zero overhead).
    source : where it came from (free text, for reprs).
    """

    points_ms: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        try:
            pts = np.sort(np.asarray(self.points_ms, dtype=float).ravel())
        except (TypeError, ValueError):
            raise ArgumentError(f"overhead samples must be numbers (ms), got {self.points_ms!r}") from None
        if pts.size and (not np.isfinite(pts).all() or pts[0] < 0):
            raise ArgumentError("overhead samples must be finite and non-negative (ms)")
        if pts.size > MAX_POINTS:
            pts = np.quantile(pts, np.linspace(0.0, 1.0, MAX_POINTS))
        pts.setflags(write=False)
        object.__setattr__(self, "points_ms", pts)
        if not isinstance(self.source, str):
            raise ArgumentError(f"overhead source must be a string, got {type(self.source).__name__}")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def zero(cls) -> Overhead:
        """No overhead: the planner, simulator and policies behave exactly as without one."""
        return cls(np.empty(0), "zero")

    @classmethod
    def constant(cls, ms: float) -> Overhead:
        """The same ``ms`` on every query."""
        if isinstance(ms, bool) or not isinstance(ms, (int, float, np.floating, np.integer)):
            raise ArgumentError(f"overhead must be a number of ms, got {ms!r}")
        return cls(np.array([float(ms)]), f"constant {float(ms):g} ms")

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float] | np.ndarray, *, source: str = "measured") -> Overhead:
        """The empirical distribution of measured overheads (ms). Needs at least one sample."""
        arr = np.asarray(samples_ms, dtype=float).ravel() if not isinstance(samples_ms, (str, bytes)) else None
        if arr is None or arr.size == 0:
            raise ArgumentError("from_samples needs at least one overhead sample (ms); use Overhead.zero() for none")
        return cls(arr, source)

    @classmethod
    def from_run(cls, result: Any) -> Overhead:
        """The overhead seen by a live :class:`~kairos_sdk.results.RunResult`: per served
        query, the client's own time before the send (pacing wake-up, placement to send) and
        the time on the connection beyond the server's reported compute (wire, the server's
        queue and its extra, e.g. a replay endpoint's timer overshoot). Waiting for an
        instance is not overhead: the simulator models it.

        The overhead grows as a process idles between queries (its caches go cold), so it
        is best measured by a run at the rate it will serve (a pilot run)."""
        split = breakdown(result)
        if split is None or not np.isfinite(split["compute_ms"]).any():
            raise ArgumentError("this run carries no per-query breakdown with server compute times (a live run "
                                "against servers that report theirs in Server-Timing has one)")
        ok = np.isfinite(split["compute_ms"])
        extra = sum(split[k][ok] for k in ("client_ms", "wire_ms", "server_queue_ms", "server_extra_ms"))
        return cls.from_samples(np.maximum(extra, 0.0), source=f"live run, {extra.size} queries")

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Overhead:
        """Restore an overhead written by :meth:`to_dict`."""
        if not isinstance(doc, Mapping) or "points_ms" not in doc:
            raise ArgumentError("an overhead document is {'points_ms': [...], 'source': ...}")
        return cls(np.asarray(doc["points_ms"], dtype=float), str(doc.get("source", "")))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` restores an equal overhead."""
        return {"points_ms": self.points_ms.tolist(), "source": self.source}

    # ------------------------------------------------------------------ figures
    @property
    def is_zero(self) -> bool:
        """True when every query's overhead is 0 ms."""
        return self.points_ms.size == 0 or float(self.points_ms[-1]) == 0.0

    @property
    def mean_ms(self) -> float:
        """Mean overhead in ms (of the interpolated distribution's points)."""
        return float(self.points_ms.mean()) if self.points_ms.size else 0.0

    def quantile(self, q: float) -> float:
        """Overhead (ms) at quantile ``q`` in [0, 1]."""
        if isinstance(q, bool) or not isinstance(q, (int, float, np.floating)) or not (0.0 <= q <= 1.0):
            raise ArgumentError(f"q must be a quantile in [0, 1], got {q!r}")
        if self.points_ms.size == 0:
            return 0.0
        return float(np.quantile(self.points_ms, float(q)))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` overheads (ms) drawn by inverse-CDF sampling (one uniform each from ``rng``;
        none drawn for a zero overhead)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ArgumentError(f"n must be a non-negative integer, got {n!r}")
        if self.is_zero:
            return np.zeros(int(n))
        return np.quantile(self.points_ms, rng.random(int(n)))

    def quantile_of_sum(self, service_levels_ms: np.ndarray, q: float) -> np.ndarray:
        """Quantile ``q`` of service time plus this overhead, the two independent.

        ``service_levels_ms`` is ``(..., L)``: a service-time distribution given by its
        values at the :func:`levels` ``L`` (evenly spaced quantile levels). Returns ``(...)``.
        """
        svc = np.asarray(service_levels_ms, dtype=float)
        if self.is_zero:
            return np.quantile(svc, q, axis=-1)
        o = np.quantile(self.points_ms, levels(min(self.points_ms.size, _SUM_OVERHEAD_LEVELS)))
        sums = (svc[..., :, None] + o).reshape(*svc.shape[:-1], -1)
        return np.quantile(sums, q, axis=-1)

    # ------------------------------------------------------------------ value behaviour
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Overhead):
            return NotImplemented
        return self.is_zero and other.is_zero or bool(np.array_equal(self.points_ms, other.points_ms))

    def __hash__(self) -> int:
        return hash(self.points_ms.tobytes()) if not self.is_zero else 0

    def __repr__(self) -> str:
        if self.is_zero:
            return "Overhead(zero)"
        src = f", {self.source}" if self.source else ""
        return (f"Overhead(mean {self.mean_ms:.3g} ms, p50 {self.quantile(0.5):.3g} ms, "
                f"p99 {self.quantile(0.99):.3g} ms, {self.points_ms.size} points{src})")


#: Quantile levels a service-time distribution is read at to add an overhead to it, and
#: levels of the overhead used (the sum's quantile is taken over their L x M sums).
_SUM_SERVICE_LEVELS = 200
_SUM_OVERHEAD_LEVELS = 50


def levels(n: int) -> np.ndarray:
    """``n`` evenly spaced quantile levels, the midpoints of ``n`` equal bins of [0, 1]."""
    return (np.arange(n) + 0.5) / n


def latency_with_overhead(profile: Any, instance: str, batch: Any, q: float | str, *,
                          extrapolate: bool = False) -> np.ndarray:
    """Latency of ``batch`` on ``instance`` as a query sees it: service time plus the
    profile's overhead (:attr:`Profile.overhead <kairos_sdk.Profile.overhead>`).

    ``q="mean"`` adds the mean overhead; a quantile ``q`` is the quantile of the sum of
    two independent parts (never below the service time's quantile plus the least
    overhead). With a zero overhead this is exactly ``profile.latency(instance, batch, q)``.
    The one place the planner and the policies' estimates add an overhead.
    """
    base = np.asarray(profile.latency(instance, batch, q=q, extrapolate=extrapolate), dtype=float)
    ov = getattr(profile, "overhead", None)
    if ov is None or ov.is_zero:
        return base
    if isinstance(q, str):
        return base + ov.mean_ms
    if ov.points_ms[0] == ov.points_ms[-1]:  # a constant shifts every quantile by itself
        return base + float(ov.points_ms[0])
    b = np.asarray(batch)
    svc = np.asarray(profile.latency(instance, b.reshape(-1, 1), q=levels(_SUM_SERVICE_LEVELS),
                                     extrapolate=extrapolate), dtype=float)
    return np.maximum(ov.quantile_of_sum(svc, float(q)).reshape(b.shape), base + float(ov.points_ms[0]))


def as_overhead(value: Any, name: str = "overhead") -> Overhead:
    """``value`` as an :class:`Overhead`: ``None`` is zero, a number a constant."""
    if value is None:
        return Overhead.zero()
    if isinstance(value, Overhead):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return Overhead.constant(float(value))
    raise ArgumentError(f"{name} must be an Overhead, a number of ms or None, got {type(value).__name__}")


# ---------------------------------------------------------------------- a run's breakdown
#: The parts of a live query's latency, in the order they happen.
PARTS = ("client_ms", "pending_ms", "wire_ms", "server_queue_ms", "server_extra_ms", "compute_ms")


def breakdown(result: Any) -> dict[str, np.ndarray] | None:
    """Where each served query's time went, from a live run's ``extra["breakdown"]``:
    ``client_ms`` (the client's own time before the send: from the scheduled arrival to the
    dispatcher, and from the placement on an instance to the send), ``pending_ms`` (waiting
    for an instance, earlier attempts included), ``wire_ms`` (on the connection beyond what
    the server reports), ``server_queue_ms``, ``server_extra_ms`` and ``compute_ms`` (as the
    server reports them: a replay endpoint's compute is its draw from the profile and its
    extra the timer's overshoot; 0 for a server that reports no draw). The six add up to
    the query's latency. ``None`` for a run without one (simulated, or a server that does
    not report its time: then ``wire_ms`` holds the whole time on the connection and the
    server parts are ``nan``)."""
    parts = getattr(result, "extra", {}).get("breakdown")
    if parts is None:
        return None
    n = len(parts["pending_ms"])  # a run saved before client_ms and server_extra_ms were split out: 0
    return {k: np.asarray(parts[k], dtype=float) if k in parts else np.zeros(n) for k in PARTS}


def format_breakdown(result: Any) -> str:
    """A few lines for ``kairos run``: mean, p50 and p99 of each part of the latency.

    Empty string for a run without a breakdown.
    """
    split = breakdown(result)
    if split is None:
        return ""
    lat = np.asarray(result.latencies_ms, dtype=float)
    ok = np.isfinite(lat)
    if not ok.any():
        return ""
    names = {"client_ms": "client (pacing wake-up, send)", "pending_ms": "waiting for an instance",
             "wire_ms": "on the wire (HTTP, loopback, client CPU)", "server_queue_ms": "server queue",
             "server_extra_ms": "server beyond its compute (timer)", "compute_ms": "server compute",
             "total": "latency"}
    lines = [f"where a query's time goes ({int(ok.sum())} served queries, ms):",
             f"  {'':42s} {'mean':>8s} {'p50':>8s} {'p99':>8s}"]
    for k in (*PARTS, "total"):
        v = lat[ok] if k == "total" else split[k][ok]
        v = v[np.isfinite(v)]
        if not v.size:
            lines.append(f"  {names[k]:42s} {'n/a':>8s}")
            continue
        lines.append(f"  {names[k]:42s} {v.mean():8.3f} {np.quantile(v, 0.5):8.3f} {np.quantile(v, 0.99):8.3f}")
    return "\n".join(lines)
