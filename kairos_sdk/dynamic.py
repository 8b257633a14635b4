"""Simulate a pool that changes while it serves: a rate that follows a trace, instances that
join after a provisioning delay and leave (drained on scale-down, at once on preemption), a
controller that decides, and cost by the second of every instance's life.

:func:`simulate_dynamic` reuses the simulator's parts: queries from
:meth:`Workload.arrivals_over <kairos_sdk.Workload.arrivals_over>`, service times drawn from
the profile by inverse CDF (one uniform per query, shared by the types), the
:class:`~kairos_sdk.distribute.Dispatcher` and the policy; every query's fate goes into a
:class:`~kairos_sdk.results.RunResult` inside the :class:`~kairos_sdk.results.DynamicResult`.

How the pool changes
--------------------
- The dispatcher holds a fixed set of *slots* per type (``max_per_type``, default the
  catalog's cap, else 32); a slot out of service is out of rotation.
- A decision (from the controller, or a scripted one) is *reconciled*: missing instances of
  a type come first from its draining ones (taken back at once), then are provisioned and
  join after ``provisioning_s``; extra ones are released provisioning-first (paid up to
  then), then the least busy live ones drain: out of rotation at once, their local queue
  handed back, released when their running queries finish.
- A :class:`Preemption` removes the busiest live instance of a type at once: its running and
  queued queries go back to the pending queue with their arrival times and are served
  elsewhere (``attempts`` counts the starts); no query is lost.
- A :class:`Slowdown` multiplies a type's service times from a time on (a noisy neighbour,
  thermal throttling, a driver update).
- An instance costs its type's price for every second from the start of provisioning to its
  release; every instance still rented is released when the last query finishes.

Examples
--------
>>> from kairos_sdk import Catalog, Profile, RateTrace, Workload
>>> from kairos_sdk.dynamic import simulate_dynamic
>>> cat = Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149})
>>> r = simulate_dynamic(Profile.builtin("rm2"), Workload.deeprecsys(), RateTrace.step(10, 20, at_s=30, duration_s=60),
...                      catalog=cat, initial={"g4dn.xlarge": 1, "r5n.large": 2}, qos_ms=350, window_s=30)
>>> r.run.n_failed, len(r.windows()[0]), round(r.cost_usd, 4) > 0
(0, 2, True)
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ._checks import instance_of, non_negative_float, positive_float, positive_int
from ._checks import percentile as check_percentile
from .adapt import Actuator, Controller, Decision, Observation
from .distribute import Dispatcher, KairosPolicy, Policy
from .errors import SimulationError
from .pool import Catalog
from .profile import Profile
from .results import DynamicResult, RunResult
from .workload import RateTrace, Workload

__all__ = ["DynamicResult", "Preemption", "Slowdown", "simulate_dynamic"]

_OFF, _BOOT, _LIVE, _DRAIN = 0, 1, 2, 3
_DONE, _READY, _TICK, _EVENT = 0, 1, 2, 3


@dataclass(frozen=True)
class Slowdown:
    """From ``at_s`` on, queries started on ``instance_type`` take ``factor`` times longer."""

    at_s: float
    instance_type: str
    factor: float = 1.2

    def __post_init__(self) -> None:
        non_negative_float(self.at_s, "at_s", unit="seconds", error=SimulationError)
        positive_float(self.factor, "factor", error=SimulationError)


@dataclass(frozen=True)
class Preemption:
    """At ``at_s`` the busiest live instance of ``instance_type`` disappears."""

    at_s: float
    instance_type: str

    def __post_init__(self) -> None:
        non_negative_float(self.at_s, "at_s", unit="seconds", error=SimulationError)


def _as_delays(provisioning_s: float | Mapping[str, float], types: Sequence[str]) -> dict[str, float]:
    if isinstance(provisioning_s, Mapping):
        out = {}
        for t in types:
            out[t] = non_negative_float(provisioning_s.get(t, 90.0), f"provisioning_s[{t!r}]", unit="seconds",
                                        error=SimulationError)
        return out
    d = non_negative_float(provisioning_s, "provisioning_s", unit="seconds", error=SimulationError)
    return {t: d for t in types}


@dataclass(frozen=True)
class _Settings:
    """What a run is judged against and how its pool behaves (validated by :func:`simulate_dynamic`)."""

    qos_ms: float
    percentile: float
    delays: dict[str, float]        # seconds from a decision to an instance in service, per type
    observe_ms: float               # the controller observes this often
    max_per_type: dict[str, int]    # slots per type
    learned_policy: bool            # re-prepare the policy with a controller's learned profile


class _Sim:
    """The event loop's state (one run)."""

    def __init__(self, profile: Profile, workload: Workload, trace: RateTrace, catalog: Catalog,
                 initial: Mapping[str, int], controller: Any, policy: Policy, settings: _Settings, *,
                 events: Sequence[Any], actuator: Any, rng: np.random.Generator) -> None:
        qos_ms, percentile, delays = settings.qos_ms, settings.percentile, settings.delays
        observe_ms, max_per_type, learned_policy = settings.observe_ms, settings.max_per_type, settings.learned_policy
        self.learned_policy = learned_policy
        self.types = tuple(sorted(max_per_type))
        self.slot_type: list[str] = [t for t in self.types for _ in range(max_per_type[t])]
        self.slot_ids = tuple(f"{t}-{k}" for t in self.types for k in range(max_per_type[t]))
        self.of_type = {t: [i for i, u in enumerate(self.slot_type) if u == t] for t in self.types}
        self.price = {t: float(catalog[t].cost_per_hour) for t in self.types}
        self.delay_ms = {t: 1000.0 * delays[t] for t in self.types}
        self.disp = Dispatcher(policy, self.slot_type, profile, qos_ms=qos_ms, percentile=percentile,
                               workload=workload)
        self.batch, self.arrival = workload.arrivals_over(trace, rng)
        n = self.batch.size
        u = rng.random(n)
        self.service = {t: np.asarray(profile.latency(t, self.batch, q=u, extrapolate=True), dtype=float).tolist()
                        for t in self.types}
        self.slow: dict[str, list[tuple[float, float]]] = {t: [] for t in self.types}
        self.finish = np.full(n, np.nan)
        self.served = np.full(n, -1, dtype=np.int64)
        self.attempts = np.zeros(n, dtype=np.int64)
        self.svc_true = np.full(n, np.nan)
        self.epoch = [0] * n
        ns = len(self.slot_type)
        self.state = [_OFF] * ns
        self.gen = [0] * ns
        self.since_ms = [0.0] * ns
        self.busy = np.zeros(ns)
        self.lifetimes: list[tuple[str, str, float, float]] = []
        self.heap: list[tuple] = []
        self.seq = 0
        self.controller = controller
        self.actuator = actuator
        self.decisions: list[Decision] = []
        self.clamped: list[str] = []
        self.shed: list[int] = []
        self.observe_ms = observe_ms
        self.end_ms = trace.duration_s * 1000.0
        self.qos_ms = qos_ms
        self.percentile = percentile
        # per observation window
        self.win_arrivals = 0
        self.win_batches: list[int] = []
        self.win_service: dict[str, tuple[list[int], list[float]]] = {t: ([], []) for t in self.types}
        self.win_lost: dict[str, int] = {}
        self.area = 0.0
        self.last_t = 0.0
        self.timeline: list[tuple[float, float, dict[str, int], dict[str, int]]] = []
        self._start_live(initial)
        for ev in events:
            self._push(1000.0 * ev.at_s, _EVENT, ev, 0, 0)
        self._push(observe_ms, _TICK, 0, 0, 0)

    def _start_live(self, initial: Mapping[str, int]) -> None:
        """Every slot out of rotation but the ``initial`` ones, live at time 0."""
        for i in range(len(self.slot_type)):
            self.disp.set_available(i, False)
        for t, c in initial.items():
            if c > len(self.of_type[t]):
                raise SimulationError(f"initial[{t!r}] = {c} exceeds the {len(self.of_type[t])} slots of that type; "
                                      "raise max_per_type")
            for i in self.of_type[t][:c]:
                self.state[i] = _LIVE
                self.disp.set_available(i, True)

    # ------------------------------------------------------------------ helpers
    def _push(self, t: float, kind: int, a: Any, b: int, c: int) -> None:
        heapq.heappush(self.heap, (t, self.seq, kind, a, b, c))
        self.seq += 1

    def counts(self, which: int) -> dict[str, int]:
        out = {t: 0 for t in self.types}
        for i, s in enumerate(self.state):
            if s == which:
                out[self.slot_type[i]] += 1
        return out

    def _release(self, i: int, t: float) -> None:
        self.lifetimes.append((self.slot_ids[i], self.slot_type[i], self.since_ms[i] / 1000.0, t / 1000.0))
        self.state[i] = _OFF
        self.gen[i] += 1

    def _work(self, i: int) -> int:
        return len(self.disp.queues[i]) + len(self.disp.running[i])

    # ------------------------------------------------------------------ actions
    def reconcile(self, target: Mapping[str, int], t: float) -> None:
        for typ in self.types:
            want = int(target.get(typ, 0))
            slots = self.of_type[typ]
            active = [i for i in slots if self.state[i] in (_BOOT, _LIVE)]
            if want > len(active):
                need = want - len(active)
                for i in [i for i in slots if self.state[i] == _DRAIN][:need]:  # take a draining one back
                    self.state[i] = _LIVE
                    self.disp.set_available(i, True)
                    need -= 1
                for i in [i for i in slots if self.state[i] == _OFF][:need]:
                    self.state[i] = _BOOT
                    self.since_ms[i] = t
                    self.gen[i] += 1
                    self._push(t + self.delay_ms[typ], _READY, i, self.gen[i], 0)
                    need -= 1
                if need:
                    self.clamped.append(f"t={t / 1000:.1f} s: {need} x {typ} more than its {len(slots)} slots")
            elif want < len(active):
                extra = len(active) - want
                boot = [i for i in active if self.state[i] == _BOOT][::-1]
                live = sorted((i for i in active if self.state[i] == _LIVE), key=self._work)
                for i in (boot + live)[:extra]:
                    if self.state[i] == _BOOT:
                        self._release(i, t)
                        continue
                    self.disp.set_available(i, False)
                    if self.disp.running[i]:
                        self.state[i] = _DRAIN
                    else:
                        self._release(i, t)

    def preempt(self, typ: str, t: float) -> None:
        live = [i for i in self.of_type.get(typ, []) if self.state[i] == _LIVE]
        if not live:
            self.clamped.append(f"t={t / 1000:.1f} s: no live {typ} to preempt")
            return
        i = max(live, key=self._work)
        self.disp.set_available(i, False)
        for qid in list(self.disp.running[i]):
            self.disp.requeue(qid, i)
            self.epoch[qid] += 1
            self.served[qid] = -1
        self._release(i, t)
        self.win_lost[typ] = self.win_lost.get(typ, 0) + 1

    def tick(self, t: float) -> None:
        window_s = self.observe_ms / 1000.0
        obs = Observation(
            now_s=t / 1000.0, window_s=window_s, arrivals=self.win_arrivals,
            batch_sizes=np.asarray(self.win_batches, dtype=np.int64),
            service={k: (np.asarray(b), np.asarray(s)) for k, (b, s) in self.win_service.items() if b},
            live=self.counts(_LIVE), provisioning=self.counts(_BOOT), lost=dict(self.win_lost),
            in_flight=self.area / self.observe_ms,
        )
        self.timeline.append((t / 1000.0, obs.rate_qps, obs.live, obs.provisioning))
        self.win_arrivals, self.win_batches, self.win_lost, self.area = 0, [], {}, 0.0
        self.win_service = {k: ([], []) for k in self.types}
        if self.controller is None:
            return
        d = self.controller.observe(obs)
        if d is not None:
            self.decisions.append(d)
            learned = getattr(self.controller, "profile", None)
            if d.reason == "profile drift" and isinstance(learned, Profile) and self.learned_policy:
                # the policy estimates from what was learned, as the planner now does
                self.disp.ctx = replace(self.disp.ctx, profile=learned)
                self.disp.policy.prepare(self.disp.ctx)
            self.reconcile(d.counts, t)
            if self.actuator is not None:
                self.actuator.apply(d)

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        """Process arrivals and events in time order until the last query is done."""
        disp = self.disp
        arr = self.arrival.tolist()
        bl = self.batch.tolist()
        n = len(arr)
        k = 0
        heap = self.heap
        pop = heapq.heappop
        while True:
            nxt_arr = arr[k] if k < n else math.inf
            if heap and heap[0][0] <= nxt_arr:
                t, _, kind, a, b, c = pop(heap)
                if kind == _TICK and k >= n and disp.n_active == 0:
                    self._account(t)
                    break
                self._account(t)
                if not self._on_event(t, kind, a, b, c, bl):
                    continue
            elif k < n:
                t = nxt_arr
                self._account(t)
                disp.submit(k, bl[k], t)
                self.win_arrivals += 1
                self.win_batches.append(bl[k])
                k += 1
            else:
                raise SimulationError("the simulation ran out of events with queries outstanding")  # pragma: no cover
            self._dispatch(t, k >= n)

    def _on_event(self, t: float, kind: int, a: Any, b: int, c: int, bl: list[int]) -> bool:
        """Apply one event from the heap; False when it was stale (nothing to dispatch)."""
        if kind == _DONE:
            qid, i = a, b
            if c != self.epoch[qid]:
                return False  # its instance was preempted; it runs again elsewhere
            self.disp.finish_on(i, qid)
            self.finish[qid] = t
            typ = self.slot_type[i]
            self.win_service[typ][0].append(bl[qid])
            self.win_service[typ][1].append(self.svc_true[qid])
            if self.state[i] == _DRAIN and not self.disp.running[i]:
                self._release(i, t)
        elif kind == _READY:
            i = a
            if b != self.gen[i] or self.state[i] != _BOOT:
                return False
            self.state[i] = _LIVE
            self.disp.set_available(i, True)
        elif kind == _TICK:
            self.tick(t)
            self._push(t + self.observe_ms, _TICK, 0, 0, 0)
        else:
            self._scripted(a, t)
        return True

    def _scripted(self, ev: Any, t: float) -> None:
        """A :class:`Slowdown`, :class:`Preemption` or scripted decision comes due."""
        if isinstance(ev, Slowdown):
            self.slow[ev.instance_type].append((t, float(ev.factor)))
        elif isinstance(ev, Preemption):
            self.preempt(ev.instance_type, t)
        else:  # a scripted decision
            self.decisions.append(ev)
            self.reconcile(ev.counts, t)
            if self.actuator is not None:
                self.actuator.apply(ev)

    def _dispatch(self, t: float, arrivals_over: bool) -> None:
        """The policy decides at ``t``; start what it starts, note what it sheds."""
        disp = self.disp
        starts = disp.dispatch(t)
        gone = disp.take_shed()
        if gone:  # a shedding policy gave them up: failed queries, reported as such
            self.shed += gone
        if not starts and arrivals_over and disp.n_pending and not any(disp.running) and self._stuck():
            raise SimulationError(
                f"{disp.n_pending} queries are pending with no instance in service or starting; "
                "the controller left the pool empty")
        for qid, i in starts:
            typ = self.slot_type[i]
            s = self.service[typ][qid]
            for at, f in self.slow[typ]:
                if t >= at:
                    s *= f
            self.svc_true[qid] = s
            self.served[qid] = i
            self.attempts[qid] += 1
            self.busy[i] += s
            self._push(t + s, _DONE, qid, i, self.epoch[qid])

    def release_all(self) -> float:
        """Release every instance still rented when the last query finishes (or the trace
        ends, if later); returns that time in ms."""
        end_ms = max(self.end_ms, float(np.nanmax(self.finish)) if self.finish.size else 0.0)
        for i, s in enumerate(self.state):
            if s != _OFF:
                self._release(i, end_ms)
        return end_ms

    def _stuck(self) -> bool:
        return not any(s in (_LIVE, _BOOT) for s in self.state)

    def _account(self, t: float) -> None:
        self.area += self.disp.n_active * (t - self.last_t)
        self.last_t = t


