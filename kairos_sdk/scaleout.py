"""Many routers, one pool: what routing with partial views costs.

In Ray Serve every proxy or ingress replica routes with its own view of the replicas, so
``k`` routers make ``k`` partial views of one pool. :func:`simulate_routers` predicts what
that costs, with the same building blocks as :func:`~kairos_sdk.simulate` (a
:class:`~kairos_sdk.distribute.Dispatcher` per router, the same policy code, the same
seeded draws), and :func:`routers_throughput` finds the highest Poisson rate that still
meets QoS.

The model (``split="random"``, what :class:`~kairos_sdk.ray.KairosRequestRouter` does on Ray):

* each query goes to one of the ``k`` routers at random (a load balancer in front of the
  proxies); each router has its own dispatcher over **all** the instances;
* an instance serves one query at a time and queues nothing (Ray Serve's
  ``max_ongoing_requests = 1`` with its rejection protocol): a router that sends a query to
  an instance another router is using is told so (rejected, with the instance's count of
  ongoing requests) and decides again at once;
* ``view="pushed"`` — a router knows its own queries in flight exactly and, about the other
  routers' work, only what those rejections told it: it keeps such an instance out of its
  rotation for a guessed time (``park``: the type's quickest mean service time doubled at
  each rejection in a row, or its typical service time), then tries it again. This is what Ray gives a router (``on_new_queue_len_info``).
* ``view="probed"`` — the same, except that a router keeps an instance that turned it away
  out of rotation only until a probe finds it free: it asks the instance for its queue length
  (Ray Serve's ``RunningReplica.get_queue_len(deadline_s=...)``) every ``probe_ms`` and puts it
  back in rotation, and decides again, at the first answer that says it is free. Each probe is
  one RPC: ``extra["probes"]`` counts them. ``probe_rtt_ms`` delays each answer (it then
  describes the instance as it was when the probe was sent).
* ``view="global"`` — every router sees every instance's true state at every decision (as if
  it probed every replica each time), for comparison.

``split="partition"`` gives each router a disjoint share of the instances instead (instances
of each type dealt in turn), so no router ever collides with another but each pools only
``1/k`` of the pool.

With ``routers=1`` every variant is :func:`~kairos_sdk.simulate` itself: the same latencies
query by query.

Examples
--------
>>> from kairos_sdk import Profile, Workload
>>> from kairos_sdk.scaleout import simulate_routers
>>> prof = Profile.builtin("rm2")
>>> r = simulate_routers({"g4dn.xlarge": 1, "r5n.large": 4}, prof, Workload.deeprecsys(),
...                      rate=20, qos_ms=350, routers=2, n_queries=2000, seed=1)
>>> r.n_queries, r.n_failed, r.extra["routers"]
(2000, 0, 2)
"""

from __future__ import annotations

import copy
import heapq
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .distribute import Dispatcher, KairosPolicy, Policy
from .errors import SimulationError
from .pool import Pool
from .profile import Profile
from .simulate import RunResult, ThroughputResult, _highest_passing_rate
from .workload import Workload

__all__ = ["PARKS", "SPLITS", "VIEWS", "default_probe_ms", "routers_throughput", "simulate_routers"]

SPLITS = ("random", "partition")
VIEWS = ("pushed", "probed", "global")
PARKS = ("backoff", "typical")

# event kinds: a query completes; a router puts an instance back; a router probes an instance;
# a probe's answer (busy or free) reaches its router
_DONE, _RETRY, _PROBE, _ANSWER = 0, 1, 2, 3


