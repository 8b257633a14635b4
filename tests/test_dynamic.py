"""simulate_dynamic: provisioning, drains, preemptions, cost and windows of a changing pool."""

from __future__ import annotations

import numpy as np
import pytest

from kairos_sdk import Catalog, Planner, Profile, RateTrace, SimulationError, Workload
from kairos_sdk.adapt import Autopilot, CallbackActuator, Decision
from kairos_sdk.dynamic import Preemption, Slowdown, simulate_dynamic

QOS = 350.0
PRICES = {"g4dn.xlarge": 0.526, "r5n.large": 0.149}
CAT = Catalog.from_prices(PRICES)
PROFILE = Profile.builtin("rm2")
WL = Workload.deeprecsys()


def _flat(ms_a: float = 10.0, ms_b: float = 20.0) -> Profile:
    """Deterministic service times: every batch takes exactly ms on each type."""
    return Profile.from_quantiles({
        "a": {"batch": [1, 1000], "levels": [0.0, 1.0], "values": [[ms_a, ms_a], [ms_a, ms_a]]},
        "b": {"batch": [1, 1000], "levels": [0.0, 1.0], "values": [[ms_b, ms_b], [ms_b, ms_b]]},
    })


def _starts(r):
    run = r.run
    return run.arrival_ms + run.latencies_ms - run.extra["service_ms"]


def test_cost_is_the_sum_of_instance_lifetimes_times_price():
    cat = Catalog.from_prices({"a": 1.0, "b": 3.6})
    trace = RateTrace.from_table([(0, 5.0), (300, 5.0)])
    script = [Decision(at_s=100.0, counts={"a": 2, "b": 1}, previous={"a": 1}, reason="load up"),
              Decision(at_s=200.0, counts={"a": 1}, previous={"a": 2, "b": 1}, reason="load down")]
    r = simulate_dynamic(_flat(), Workload.fixed(10), trace, catalog=cat, initial={"a": 1}, qos_ms=100.0,
                         events=script, provisioning_s=30.0)
    end_s = max(300.0, float(np.nanmax(r.run.arrival_ms + r.run.latencies_ms)) / 1000.0)
    # a-0 all run long; one more a and one b from 100 s to 200 s (drained at once or within a
    # 20 ms service time); priced independently of the simulator's bookkeeping
    want = (end_s * 1.0 + 100.0 * 1.0 + 100.0 * 3.6) / 3600.0
    assert r.cost_usd == pytest.approx(want, abs=0.03 * 4.6 / 3600.0)
    assert r.n_scale_actions == 2
    # every instance served only while it was in service: after provisioning, before release
    ids = np.array(r.run.instance_ids)
    served_by = ids[r.run.instance]
    starts = _starts(r)
    for inst, _, start, end in r.lifetimes:
        mine = served_by == inst
        ready = start + (30.0 if start > 0 else 0.0)
        assert np.all(starts[mine] >= ready * 1000.0 - 1e-6) and np.all(starts[mine] <= end * 1000.0 + 1e-6)
    assert sorted(round(s0) for _, _, s0, _ in r.lifetimes) == [0, 100, 100]


def test_preemption_loses_no_query_and_retries_elsewhere():
    trace = RateTrace.from_table([(0, 60.0), (120, 60.0)])
    ev = [Preemption(30.0, "r5n.large"), Preemption(60.0, "g4dn.xlarge"), Preemption(61.0, "r5n.large")]
    r = simulate_dynamic(PROFILE, WL, trace, catalog=CAT, initial={"g4dn.xlarge": 2, "r5n.large": 6}, qos_ms=QOS,
                         events=ev, provisioning_s=20.0, window_s=30.0, seed=4)
    run = r.run
    assert run.n_failed == 0 and not np.isnan(run.latencies_ms).any()
    assert (run.attempts >= 1).all() and (run.attempts > 1).any()
    ends = sorted(end for _, _, _, end in r.lifetimes)
    for at in (30.0, 60.0, 61.0):  # the preempted instances stop paying at once
        assert any(abs(e - at) < 1e-9 for e in ends)
    # a re-run query ran to completion on an instance other than the one preempted
    again = np.flatnonzero(run.attempts > 1)
    assert np.all(run.instance[again] >= 0)


