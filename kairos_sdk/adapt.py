"""The autopilot: re-plan the pool online as load and latencies drift.

A pure controller (no I/O, no clock of its own): :class:`Autopilot` takes an
:class:`Observation` (what a window of traffic showed: arrivals, service times per
instance type, the pool as it stands) and returns a :class:`Decision` (target counts per
type, the reason, when) or ``None``. The same object runs inside
:func:`~kairos_sdk.dynamic.simulate_dynamic` (simulated clock) and beside the live client
(:mod:`kairos_sdk.client.autopilot`, real clock): the caller passes ``now_s``.

The control loop::

    observation ─► rate over rate_window_s ─► need = rate × headroom
         │                                         │
         ├─► Profile.updated (learned) ─► drift? ──┤ (rebuild the Planner)
         │                                         ▼
         └─► lost instances ──► "instance lost"   Planner: min cost for need (≤ budget cap)
                                                   │
               scale up   when need > capacity, after dwell_s since the last action
               scale down when need over scale_down_dwell_s < capacity × (1 - hysteresis),
                          after scale_down_dwell_s; planned with a hysteresis margin
                                                   ▼
                                     Decision ─► Actuator.apply (simulator, callback, Ray)

Actuators turn decisions into instances: the simulator's own (inside
:func:`~kairos_sdk.dynamic.simulate_dynamic`), :class:`CallbackActuator` for user code (an
autoscaling group, a Terraform run), and any object with ``apply(decision)`` — the
:class:`Actuator` protocol a Ray Serve actuator will implement (replica count per instance
type of an app from ``kairos_sdk.ray.deploy``; not part of this module yet).

:class:`OngoingRequestsScaler` is the comparison point: a homogeneous autoscaler of the kind
Ray Serve and the Kubernetes HPA run (one type, replicas from a target of ongoing requests per
replica).

Examples
--------
>>> from kairos_sdk import Catalog, Planner, Profile, Workload
>>> from kairos_sdk.adapt import Autopilot, Observation
>>> planner = Planner(Profile.builtin("rm2"), Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149}),
...                   Workload.deeprecsys(), qos_ms=350)
>>> ap = Autopilot(planner, headroom=1.2, dwell_s=60, scale_down_dwell_s=600)
>>> ap.reset(ap.plan_for(20.0).counts, now_s=0.0)
>>> d = ap.observe(Observation(now_s=120.0, window_s=10.0, arrivals=600))   # 60 qps now
>>> d.reason, sum(d.counts.values()) > sum(d.previous.values())
('load up', True)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._checks import instance_of, non_negative_float, positive_float, positive_int, probability
from .errors import ArgumentError, InfeasibleError
from .planner import Plan, Planner
from .profile import Profile

__all__ = [
    "Actuator",
    "Autopilot",
    "CallbackActuator",
    "Controller",
    "Decision",
    "Observation",
    "OngoingRequestsScaler",
]


# ---------------------------------------------------------------------------- values
@dataclass(frozen=True, eq=False)
class Observation:
    """What one window of traffic showed, as of ``now_s``.

    Attributes
    ----------
    now_s : the end of the window (seconds on the caller's clock).
    window_s : its length.
    arrivals : queries that arrived in the window.
    batch_sizes : their batch sizes (optional).
    service : ``{instance type: (batch_sizes, service_ms)}`` of queries completed in the
        window (what :meth:`Profile.updated <kairos_sdk.Profile.updated>` folds in).
    live, provisioning : instances in service / still starting, per type.
    lost : instances lost (preempted, failed) since the previous observation, per type.
    in_flight : queries in the system (waiting or being served), averaged over the window.
    """

    now_s: float
    window_s: float
    arrivals: int
    batch_sizes: np.ndarray | None = None
    service: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    live: Mapping[str, int] = field(default_factory=dict)
    provisioning: Mapping[str, int] = field(default_factory=dict)
    lost: Mapping[str, int] = field(default_factory=dict)
    in_flight: float = 0.0

    def __post_init__(self) -> None:
        positive_float(self.window_s, "window_s", unit="seconds")
        if isinstance(self.arrivals, bool) or int(self.arrivals) != self.arrivals or self.arrivals < 0:
            raise ArgumentError(f"arrivals must be a non-negative count, got {self.arrivals!r}")

    @property
    def rate_qps(self) -> float:
        """Arrivals per second over the window."""
        return self.arrivals / self.window_s


@dataclass(frozen=True, eq=False)
class Decision:
    """A controller's answer: rent ``counts`` (per type) from ``at_s`` on.

    Attributes
    ----------
    at_s : when it was decided (the observation's ``now_s``).
    counts, previous : the new and the former target counts (zero counts omitted).
    reason : ``"load up"``, ``"load down"``, ``"profile drift"`` or ``"instance lost"``.
    rate_qps : the rate the decision was made for; ``target_qps`` that rate × headroom.
    cost_per_hour, predicted_qps : of the new pool, as the planner sees it.
    capped : True when the budget cap did not allow a pool for ``target_qps`` (the pool is
        then the most the cap buys).
    detail : a sentence for logs.
    """

    at_s: float
    counts: dict[str, int]
    previous: dict[str, int]
    reason: str
    rate_qps: float = float("nan")
    target_qps: float = float("nan")
    cost_per_hour: float = float("nan")
    predicted_qps: float = float("nan")
    capped: bool = False
    detail: str = ""

    @property
    def added(self) -> dict[str, int]:
        """Instances to start, per type."""
        return {t: n - self.previous.get(t, 0) for t, n in self.counts.items() if n > self.previous.get(t, 0)}

    @property
    def removed(self) -> dict[str, int]:
        """Instances to release, per type."""
        return {t: n - self.counts.get(t, 0) for t, n in self.previous.items() if n > self.counts.get(t, 0)}

    def __repr__(self) -> str:
        def fmt(c: Mapping[str, int]) -> str:
            return " + ".join(f"{n} x {t}" for t, n in sorted(c.items())) or "nothing"

        cap = ", budget-capped" if self.capped else ""
        return (f"Decision(t={self.at_s:.1f} s, {self.reason}: {fmt(self.previous)} -> {fmt(self.counts)}, "
                f"rate {self.rate_qps:.4g} qps, ${self.cost_per_hour:.3f}/h{cap})")


@runtime_checkable
class Controller(Protocol):
    """Anything that turns observations into decisions (:class:`Autopilot`,
    :class:`OngoingRequestsScaler`)."""

    def reset(self, counts: Mapping[str, int], now_s: float = 0.0) -> None: ...

    def observe(self, obs: Observation) -> Decision | None: ...


@runtime_checkable
class Actuator(Protocol):
    """Turns a :class:`Decision` into instances. ``apply`` should reconcile (start what is
    missing, drain what is extra) so that applying the same decision twice is harmless.

    Implementations: the simulator's (inside :func:`~kairos_sdk.dynamic.simulate_dynamic`),
    :class:`CallbackActuator`; a Ray Serve actuator (replicas per instance type of an app
    made by ``kairos_sdk.ray.deploy``) is planned behind this same protocol.
    """

    def apply(self, decision: Decision) -> None: ...


class CallbackActuator:
    """An :class:`Actuator` calling ``fn(decision)`` (resize an autoscaling group, run
    Terraform, ...), keeping every decision it was given in ``decisions``.

    Examples
    --------
    >>> from kairos_sdk.adapt import CallbackActuator, Decision
    >>> seen = []
    >>> act = CallbackActuator(seen.append)
    >>> act.apply(Decision(at_s=0.0, counts={"a": 2}, previous={"a": 1}, reason="load up"))
    >>> len(seen), act.decisions[0].added
    (1, {'a': 1})
    """

    def __init__(self, fn: Callable[[Decision], Any]) -> None:
        if not callable(fn):
            raise ArgumentError(f"fn must be callable with a Decision, got {type(fn).__name__}")
        self.fn = fn
        self.decisions: list[Decision] = []

    def apply(self, decision: Decision) -> None:
        self.decisions.append(decision)
        self.fn(decision)

    def __repr__(self) -> str:
        return f"CallbackActuator({getattr(self.fn, '__name__', self.fn)!r}, {len(self.decisions)} decisions)"


def _clean(counts: Mapping[str, int]) -> dict[str, int]:
    instance_of(counts, "counts", Mapping, hint=" {instance type: count}")
    out = {}
    for t, n in counts.items():
        if isinstance(n, bool) or int(n) != n or n < 0:
            raise ArgumentError(f"counts[{t!r}] must be a non-negative integer, got {n!r}")
        if n:
            out[str(t)] = int(n)
    return dict(sorted(out.items()))


class _RateWindow:
    """Arrivals over the recent past: the rate over the last ``smooth_s`` seconds of
    observations, kept at every observation so the highest one over a span is at hand."""

    def __init__(self, keep_s: float, smooth_s: float) -> None:
        self.keep_s = keep_s
        self.smooth_s = smooth_s
        self.obs: deque[tuple[float, float, int]] = deque()  # (end_s, window_s, arrivals)
        self.smoothed: deque[tuple[float, float]] = deque()  # (end_s, rate over smooth_s)

    def add(self, now_s: float, window_s: float, arrivals: int) -> float:
        self.obs.append((now_s, window_s, arrivals))
        while self.obs and self.obs[0][0] <= now_s - max(self.smooth_s, window_s) - 1e-9 and len(self.obs) > 1:
            self.obs.popleft()
        n = w = 0.0
        for end, win, a in reversed(self.obs):
            if end <= now_s - self.smooth_s + 1e-9 and w > 0:
                break
            n += a
            w += win
        r = n / w
        self.smoothed.append((now_s, r))
        while self.smoothed and self.smoothed[0][0] < now_s - self.keep_s:
            self.smoothed.popleft()
        return r

    def max_rate(self, now_s: float, span_s: float) -> float:
        """Highest smoothed rate over observations ending within ``span_s`` before ``now_s``."""
        return max((r for end, r in self.smoothed if end > now_s - span_s - 1e-9), default=float("nan"))


# ---------------------------------------------------------------------------- Autopilot
class Autopilot:
    """Re-plan a heterogeneous pool online (pure: observations in, decisions out).

    Parameters
    ----------
    planner : plans the pools (its profile, catalog, workload and QoS target).
    headroom : plan for the observed rate times this (>= 1): covers the rate's rise during
        a provisioning delay and the estimate's noise.
    budget_per_hour : the cap; a rate the cap cannot serve gets the most the cap buys
        (``Decision.capped``). ``None``: no cap.
    hysteresis : scale down only when the pool's predicted rate exceeds what is needed by
        more than this share, and plan the smaller pool with that margin kept; rate noise
        smaller than about half of it never makes the pool flap.
    dwell_s : least time between two actions (a scale-up waits this long after the last one).
    scale_down_dwell_s : a scale-down waits this long after the last action, and plans for
        the highest rate seen over this span (so it waits longer than a scale-up).
    rate_window_s : the rate is averaged over this span of observations.
    learn : fold observed service times into the profile (:meth:`Profile.updated`) and
        re-plan when a type's mean service time drifts by more than ``drift``.
    alpha, min_samples : the profile update's weight and minimum samples.

    Attributes
    ----------
    counts : the current target counts; ``decisions``: every decision made; ``profile``:
        the learned profile; ``planner``: the planner in use (rebuilt on drift).
    """

    def __init__(
        self,
        planner: Planner,
        *,
        headroom: float = 1.1,
        budget_per_hour: float | None = None,
        hysteresis: float = 0.1,
        dwell_s: float = 60.0,
        scale_down_dwell_s: float = 600.0,
        rate_window_s: float = 60.0,
        learn: bool = True,
        drift: float = 0.08,
        alpha: float = 0.5,
        min_samples: int = 20,
    ) -> None:
        instance_of(planner, "planner", Planner)
        self.headroom = positive_float(headroom, "headroom")
        if self.headroom < 1.0:
            raise ArgumentError(f"headroom must be at least 1 (plan for more than the observed rate), got {headroom!r}")
        self.budget_per_hour = None if budget_per_hour is None else positive_float(
            budget_per_hour, "budget_per_hour", unit="USD per hour")
        self.hysteresis = probability(hysteresis, "hysteresis")
        if self.hysteresis >= 1.0:
            raise ArgumentError(f"hysteresis must be below 1, got {hysteresis!r}")
        self.dwell_s = non_negative_float(dwell_s, "dwell_s", unit="seconds")
        self.scale_down_dwell_s = non_negative_float(scale_down_dwell_s, "scale_down_dwell_s", unit="seconds")
        if self.scale_down_dwell_s < self.dwell_s:
            raise ArgumentError(f"scale_down_dwell_s ({scale_down_dwell_s!r}) must be at least dwell_s ({dwell_s!r}):"
                                " a scale-down waits longer than a scale-up")
        self.rate_window_s = positive_float(rate_window_s, "rate_window_s", unit="seconds")
        if not isinstance(learn, bool):
            raise ArgumentError(f"learn must be True or False, got {learn!r}")
        self.learn = learn
        self.drift = positive_float(drift, "drift")
        self.alpha = probability(alpha, "alpha")
        self.min_samples = positive_int(min_samples, "min_samples")
        self.planner = planner
        self.profile: Profile = planner.profile
        self.counts: dict[str, int] = {}
        self.decisions: list[Decision] = []
        self._last_action_s = -math.inf
        self._rates = _RateWindow(keep_s=self.scale_down_dwell_s + self.rate_window_s, smooth_s=self.rate_window_s)
        self._buffer: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        self._plans: dict[float, tuple[Plan, bool]] = {}
        self._drift_note = ""
        self._capacity: dict[tuple, float] = {}

    # ------------------------------------------------------------------ planning
    def plan_for(self, rate_qps: float) -> Plan:
        """The pool the autopilot would rent for ``rate_qps`` (headroom applied, cap honoured)."""
        return self._plan(positive_float(rate_qps, "rate_qps", unit="queries per second"))[0]

    def _plan(self, rate_qps: float) -> tuple[Plan, bool]:
        target = max(rate_qps * self.headroom, 1e-6)
        key = round(target, 6)
        hit = self._plans.get(key)
        if hit is not None:
            return hit
        capped = False
        try:
            plan = self.planner.plan(target_qps=target, strict=False)
        except InfeasibleError:
            plan = None
        if plan is None or not plan.ok or (self.budget_per_hour is not None
                                           and plan.cost_per_hour > self.budget_per_hour + 1e-9):
            cap = self.budget_per_hour
            if cap is None:  # beyond the catalog's caps: the most every capped type together buys
                types = [self.planner.catalog[t] for t in self.planner.instance_types]
                if any(t.cap is None for t in types):
                    raise InfeasibleError(f"no pool sustains {target:.4g} qps within the QoS target")
                cap = float(sum(t.cap * t.cost_per_hour for t in types))
            plan = self.planner.plan(budget=cap, strict=True)
            capped = True
        if len(self._plans) > 4096:
            self._plans.clear()
        self._plans[key] = (plan, capped)
        return plan, capped

    def capacity_qps(self, counts: Mapping[str, int] | None = None) -> float:
        """The rate the planner predicts ``counts`` (default: the current target) sustains."""
        c = self.counts if counts is None else _clean(counts)
        key = tuple(c.items())
        hit = self._capacity.get(key)
        if hit is None:
            hit = self._capacity[key] = self.planner.predicted_qps(c) if c else 0.0
        return hit

    def reset(self, counts: Mapping[str, int], now_s: float = 0.0) -> None:
        """Start from ``counts`` at ``now_s`` (no decision is recorded)."""
        self.counts = _clean(counts)
        self._last_action_s = float(now_s)

    # ------------------------------------------------------------------ the loop
    def observe(self, obs: Observation) -> Decision | None:
        """Take one observation; return a :class:`Decision` when the pool should change."""
        instance_of(obs, "obs", Observation)
        now = float(obs.now_s)
        rate = self._rates.add(now, float(obs.window_s), int(obs.arrivals))
        if self.learn:
            note = self._learn(obs)
            if note:
                self._drift_note = note
        lost = {t: int(n) for t, n in obs.lost.items() if n}
        if lost:  # replace at once, whatever the dwell: the target stands
            return self._decide(now, dict(self.counts), "instance lost", rate, self._need(rate), float("nan"), False,
                                f"lost {', '.join(f'{n} x {t}' for t, n in lost.items())}; re-provisioning")
        if not math.isfinite(rate):
            return None
        since = now - self._last_action_s
        need = self._need(rate)
        cap_now = self.capacity_qps()
        if self._drift_note and since >= self.dwell_s:
            note, self._drift_note = self._drift_note, ""
            ref = max(rate, self._recent_max(now))
            plan, capped = self._plan(ref)
            # reported even when the pool stays: the re-plan happened (counts == previous then)
            return self._decide(now, plan.counts, "profile drift", ref, ref * self.headroom, plan.predicted_qps,
                                capped, note if plan.counts != self.counts else note + "; the pool still suffices")
        if need > cap_now * (1 + 1e-9) and since >= self.dwell_s:
            plan, capped = self._plan(rate)
            if plan.counts != self.counts:
                return self._decide(now, plan.counts, "load up", rate, need, plan.predicted_qps, capped,
                                    f"need {need:.4g} qps > capacity {cap_now:.4g} qps")
            return None
        if since >= self.scale_down_dwell_s:
            peak = self._recent_max(now)
            if math.isfinite(peak) and peak * self.headroom < cap_now * (1.0 - self.hysteresis):
                plan, capped = self._plan(peak * (1.0 + self.hysteresis))
                if plan.cost_per_hour < self._cost(self.counts) - 1e-9:
                    return self._decide(now, plan.counts, "load down", peak, peak * self.headroom, plan.predicted_qps,
                                        capped, f"highest rate over {self.scale_down_dwell_s:g} s is {peak:.4g} qps; "
                                        f"capacity {cap_now:.4g} qps")
        return None

    # ------------------------------------------------------------------ internals
    def _need(self, rate: float) -> float:
        return rate * self.headroom if math.isfinite(rate) else float("nan")

    def _recent_max(self, now: float) -> float:
        return self._rates.max_rate(now, self.scale_down_dwell_s)

    def _cost(self, counts: Mapping[str, int]) -> float:
        cat = self.planner.catalog
        return float(sum(cat[t].cost_per_hour * n for t, n in counts.items()))

    def _decide(self, now: float, counts: Mapping[str, int], reason: str, rate: float, target: float,
                predicted: float, capped: bool, detail: str) -> Decision:
        counts = _clean(counts)
        d = Decision(
            at_s=now, counts=counts, previous=dict(self.counts), reason=reason, rate_qps=float(rate),
            target_qps=float(target), cost_per_hour=self._cost(counts),
            predicted_qps=float(predicted) if math.isfinite(predicted) else self.capacity_qps(counts),
            capped=capped, detail=detail,
        )
        self.counts = counts
        if reason != "instance lost":
            self._last_action_s = now
        self.decisions.append(d)
        return d

    def _learn(self, obs: Observation) -> str:
        """Fold buffered service times into the learned profile; rebuild the planner when a
        type drifted. Returns a description of the drift, else ''."""
        for t, (b, s) in obs.service.items():
            if t not in self.profile.series:
                continue
            bb, ss = self._buffer.setdefault(t, ([], []))
            bb.append(np.asarray(b, dtype=float).ravel())
            ss.append(np.asarray(s, dtype=float).ravel())
        ready = {}
        for t, (bb, ss) in list(self._buffer.items()):
            if sum(x.size for x in bb) >= self.min_samples:
                ready[t] = (np.concatenate(bb), np.concatenate(ss))
                del self._buffer[t]
        if not ready:
            return ""
        self.profile = self.profile.updated(ready, alpha=self.alpha, min_samples=self.min_samples)
        moved = []
        base = self.planner.profile
        w = self.planner.workload
        for t in ready:
            old = float(np.dot(w.probs, base.latency(t, w.batch_sizes, q="mean", extrapolate=True)))
            new = float(np.dot(w.probs, self.profile.latency(t, w.batch_sizes, q="mean", extrapolate=True)))
            if abs(new / old - 1.0) > self.drift:
                moved.append(f"{t} {new / old - 1.0:+.0%}")
        if not moved:
            return ""
        p = self.planner
        self.planner = Planner(self.profile, p.catalog, p.workload, p.qos_ms, p.percentile, headroom=p.headroom,
                               max_classes=p.max_classes, mip_rel_gap=p.mip_rel_gap, time_limit_s=p.time_limit_s)
        self._plans.clear()
        self._capacity.clear()
        return "service time drifted: " + ", ".join(moved)

    def __repr__(self) -> str:
        c = " + ".join(f"{n} x {t}" for t, n in self.counts.items()) or "nothing"
        return (f"Autopilot({c}, headroom={self.headroom:g}, hysteresis={self.hysteresis:g}, dwell_s={self.dwell_s:g}, "
                f"scale_down_dwell_s={self.scale_down_dwell_s:g}, {len(self.decisions)} decisions)")


# ---------------------------------------------------------------------------- the baseline
class OngoingRequestsScaler:
    """A homogeneous autoscaler of the kind Ray Serve and the Kubernetes HPA run: one
    instance type, ``replicas = ceil(ongoing requests / target_ongoing)``, scaling up after
    ``upscale_delay_s`` since the last action and down only when the desired count stayed
    lower for ``downscale_delay_s``.

    Examples
    --------
    >>> from kairos_sdk.adapt import Observation, OngoingRequestsScaler
    >>> hpa = OngoingRequestsScaler("g4dn.xlarge", target_ongoing=2.0, upscale_delay_s=30)
    >>> hpa.reset({"g4dn.xlarge": 2}, now_s=0.0)
    >>> hpa.observe(Observation(now_s=60.0, window_s=10.0, arrivals=100, in_flight=9.0)).counts
    {'g4dn.xlarge': 5}
    """

    def __init__(self, instance_type: str, *, target_ongoing: float = 2.0, min_replicas: int = 1,
                 max_replicas: int = 100, upscale_delay_s: float = 30.0, downscale_delay_s: float = 600.0,
                 price_per_hour: float = float("nan")) -> None:
        self.instance_type = str(instance_type)
        self.target_ongoing = positive_float(target_ongoing, "target_ongoing")
        self.min_replicas = positive_int(min_replicas, "min_replicas")
        self.max_replicas = positive_int(max_replicas, "max_replicas")
        self.upscale_delay_s = non_negative_float(upscale_delay_s, "upscale_delay_s", unit="seconds")
        self.downscale_delay_s = non_negative_float(downscale_delay_s, "downscale_delay_s", unit="seconds")
        self.price_per_hour = float(price_per_hour)
        self.counts: dict[str, int] = {}
        self.decisions: list[Decision] = []
        self._last_action_s = -math.inf
        self._desired: deque[tuple[float, int]] = deque()

    def reset(self, counts: Mapping[str, int], now_s: float = 0.0) -> None:
        self.counts = _clean(counts)
        self._last_action_s = float(now_s)

    def observe(self, obs: Observation) -> Decision | None:
        now = float(obs.now_s)
        n = self.counts.get(self.instance_type, 0)
        want = min(self.max_replicas, max(self.min_replicas, math.ceil(obs.in_flight / self.target_ongoing - 1e-9)))
        self._desired.append((now, want))
        while self._desired and self._desired[0][0] < now - self.downscale_delay_s:
            self._desired.popleft()
        if any(obs.lost.values()):
            return self._decide(now, n, "instance lost", obs)
        since = now - self._last_action_s
        if want > n and since >= self.upscale_delay_s:
            return self._decide(now, want, "load up", obs)
        if want < n and since >= self.downscale_delay_s:
            high = max(w for _, w in self._desired)
            if high < n:
                return self._decide(now, high, "load down", obs)
        return None

    def _decide(self, now: float, n: int, reason: str, obs: Observation) -> Decision:
        counts = {self.instance_type: int(n)}
        d = Decision(at_s=now, counts=counts, previous=dict(self.counts), reason=reason, rate_qps=obs.rate_qps,
                     cost_per_hour=self.price_per_hour * n,
                     detail=f"{obs.in_flight:.3g} ongoing requests, target {self.target_ongoing:g} per replica")
        self.counts = counts
        if reason != "instance lost":
            self._last_action_s = now
        self.decisions.append(d)
        return d

    def __repr__(self) -> str:
        return (f"OngoingRequestsScaler({self.instance_type!r}, target_ongoing={self.target_ongoing:g}, "
                f"{self.counts.get(self.instance_type, 0)} replicas, {len(self.decisions)} decisions)")
