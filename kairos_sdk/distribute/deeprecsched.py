"""DeepRecSched as a :class:`~kairos_sdk.distribute.Policy`: batch-size-aware CPU/accelerator
scheduling after DeepRecSys / DeepRecSched (Gupta et al., "DeepRecSys: A System for Optimizing
End-To-End At-Scale Neural Recommendation Inference", ISCA 2020). Queries larger than a
batch-size threshold go to the accelerator, the rest to CPUs, and the threshold is tuned online
by hill-climbing on the observed tail latency. Written from the paper's public description, for
honest comparisons with :class:`~kairos_sdk.distribute.KairosPolicy`; what is and is not
modelled is said in the class. Registered as ``"deeprecsched"``.

Examples
--------
>>> from kairos_sdk import Pool, Profile, Workload, simulate
>>> from kairos_sdk.distribute import DeepRecSchedPolicy
>>> pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 4})
>>> r = simulate(pool, Profile.builtin("rm2"), Workload.deeprecsys(), DeepRecSchedPolicy(),
...              rate=10, qos_ms=350, n_queries=2000, seed=1)
>>> r.n_failed, r.meets_qos
(0, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._checks import non_negative_int, positive_int
from ..errors import SimulationError
from .base import DispatchState, PolicyContext
from .estimates import Estimates

__all__ = ["DeepRecSchedPolicy", "ThresholdClimber"]


# ---------------------------------------------------------------------------- DeepRecSched
class ThresholdClimber:
    """Hill-climbing on a measured cost (tail latency) over an integer threshold.

    Keeps the best threshold seen and its cost; each :meth:`observe` reports the cost of
    the threshold last proposed and returns the next one to try: one ``step`` further in
    the same direction while that improves, else the other direction from the best point
    with the step halved (never below ``min_step``). Once both directions fail at the
    smallest step it settles on the best threshold and re-measures it (the load may have
    changed), then resumes.

    Parameters
    ----------
    threshold : starting threshold.
    lo, hi : bounds of the threshold (inclusive).
    step : first step size.
    min_step : smallest step.

    Examples
    --------
    >>> c = ThresholdClimber(100, lo=0, hi=1000, step=64, min_step=4)
    >>> for _ in range(30):
    ...     t = c.observe(abs(c.threshold - 300))   # cost lowest at 300
    >>> abs(c.best - 300) <= 4
    True
    """

    def __init__(self, threshold: int, *, lo: int, hi: int, step: int, min_step: int = 1) -> None:
        if lo > hi:
            raise SimulationError(f"threshold bounds must satisfy lo <= hi, got lo={lo}, hi={hi}")
        self.lo, self.hi = int(lo), int(hi)
        self.threshold = int(min(max(threshold, lo), hi))
        self.min_step = max(1, int(min_step))
        self.step = max(self.min_step, int(step))
        self.direction = -1
        self.best: int = self.threshold
        self.best_cost: float | None = None
        self._failed_at_min = 0  # directions tried in vain at the smallest step
        self.history: list[tuple[int, float]] = []

    def _clip(self, t: int) -> int:
        return int(min(max(t, self.lo), self.hi))

    def observe(self, cost: float) -> int:
        """Report the cost measured at :attr:`threshold`; returns the next threshold."""
        cost = float(cost)
        self.history.append((self.threshold, cost))
        if self.best_cost is None or self.threshold == self.best:
            self.best, self.best_cost = self.threshold, cost  # first or fresh measurement of the best
        elif cost < self.best_cost:
            self.best, self.best_cost = self.threshold, cost
            self._failed_at_min = 0
        else:  # worse: turn around from the best point, with a smaller step
            self.direction = -self.direction
            if self.step == self.min_step:
                self._failed_at_min += 1
            self.step = max(self.min_step, self.step // 2)
        if self._failed_at_min >= 2:  # neither neighbour helps: settle and re-measure
            self._failed_at_min = 0
            self.threshold = self.best
            return self.threshold
        nxt = self._clip(self.best + self.direction * self.step)
        if nxt == self.best:  # against a bound: try the other way
            self.direction = -self.direction
            nxt = self._clip(self.best + self.direction * self.step)
        self.threshold = nxt
        return nxt

    def __repr__(self) -> str:
        return f"ThresholdClimber(threshold={self.threshold}, best={self.best}, step={self.step})"


class DeepRecSchedPolicy:
    """Batch-size threshold scheduling between CPUs and accelerators (DeepRecSched).

    At every decision point the pending queries are taken oldest first: a query whose batch
    size is **above** the threshold waits for an idle accelerator, one at or below it for an
    idle CPU (the fastest idle one by the profile's mean). A below-threshold query never
    goes to an accelerator while a CPU is idle; with ``spill=False`` (the default, as in
    DeepRecSys) it never goes to one at all. When the pool has no accelerator (or no CPU),
    every query goes to the class present.

    The threshold is tuned online, as DeepRecSched does, by hill-climbing on the observed
    tail latency (:class:`ThresholdClimber`): every ``window`` completed queries the
    ``percentile`` (the run's target) of their latencies is the cost of the current
    threshold. A policy sees no completion events, so a query's completion is detected at
    the next decision point: its latency is the profile-estimated finish clamped to the
    interval in which it must have finished (exact whenever queries are waiting, i.e.
    under load, where the tail is made).

    Modelled: the threshold split, per-class FIFO and online threshold tuning. Not
    modelled: DeepRecSys's splitting of one query into smaller per-core batches (the
    pool's instances serve whole queries) and its tuning of that batch size.

    Parameters
    ----------
    threshold : initial batch-size threshold; default: the one that evens out the expected
        busy share per instance of the two classes under the batch mix, among those the
        CPUs serve within QoS (an advantageous start: DeepRecSys sweeps to find it).
    accelerators : type names that count as accelerators; default: the pool type with the
        lowest mean latency at the largest batch every type measured.
    tune : hill-climb the threshold online (default True); False keeps it fixed.
    window : completed queries per hill-climbing step; default: enough that about 20 lie
        beyond the target percentile (2,000 at p99). Shorter windows make the measured
        tail too noisy to climb on (500 at p99 rests on 5 queries).
    step, min_step : first and smallest threshold step in batch-size units (default
        step: an eighth of the batch-size range).
    spill : let a below-threshold query take an idle accelerator when no CPU is idle.

    Attributes
    ----------
    threshold : the threshold in force.
    climber : the :class:`ThresholdClimber` (its ``history`` lists ``(threshold, tail ms)``).

    Examples
    --------
    >>> DeepRecSchedPolicy(threshold=300, tune=False)
    DeepRecSchedPolicy(threshold=300, tune=False, window=None, spill=False)
    """

    name = "deeprecsched"
    assigns_to_idle_only = True

    def __init__(self, threshold: int | None = None, *, accelerators: Sequence[str] | None = None,
                 tune: bool = True, window: int | None = None, step: int | None = None, min_step: int = 10,
                 spill: bool = False) -> None:
        if threshold is not None:
            non_negative_int(threshold, "threshold", error=SimulationError)
        if window is not None:
            positive_int(window, "window", error=SimulationError)
        if step is not None:
            positive_int(step, "step", error=SimulationError)
        positive_int(min_step, "min_step", error=SimulationError)
        if accelerators is not None and (isinstance(accelerators, str)
                                         or not all(isinstance(a, str) for a in accelerators)):
            raise SimulationError(f"accelerators must be a sequence of instance type names, got {accelerators!r}")
        self.initial_threshold = None if threshold is None else int(threshold)
        self.accelerators = None if accelerators is None else tuple(accelerators)
        self.tune = bool(tune)
        self.window = None if window is None else int(window)
        self.initial_step = None if step is None else int(step)
        self.min_step = int(min_step)
        self.spill = bool(spill)
        self.threshold = self.initial_threshold
        self.climber: ThresholdClimber | None = None

    # ------------------------------------------------------------------ setup
    def prepare(self, ctx: PolicyContext) -> None:
        self._ctx = ctx
        self._est = Estimates(ctx)
        names = ctx.type_names
        grid = np.unique(np.concatenate([ctx.profile.batch_sizes(t) for t in names])).astype(int)
        if ctx.workload is not None:
            grid = np.unique(np.asarray(ctx.workload.batch_sizes, dtype=int))
        if self.accelerators is None:
            ref = min(int(ctx.profile.batch_sizes(t)[-1]) for t in names)
            at_ref = [float(ctx.profile.latency(t, ref, q="mean", extrapolate=True)) for t in names]
            acc = {names[int(np.argmin(at_ref))]} if len(names) > 1 else set()
        else:
            acc = set(self.accelerators)
        self._acc_type = np.array([t in acc for t in names])
        self._is_acc = self._acc_type[ctx.type_index]
        self._has_acc = bool(self._is_acc.any())
        self._has_cpu = bool((~self._is_acc).any())
        lo, hi = 0, int(grid[-1])
        thr = self.initial_threshold
        if thr is None:
            thr = self._balanced_threshold(grid, lo, hi) if self._has_acc and self._has_cpu else hi
        step = self.initial_step if self.initial_step is not None else max(self.min_step, (hi - lo) // 8)
        self.climber = ThresholdClimber(thr, lo=lo, hi=hi, step=step, min_step=self.min_step)
        self.threshold = self.climber.threshold
        n = len(ctx.instance_types)
        self._inflight: list[list[tuple[float, float, float]]] = [[] for _ in range(n)]  # (arrival, start, est end)
        self._seen_busy = [0.0] * n
        self._window: list[float] = []
        # enough completions that about 20 of them lie beyond the target percentile
        self._window_size = self.window or int(np.ceil(20.0 / max(1.0 - ctx.percentile / 100.0, 1e-3)))

    def _balanced_threshold(self, grid: np.ndarray, lo: int, hi: int) -> int:
        """The threshold that evens out the expected busy share per instance of the two
        classes under the batch mix (the workload's, else uniform over ``grid``), among
        thresholds up to the largest batch a CPU serves within QoS at the target
        percentile; the crossover of mean latencies when that cannot be computed."""
        ctx = self._ctx
        if ctx.workload is not None:
            bs = np.asarray(ctx.workload.batch_sizes, dtype=int)
            pr = np.asarray(ctx.workload.probs, dtype=float)
        else:
            bs, pr = grid, np.full(len(grid), 1.0 / len(grid))
        acc, cpu = self._acc_type, ~self._acc_type
        rows = np.array([self._est.row(int(b)).mean_ms for b in bs])  # (B, T) mean ms
        acc_ms, cpu_ms = rows[:, acc].min(axis=1), rows[:, cpu].min(axis=1)
        n_acc, n_cpu = int(self._is_acc.sum()), int((~self._is_acc).sum())
        q = ctx.percentile / 100.0
        cpu_names = [t for t, a in zip(ctx.type_names, acc) if not a]
        fits = [int(b) for b in bs if min(float(ctx.profile.latency(t, int(b), q=q, extrapolate=True)) for t in cpu_names) <= ctx.qos_ms]
        top = max(fits) if fits else lo
        best, best_load = lo, np.inf
        for thr in [lo, *[int(b) for b in bs if b <= top]]:
            small = bs <= thr
            load = max(float(pr[~small] @ acc_ms[~small]) / n_acc, float(pr[small] @ cpu_ms[small]) / n_cpu)
            if load < best_load:
                best, best_load = thr, load
        return int(min(max(best, lo), hi))

    # ------------------------------------------------------------------ observation
    def _absorb_completions(self, state: DispatchState) -> None:
        now = state.now_ms
        running = self._ctx.concurrency - state.free_slots  # queries each instance still runs
        for j, recs in enumerate(self._inflight):
            if not recs:
                continue
            done = len(recs) - int(running[j])
            if done > 0:
                recs.sort(key=lambda r: r[2])
                for arrival, _start, est_end in recs[:done]:
                    finish = min(max(est_end, self._seen_busy[j]), now)
                    self._window.append(finish - arrival)
                del recs[:done]
            self._seen_busy[j] = now
        if self.tune and len(self._window) >= self._window_size:
            tail = float(np.percentile(self._window, self._ctx.percentile))
            self._window.clear()
            assert self.climber is not None
            self.threshold = self.climber.observe(tail)

    # ------------------------------------------------------------------ decisions
    def decide(self, state: DispatchState) -> list[tuple[int, int]]:
        self._absorb_completions(state)
        idle = state.idle_list
        if not idle or state.n_pending == 0:
            return []
        idle_acc = [j for j in idle if self._is_acc[j]]
        idle_cpu = [j for j in idle if not self._is_acc[j]]
        batches, arrivals = state.pending_lists()
        tix = self._ctx.type_index
        thr = self.threshold
        out: list[tuple[int, int]] = []
        for k, b in enumerate(batches):
            if not idle_acc and not idle_cpu:
                break
            large = b > thr
            if large and self._has_acc or not self._has_cpu:
                cands = idle_acc
            elif idle_cpu or not self.spill:
                cands = idle_cpu
            else:
                cands = idle_acc  # spill: no CPU is idle
            if not cands:
                continue
            row = self._est.row(int(b)).mean_ms
            j = min(cands, key=lambda i: row[tix[i]])
            cands.remove(j)
            out.append((k, j))
            est = row[tix[j]]
            self._inflight[j].append((arrivals[k], state.now_ms, state.now_ms + est))
        return out

    def __repr__(self) -> str:
        return (f"DeepRecSchedPolicy(threshold={self.threshold}, tune={self.tune}, window={self.window}, "
                f"spill={self.spill})")
