"""Workloads: the batch-size distribution of incoming queries and their arrival process.

A :class:`Workload` holds the batch-size distribution as an exact probability mass function
over integer batch sizes (``batch_sizes`` / ``probs``), which is also the discrete set of batch
classes the planner works with, plus an arrival process: Poisson by default, or the replay of
a recorded trace.

Examples
--------
>>> import numpy as np
>>> from kairos_sdk import Workload
>>> w = Workload.deeprecsys()
>>> int(w.batch_sizes.min()), int(w.batch_sizes.max()), len(w.batch_sizes)
(10, 1000, 100)
>>> batch, arrival_ms = w.sample(5, rate=100.0, rng=np.random.default_rng(0))
>>> batch.shape, bool(np.all(np.diff(arrival_ms) >= 0))
((5,), True)
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ._checks import instance_of, non_negative_float, positive_float, positive_int
from .errors import WorkloadError

__all__ = ["RateTrace", "Workload"]


@dataclass(frozen=True, eq=False, repr=False)
class Workload:
    """Batch-size distribution plus arrival process.

    Parameters
    ----------
    batch_sizes : (K,) strictly increasing positive integer batch sizes.
    probs : (K,) probabilities (normalized to sum to one).
    name : a label for tables and plots.
    trace_batches, trace_gaps_ms : set by :meth:`from_trace` with timestamps; ``sample``
        then replays the trace (cycled) instead of drawing i.i.d. with Poisson arrivals.
    """

    batch_sizes: np.ndarray
    probs: np.ndarray
    name: str = "custom"
    trace_batches: np.ndarray | None = None
    trace_gaps_ms: np.ndarray | None = None
    _cdf: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            b = np.asarray(self.batch_sizes, dtype=float).ravel()
            p = np.asarray(self.probs, dtype=float).ravel()
        except (TypeError, ValueError):
            raise WorkloadError("batch_sizes and probs must be numeric arrays") from None
        if b.size == 0 or b.shape != p.shape:
            raise WorkloadError(f"batch_sizes and probs must be non-empty and of equal length, got {b.size} and {p.size}")
        if not np.all(np.isfinite(b)) or np.any(b <= 0) or np.any(b != np.round(b)):
            raise WorkloadError("batch sizes must be positive integers")
        if np.any(np.diff(b) <= 0):
            raise WorkloadError("batch_sizes must be strictly increasing (merge repeated sizes)")
        if not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
            raise WorkloadError("probs must be non-negative, finite and not all zero")
        keep = p > 0
        b, p = b[keep].astype(np.int64), p[keep] / p[keep].sum()
        cdf = np.cumsum(p)
        cdf[-1] = 1.0
        for name, arr in (("batch_sizes", b), ("probs", p), ("_cdf", cdf)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def deeprecsys(cls, *, round_to: int = 10) -> Workload:
        """The DeepRecSys production batch-size mix as the KAIROS evaluation generates it.

        A draw ``r`` in 1..99 picks the class: ``r <= 8`` uniform 1-99, ``r <= 30`` uniform
        200-599, ``r <= 35`` uniform 600-999, otherwise log-normal (mu 5.1, sigma 0.2) kept
        when within 100-200 and else replaced by uniform 190-199 (shares 8/99, 22/99, 5/99
        and 64/99). Batch sizes are rounded up to a multiple of ``round_to`` (10 in the
        paper, matching the measured grid 10..1000). The probabilities here are exact.
        """
        round_to = positive_int(round_to, "round_to", error=WorkloadError)
        pmf: dict[int, float] = {}

        def add(size: int, mass: float) -> None:
            key = -(-size // round_to) * round_to
            pmf[key] = pmf.get(key, 0.0) + mass

        for lo, hi, share in ((1, 99, 8 / 99), (200, 599, 22 / 99), (600, 999, 5 / 99)):
            for k in range(lo, hi + 1):
                add(k, share / (hi - lo + 1))
        ln = stats.lognorm(s=0.2, scale=math.exp(5.1))
        share = 64 / 99
        inside = ln.cdf(200) - ln.cdf(100)
        # Continuous draws x in (k-1, k] round up to integer k, then to the grid.
        for k in range(101, 201):
            add(k, share * (ln.cdf(k) - ln.cdf(k - 1)))
        for k in range(190, 200):
            add(k, share * (1 - inside) / 10)
        sizes = np.array(sorted(pmf))
        return cls(sizes, np.array([pmf[s] for s in sizes]), name="deeprecsys")

    @classmethod
    def fixed(cls, batch: int) -> Workload:
        """Every query has the same batch size."""
        batch = positive_int(batch, "batch", error=WorkloadError)
        return cls(np.array([batch]), np.array([1.0]), name=f"fixed({batch})")

    @classmethod
    def from_distribution(cls, probs_by_batch: dict[int, float], *, name: str = "custom") -> Workload:
        """From ``{batch size: probability or weight}``."""
        instance_of(probs_by_batch, "probs_by_batch", Mapping, hint=" {batch size: probability}")
        if not probs_by_batch:
            raise WorkloadError("the distribution is empty; give at least one batch size")
        sizes = sorted(probs_by_batch)
        return cls(np.array(sizes), np.array([probs_by_batch[s] for s in sizes]), name=name)

    @classmethod
    def from_trace(
        cls,
        batch_sizes: Sequence[int] | np.ndarray,
        timestamps: Sequence[float] | np.ndarray | None = None,
        *,
        name: str = "trace",
    ) -> Workload:
        """From recorded batch sizes and, optionally, their arrival timestamps (seconds).

        Without timestamps the empirical batch-size distribution is drawn i.i.d. with
        Poisson arrivals. With timestamps, ``sample`` replays the trace in order (cycled),
        its gaps scaled so the mean rate equals the requested ``rate``.
        """
        try:
            b = np.asarray(batch_sizes, dtype=float).ravel()
        except (TypeError, ValueError):
            raise WorkloadError("batch_sizes must be numbers") from None
        if b.size == 0:
            raise WorkloadError("the trace is empty")
        bad = ~np.isfinite(b) | (b <= 0) | (b != np.round(b))
        if bad.any():
            k = int(np.argmax(bad))
            raise WorkloadError(f"trace entry {k}: batch size {b[k]!r} must be a positive integer")
        sizes, counts = np.unique(b.astype(np.int64), return_counts=True)
        gaps = None
        tb = None
        if timestamps is not None:
            t = np.asarray(timestamps, dtype=float).ravel()
            if t.shape != b.shape:
                raise WorkloadError(f"got {t.size} timestamps for {b.size} batch sizes")
            if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
                raise WorkloadError("timestamps must be finite and non-decreasing")
            if b.size < 2 or t[-1] <= t[0]:
                raise WorkloadError("a timed trace needs at least two distinct timestamps")
            g = np.diff(t) * 1000.0
            gaps = np.append(g, g.mean())
            tb = b.astype(np.int64)
        return cls(sizes, counts.astype(float), name=name, trace_batches=tb, trace_gaps_ms=gaps)

    # ------------------------------------------------------------------ use
    @property
    def mean_batch(self) -> float:
        """Expected batch size."""
        return float(self.batch_sizes @ self.probs)

    def probability(self, lo: float = -math.inf, hi: float = math.inf) -> float:
        """Probability that a query's batch size lies in ``[lo, hi]``."""
        m = (self.batch_sizes >= lo) & (self.batch_sizes <= hi)
        return float(self.probs[m].sum())

    def sample_batches(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` i.i.d. batch sizes."""
        n = _check_n(n)
        _check_rng(rng)
        return self.batch_sizes[np.searchsorted(self._cdf, rng.random(n), side="right").clip(max=len(self._cdf) - 1)]

    def sample(self, n: int, *, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` queries at ``rate`` queries/second: ``(batch_sizes, arrival_ms)``; the same as
        :meth:`arrivals` (this is its older spelling, with ``rate`` as a keyword)."""
        n = _check_n(n)
        _check_rng(rng)
        rate = positive_float(rate, "rate", unit="queries per second", error=WorkloadError)
        return self.arrivals(n, rate, rng)

    def arrivals(self, n: int, rate_qps: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` queries at ``rate_qps`` queries/second: ``(batch_sizes, arrival_ms)``.

        The one place queries are drawn: :func:`~kairos_sdk.simulate` and
        :meth:`KairosClient.run <kairos_sdk.client.KairosClient.run>` both call it, so a
        simulation and a live run with the same seed see the same queries. Arrival times are
        unit-rate draws (1 ms mean gap) scaled to ``rate_qps``: the same generator state gives
        the same batch sizes and the same arrivals at every rate, only closer together or
        further apart (common random numbers). A timed trace is replayed (cycled) with its
        gaps scaled to that rate; otherwise gaps are exponential (Poisson arrivals).
        Arrival times start after the first gap and are non-decreasing milliseconds.

        Examples
        --------
        >>> import numpy as np
        >>> from kairos_sdk import Workload
        >>> w = Workload.deeprecsys()
        >>> b1, t1 = w.arrivals(4, 10.0, np.random.default_rng(0))
        >>> b2, t2 = w.arrivals(4, 20.0, np.random.default_rng(0))
        >>> bool(np.all(b1 == b2)), bool(np.allclose(t1, 2 * t2))
        (True, True)
        """
        n = _check_n(n)
        _check_rng(rng)
        rate_qps = positive_float(rate_qps, "rate_qps", unit="queries per second", error=WorkloadError)
        if self.trace_batches is not None and self.trace_gaps_ms is not None:
            reps = -(-n // len(self.trace_batches))
            batch = np.tile(self.trace_batches, reps)[:n]
            gaps = np.tile(self.trace_gaps_ms, reps)[:n]
            unit_ms = np.cumsum(gaps * (1.0 / self.trace_gaps_ms.mean()))
        else:
            batch = self.sample_batches(n, rng)
            unit_ms = np.cumsum(rng.exponential(1.0, size=n))
        return batch.astype(np.int64), unit_ms * (1000.0 / float(rate_qps))

    def arrivals_over(self, trace: RateTrace, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Queries over a :class:`RateTrace`: ``(batch_sizes, arrival_ms)``, a non-homogeneous
        Poisson process whose intensity follows the trace, from time 0 to its end.

        Unit-rate exponential gaps are mapped through the inverse of the trace's expected
        arrival count (time rescaling), so the number of arrivals in any interval is Poisson
        with the trace's integral over it as mean. Batch sizes are drawn i.i.d. from this
        workload (a timed trace's own gaps are not used here).

        Examples
        --------
        >>> import numpy as np
        >>> from kairos_sdk import RateTrace, Workload
        >>> tr = RateTrace.step(10.0, 100.0, at_s=50.0, duration_s=100.0)
        >>> b, t = Workload.deeprecsys().arrivals_over(tr, np.random.default_rng(0))
        >>> int((t < 50_000).sum()) < int((t >= 50_000).sum())
        True
        """
        instance_of(trace, "trace", RateTrace)
        _check_rng(rng)
        total = trace.expected_queries(0.0, trace.duration_s)
        # draw in chunks until the cumulative unit-rate clock passes the trace's total
        parts: list[np.ndarray] = []
        clock = 0.0
        chunk = int(total + 6.0 * math.sqrt(total) + 16)
        while clock <= total:
            g = np.cumsum(rng.exponential(1.0, size=chunk)) + clock
            parts.append(g)
            clock = float(g[-1])
        lam = np.concatenate(parts)
        lam = lam[lam <= total]
        batch = self.sample_batches(max(lam.size, 1), rng)[: lam.size]
        return batch.astype(np.int64), trace._inverse(lam) * 1000.0

    def restrict(self, lo: int, hi: int) -> Workload:
        """The distribution conditioned on ``lo <= batch <= hi``."""
        m = (self.batch_sizes >= lo) & (self.batch_sizes <= hi)
        if not m.any():
            raise WorkloadError(f"no batch size of this workload lies in [{lo}, {hi}]")
        return Workload(self.batch_sizes[m], self.probs[m], name=f"{self.name}[{lo}..{hi}]")

    def __repr__(self) -> str:
        arrival = "trace replay" if self.trace_batches is not None else "Poisson"
        return (
            f"Workload({self.name!r}, batch {int(self.batch_sizes[0])}..{int(self.batch_sizes[-1])}"
            f" over {len(self.batch_sizes)} sizes, mean {self.mean_batch:.1f}, {arrival} arrivals)"
        )

    def _repr_html_(self) -> str:
        q = np.searchsorted(self._cdf, [0.5, 0.9, 0.99])
        pct = ", ".join(f"p{p}={int(self.batch_sizes[min(i, len(self.batch_sizes) - 1)])}" for p, i in zip((50, 90, 99), q))
        return f"<p><b>{html.escape(repr(self))}</b><br>batch-size percentiles: {pct}</p>"

    def plot(self, ax=None):
        """Bar chart of the batch-size distribution; returns the matplotlib ``Axes``."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3))
        width = max(1.0, float(np.min(np.diff(self.batch_sizes))) * 0.8) if len(self.batch_sizes) > 1 else 1.0
        ax.bar(self.batch_sizes, self.probs, width=width)
        ax.set_xlabel("batch size")
        ax.set_ylabel("probability")
        ax.set_title(f"Workload {self.name}")
        return ax


def _check_n(n: int) -> int:
    return positive_int(n, "n", error=WorkloadError)


def _check_rng(rng: object) -> None:
    instance_of(rng, "rng", np.random.Generator, hint=" (e.g. numpy.random.default_rng(0))")


# ---------------------------------------------------------------------------- rate traces
@dataclass(frozen=True, eq=False, repr=False)
class RateTrace:
    """An arrival rate that changes over time: piecewise linear through ``(time_s, rate_qps)``
    points, constant before the first point is impossible (the first point is at time 0) and
    the trace ends at its last point.

    Arrivals over a trace are a non-homogeneous Poisson process whose intensity is this
    rate (:meth:`Workload.arrivals_over`). Build one from a table (:meth:`from_table`), a
    function (:meth:`from_function`) or the shapes :meth:`diurnal`, :meth:`step` and
    :meth:`spike`.

    Examples
    --------
    >>> from kairos_sdk import RateTrace
    >>> tr = RateTrace.from_table([(0, 10.0), (60, 30.0)])
    >>> tr.rate_qps(30.0), tr.duration_s, tr.mean_qps
    (20.0, 60.0, 20.0)
    """

    times_s: np.ndarray
    rates_qps: np.ndarray
    name: str = "trace"

    def __post_init__(self) -> None:
        try:
            t = np.asarray(self.times_s, dtype=float).ravel()
            r = np.asarray(self.rates_qps, dtype=float).ravel()
        except (TypeError, ValueError):
            raise WorkloadError("a rate trace needs numeric times_s and rates_qps") from None
        if t.size < 2 or t.shape != r.shape:
            raise WorkloadError(f"a rate trace needs at least two (time_s, rate_qps) points of equal count, got "
                                f"{t.size} times and {r.size} rates")
        if not np.all(np.isfinite(t)) or t[0] != 0.0 or np.any(np.diff(t) <= 0):
            raise WorkloadError("trace times_s must start at 0 and strictly increase (seconds)")
        if not np.all(np.isfinite(r)) or np.any(r < 0) or not np.any(r > 0):
            raise WorkloadError("trace rates_qps must be finite, non-negative and not all zero")
        for name, arr in (("times_s", t), ("rates_qps", r)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_table(cls, points: Sequence[tuple[float, float]], *, name: str = "table") -> RateTrace:
        """From ``[(time_s, rate_qps), ...]`` starting at time 0 (linear in between)."""
        try:
            arr = np.asarray(points, dtype=float)
        except (TypeError, ValueError):
            raise WorkloadError("points must be (time_s, rate_qps) pairs") from None
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise WorkloadError(f"points must be (time_s, rate_qps) pairs, got an array of shape {arr.shape}")
        return cls(arr[:, 0], arr[:, 1], name=name)

    @classmethod
    def from_function(cls, rate_qps, duration_s: float, *, step_s: float = 1.0, name: str = "function") -> RateTrace:
        """Tabulate ``rate_qps(t_s)`` every ``step_s`` seconds over ``[0, duration_s]``."""
        if not callable(rate_qps):
            raise WorkloadError(f"rate_qps must be a function of time in seconds, got {type(rate_qps).__name__}")
        duration_s = positive_float(duration_s, "duration_s", unit="seconds", error=WorkloadError)
        step_s = positive_float(step_s, "step_s", unit="seconds", error=WorkloadError)
        n = max(2, int(math.ceil(duration_s / step_s)) + 1)
        t = np.linspace(0.0, duration_s, n)
        try:
            r = np.array([float(rate_qps(float(x))) for x in t])
        except (TypeError, ValueError) as exc:
            raise WorkloadError(f"rate_qps must return a number of queries per second ({exc})") from None
        return cls(t, r, name=name)

    @classmethod
    def diurnal(
        cls,
        peak_qps: float,
        *,
        trough_qps: float | None = None,
        period_s: float = 86_400.0,
        trough_at_s: float = 4 * 3600.0,
        bursts: Sequence[tuple[float, float, float]] = (),
        step_s: float = 60.0,
    ) -> RateTrace:
        """A day: a cosine between ``trough_qps`` (default a quarter of the peak) at
        ``trough_at_s`` and ``peak_qps`` half a period later, over one ``period_s``; each burst
        ``(start_s, length_s, factor)`` multiplies the rate by ``factor`` (1.5 = +50%) with
        sharp edges.

        Examples
        --------
        >>> from kairos_sdk import RateTrace
        >>> day = RateTrace.diurnal(100.0)
        >>> round(day.peak_qps), round(day.rate_qps(4 * 3600.0)), round(day.mean_qps, 1)
        (100, 25, 62.5)
        """
        peak_qps = positive_float(peak_qps, "peak_qps", unit="queries per second", error=WorkloadError)
        trough = peak_qps / 4.0 if trough_qps is None else non_negative_float(
            trough_qps, "trough_qps", unit="queries per second", error=WorkloadError)
        period_s = positive_float(period_s, "period_s", unit="seconds", error=WorkloadError)
        step_s = positive_float(step_s, "step_s", unit="seconds", error=WorkloadError)
        trough_at_s = float(trough_at_s)

        def base(t: np.ndarray) -> np.ndarray:
            return trough + (peak_qps - trough) * 0.5 * (1.0 - np.cos(2.0 * np.pi * (t - trough_at_s) / period_s))

        n = max(2, int(math.ceil(period_s / step_s)) + 1)
        t = np.linspace(0.0, period_s, n)
        edges = []
        for b in bursts:
            try:
                start, length, factor = (float(x) for x in b)
            except (TypeError, ValueError):
                raise WorkloadError(f"a burst is (start_s, length_s, factor), got {b!r}") from None
            if not (start >= 0 and length > 0 and start + length <= period_s and factor > 0):
                raise WorkloadError(f"burst {b!r} must lie within the period with a positive length and factor")
            edges.append((start, length, factor))
        # sharp edges: two points a millisecond apart at each burst boundary
        extra = [x for s, ln, _ in edges for x in (s - 1e-3, s, s + ln - 1e-3, s + ln)]
        t = np.unique(np.concatenate([t, np.clip(extra, 0.0, period_s)])) if extra else t
        r = base(t)
        for s, ln, f in edges:
            r = np.where((t >= s) & (t < s + ln), r * f, r)
        return cls(t, r, name="diurnal" + (f"+{len(edges)} bursts" if edges else ""))

    @classmethod
    def step(cls, before_qps: float, after_qps: float, *, at_s: float, duration_s: float) -> RateTrace:
        """``before_qps`` until ``at_s``, then ``after_qps`` until ``duration_s``."""
        at_s = positive_float(at_s, "at_s", unit="seconds", error=WorkloadError)
        duration_s = positive_float(duration_s, "duration_s", unit="seconds", error=WorkloadError)
        if at_s >= duration_s:
            raise WorkloadError(f"at_s ({at_s:g}) must come before duration_s ({duration_s:g})")
        eps = min(1e-3, at_s / 2)
        return cls([0.0, at_s - eps, at_s, duration_s], [before_qps, before_qps, after_qps, after_qps], name="step")

    @classmethod
    def spike(cls, base_qps: float, factor: float, *, at_s: float, length_s: float, duration_s: float) -> RateTrace:
        """``base_qps`` with one spike of ``factor`` times that rate from ``at_s`` for ``length_s``."""
        at_s = positive_float(at_s, "at_s", unit="seconds", error=WorkloadError)
        length_s = positive_float(length_s, "length_s", unit="seconds", error=WorkloadError)
        duration_s = positive_float(duration_s, "duration_s", unit="seconds", error=WorkloadError)
        factor = positive_float(factor, "factor", error=WorkloadError)
        if at_s + length_s >= duration_s:
            raise WorkloadError("the spike must end before duration_s")
        eps = min(1e-3, at_s / 2, length_s / 2)
        hi = base_qps * factor
        return cls([0.0, at_s - eps, at_s, at_s + length_s - eps, at_s + length_s, duration_s],
                   [base_qps, base_qps, hi, hi, base_qps, base_qps], name="spike")

    # ------------------------------------------------------------------ use
    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1])

    @property
    def peak_qps(self) -> float:
        return float(self.rates_qps.max())

    @property
    def mean_qps(self) -> float:
        """Time-averaged rate (expected queries over the trace / its duration)."""
        return float(self.expected_queries(0.0, self.duration_s) / self.duration_s)

    def rate_qps(self, t_s: float | np.ndarray) -> float | np.ndarray:
        """The rate at time(s) ``t_s`` (0 after the end)."""
        t = np.asarray(t_s, dtype=float)
        out = np.where(t <= self.duration_s, np.interp(t, self.times_s, self.rates_qps), 0.0)
        return float(out) if out.ndim == 0 else out

    def _cumulative(self) -> np.ndarray:
        """Expected arrivals from 0 to each point (exact for linear segments)."""
        seg = 0.5 * (self.rates_qps[1:] + self.rates_qps[:-1]) * np.diff(self.times_s)
        return np.concatenate([[0.0], np.cumsum(seg)])

    def expected_queries(self, t0_s: float, t1_s: float) -> float:
        """Expected number of arrivals in ``[t0_s, t1_s]`` (the rate's integral)."""
        return float(self._lam(np.array([t1_s]))[0] - self._lam(np.array([t0_s]))[0])

    def _lam(self, t: np.ndarray) -> np.ndarray:
        t = np.clip(np.asarray(t, dtype=float), 0.0, self.duration_s)
        cum = self._cumulative()
        i = np.clip(np.searchsorted(self.times_s, t, side="right") - 1, 0, len(self.times_s) - 2)
        s = t - self.times_s[i]
        r0 = self.rates_qps[i]
        slope = (self.rates_qps[i + 1] - r0) / (self.times_s[i + 1] - self.times_s[i])
        return cum[i] + r0 * s + 0.5 * slope * s * s

    def _inverse(self, lam: np.ndarray) -> np.ndarray:
        """Times at which the expected arrivals reach ``lam`` (exact within each segment)."""
        cum = self._cumulative()
        i = np.clip(np.searchsorted(cum, lam, side="right") - 1, 0, len(cum) - 2)
        r0 = self.rates_qps[i]
        dt = self.times_s[i + 1] - self.times_s[i]
        a = 0.5 * (self.rates_qps[i + 1] - r0) / dt
        rest = lam - cum[i]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lin = rest / r0
            quad = 2.0 * rest / (r0 + np.sqrt(np.maximum(r0 * r0 + 4.0 * a * rest, 0.0)))
        s = np.where(np.abs(a) * dt < 1e-12 * np.maximum(r0, 1e-300), lin, quad)
        return self.times_s[i] + np.clip(np.nan_to_num(s, nan=0.0), 0.0, dt)

    def compressed(self, factor: float) -> RateTrace:
        """The same shape ``factor`` times shorter at the same rates (a day in less time:
        every query count shrinks by ``factor``, the rates do not)."""
        factor = positive_float(factor, "factor", error=WorkloadError)
        return RateTrace(self.times_s / factor, self.rates_qps, name=f"{self.name}/{factor:g}")

    def __repr__(self) -> str:
        return (f"RateTrace({self.name!r}, {self.duration_s:g} s, {self.rates_qps.min():.4g}..{self.peak_qps:.4g} qps,"
                f" mean {self.mean_qps:.4g} qps)")

    def plot(self, ax=None):
        """Rate over time; returns the matplotlib ``Axes``."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 2.5))
        ax.plot(self.times_s, self.rates_qps)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("rate (qps)")
        return ax