def simulate_dynamic(
    profile: Profile,
    workload: Workload,
    trace: RateTrace,
    *,
    catalog: Catalog,
    initial: Mapping[str, int],
    qos_ms: float,
    controller: Controller | None = None,
    policy: Policy | None = None,
    percentile: float = 99.0,
    provisioning_s: float | Mapping[str, float] = 90.0,
    observe_every_s: float = 10.0,
    window_s: float = 300.0,
    events: Sequence[Slowdown | Preemption | Decision] = (),
    max_per_type: int | Mapping[str, int] | None = None,
    actuator: Actuator | None = None,
    share_learned_profile: bool = True,
    seed: Any = 0,
) -> DynamicResult:
    """Simulate a changing pool serving a rate trace; see the module docstring for the rules.

    Parameters
    ----------
    profile, workload : latency profile (true service times) and batch-size mix.
    trace : the arrival rate over time; arrivals end with it, the run with the last query.
    catalog : prices (and caps) of the types that may be rented.
    initial : ``{type: count}`` live at time 0.
    qos_ms, percentile : the target each window is judged against (and the policy aims at).
    controller : an :class:`~kairos_sdk.adapt.Autopilot`, an
        :class:`~kairos_sdk.adapt.OngoingRequestsScaler` or anything with ``reset`` and
        ``observe``; ``None`` keeps the pool (a static plan). It is reset to ``initial``.
    policy : distribution policy (default :class:`~kairos_sdk.distribute.KairosPolicy`).
    provisioning_s : seconds from a decision to an instance in service, or ``{type: s}``.
    observe_every_s : the controller sees an :class:`~kairos_sdk.adapt.Observation` this often.
    window_s : QoS attainment is reported per window of this length (by arrival time).
    events : :class:`Slowdown`, :class:`Preemption` or scripted
        :class:`~kairos_sdk.adapt.Decision` (applied at ``at_s``).
    max_per_type : slots per type (default: the catalog's cap, else 32).
    actuator : also handed every decision (e.g. a :class:`~kairos_sdk.adapt.CallbackActuator`).
    share_learned_profile : after a ``"profile drift"`` decision, prepare the policy again with
        the controller's learned ``profile`` (its estimates follow what was observed, not the
        truth); ``False`` keeps the profile the run started with.
    seed : seeds the arrivals and service times.

    Returns
    -------
    :class:`~kairos_sdk.results.DynamicResult`
    """
    instance_of(profile, "profile", Profile)
    instance_of(workload, "workload", Workload)
    instance_of(trace, "trace", RateTrace)
    instance_of(catalog, "catalog", Catalog)
    instance_of(initial, "initial", Mapping, hint=" {instance type: count}")
    qos_ms = positive_float(qos_ms, "qos_ms", unit="milliseconds", error=SimulationError)
    percentile = check_percentile(percentile, error=SimulationError)
    observe_s = positive_float(observe_every_s, "observe_every_s", unit="seconds", error=SimulationError)
    window_s = positive_float(window_s, "window_s", unit="seconds", error=SimulationError)
    types = _rentable_types(profile, catalog, initial)
    slots = _slots(max_per_type, catalog, types)
    init = _initial_counts(initial)
    _check_hooks(events, types, controller, actuator)
    policy = KairosPolicy() if policy is None else policy
    if controller is not None:
        controller.reset(init, now_s=0.0)
    settings = _Settings(qos_ms=qos_ms, percentile=percentile, delays=_as_delays(provisioning_s, types),
                         observe_ms=observe_s * 1000.0, max_per_type=slots,
                         learned_policy=bool(share_learned_profile))
    sim = _Sim(profile, workload, trace, catalog, init, controller, policy, settings, events=list(events),
               actuator=actuator, rng=np.random.default_rng(seed))
    sim.run()
    run = _run_result(sim, sim.release_all(), policy, seed)
    tl = sim.timeline
    return DynamicResult(
        run=run,
        lifetimes=tuple(sim.lifetimes),
        prices_per_hour=dict(sim.price),
        window_s=window_s,
        timeline_s=np.array([x[0] for x in tl]),
        observed_rate_qps=np.array([x[1] for x in tl]),
        live_counts={t: np.array([x[2][t] for x in tl], dtype=np.int64) for t in sim.types},
        provisioning_counts={t: np.array([x[3][t] for x in tl], dtype=np.int64) for t in sim.types},
        decisions=tuple(sim.decisions),
        controller=type(controller).__name__ if controller is not None else "static",
        extra={"clamped": tuple(sim.clamped), "trace": trace, "provisioning_s": _as_delays(provisioning_s, types),
               "observe_every_s": observe_s},
    )


