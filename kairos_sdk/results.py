"""The value objects a run returns: :class:`RunResult` (what happened to every query of one
simulated or live run) and :class:`ThroughputResult` (the answer of
:func:`~kairos_sdk.allowable_throughput`).

Pure values with no I/O and no simulator inside, so the simulator
(:func:`~kairos_sdk.simulate`) and the live client (:meth:`kairos_sdk.client.KairosClient.run`)
build the very same type without importing each other.

Examples
--------
>>> import numpy as np
>>> from kairos_sdk.results import RunResult
>>> r = RunResult(latencies_ms=np.array([10.0, 30.0]), batch=np.array([10, 20]),
...               arrival_ms=np.array([0.0, 5.0]), instance=np.array([0, 0]),
...               instance_ids=("a-0",), instance_types=("a",), busy_ms=np.array([40.0]),
...               duration_ms=35.0, qos_ms=20.0, percentile=50.0)
>>> r.qos_attainment, r.meets_qos
(0.5, True)
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DynamicResult", "RunResult", "ThroughputResult"]


@dataclass(frozen=True, eq=False, repr=False)
class RunResult:  # long: a result's fields (16), filled in by the simulator or the client, read by name
    """What happened to every query of one run (simulated or live).

    Per-query arrays are in submission order and all of length ``n_queries``.

    Attributes
    ----------
    latencies_ms : end-to-end latency (queueing + service); ``nan`` for failed queries.
    batch : batch size of each query.
    arrival_ms : arrival time of each query since the start of the run.
    instance : index into ``instance_ids`` of the instance that served the query, ``-1``
        when it failed.
    instance_ids, instance_types : the pool, in order.
    busy_ms : (N,) time each instance spent serving.
    duration_ms : from the start of the run to the last completion.
    qos_ms, percentile : the target the run is judged against.
    rate_qps : the offered arrival rate (``nan`` when not Poisson-driven).
    policy : name of the distribution policy.
    attempts : per query, how many instances were tried (1 without retries).
    failures : ``(query index, reason)`` for every query that ended without a reply.
    source : ``"simulated"`` or ``"live"``.
    extra : more per-run figures; a live run's ``extra["breakdown"]`` splits each query's
        latency (:meth:`breakdown`), a simulation with an overhead has ``extra["overhead_ms"]``.
    """

    latencies_ms: np.ndarray
    batch: np.ndarray
    arrival_ms: np.ndarray
    instance: np.ndarray
    instance_ids: tuple[str, ...]
    instance_types: tuple[str, ...]
    busy_ms: np.ndarray
    duration_ms: float
    qos_ms: float
    percentile: float = 99.0
    rate_qps: float = float("nan")
    policy: str = ""
    attempts: np.ndarray | None = None
    failures: tuple[tuple[int, str], ...] = ()
    source: str = "simulated"
    extra: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ summary figures
    @property
    def n_queries(self) -> int:
        return int(self.latencies_ms.shape[0])

    @property
    def n_failed(self) -> int:
        return int(np.count_nonzero(self.instance < 0))

    @property
    def n_shed(self) -> int:
        """Failed queries that a load-shedding policy gave up (reason ``"shed: ..."``)."""
        return sum(1 for _, why in self.failures if why.startswith("shed:"))

    @property
    def failures_by_kind(self) -> dict[str, int]:
        """``{failure kind: queries}``, e.g. ``{"overloaded": 12, "deadline": 3}`` (the kinds
        of :class:`~kairos_sdk.client.QueryFailed`; a reason's text before its first colon)."""
        out: dict[str, int] = {}
        for _, why in self.failures:
            kind = why.split(":", 1)[0]
            out[kind] = out.get(kind, 0) + 1
        return dict(sorted(out.items()))

    @property
    def n_overloaded(self) -> int:
        """Failed queries refused at once because the client's queue was full (``Limits.max_pending``)."""
        return self.failures_by_kind.get("overloaded", 0)

    @property
    def n_deadline(self) -> int:
        """Failed queries not sent within their deadline (``Timeouts.deadline_s``)."""
        return self.failures_by_kind.get("deadline", 0)

    @property
    def qos_attainment(self) -> float:
        """Share of all queries that finished within ``qos_ms`` (failed ones count as misses)."""
        if self.n_queries == 0:
            return float("nan")
        ok = np.nan_to_num(self.latencies_ms, nan=np.inf) <= self.qos_ms
        return float(np.count_nonzero(ok) / self.n_queries)

    @property
    def meets_qos(self) -> bool:
        """True when at least ``percentile`` % of queries met ``qos_ms``."""
        return self.qos_attainment >= self.percentile / 100.0 - 1e-12

    @property
    def throughput_qps(self) -> float:
        """Completed queries per second over the run."""
        done = self.n_queries - self.n_failed
        return float(done / (self.duration_ms / 1000.0)) if self.duration_ms > 0 else float("nan")

    def latency_quantile(self, q: float = 0.99) -> float:
        """Latency quantile in ms over all queries (failed ones count as infinitely late)."""
        lat = np.sort(np.nan_to_num(self.latencies_ms, nan=np.inf))
        if not lat.size:
            return float("nan")
        # numpy's linear rule, without inf - inf: a position touching a failed query is inf
        pos = q * (lat.size - 1)
        lo, frac = int(np.floor(pos)), pos - np.floor(pos)
        if frac == 0.0 or lat[lo] == lat[min(lo + 1, lat.size - 1)]:
            return float(lat[lo])
        return float(lat[lo] + frac * (lat[lo + 1] - lat[lo]))

    @property
    def p99_ms(self) -> float:
        return self.latency_quantile(0.99)

    @property
    def utilization(self) -> dict[str, float]:
        """Busy share of each instance over the run, by instance id."""
        d = max(self.duration_ms, 1e-12)
        return {i: float(b / d) for i, b in zip(self.instance_ids, self.busy_ms)}

    @property
    def counts_by_type(self) -> dict[str, int]:
        """Queries served per instance type."""
        out = {t: 0 for t in dict.fromkeys(self.instance_types)}
        served = self.instance[self.instance >= 0]
        for i, n in zip(*np.unique(served, return_counts=True)):
            out[self.instance_types[int(i)]] += int(n)
        return out

    @property
    def counts_by_instance(self) -> dict[str, int]:
        """Queries served per instance id."""
        c = np.bincount(self.instance[self.instance >= 0], minlength=len(self.instance_ids))
        return {i: int(n) for i, n in zip(self.instance_ids, c)}

    def attainment_by_batch(self, edges: Sequence[int] = (0, 100, 200, 400, 600, 800, 1000)) -> list[tuple[int, int, int, float]]:
        """QoS attainment per batch-size range: ``(lo, hi, n queries, attainment)`` for
        ``lo < batch <= hi``. A policy that meets the overall target by starving large
        queries shows up here."""
        out = []
        lat = np.nan_to_num(self.latencies_ms, nan=np.inf)
        for lo, hi in zip(edges[:-1], edges[1:]):
            m = (self.batch > lo) & (self.batch <= hi)
            n = int(m.sum())
            out.append((int(lo), int(hi), n, float(np.mean(lat[m] <= self.qos_ms)) if n else float("nan")))
        return out

    def breakdown(self) -> dict[str, np.ndarray] | None:
        """Where each query's time went in a live run: ``client_ms`` (the client's own work
        before the send), ``pending_ms`` (waiting for an instance), ``wire_ms``,
        ``server_queue_ms`` and ``compute_ms`` (the last two as the server
        reports them), adding up to ``latencies_ms``; ``None`` for a simulated run. See
        :func:`kairos_sdk.overhead.breakdown`; ``print(format_breakdown(result))`` shows it."""
        from .overhead import breakdown

        return breakdown(self)

    def summary(self) -> dict[str, float]:
        return {
            "n_queries": self.n_queries,
            "failed": self.n_failed,
            "shed": self.n_shed,
            "rate_qps": self.rate_qps,
            "throughput_qps": self.throughput_qps,
            "p99_ms": self.p99_ms,
            "qos_attainment": self.qos_attainment,
        }

    def __repr__(self) -> str:
        rate = f"rate={self.rate_qps:.4g} qps, " if np.isfinite(self.rate_qps) else ""
        return (
            f"RunResult({self.source}, {self.policy or 'policy?'}, {rate}{self.n_queries} queries, "
            f"throughput={self.throughput_qps:.4g} qps, p99={self.p99_ms:.4g} ms, "
            f"QoS attainment={self.qos_attainment:.2%} (target {self.percentile:g}% within {self.qos_ms:g} ms)"
            + (f", {self.n_failed} failed" if self.n_failed else "") + ")"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td></tr>" for k, v in self.summary().items()
        )
        verdict = "meets" if self.meets_qos else "misses"
        return (
            f"<table><caption>{html.escape(self.source)} run, {html.escape(self.policy)}: {verdict} QoS"
            f"</caption>{rows}</table>"
        )


@dataclass(frozen=True, eq=False, repr=False)
class ThroughputResult:
    """The answer of :func:`allowable_throughput` with how it was found.

    Behaves as a float (``float(res)``, arithmetic and comparisons use ``qps``).

    Attributes
    ----------
    qps : mean over seeds of the highest rate that met QoS.
    per_seed_qps : that rate for each seed.
    rel_tol : bracket width of each search: every per-seed answer ``lo`` has a failing rate
        below ``lo * (1 + rel_tol)``.
    n_runs : simulations run.
    """

    qps: float
    per_seed_qps: tuple[float, ...]
    rel_tol: float
    n_runs: int
    policy: str = ""

    def __float__(self) -> float:
        return self.qps

    def __repr__(self) -> str:
        spread = ""
        if len(self.per_seed_qps) > 1:
            spread = f" (seeds {min(self.per_seed_qps):.4g}..{max(self.per_seed_qps):.4g})"
        return f"ThroughputResult({self.qps:.4g} qps{spread}, ±{self.rel_tol:.1%}, {self.n_runs} runs, {self.policy})"

    # numeric behaviour
    def __lt__(self, other: Any) -> bool:
        return self.qps < float(other)

    def __le__(self, other: Any) -> bool:
        return self.qps <= float(other)

    def __gt__(self, other: Any) -> bool:
        return self.qps > float(other)

    def __ge__(self, other: Any) -> bool:
        return self.qps >= float(other)

    def __eq__(self, other: Any) -> bool:
        try:
            return self.qps == float(other)
        except (TypeError, ValueError):
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self.qps)

    def __truediv__(self, other: Any) -> float:
        return self.qps / float(other)

    def __rtruediv__(self, other: Any) -> float:
        return float(other) / self.qps

    def __mul__(self, other: Any) -> float:
        return self.qps * float(other)

    __rmul__ = __mul__

    def __format__(self, spec: str) -> str:
        return format(self.qps, spec)


