"""Discrete-event simulation of a pool under a workload and a policy.

:func:`simulate` runs one seeded simulation and returns a :class:`~kairos_sdk.results.RunResult`
(the same value the live client's :meth:`~kairos_sdk.client.KairosClient.run` returns, so a
simulated and a measured run compare field by field); :func:`allowable_throughput` searches the
highest rate that meets QoS and returns a :class:`~kairos_sdk.results.ThroughputResult`. Both
result types live in :mod:`kairos_sdk.results` and are re-exported here.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._checks import instance_of, non_negative_int, positive_float, positive_int
from ._checks import percentile as check_percentile
from ._progress import progress_bar
from .distribute import Dispatcher, KairosPolicy, Policy
from .errors import SimulationError
from .pool import Pool
from .profile import Profile
from .results import RunResult, ThroughputResult
from .workload import Workload

__all__ = ["RunResult", "ThroughputResult", "allowable_throughput", "simulate"]


# ---------------------------------------------------------------------------- simulator
def _check_sim_args(pool: Any, profile: Profile, workload: Workload, qos_ms: float, percentile: float,
                    n_queries: int, warmup: int, concurrency: int) -> tuple[str, ...]:
    if isinstance(pool, Pool):
        types = pool.types
    elif isinstance(pool, Mapping):
        types = Pool.from_counts(pool).types
    else:
        raise SimulationError(f"pool must be a Pool or a {{type: count}} mapping, got {type(pool).__name__}")
    instance_of(profile, "profile", Profile)
    instance_of(workload, "workload", Workload)
    missing = sorted(set(types) - set(profile.instance_types))
    if missing:
        raise SimulationError(
            f"pool types {', '.join(missing)} have no latency profile; the profile covers "
            f"{', '.join(profile.instance_types)}"
        )
    positive_float(qos_ms, "qos_ms", unit="milliseconds", error=SimulationError)
    check_percentile(percentile, error=SimulationError)
    n_queries = positive_int(n_queries, "n_queries", error=SimulationError)
    if non_negative_int(warmup, "warmup", error=SimulationError) >= n_queries:
        raise SimulationError(f"warmup must be an integer in [0, n_queries), got {warmup!r} with n_queries={n_queries}")
    positive_int(concurrency, "concurrency", error=SimulationError)
    return types


def _check_rate(rate: Any) -> float:
    return positive_float(rate, "rate", unit="queries per second", error=SimulationError)


_UNIT_RATE_QPS = 1000.0  #: the rate the draws are made at (1 ms mean gap), then scaled


class _Draws:
    """Everything random about a run except the arrival rate (common random numbers):
    batch sizes, unit-rate exponential gaps and one uniform per query, from which the
    service time on every pool type is computed by inverse-CDF sampling of the profile."""

    def __init__(self, types: tuple[str, ...], profile: Profile, workload: Workload, n: int, seed: Any) -> None:
        rng = np.random.default_rng(seed)
        # the draws at 1000 qps (1 ms mean gap); arrivals_ms(rate) scales them exactly as
        # Workload.arrivals does, so the client's run with the same seed sees the same queries
        self.batch, self.unit_arrival = workload.arrivals(n, _UNIT_RATE_QPS, rng)
        self.trace = workload.trace_batches is not None
        u = rng.random(n)
        self.names = tuple(sorted(set(types)))
        self.service = {t: np.asarray(profile.latency(t, self.batch, q=u, extrapolate=True), dtype=float)
                        for t in self.names}
        # the per-query overhead (client, wire, server framing), drawn after everything else so
        # the draws above are the same with or without it; none drawn for a zero overhead
        ov = getattr(profile, "overhead", None)
        self.overhead: np.ndarray | None = None if ov is None or ov.is_zero else ov.sample(n, rng)

    def hold_ms(self, instance_type: str) -> np.ndarray:
        """What each query holds an instance of ``instance_type`` for: its service time plus
        its overhead (the client sends the next query to an instance when the reply is back)."""
        s = self.service[instance_type]
        return s if self.overhead is None else s + self.overhead

    def arrivals_ms(self, rate: float) -> np.ndarray:
        """Arrival times at ``rate`` qps: the unit-rate draws scaled (common random numbers)."""
        return self.unit_arrival * (1000.0 / rate)


def _run(types: tuple[str, ...], profile: Profile, draws: _Draws, policy: Policy, *, rate: float, qos_ms: float,
         percentile: float, concurrency: int, plan: Any, warmup: int, stop_on_fail: bool, workload: Any = None):
    """The event loop (``profile``: what the policy reads; the truth is in ``draws``). Returns (finish_ms, served_by, busy_ms, arrival_ms, ok, shed) where ok
    is False when ``stop_on_fail`` cut a run that could no longer meet QoS and ``shed`` lists
    the queries the policy gave up (see :data:`~kairos_sdk.distribute.SHED`)."""
    n = len(draws.batch)
    arrival = draws.arrivals_ms(rate)
    batch = draws.batch
    disp = Dispatcher(policy, types, profile, qos_ms=qos_ms, percentile=percentile, concurrency=concurrency, plan=plan,
                      workload=workload)
    tix = disp.ctx.type_index.tolist()
    svc = [draws.hold_ms(t).tolist() for t in disp.ctx.type_names]
    finish = np.full(n, np.nan)
    served = np.full(n, -1, dtype=np.int64)
    busy = [0.0] * len(types)
    arr_l = arrival.tolist()
    b_l = batch.tolist()
    heap: list[tuple[float, int, int, int]] = []
    push, pop = heapq.heappush, heapq.heappop
    submit, dispatch, finish_on, take_shed = disp.submit, disp.dispatch, disp.finish_on, disp.take_shed
    shed: list[int] = []
    allowed = math.floor((1.0 - percentile / 100.0) * (n - warmup) + 1e-9)
    misses = 0
    seq = 0
    k = 0  # next arrival
    events = 0
    ok = True
    while k < n or heap:
        if heap and (k >= n or heap[0][0] <= arr_l[k]):
            t, _, qid, inst = pop(heap)
            finish_on(inst, qid)
            finish[qid] = t
            if stop_on_fail and qid >= warmup and t - arr_l[qid] > qos_ms:
                misses += 1
                if misses > allowed:
                    ok = False
                    break
        else:
            t = arr_l[k]
            submit(k, b_l[k], t)
            k += 1
        starts = dispatch(t)
        if not starts and not heap and k >= n and disp.n_pending:
            starts = _drain(disp, t, policy)
        gone = take_shed()
        if gone:
            shed += gone
            if stop_on_fail:
                misses += sum(1 for qid in gone if qid >= warmup)
                if misses > allowed:
                    ok = False
                    break
        for qid, inst in starts:
            s = svc[tix[inst]][qid]
            served[qid] = inst
            busy[inst] += s
            push(heap, (t + s, seq, qid, inst))
            seq += 1
        events += 1
        if stop_on_fail and (events & 1023) == 0 and _late_already(finish, arrival, t, qos_ms, warmup) > allowed:
            ok = False
            break
    return finish, served, np.asarray(busy), arrival, ok, shed


def _drain(disp: Dispatcher, t: float, policy: Policy) -> list[tuple[int, int]]:
    """The end of a run (no arrival left, every instance idle): ask until a query starts or
    none is left; a policy that keeps queries pending with nothing running is a bug."""
    starts: list[tuple[int, int]] = []
    while not starts and disp.n_pending:
        before = disp.n_pending
        starts = disp.dispatch(t)
        if not starts and disp.n_pending == before:
            raise SimulationError(f"policy {getattr(policy, 'name', policy)!r} left {before} queries "
                                  "pending with every instance idle")
    return starts


def _late_already(finish: np.ndarray, arrival: np.ndarray, t: float, qos_ms: float, warmup: int) -> int:
    """Queries past warm-up that arrived more than ``qos_ms`` before ``t`` and did not finish
    within it: misses already, whatever happens next."""
    cut = int(np.searchsorted(arrival, t - qos_ms, side="right"))
    if cut <= warmup:
        return 0
    lat = finish[warmup:cut] - arrival[warmup:cut]
    return (cut - warmup) - int(np.count_nonzero(lat <= qos_ms))


def simulate(
    pool: Pool | Mapping[str, int],
    profile: Profile,
    workload: Workload,
    policy: Policy | None = None,
    *,
    rate: float,
    qos_ms: float,
    n_queries: int = 20_000,
    percentile: float = 99.0,
    seed: Any = 0,
    concurrency: int = 1,
    plan: Any = None,
    warmup: int = 0,
    policy_profile: Profile | None = None,
) -> RunResult:
    """Simulate a pool serving a workload under a distribution policy.

    A seeded discrete-event simulation (one heap of ``(time, seq, event)``): ``n_queries``
    queries arrive as a Poisson process at ``rate`` queries/s (exponential gaps; the paper's
    artifact used integer-ms Poisson-distributed gaps, which are much less bursty, see
    docs/simulation.md) with batch sizes drawn from ``workload``. Each query's service time
    on every instance type is drawn from ``profile`` by inverse-CDF sampling (one uniform
    per query, shared by the types). The policy runs inside a :class:`~kairos_sdk.distribute.Dispatcher`
    and sees only the profile's estimates, never these true times. Every query is served;
    a run ends at the last completion. Only a shedding policy (``KairosPolicy(shed=True)``)
    leaves queries unserved; they are failed queries (``instance == -1``, latency ``nan``,
    listed in ``failures`` as ``"shed: ..."``) and count as QoS misses.

    Parameters
    ----------
    pool : the instances (a :class:`~kairos_sdk.Pool` or ``{type: count}``).
    profile : latency profile the true service times are sampled from.
    workload : batch-size mix (a trace workload is replayed at ``rate``).
    policy : distribution policy; default :class:`~kairos_sdk.distribute.KairosPolicy`.
    rate : offered load, queries per second.
    qos_ms, percentile : the target a run is judged against (passed to the policy too).
    n_queries : queries in the run.
    seed : anything :func:`numpy.random.default_rng` accepts. The same seed gives the same
        batch sizes, service-time quantiles and (rate-scaled) arrival gaps at any rate:
        common random numbers across rates and policies.
    concurrency : queries an instance serves at once (``>1`` runs them in parallel, each at
        its sampled time, i.e. without slowdown).
    plan : the plan behind the pool, handed to the policy.
    warmup : the first ``warmup`` queries are simulated but left out of the ``RunResult``
        (``extra["warmup"]`` records how many).
    policy_profile : the profile the policy's estimates read, when it is not the truth
        ``profile`` (default: ``profile``). To simulate a live client against what it did
        not know: e.g. a client given the sequentially measured overhead, served with the
        overhead a pilot run measured. The draws (batches, arrivals, service times,
        overheads) come from ``profile`` alone, so they do not change with it.

    ``extra`` also holds ``seed``, ``concurrency`` and ``service_ms`` (the true service time
    of each query, so ``latencies_ms - extra["service_ms"]`` is its waiting time).

    A profile carrying a per-query overhead (:meth:`Profile.with_overhead
    <kairos_sdk.Profile.with_overhead>`) adds one sampled overhead to every query, which
    holds the instance too (the client sends the next query when the reply is back);
    ``extra["overhead_ms"]`` holds the draws. Batch sizes, arrivals and service times are
    the same draws as without an overhead for the same seed; a zero overhead (the default)
    draws nothing and changes no number.

    Returns
    -------
    RunResult with ``source="simulated"``.

    Examples
    --------
    >>> from kairos_sdk import Profile, Pool, Workload, simulate
    >>> from kairos_sdk.distribute import FCFSPolicy
    >>> prof = Profile.builtin("rm2")
    >>> pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 4})
    >>> r = simulate(pool, prof, Workload.deeprecsys(), FCFSPolicy(), rate=20, qos_ms=350,
    ...              n_queries=2000, seed=1)
    >>> r.n_queries, r.n_failed, r.meets_qos
    (2000, 0, True)
    """
    types = _check_sim_args(pool, profile, workload, qos_ms, percentile, n_queries, warmup, concurrency)
    rate = _check_rate(rate)
    policy = KairosPolicy() if policy is None else policy
    draws = _Draws(types, profile, workload, int(n_queries), seed)
    if policy_profile is not None:
        instance_of(policy_profile, "policy_profile", Profile)
    finish, served, busy, arrival, _, shed = _run(
        types, profile if policy_profile is None else policy_profile, draws, policy, rate=rate, qos_ms=float(qos_ms), percentile=float(percentile),
        concurrency=concurrency, plan=plan, warmup=int(warmup), stop_on_fail=False, workload=workload,
    )
    ids = tuple(i.id for i in pool) if isinstance(pool, Pool) else tuple(i.id for i in Pool.from_counts(pool))
    w = int(warmup)
    start = float(arrival[w]) if w else 0.0
    # the true service time of every query on the instance that served it
    service = np.full(len(finish), np.nan)
    inst_type = np.array([draws.names.index(t) for t in types])
    ok = served >= 0
    svc = np.stack([draws.service[t] for t in draws.names])
    service[ok] = svc[inst_type[served[ok]], np.flatnonzero(ok)]
    return RunResult(
        latencies_ms=(finish - arrival)[w:],
        batch=draws.batch[w:],
        arrival_ms=arrival[w:] - start,
        instance=served[w:],
        instance_ids=ids,
        instance_types=types,
        busy_ms=busy,
        duration_ms=float(np.nanmax(finish) - start) if ok.any() else 0.0,
        qos_ms=float(qos_ms),
        percentile=float(percentile),
        rate_qps=rate,
        policy=getattr(policy, "name", type(policy).__name__),
        failures=tuple((k - w, f"shed: could no longer meet the {qos_ms:g} ms QoS target")
                       for k in sorted(shed) if k >= w),
        source="simulated",
        extra={"seed": seed, "warmup": w, "concurrency": concurrency, "service_ms": service[w:],
               **({} if draws.overhead is None else {"overhead_ms": draws.overhead[w:].copy()})},
    )


def _meets(types, profile, draws, policy, rate, qos_ms, percentile, concurrency, plan, warmup, workload) -> bool:
    return _run(types, profile, draws, policy, rate=rate, qos_ms=qos_ms, percentile=percentile,
                concurrency=concurrency, plan=plan, warmup=warmup, stop_on_fail=True, workload=workload)[4]


def _highest_passing_rate(ok: Callable[[float], bool], start: float, *, passed: bool, warm: bool,
                          rel_tol: float) -> float:
    """Bracket the pass/fail boundary from ``start`` (known to pass when ``passed``; steps of
    1.25x from a warm start, else 2x), then bisect geometrically until ``hi / lo <= 1 +
    rel_tol``. Returns the highest passing rate found, 0 when nothing passes."""
    if passed or ok(start):
        lo = start
        hi = lo * 1.25 if warm else lo * 2.0
        while ok(hi):
            lo, hi = hi, hi * 2.0
            if hi > 1e9:
                raise SimulationError("allowable throughput search diverged; is qos_ms unreasonably large?")
    else:
        hi = start
        lo = hi / (1.25 if warm else 2.0)
        while not ok(lo):
            hi, lo = lo, lo / 2.0
            if lo < start * 1e-3:  # nothing meets the target (e.g. a batch size nobody serves in time)
                return 0.0
    while hi / lo > 1.0 + rel_tol:
        mid = math.sqrt(lo * hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _capacity_guess(types: tuple[str, ...], profile: Profile, workload: Workload) -> float:
    """Total service capacity (qps) if every instance served the whole mix: a starting
    point for the search, not a bound."""
    total = 0.0
    for t in types:
        m = float(np.dot(workload.probs, profile.latency(t, workload.batch_sizes, q="mean", extrapolate=True)))
        total += 1000.0 / max(m, 1e-9)
    return total


def allowable_throughput(
    pool: Pool | Mapping[str, int],
    profile: Profile,
    workload: Workload,
    policy: Policy | None = None,
    *,
    qos_ms: float,
    percentile: float = 99.0,
    seed: int = 0,
    n_seeds: int = 3,
    n_queries: int = 20_000,
    rel_tol: float = 0.01,
    concurrency: int = 1,
    plan: Any = None,
    warmup: int = 0,
    start_qps: float | None = None,
    at_least: float | None = None,
    progress: bool | None = None,
) -> ThroughputResult:
    """Highest Poisson arrival rate (qps) at which ``percentile`` % of queries meet ``qos_ms``.

    For each of ``n_seeds`` seeds (``seed, seed+1, ...``) the pass/fail boundary is
    bracketed (doubling or halving from a starting rate) and then bisected geometrically
    until ``hi / lo <= 1 + rel_tol``; the answer for that seed is the highest passing rate
    ``lo``. The result is the mean over seeds (the method of the issue's independent
    figures: 20,000 queries per trial, mean of 3 seeds). Every run for one seed uses the same
    random numbers (batch sizes, unit arrival gaps, service quantiles), only scaled in time,
    so pass/fail is close to monotone in the rate and the bisection is stable. A run that
    can no longer meet QoS is cut short.

    Precision: the bisection resolves each seed to ``rel_tol`` (1 %); the seed-to-seed
    spread at 20,000 queries is typically 1-4 % (see ``per_seed_qps``), so the mean of 3
    seeds is stable to about ±2 %.

    Parameters
    ----------
    pool, profile, workload, policy, qos_ms, percentile, concurrency, plan, warmup :
        as for :func:`simulate`.
    seed, n_seeds : the seeds averaged over.
    n_queries : queries per trial run.
    rel_tol : relative width of the final bracket.
    start_qps : first rate tried (default: a capacity guess from the profile).
    at_least : only answers above this matter: when the first seed fails at ``at_least``
        the search stops at once and reports 0 (one run; used by searches over many pools).
    progress : a tqdm bar over the seeds, with the trial runs so far (default: in Jupyter or
        when stderr is a terminal; ``False`` never, ``True`` always).

    Returns
    -------
    ThroughputResult, a float-like value (``float(res)`` is the qps).

    Examples
    --------
    >>> from kairos_sdk import Profile, Pool, Workload, allowable_throughput
    >>> from kairos_sdk.distribute import FCFSPolicy
    >>> prof = Profile.builtin("rm2")
    >>> res = allowable_throughput(Pool.from_counts({"g4dn.xlarge": 2}), prof, Workload.deeprecsys(),
    ...                            FCFSPolicy(), qos_ms=350, n_queries=3000, n_seeds=1)
    >>> 15 < float(res) < 35
    True
    """
    types = _check_sim_args(pool, profile, workload, qos_ms, percentile, n_queries, warmup, concurrency)
    positive_int(n_seeds, "n_seeds", error=SimulationError)
    if not (0.0 < rel_tol < 1.0):
        raise SimulationError(f"rel_tol must be in (0, 1), got {rel_tol!r}")
    policy = KairosPolicy() if policy is None else policy
    guess = float(start_qps) if start_qps else _capacity_guess(types, profile, workload) * 0.5
    args = dict(qos_ms=float(qos_ms), percentile=float(percentile), concurrency=concurrency, plan=plan,
                warmup=int(warmup), workload=workload)
    answers: list[float] = []
    runs = 0
    bar = progress_bar(n_seeds, progress=progress, desc=f"allowable throughput ({len(types)} instances)", unit="seed")
    for s in range(n_seeds):
        draws = _Draws(types, profile, workload, int(n_queries), seed + s)

        def ok(r: float, draws: _Draws = draws) -> bool:
            nonlocal runs
            runs += 1
            return _meets(types, profile, draws, policy, r, **args)

        screening = at_least is not None and not answers
        if screening and not ok(float(at_least)):
            answers.append(0.0)
            break
        warm = bool(answers) and answers[-1] > 0  # start the next seed at the last answer
        start = float(at_least) if screening else (answers[-1] if warm else guess)
        answers.append(_highest_passing_rate(ok, start, passed=screening, warm=warm, rel_tol=rel_tol))
        if bar is not None:
            bar.set_postfix(qps=f"{answers[-1]:.4g}", runs=runs)
            bar.update(1)
    if bar is not None:
        bar.close()
    return ThroughputResult(
        qps=float(np.mean(answers)), per_seed_qps=tuple(answers), rel_tol=rel_tol, n_runs=runs,
        policy=getattr(policy, "name", type(policy).__name__),
    )