def _check_inputs(types: tuple[str, ...], profile: Any, workload: Any, qos_ms: Any, percentile: Any,
                  rate: Any = 1.0) -> None:
    if not isinstance(profile, Profile):
        raise SimulationError(f"profile must be a Profile, got {type(profile).__name__}")
    if not isinstance(workload, Workload):
        raise SimulationError(f"workload must be a Workload, got {type(workload).__name__}")
    missing = sorted(set(types) - set(profile.instance_types))
    if missing:
        raise SimulationError(f"pool types {', '.join(missing)} have no latency profile; the profile covers "
                              f"{', '.join(profile.instance_types)}")
    for name, v in (("qos_ms", qos_ms), ("rate", rate)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not math.isfinite(v) or v <= 0:
            raise SimulationError(f"{name} must be a positive number, got {v!r}")
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not (0 < percentile <= 100):
        raise SimulationError(f"percentile must be in (0, 100], got {percentile!r}")


def _types_of(pool: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if isinstance(pool, Pool):
        p = pool
    elif isinstance(pool, Mapping):
        p = Pool.from_counts(pool)
    else:
        raise SimulationError(f"pool must be a Pool or a {{type: count}} mapping, got {type(pool).__name__}")
    return p.types, tuple(i.id for i in p)


def _check_routing(routers: Any, split: str, view: str, park: str, probe_ms: Any, probe_rtt_ms: Any) -> int:
    """The router settings both entry points take; returns ``routers`` as an int."""
    if isinstance(routers, bool) or not isinstance(routers, (int, np.integer)) or routers < 1:
        raise SimulationError(f"routers must be a positive integer, got {routers!r}")
    if split not in SPLITS:
        raise SimulationError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if view not in VIEWS:
        raise SimulationError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    if park not in PARKS:
        raise SimulationError(f"park must be one of {', '.join(PARKS)}, got {park!r}")
    if probe_ms is not None and (isinstance(probe_ms, bool) or not isinstance(probe_ms, (int, float, np.floating))
                                 or not math.isfinite(probe_ms) or probe_ms <= 0):
        raise SimulationError(f"probe_ms must be a positive number of milliseconds or None, got {probe_ms!r}")
    if (isinstance(probe_rtt_ms, bool) or not isinstance(probe_rtt_ms, (int, float, np.floating))
            or not math.isfinite(probe_rtt_ms) or probe_rtt_ms < 0):
        raise SimulationError(f"probe_rtt_ms must be a number of milliseconds >= 0, got {probe_rtt_ms!r}")
    return int(routers)


class _Draws:
    """The random numbers of a run, drawn as :func:`~kairos_sdk.simulate` draws them (same
    seed, same batch sizes, arrival gaps and service quantiles), plus each query's router."""

    def __init__(self, types: tuple[str, ...], profile: Profile, workload: Workload, n: int, seed: Any) -> None:
        rng = np.random.default_rng(seed)
        batch, arrival = workload.sample(n, rate=1000.0, rng=rng)  # 1 ms mean gap
        self.batch = batch.astype(np.int64)
        self.unit_arrival = arrival
        u = rng.random(n)
        self.route_u = rng.random(n)  # drawn last: the draws above match simulate's
        self.names = tuple(sorted(set(types)))
        self.service = {t: np.asarray(profile.latency(t, self.batch, q=u, extrapolate=True), dtype=float)
                        for t in self.names}


def _typical_ms(profile: Profile, t: str) -> float:
    b = profile.batch_sizes(t)
    return float(np.mean(profile.latency(t, b, q="mean")))


def _quickest_ms(profile: Profile, t: str) -> float:
    """The type's quickest mean service time: the mean latency at its smallest measured batch."""
    return float(profile.latency(t, profile.batch_sizes(t)[0], q="mean"))


def default_probe_ms(profile: Profile, instance_type: str) -> float:
    """The default probe period of ``view="probed"`` for one instance type: a quarter of the
    type's quickest mean service time (the profile's mean latency at its smallest measured
    batch), at least 0.05 ms.

    Examples
    --------
    >>> from kairos_sdk import Profile
    >>> round(default_probe_ms(Profile.builtin("rm2"), "r5n.large"), 2)  # rm2's quickest r5n answer: ~5.7 ms
    1.43
    """
    return max(0.05, 0.25 * _quickest_ms(profile, instance_type))


@dataclass(frozen=True)
class _Rules:
    """The settings of one run of the event loop."""

    rate: float
    qos_ms: float
    percentile: float
    routers: int
    split: str
    view: str
    park: str
    warmup: int
    stop_on_fail: bool
    probe_ms: float | None = None
    probe_rtt_ms: float = 0.0


def _run(types, profile, draws, policy, *, rate, qos_ms, percentile, routers, split, view, plan, workload,
         warmup, stop_on_fail, park="backoff", probe_ms=None, probe_rtt_ms=0.0):
    """The event loop; returns (finish_ms, served_by, busy_ms, arrival_ms, ok, shed, stats)."""
    rules = _Rules(rate=rate, qos_ms=qos_ms, percentile=percentile, routers=routers, split=split, view=view,
                   park=park, warmup=warmup, stop_on_fail=stop_on_fail, probe_ms=probe_ms,
                   probe_rtt_ms=float(probe_rtt_ms))
    return _Loop(types, profile, draws, policy, plan, workload, rules).run()


def _members(types: tuple[str, ...], routers: int, split: str) -> list[list[int]]:
    """The instances each router dispatches to (global indices)."""
    if split == "partition" and routers > 1:
        members: list[list[int]] = [[] for _ in range(routers)]
        seen: dict[str, int] = {}
        for i, t in enumerate(types):
            k = seen.get(t, 0)
            seen[t] = k + 1
            members[k % routers].append(i)
        if any(not m for m in members):
            raise SimulationError(f"split='partition' needs at least {routers} instances to give each router one")
        return members
    return [list(range(len(types))) for _ in range(routers)]


def _first_park(profile: Profile, names: tuple[str, ...], park: str) -> list[float]:
    """How long a router first parks an instance of each type that turned it away."""
    if park == "typical":
        return [_typical_ms(profile, t) for t in names]
    # "backoff": the type's quickest answer, doubled at each rejection in a row
    return [_quickest_ms(profile, t) for t in names]


class _Loop:
    """One run's state: the routers' dispatchers, the true instances and the event heap."""

    def __init__(self, types, profile, draws, policy, plan, workload, rules: _Rules) -> None:
        n = len(draws.batch)
        nn = len(types)
        routers = rules.routers
        self.policy, self.rules, self.routers, self.n = policy, rules, routers, n
        self.view, self.park, self.qos_ms, self.warmup = rules.view, rules.park, rules.qos_ms, rules.warmup
        self.stop_on_fail = rules.stop_on_fail
        self.arrival = draws.unit_arrival * (1000.0 / rules.rate)
        self.arr_l = self.arrival.tolist()
        self.b_l = draws.batch.tolist()
        self.who = (np.minimum((draws.route_u * routers).astype(np.int64), routers - 1).tolist() if routers > 1
                    else [0] * n)
        self.members = _members(types, routers, rules.split)
        self.local = [{g: j for j, g in enumerate(m)} for m in self.members]  # global -> local, per router
        self.disps = [Dispatcher(copy.deepcopy(policy), [types[g] for g in m], profile, qos_ms=rules.qos_ms,
                                 percentile=rules.percentile, plan=plan, workload=workload) for m in self.members]
        names = draws.names
        self.svc = [draws.service[t].tolist() for t in names]
        self.tix = [names.index(t) for t in types]
        self.first_park = _first_park(profile, names, rules.park)
        self.probe_ms = [default_probe_ms(profile, t) if rules.probe_ms is None else float(rules.probe_ms)
                         for t in names]
        self.rtt = rules.probe_rtt_ms
        self.probes = 0
        self.strikes: list[dict[int, int]] = [{} for _ in range(routers)]
        self.shared = routers > 1 and rules.split == "random"
        self.running_by = [-1] * nn  # router whose query runs on each instance (-1: free)
        self.parked = [set() for _ in range(routers)]  # instances a router took out of rotation
        self.finish = np.full(n, np.nan)
        self.served = np.full(n, -1, dtype=np.int64)
        self.busy = [0.0] * nn
        self.heap: list[tuple[float, int, int, int, int, int]] = []
        self.seq = 0
        self.shed: list[int] = []
        self.allowed = math.floor((1.0 - rules.percentile / 100.0) * (n - rules.warmup) + 1e-9)
        self.misses = 0
        self.rejections = 0
        self.dispatch_s = 0.0
        self.decisions = 0
        self.ok = True

    def _push(self, event: tuple[float, int, int, int, int]) -> None:
        t, kind, r, qid, g = event
        heapq.heappush(self.heap, (t, self.seq, kind, r, qid, g))
        self.seq += 1

    def decide(self, r: int, t: float) -> None:
        """Router ``r`` dispatches; starts what the true instances accept."""
        d, m = self.disps[r], self.members[r]
        while True:
            c0 = time.perf_counter()
            starts = d.dispatch(t)
            self.dispatch_s += time.perf_counter() - c0
            self.decisions += 1
            refused = False
            for qid, j in starts:
                g = m[j]
                if self.running_by[g] >= 0:  # another router's query is there: rejected
                    self._rejected(r, t, qid, j, g)
                    refused = True
                    continue
                self._start(r, t, qid, g)
            gone = d.take_shed()
            if gone:
                self.shed.extend(gone)
                if self.stop_on_fail:
                    self.misses += sum(1 for q in gone if q >= self.warmup)
                    if self.misses > self.allowed:
                        self.ok = False
            if not refused:
                return

    def _rejected(self, r: int, t: float, qid: int, j: int, g: int) -> None:
        """Router ``r``'s query ``qid`` was turned away by instance ``g``: park it there."""
        self.rejections += 1
        d = self.disps[r]
        d.requeue(qid, j)
        d.set_available(j, False)
        self.parked[r].add(g)
        if self.view == "pushed":
            strikes = self.strikes[r]
            n_in_row = strikes.get(g, 0)
            strikes[g] = n_in_row + 1
            wait = self.first_park[self.tix[g]] * (2.0 ** n_in_row if self.park == "backoff" else 1.0)
            self._push((t + wait, _RETRY, r, -1, g))
        elif self.view == "probed":
            self._push((t + self.probe_ms[self.tix[g]], _PROBE, r, -1, g))

    def _start(self, r: int, t: float, qid: int, g: int) -> None:
        """Instance ``g`` accepted router ``r``'s query ``qid``."""
        self.running_by[g] = r
        if self.strikes[r]:
            self.strikes[r].pop(g, None)
        s = self.svc[self.tix[g]][qid]
        self.served[qid] = g
        self.busy[g] += s
        self._push((t + s, _DONE, r, qid, g))
        if self.view == "global" and self.shared:
            for o in range(self.routers):
                if o != r and g not in self.parked[o]:
                    self.disps[o].set_available(self.local[o][g], False)
                    self.parked[o].add(g)

    def _done(self, t: float, r: int, qid: int, g: int) -> None:
        """Query ``qid`` of router ``r`` finished on instance ``g``."""
        self.running_by[g] = -1
        self.disps[r].finish_on(self.local[r][g], qid)
        self.finish[qid] = t
        if self.stop_on_fail and qid >= self.warmup and t - self.arr_l[qid] > self.qos_ms:
            self.misses += 1
            if self.misses > self.allowed:
                self.ok = False
                return
        if self.view == "global" and self.shared:
            # every router sees the instance free now; they decide oldest query first
            disps = self.disps
            for o in range(self.routers):
                if o != r and g in self.parked[o]:
                    self.parked[o].discard(g)
                    disps[o].set_available(self.local[o][g], True)
            waiting = [(self.arr_l[disps[o].pending_ids[0]], o) for o in range(self.routers) if disps[o].n_pending]
            for _, o in sorted(waiting):
                self.decide(o, t)
        else:
            self.decide(r, t)

    def _retry(self, t: float, r: int, g: int) -> None:
        """Router ``r`` puts a parked instance back in rotation and tries again."""
        if g in self.parked[r]:
            self.parked[r].discard(g)
            self.disps[r].set_available(self.local[r][g], True)
            self.decide(r, t)

    def _probe(self, t: float, r: int, g: int) -> None:
        """Router ``r`` asks parked instance ``g`` for its queue length."""
        self.probes += 1
        busy = int(self.running_by[g] >= 0)
        if self.rtt > 0.0:
            self._push((t + self.rtt, _ANSWER, r, busy, g))
        else:
            self._answer(t, r, busy, g)

    def _answer(self, t: float, r: int, busy: int, g: int) -> None:
        """A probe's answer reaches router ``r``: probe again later, or back in rotation."""
        if busy:
            self._push((t + self.probe_ms[self.tix[g]], _PROBE, r, -1, g))
        else:
            self._retry(t, r, g)

    def _drain(self, t: float) -> None:
        """The end: ask every router until none has a query left."""
        for r in [r for r in range(self.routers) if self.disps[r].n_pending]:
            before = self.disps[r].n_pending
            self.decide(r, t)
            if not self.heap and self.disps[r].n_pending == before:
                raise SimulationError(f"policy {getattr(self.policy, 'name', self.policy)!r} left {before} queries "
                                      "pending with every instance idle")

    def _hopeless(self, t: float) -> bool:
        """More queries that arrived before ``t - qos_ms`` missed QoS than the percentile allows."""
        w, arrival = self.warmup, self.arrival
        cut = int(np.searchsorted(arrival, t - self.qos_ms, side="right"))
        if cut > w:
            lat = self.finish[w:cut] - arrival[w:cut]
            return (cut - w) - int(np.count_nonzero(lat <= self.qos_ms)) > self.allowed
        return False

    def run(self) -> tuple:
        """Process arrivals and events in time order; see :func:`_run` for what it returns."""
        heap, arr_l, n = self.heap, self.arr_l, self.n
        k = 0
        events = 0
        while k < n or heap:
            if heap and (k >= n or heap[0][0] <= arr_l[k]):
                t, _, kind, r, qid, g = heapq.heappop(heap)
                if kind == _DONE:
                    self._done(t, r, qid, g)
                elif kind == _RETRY:
                    self._retry(t, r, g)
                elif kind == _PROBE:
                    self._probe(t, r, g)
                else:
                    self._answer(t, r, qid, g)
            else:
                t = arr_l[k]
                r = self.who[k]
                self.disps[r].submit(k, self.b_l[k], t)
                k += 1
                self.decide(r, t)
            if not self.ok:
                break
            if not heap and k >= n:
                self._drain(t)
            events += 1
            if self.stop_on_fail and (events & 1023) == 0 and self._hopeless(t):
                self.ok = False
                break
        stats = {"rejections": self.rejections, "probes": self.probes, "dispatch_s": self.dispatch_s, "decisions": self.decisions}
        return self.finish, self.served, np.asarray(self.busy), self.arrival, self.ok, self.shed, stats


def simulate_routers(
    pool: Pool | Mapping[str, int],
    profile: Profile,
    workload: Workload,
    policy: Policy | None = None,
    *,
    rate: float,
    qos_ms: float,
    routers: int = 1,
    split: str = "random",
    view: str = "pushed",
    park: str = "backoff",
    probe_ms: float | None = None,
    probe_rtt_ms: float = 0.0,
    n_queries: int = 20_000,
    percentile: float = 99.0,
    seed: Any = 0,
    plan: Any = None,
    warmup: int = 0,
) -> RunResult:
    """Simulate a pool served by ``routers`` independent routers (see the module docstring).

    Parameters are those of :func:`~kairos_sdk.simulate` (one query at a time per
    instance), plus:

    routers : how many routers split the arrivals.
    split : ``"random"`` (each router sees every instance) or ``"partition"`` (each router
        owns a disjoint share).
    view : ``"pushed"`` (own work plus what rejections report), ``"probed"`` (the same, and
        an instance that turned the router away is probed until it is free) or ``"global"``
        (true state).
    park : with ``view="pushed"``, how long a router keeps an instance that turned it away
        out of rotation: ``"backoff"`` (the type's quickest answer, doubled at each
        rejection in a row) or ``"typical"`` (the type's typical service time).
    probe_ms : with ``view="probed"``, the period (ms) at which a router probes an instance
        it parked. ``None`` (default): per type, :func:`default_probe_ms` — a quarter of the
        type's quickest mean service time (its profile's mean latency at the smallest
        measured batch), at least 0.05 ms.
    probe_rtt_ms : with ``view="probed"``, how long (ms) a probe's answer takes to reach
        the router; it describes the instance as it was when the probe left (default 0).

    ``policy`` is copied for each router (default :class:`~kairos_sdk.distribute.KairosPolicy`).
    ``extra`` holds ``routers``, ``split``, ``view``, ``rejections`` (queries an instance
    turned away because another router's query ran there), ``probes`` (queue-length probes
    sent, the RPC cost of ``view="probed"``), ``dispatch_s`` (CPU time in
    the dispatchers) and ``dispatch_us_per_query``.
    """
    types, ids = _types_of(pool)
    routers = _check_routing(routers, split, view, park, probe_ms, probe_rtt_ms)
    res, _, _ = _simulate(types, ids, profile, workload, policy, rate=rate, qos_ms=qos_ms, routers=routers,
                          split=split, view=view, park=park, n_queries=n_queries, percentile=percentile, seed=seed,
                          plan=plan, warmup=warmup, probe_ms=probe_ms, probe_rtt_ms=probe_rtt_ms)
    return res


def _simulate(types, ids, profile, workload, policy, *, rate, qos_ms, routers, split, view, park, n_queries,
              percentile, seed, plan, warmup, probe_ms=None, probe_rtt_ms=0.0):
    _check_inputs(types, profile, workload, qos_ms, percentile, rate)
    if isinstance(n_queries, bool) or not isinstance(n_queries, (int, np.integer)) or n_queries < 1:
        raise SimulationError(f"n_queries must be a positive integer, got {n_queries!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or not (0 <= warmup < n_queries):
        raise SimulationError(f"warmup must be an integer in [0, n_queries), got {warmup!r}")
    policy = KairosPolicy() if policy is None else policy
    draws = _Draws(types, profile, workload, int(n_queries), seed)
    finish, served, busy, arrival, _, shed, stats = _run(
        types, profile, draws, policy, rate=float(rate), qos_ms=float(qos_ms), percentile=float(percentile),
        routers=routers, split=split, view=view, plan=plan, workload=workload, warmup=int(warmup),
        stop_on_fail=False, park=park, probe_ms=probe_ms, probe_rtt_ms=probe_rtt_ms)
    w = int(warmup)
    start = float(arrival[w]) if w else 0.0
    ok = served >= 0
    service = np.full(len(finish), np.nan)
    inst_type = np.array([draws.names.index(t) for t in types])
    svc = np.stack([draws.service[t] for t in draws.names])
    service[ok] = svc[inst_type[served[ok]], np.flatnonzero(ok)]
    extra = {"seed": seed, "warmup": w, "concurrency": 1, "service_ms": service[w:], "routers": routers,
             "split": split, "view": view, "park": park, "probe_ms": probe_ms, "probe_rtt_ms": probe_rtt_ms, **stats,
             "dispatch_us_per_query": 1e6 * stats["dispatch_s"] / max(len(finish), 1)}
    res = RunResult(
        latencies_ms=(finish - arrival)[w:], batch=draws.batch[w:], arrival_ms=arrival[w:] - start,
        instance=served[w:], instance_ids=ids, instance_types=types, busy_ms=busy,
        duration_ms=float(np.nanmax(finish) - start) if ok.any() else 0.0, qos_ms=float(qos_ms),
        percentile=float(percentile), rate_qps=float(rate), policy=getattr(policy, "name", type(policy).__name__),
        failures=tuple((q - w, f"shed: could no longer meet the {qos_ms:g} ms QoS target")
                       for q in sorted(shed) if q >= w),
        source="simulated", extra=extra,
    )
    return res, stats, draws


def routers_throughput(
    pool: Pool | Mapping[str, int],
    profile: Profile,
    workload: Workload,
    policy: Policy | None = None,
    *,
    qos_ms: float,
    routers: int = 1,
    split: str = "random",
    view: str = "pushed",
    park: str = "backoff",
    probe_ms: float | None = None,
    probe_rtt_ms: float = 0.0,
    percentile: float = 99.0,
    seed: int = 0,
    n_seeds: int = 1,
    n_queries: int = 20_000,
    rel_tol: float = 0.02,
    start_qps: float | None = None,
    plan: Any = None,
    warmup: int = 0,
) -> ThroughputResult:
    """Highest Poisson rate at which ``percentile`` % of queries meet ``qos_ms`` with
    ``routers`` routers (the search of :func:`~kairos_sdk.allowable_throughput`: bracket by
    doubling or halving, then bisect geometrically to ``rel_tol``; the mean over seeds).

    The router settings (``routers``, ``split``, ``view``, ``park``, ``probe_ms``,
    ``probe_rtt_ms``) are those of :func:`simulate_routers`. Returns a
    :class:`~kairos_sdk.simulate.ThroughputResult` whose ``n_runs`` counts the simulations run.
    """
    types, _ = _types_of(pool)
    routers = _check_routing(routers, split, view, park, probe_ms, probe_rtt_ms)
    _check_inputs(types, profile, workload, qos_ms, percentile)
    if not (0.0 < rel_tol < 1.0):
        raise SimulationError(f"rel_tol must be in (0, 1), got {rel_tol!r}")
    policy = KairosPolicy() if policy is None else policy
    if start_qps is None:
        start_qps = 0.5 * sum(1000.0 / max(float(np.dot(workload.probs, profile.latency(
            t, workload.batch_sizes, q="mean", extrapolate=True))), 1e-9) for t in types)
    answers: list[float] = []
    runs = 0
    for s in range(int(n_seeds)):
        draws = _Draws(types, profile, workload, int(n_queries), seed + s)

        def ok(rate: float, draws: _Draws = draws) -> bool:
            nonlocal runs
            runs += 1
            return _run(types, profile, draws, policy, rate=rate, qos_ms=float(qos_ms), percentile=float(percentile),
                        routers=routers, split=split, view=view, plan=plan, workload=workload,
                        warmup=int(warmup), stop_on_fail=True, park=park, probe_ms=probe_ms,
                        probe_rtt_ms=probe_rtt_ms)[4]

        start = answers[-1] if answers and answers[-1] > 0 else float(start_qps)
        answers.append(_highest_passing_rate(ok, start, passed=False, warm=False, rel_tol=rel_tol))
    name = getattr(policy, "name", type(policy).__name__)
    return ThroughputResult(qps=float(np.mean(answers)), per_seed_qps=tuple(answers), rel_tol=rel_tol, n_runs=runs,
                            policy=f"{name} x{routers} {split}/{view}")
