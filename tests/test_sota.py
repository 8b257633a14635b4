"""The state-of-the-art baselines: DeepRecSched and Clockwork policies (kairos_sdk.distribute.deeprecsched and .clockwork) and
Ribbon's Bayesian-optimization pool search (ribbon), each by its defining behaviour."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from kairos_sdk import Catalog, Pool, Profile, Workload, simulate
from kairos_sdk.baselines import ribbon_max_throughput, ribbon_search, trial_queries
from kairos_sdk.distribute import (
    SHED,
    ClockworkPolicy,
    DeepRecSchedPolicy,
    Dispatcher,
    DispatchState,
    Policy,
    ThresholdClimber,
)
from kairos_sdk.endpoints import serve_pool
from kairos_sdk.errors import KairosError, SimulationError

RM2 = Profile.builtin("rm2")
# a GPU-like type (flat, slow to start) and two CPU-like types (steep)
PROF = Profile.from_dict({
    "gpu": {10: [20.0, 22.0], 500: [60.0, 66.0], 1000: [110.0, 120.0]},
    "cpu_a": {10: [3.0, 3.3], 500: [150.0, 160.0], 1000: [300.0, 330.0]},
    "cpu_b": {10: [4.0, 4.4], 500: [200.0, 210.0], 1000: [400.0, 420.0]},
})
TYPES = ("gpu", "gpu", "cpu_a", "cpu_a", "cpu_b")


def prepared(policy, types=TYPES, profile=PROF, qos_ms=250.0):
    Dispatcher(policy, list(types), profile, qos_ms=qos_ms)  # calls policy.prepare
    return policy


def state(now, batches, arrivals, busy, idle_mask, avail=None):
    n = len(busy)
    avail = np.ones(n, dtype=bool) if avail is None else np.asarray(avail, dtype=bool)
    idle_mask = np.asarray(idle_mask, dtype=bool)
    return DispatchState(now_ms=now, pending_batch=list(batches), pending_arrival_ms=list(arrivals),
                         busy_until_ms=np.asarray(busy, dtype=float), free_slots=idle_mask.astype(int),
                         queue_len=np.zeros(n, dtype=int), available=avail)


def test_policies_satisfy_the_protocol_and_reject_bad_settings():
    assert isinstance(DeepRecSchedPolicy(), Policy) and isinstance(ClockworkPolicy(), Policy)
    assert DeepRecSchedPolicy.name == "deeprecsched" and ClockworkPolicy.name == "clockwork"
    for bad in (dict(threshold=-1), dict(window=0), dict(step=0), dict(accelerators="gpu")):
        with pytest.raises(SimulationError):
            DeepRecSchedPolicy(**bad)
    for bad in (dict(predict_q=0.0), dict(predict_q=1.5), dict(on_late="later"), dict(schedule_ahead_ms=-1)):
        with pytest.raises(SimulationError):
            ClockworkPolicy(**bad)


# ---------------------------------------------------------------------------- DeepRecSched
@settings(max_examples=150, deadline=None)
@given(
    threshold=st.integers(0, 1000),
    batches=st.lists(st.integers(1, 1000), min_size=0, max_size=8),
    idle=st.lists(st.booleans(), min_size=len(TYPES), max_size=len(TYPES)),
    spill=st.booleans(),
)
def test_threshold_scheduler_never_sends_a_small_query_to_the_gpu_while_a_cpu_is_idle(threshold, batches, idle, spill):
    pol = prepared(DeepRecSchedPolicy(threshold, accelerators=["gpu"], tune=False, spill=spill))
    is_gpu = [t == "gpu" for t in TYPES]
    out = pol.decide(state(0.0, batches, [0.0] * len(batches), np.zeros(len(TYPES)), idle))
    ks = [k for k, _ in out]
    js = [j for _, j in out]
    assert len(set(ks)) == len(ks) and len(set(js)) == len(js)  # each query, each instance once
    assert all(idle[j] for j in js)  # only idle instances
    idle_cpus_left = [j for j in range(len(TYPES)) if idle[j] and not is_gpu[j] and j not in js]
    for k, j in out:
        if batches[k] > threshold:
            assert is_gpu[j], "an above-threshold query went to a CPU"
        elif is_gpu[j]:
            assert spill, "a below-threshold query went to the GPU without spill"
            assert not idle_cpus_left, "a below-threshold query went to the GPU while a CPU was idle"
    # work conservation within each class: an idle instance is left only if no query of its class waits
    for j in range(len(TYPES)):
        if idle[j] and j not in js:
            waiting = [k for k in range(len(batches)) if k not in ks]
            if is_gpu[j]:
                assert not any(batches[k] > threshold for k in waiting)
            else:
                assert not any(batches[k] <= threshold for k in waiting)


def test_threshold_scheduler_sends_everything_to_the_class_present():
    pol = prepared(DeepRecSchedPolicy(0, accelerators=["gpu"], tune=False), types=("cpu_a", "cpu_b"))
    out = pol.decide(state(0.0, [900, 5], [0.0, 0.0], np.zeros(2), [True, True]))
    assert sorted(k for k, _ in out) == [0, 1]


@settings(max_examples=60, deadline=None)
@given(target=st.integers(0, 1000), start=st.integers(0, 1000), step=st.integers(16, 300))
def test_hill_climbing_moves_the_threshold_toward_lower_tail_latency(target, start, step):
    climber = ThresholdClimber(start, lo=0, hi=1000, step=step, min_step=4)
    costs = []
    for _ in range(300):  # enough to cross the range at half the first step, then refine
        cost = abs(climber.threshold - target) + 10.0  # tail latency, lowest at `target`
        costs.append(cost)
        climber.observe(cost)
    assert abs(climber.best - target) <= abs(start - target)
    assert abs(climber.best - target) <= 4
    assert climber.best_cost == min(costs)


def test_deeprecsched_tunes_its_threshold_online_in_the_simulator():
    # start with every query on the CPUs (too slow for large batches): the climber must move
    # the threshold down (large queries to the GPU) and find a lower tail than at the start
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 4})
    pol = DeepRecSchedPolicy(900, window=300)
    res = simulate(pool, RM2, Workload.deeprecsys(), pol, rate=6.0, qos_ms=350, n_queries=6000, seed=3)
    assert res.n_failed == 0
    first_threshold, first_tail = pol.climber.history[0]
    assert first_threshold == 900 and len(pol.climber.history) >= 5
    assert pol.climber.best < 800
    assert min(c for t, c in pol.climber.history if t < 900) < first_tail


# ---------------------------------------------------------------------------- Clockwork
def brute_force_clockwork(types, profile, q, now, batches, arrivals, busy, avail, qos_ms):
    """Independent earliest-finish placement, query by query in arrival order."""
    busy = [max(b, now) if a else math.inf for b, a in zip(busy, avail)]
    out = []
    for k, (b, arr) in enumerate(zip(batches, arrivals)):
        fin = [busy[j] + float(profile.latency(types[j], b, q=q, extrapolate=True)) for j in range(len(types))]
        j = min(range(len(types)), key=lambda i: (fin[i], i))
        if fin[j] > arr + qos_ms:
            out.append((k, SHED))
        elif busy[j] <= now:
            out.append((k, j))
            busy[j] = fin[j]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.integers(1, 1000), min_size=1, max_size=6),
    ages=st.lists(st.floats(0, 400), min_size=6, max_size=6),
    busy=st.lists(st.one_of(st.just(0.0), st.floats(0, 300)), min_size=len(TYPES), max_size=len(TYPES)),
    avail=st.lists(st.booleans(), min_size=len(TYPES), max_size=len(TYPES)).filter(any),
)
def test_earliest_finish_picks_the_argmin_of_predicted_finish(batches, ages, busy, avail):
    now, qos = 1000.0, 250.0
    arrivals = sorted(now - a for a in ages[: len(batches)])
    pol = prepared(ClockworkPolicy())
    busy_abs = [now + b if b > 0 else now - 5.0 for b in busy]
    got = pol.decide(state(now, batches, arrivals, busy_abs, [b <= 0 for b in busy], avail))
    want = brute_force_clockwork(TYPES, PROF, 0.99, now, batches, arrivals, busy_abs, avail, qos)
    assert got == want


def test_clockwork_drops_or_deprioritises_a_query_that_cannot_meet_its_deadline():
    now = 1000.0
    # query 0 arrived 240 ms ago: nothing finishes it within 250 ms; query 1 is fresh
    batches, arrivals = [500, 500], [now - 240.0, now]
    idle = [True, True, True, True, True]
    drop = prepared(ClockworkPolicy(on_late="drop"))
    out = drop.decide(state(now, batches, arrivals, np.full(5, now), idle))
    assert (0, SHED) in out and any(k == 1 and j != SHED for k, j in out)
    de = prepared(ClockworkPolicy(on_late="deprioritize"))
    out = de.decide(state(now, batches, arrivals, np.full(5, now), idle))
    assert all(j != SHED for _, j in out)
    fresh = [j for k, j in out if k == 1]
    late = [j for k, j in out if k == 0]
    assert fresh == [0]  # the fresh query gets the earliest finish (a GPU)
    assert late and late[0] != 0  # the late one only takes what is left over
    # with no spare instance, the late query waits behind the fresh one
    out = de.decide(state(now, batches, arrivals, [now, now + 500, now + 500, now + 500, now + 500],
                          [True, False, False, False, False]))
    assert out == [(1, 0)]


def test_both_policies_serve_every_query_in_the_simulator():
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 3})
    wl = Workload.deeprecsys()
    for pol in (DeepRecSchedPolicy(), ClockworkPolicy(), ClockworkPolicy(on_late="deprioritize")):
        res = simulate(pool, RM2, wl, pol, rate=30.0, qos_ms=350, n_queries=3000, seed=5)
        assert res.n_failed == res.n_shed  # no query lost: served or reported shed
        assert np.all(np.isfinite(res.latencies_ms[res.instance >= 0]))
        if pol.name == "deeprecsched" or pol.on_late == "deprioritize":
            assert res.n_failed == 0


@pytest.mark.parametrize("policy", [DeepRecSchedPolicy(), ClockworkPolicy()], ids=["deeprecsched", "clockwork"])
async def test_policies_run_live_against_replay_endpoints(policy):
    from kairos_sdk.client import KairosClient, OpenInferenceProtocol

    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2})
    async with serve_pool(pool, RM2, model="rm2", time_scale=0.02) as live, KairosClient(
            live, protocol=OpenInferenceProtocol("rm2"), policy=policy, profile=RM2, qos_ms=350,
            time_scale=0.02) as c:
        res = await c.run(Workload.deeprecsys(), rate=8.0, n_queries=40, seed=2, progress=False)
    assert res.source == "live" and res.policy == policy.name and res.n_queries == 40
    served = res.instance >= 0
    assert res.n_failed == res.n_shed and served.sum() + res.n_shed == 40
    assert np.all(np.isfinite(res.latencies_ms[served]))


# ---------------------------------------------------------------------------- Ribbon
CAT = Catalog.from_prices({"gpu": 0.5, "cpu_a": 0.2, "cpu_b": 0.12}, caps={"gpu": 4, "cpu_a": 6, "cpu_b": 8})
SPEED = {"gpu": 10.0, "cpu_a": 4.0, "cpu_b": 2.0}  # qps each instance sustains


def capacity_trial(counts, rate, n, seed):
    """A deterministic stand-in for a trial run: QoS holds while the load fits the capacity."""
    cap = sum(SPEED[t] * k for t, k in counts.items())
    return 1.0 if rate <= cap else max(0.0, 0.99 * cap / rate - 0.05)


@settings(max_examples=6, deadline=None)
@given(budget=st.floats(0.3, 3.0), rate=st.floats(2.0, 40.0), max_trials=st.integers(1, 8), seed=st.integers(0, 99))
def test_bo_search_never_proposes_a_pool_over_budget_and_stops_within_its_trial_limit(budget, rate, max_trials, seed):
    res = ribbon_search(PROF, CAT, Workload.deeprecsys(), qos_ms=250, target_qps=rate, budget=budget,
                        max_trials=max_trials, seed=seed, evaluate=capacity_trial, n_queries=1000)
    assert 1 <= res.n_trials <= max_trials
    for t in res.trials:
        assert t.cost_per_hour <= budget + 1e-9
        assert sum(CAT[k].cost_per_hour * n for k, n in t.counts.items()) == pytest.approx(t.cost_per_hour)
        assert all(n <= CAT[k].cap for k, n in t.counts.items())
    pools = [tuple(sorted(t.counts.items())) for t in res.trials]
    assert len(set(pools)) == len(pools)  # never the same pool twice
    if res.found:  # the answer is the cheapest feasible pool tried
        feasible = [t.cost_per_hour for t in res.trials if t.meets_qos]
        assert res.cost_per_hour == pytest.approx(min(feasible))
        assert capacity_trial(res.counts, rate, 0, 0) >= 0.99


def test_bo_search_prunes_like_ribbon_and_charges_every_trial():
    res = ribbon_search(PROF, CAT, Workload.deeprecsys(), qos_ms=250, target_qps=20.0, budget=2.0,
                        max_trials=25, seed=1, evaluate=capacity_trial, n_queries=1000, setup_s=30.0)
    seen_feasible = []
    for t in res.trials:
        # no pool tried after a feasible one costs more than it; none is dominated by a failed one
        assert all(t.cost_per_hour <= c + 1e-9 for c in seen_feasible)
        if t.meets_qos:
            seen_feasible.append(t.cost_per_hour)
        assert t.hours == pytest.approx((30.0 + 1000 / 20.0) / 3600.0)
        assert t.usd == pytest.approx(t.hours * t.cost_per_hour)
        assert t.qos_misses == round((1 - t.attainment) * 1000)
    assert res.exploration_usd == pytest.approx(sum(t.usd for t in res.trials))
    assert res.exploration_qos_misses == sum(t.qos_misses for t in res.trials if not t.meets_qos)
    assert res.found and res.stop_reason in ("exhausted", "max_trials")


def test_ribbon_max_throughput_brackets_the_load_a_budget_serves():
    res = ribbon_max_throughput(PROF, CAT, Workload.deeprecsys(), qos_ms=250, budget=1.0, rel_tol=0.05,
                                max_trials=15, seed=0, evaluate=capacity_trial, n_queries=500, start_qps=5.0)
    # the best capacity within $1/h by brute force
    best = max(SPEED["gpu"] * g + SPEED["cpu_a"] * a + SPEED["cpu_b"] * b
               for g in range(5) for a in range(7) for b in range(9)
               if 0.5 * g + 0.2 * a + 0.12 * b <= 1.0 + 1e-9)
    assert res.found and res.cost_per_hour <= 1.0 + 1e-9
    assert res.rate_qps <= best * 1.0001
    assert capacity_trial(res.counts, res.rate_qps, 0, 0) >= 0.99
    assert res.n_searches >= 2 and all(t.cost_per_hour <= 1.0 + 1e-9 for t in res.trials)
    # a pool never runs twice at a rate where an earlier verdict already decides it
    runs = [(tuple(sorted(t.counts.items())), t.rate_qps, t.meets_qos) for t in res.run_trials]
    for i, (p, r, _) in enumerate(runs):
        for p2, r2, ok2 in runs[:i]:
            if p2 == p:
                assert not ((not ok2 and r2 <= r) or (ok2 and r2 >= r))


def test_trial_length_pins_the_tail_share_to_the_asked_width():
    n = trial_queries(99, half_width=0.002, confidence=0.95)
    z = norm.ppf(0.975)

    def width(m):
        return z * math.sqrt(0.99 * 0.01 / m)

    assert width(n) <= 0.002 < width(n - 1)
    assert trial_queries(99, half_width=0.001) > 3.9 * n  # half the width, four times the queries


def test_ribbon_without_its_optional_dependency_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "bayes_opt", None)
    with pytest.raises(KairosError, match=r"kairos-sdk\[baselines\]"):
        ribbon_search(PROF, CAT, Workload.deeprecsys(), qos_ms=250, target_qps=5.0, budget=1.0,
                      evaluate=capacity_trial)


@pytest.mark.parametrize("bad", [dict(budget=0.0), dict(target_qps=-1.0), dict(qos_ms=float("nan")),
                                 dict(percentile=100), dict(max_trials=0)])
def test_ribbon_rejects_bad_arguments_by_name(bad):
    kw = dict(qos_ms=250, target_qps=5.0, budget=1.0, evaluate=capacity_trial) | bad
    with pytest.raises(KairosError, match=next(iter(bad))):
        ribbon_search(PROF, CAT, Workload.deeprecsys(), **kw)