@dataclass(frozen=True, eq=False, repr=False)
class DynamicResult:
    """What a run with a changing pool produced (:func:`~kairos_sdk.dynamic.simulate_dynamic`):
    every query, every instance's life, the pool over time and the controller's decisions.

    Attributes
    ----------
    run : the per-query :class:`RunResult` (instances are the simulator's slots).
    lifetimes : ``(instance id, type, start_s, end_s)`` of every instance rented, from the
        start of provisioning to its release.
    prices_per_hour : USD per hour of each type.
    window_s : length of the QoS windows.
    timeline_s : times of the controller's observations; ``observed_rate_qps`` the rate it
        saw; ``live_counts`` / ``provisioning_counts`` per type at those times.
    decisions : what the controller (or the script) decided, in order.
    controller : its class name (``"static"`` without one).
    """

    run: RunResult
    lifetimes: tuple[tuple[str, str, float, float], ...]
    prices_per_hour: dict[str, float]
    window_s: float
    timeline_s: np.ndarray
    observed_rate_qps: np.ndarray
    live_counts: dict[str, np.ndarray]
    provisioning_counts: dict[str, np.ndarray]
    decisions: tuple[Any, ...] = ()
    controller: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def cost_usd(self) -> float:
        """USD over the run: each instance's lifetime (hours) times its type's price."""
        return float(sum(self.cost_by_type.values()))

    @property
    def cost_by_type(self) -> dict[str, float]:
        out = {t: 0.0 for t in self.prices_per_hour}
        for _, t, start, end in self.lifetimes:
            out[t] += (end - start) / 3600.0 * self.prices_per_hour[t]
        return out

    def cost_over_time(self, times_s: Sequence[float] | np.ndarray) -> np.ndarray:
        """Cumulative USD spent by each of ``times_s``."""
        t = np.asarray(times_s, dtype=float)
        out = np.zeros_like(t)
        for _, typ, start, end in self.lifetimes:
            out += np.clip(np.minimum(t, end) - start, 0.0, None) / 3600.0 * self.prices_per_hour[typ]
        return out

    def windows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(start_s, n_queries, attainment)`` per window of ``window_s`` by arrival time;
        windows without arrivals are left out. Failed queries count as misses."""
        r = self.run
        idx = np.floor(r.arrival_ms / (1000.0 * self.window_s)).astype(np.int64)
        ok = np.nan_to_num(r.latencies_ms, nan=np.inf) <= r.qos_ms
        n = np.bincount(idx, minlength=1) if idx.size else np.zeros(0, dtype=np.int64)
        good = np.bincount(idx, weights=ok.astype(float), minlength=len(n)) if idx.size else np.zeros(0)
        keep = n > 0
        starts = np.flatnonzero(keep) * self.window_s
        return starts.astype(float), n[keep], good[keep] / n[keep]

    @property
    def windows_meeting_qos(self) -> float:
        """Share of windows where at least ``percentile`` % of queries met ``qos_ms``."""
        _, _, att = self.windows()
        return float(np.mean(att >= self.run.percentile / 100.0 - 1e-12)) if att.size else float("nan")

    @property
    def n_scale_actions(self) -> int:
        """Decisions that changed the target counts (re-provisioning a lost instance is not one)."""
        return sum(1 for d in self.decisions if dict(d.counts) != dict(d.previous))

    def summary(self) -> dict[str, float]:
        return {
            "cost_usd": self.cost_usd,
            "windows_meeting_qos": self.windows_meeting_qos,
            "qos_attainment": self.run.qos_attainment,
            "scale_actions": self.n_scale_actions,
            "queries": self.run.n_queries,
            "failed": self.run.n_failed,
        }

    def __repr__(self) -> str:
        return (f"DynamicResult({self.controller}, {self.run.n_queries} queries, ${self.cost_usd:.4g}, "
                f"{self.windows_meeting_qos:.1%} of {self.window_s:g} s windows meet QoS, "
                f"{self.n_scale_actions} scale actions, {self.run.n_failed} failed)")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td></tr>" for k, v in self.summary().items())
        return f"<table><caption>{html.escape(repr(self))}</caption>{rows}</table>"

    def plot(self, axes=None, *, time_unit_s: float = 3600.0, time_label: str = "hours"):
        """Rate, instances by type and cumulative cost over time (three stacked axes);
        returns the axes."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
        x = self.timeline_s / time_unit_s
        axes[0].plot(x, self.observed_rate_qps, lw=0.8)
        axes[0].set_ylabel("rate (qps)")
        for t, c in self.live_counts.items():
            if np.any(c):
                axes[1].step(x, c, where="post", label=t)
        axes[1].set_ylabel("instances")
        axes[1].legend(fontsize="small", loc="upper left")
        axes[2].plot(x, self.cost_over_time(self.timeline_s))
        axes[2].set_ylabel("cost (USD)")
        axes[2].set_xlabel(f"time ({time_label})")
        axes[0].set_title(repr(self), fontsize="small")
        return axes