def test_scale_down_drains_instead_of_dropping():
    trace = RateTrace.from_table([(0, 40.0), (60, 40.0)])
    script = [Decision(at_s=30.0, counts={"g4dn.xlarge": 1, "r5n.large": 2}, previous={}, reason="load down")]
    r = simulate_dynamic(PROFILE, WL, trace, catalog=CAT, initial={"g4dn.xlarge": 2, "r5n.large": 6}, qos_ms=QOS,
                         events=script, window_s=30.0)
    assert r.run.n_failed == 0
    released = {i: end for i, _, _, end in r.lifetimes if end < 60.0}
    assert len(released) == 5
    ids = np.array(r.run.instance_ids)
    starts = _starts(r)
    for inst, end in released.items():
        mine = ids[r.run.instance] == inst
        assert np.all(starts[mine] <= 30_000.0 + 1e-6)  # nothing new after the decision
        assert end >= 30.0


def test_slowdown_multiplies_service_times_from_its_time_on():
    trace = RateTrace.from_table([(0, 20.0), (60, 20.0)])
    r = simulate_dynamic(_flat(10.0, 20.0), Workload.fixed(5), trace, catalog=Catalog.from_prices({"a": 1.0}),
                         initial={"a": 2}, qos_ms=100.0, events=[Slowdown(30.0, "a", 1.5)])
    svc, starts = r.run.extra["service_ms"], _starts(r)
    assert np.allclose(svc[starts < 30_000.0], 10.0)
    assert np.allclose(svc[starts >= 30_000.0], 15.0)


def test_windows_report_attainment_by_arrival_time():
    trace = RateTrace.from_table([(0, 30.0), (90, 30.0)])
    r = simulate_dynamic(PROFILE, WL, trace, catalog=CAT, initial={"g4dn.xlarge": 1, "r5n.large": 3}, qos_ms=QOS,
                         window_s=30.0)
    starts, n, att = r.windows()
    arr_s = r.run.arrival_ms / 1000.0
    for s0, k, a in zip(starts, n, att):
        m = (arr_s >= s0) & (arr_s < s0 + 30.0)
        assert k == m.sum()
        assert a == pytest.approx(np.mean(r.run.latencies_ms[m] <= QOS))
    assert r.windows_meeting_qos == pytest.approx(np.mean(att >= 0.99))


def test_autopilot_follows_a_step_and_the_actuator_sees_every_decision():
    planner = Planner(PROFILE.restrict(CAT.names), CAT, WL, qos_ms=QOS)
    ap = Autopilot(planner, dwell_s=10.0, scale_down_dwell_s=60.0, rate_window_s=10.0)
    seen = []
    trace = RateTrace.step(15.0, 60.0, at_s=60.0, duration_s=180.0)
    init = ap.plan_for(15.0).counts
    r = simulate_dynamic(PROFILE, WL, trace, catalog=CAT, initial=init, controller=ap, qos_ms=QOS,
                         provisioning_s=15.0, actuator=CallbackActuator(seen.append), window_s=30.0)
    assert seen == list(r.decisions) and seen
    up = next(d for d in seen if d.reason == "load up" and d.rate_qps > 40.0)
    assert 60.0 <= up.at_s <= 60.0 + 30.0  # the step is seen within the rate window and a dwell
    assert planner.predicted_qps(r.decisions[-1].counts) >= 60.0
    # the pool observed after the provisioning delay is the decided one
    t = r.timeline_s
    later = t >= up.at_s + 15.0 + 10.0
    final = r.decisions[-1].counts
    assert all(r.live_counts[k][later][-1] == final.get(k, 0) for k in r.live_counts)
    assert r.run.n_failed == 0


@pytest.mark.parametrize("kw", [
    {"initial": {}},
    {"initial": {"t3.xlarge": 1}},
    {"qos_ms": -1.0},
    {"events": ["boom"]},
    {"events": [Preemption(1.0, "t3.xlarge")]},
    {"controller": object()},
    {"initial": {"r5n.large": 99}},
])
def test_bad_arguments_raise_simulation_error(kw):
    args = dict(catalog=CAT, initial={"r5n.large": 2}, qos_ms=QOS)
    args.update(kw)
    with pytest.raises(SimulationError):
        simulate_dynamic(PROFILE, WL, RateTrace.from_table([(0, 5.0), (10, 5.0)]), **args)


def test_a_shedding_policy_ends_and_reports_what_it_gave_up():
    from kairos_sdk.distribute import KairosPolicy

    trace = RateTrace.from_table([(0, 60.0), (20, 60.0)])  # far more than one r5n.large serves
    r = simulate_dynamic(PROFILE, WL, trace, catalog=CAT, initial={"r5n.large": 1}, qos_ms=QOS,
                         policy=KairosPolicy(shed=True), window_s=10.0)
    assert r.run.n_shed > 0 and r.run.n_failed == r.run.n_shed
    assert np.all(r.run.instance[[k for k, _ in r.run.failures]] == -1)
