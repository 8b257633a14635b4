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

from ._checks import instance_of, positive_float, positive_int
from .errors import WorkloadError

__all__ = ["Workload"]


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