def _rentable_types(profile: Profile, catalog: Catalog, initial: Mapping[str, int]) -> list[str]:
    """The catalog's types the profile covers; every ``initial`` type must be one."""
    types = [t for t in catalog.names if t in profile.instance_types]
    missing = sorted(set(initial) - set(types))
    if missing:
        raise SimulationError(f"initial types {', '.join(missing)} are not in both the catalog and the profile")
    if not types:
        raise SimulationError("no catalog type has a latency profile")
    return types


def _slots(max_per_type: Any, catalog: Catalog, types: Sequence[str]) -> dict[str, int]:
    """Slots per type: ``max_per_type`` as given, else the catalog's cap, else 32."""
    if isinstance(max_per_type, Mapping):
        return {t: positive_int(max_per_type.get(t, 32), f"max_per_type[{t!r}]", error=SimulationError) for t in types}
    if max_per_type is not None:
        m = positive_int(max_per_type, "max_per_type", error=SimulationError)
        return {t: m for t in types}
    return {t: catalog[t].cap if catalog[t].cap else 32 for t in types}


def _initial_counts(initial: Mapping[str, int]) -> dict[str, int]:
    init = {}
    for t, c in initial.items():
        init[t] = positive_int(c, f"initial[{t!r}]", error=SimulationError) if c else 0
    if not any(init.values()):
        raise SimulationError("initial must rent at least one instance")
    return init


def _check_hooks(events: Sequence[Any], types: Sequence[str], controller: Any, actuator: Any) -> None:
    """The scripted events name rentable types; the controller and actuator have the right methods."""
    for ev in events:
        if not isinstance(ev, (Slowdown, Preemption, Decision)):
            raise SimulationError(f"events must be Slowdown, Preemption or Decision, got {type(ev).__name__}")
        typ = getattr(ev, "instance_type", None)
        if typ is not None and typ not in types:
            raise SimulationError(f"event {ev!r} names type {typ!r}, which is not rentable here")
    if controller is not None and not isinstance(controller, Controller):
        raise SimulationError(f"controller must have reset() and observe(), got {type(controller).__name__}")
    if actuator is not None and not isinstance(actuator, Actuator):
        raise SimulationError(f"actuator must have apply(decision), got {type(actuator).__name__}")


def _run_result(sim: _Sim, end_ms: float, policy: Policy, seed: Any) -> RunResult:
    """Every query's fate in one run of ``sim``."""
    qos_ms = sim.qos_ms
    return RunResult(
        latencies_ms=sim.finish - sim.arrival,
        batch=sim.batch,
        arrival_ms=sim.arrival,
        instance=sim.served,
        instance_ids=sim.slot_ids,
        instance_types=tuple(sim.slot_type),
        busy_ms=sim.busy,
        duration_ms=end_ms,
        qos_ms=qos_ms,
        percentile=sim.percentile,
        policy=getattr(policy, "name", type(policy).__name__),
        attempts=sim.attempts,
        failures=tuple((k, f"shed: could no longer meet the {qos_ms:g} ms QoS target") for k in sorted(sim.shed)),
        source="simulated",
        extra={"seed": seed, "service_ms": sim.svc_true},
    )
