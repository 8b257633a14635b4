"""The Autopilot controller: decisions from observations, no flapping, dwell, drift, loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kairos_sdk import ArgumentError, Catalog, Planner, Profile, Workload
from kairos_sdk.adapt import (
    Autopilot,
    CallbackActuator,
    Controller,
    Decision,
    Observation,
    OngoingRequestsScaler,
)
from kairos_sdk.profile import LatencySeries

QOS = 350.0
CAT = Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149})
PROFILE = Profile.builtin("rm2").restrict(CAT.names)
WL = Workload.deeprecsys()
PLANNER = Planner(PROFILE, CAT, WL, qos_ms=QOS)


def _pilot(**kw) -> Autopilot:
    kw.setdefault("learn", False)
    return Autopilot(PLANNER, **kw)


def _feed(ap: Autopilot, rates, *, every_s: float = 10.0, t0: float = 0.0):
    out = []
    for k, r in enumerate(rates):
        now = t0 + (k + 1) * every_s
        d = ap.observe(Observation(now_s=now, window_s=every_s, arrivals=int(round(r * every_s))))
        if d is not None:
            out.append(d)
    return out


def _slower(profile: Profile, typ: str, factor: float) -> Profile:
    s = profile.series[typ]
    series = dict(profile.series)
    series[typ] = LatencySeries(s.batches.copy(), s.levels.copy(), s.values * factor, s.mean_ms * factor, s.counts.copy())
    return Profile(series=series, model=profile.model)


# ---------------------------------------------------------------------------- properties
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(20.0, 90.0), st.integers(0, 2**31), st.floats(0.0, 1.0))
def test_no_flapping_under_noise_smaller_than_the_hysteresis(r0, seed, amp):
    hyst = 0.15
    delta = amp * hyst / 3.0  # noise amplitude below a third of the hysteresis band
    ap = _pilot(hysteresis=hyst, dwell_s=30.0, scale_down_dwell_s=300.0, rate_window_s=10.0)
    ap.reset(ap.plan_for(r0).counts)
    rng = np.random.default_rng(seed)
    rates = r0 * (1.0 + rng.uniform(-delta, delta, size=360))  # one hour every 10 s
    ds = _feed(ap, rates)
    reasons = [d.reason for d in ds]
    if "load down" in reasons:  # never up again after coming down
        assert "load up" not in reasons[reasons.index("load down"):]
    assert reasons.count("load down") <= 1
    for d in ds:  # every pool still serves the rate it saw
        assert PLANNER.predicted_qps(d.counts) >= d.rate_qps * ap.headroom * (1 - 1e-9) or d.capped


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(5.0, 120.0), min_size=20, max_size=120), st.floats(10.0, 60.0), st.floats(1.5, 6.0))
def test_dwell_is_respected_and_scale_down_waits_longer(rates, dwell, down_factor):
    ap = _pilot(dwell_s=dwell, scale_down_dwell_s=dwell * down_factor, rate_window_s=10.0)
    ap.reset(ap.plan_for(rates[0]).counts)
    ds = _feed(ap, rates)
    last = 0.0
    for d in ds:
        gap = d.at_s - last
        assert gap >= dwell - 1e-9
        if d.reason == "load down":
            assert gap >= dwell * down_factor - 1e-9
        last = d.at_s


# ---------------------------------------------------------------------------- examples
def test_scale_down_is_slower_than_scale_up():
    ap = _pilot(dwell_s=30.0, scale_down_dwell_s=300.0, rate_window_s=10.0)
    ap.reset(ap.plan_for(20.0).counts)
    ds = _feed(ap, [20.0] * 60 + [80.0] * 60 + [20.0] * 120)
    up = next(d for d in ds if d.reason == "load up")
    down = next(d for d in ds if d.reason == "load down")
    step_up, step_down = 600.0, 1200.0
    assert up.at_s - step_up <= 30.0 + 10.0
    assert down.at_s - step_down >= 300.0
    assert sum(down.counts.values()) < sum(up.counts.values())


def test_lost_instance_is_replaced_at_once_whatever_the_dwell():
    ap = _pilot(dwell_s=600.0, scale_down_dwell_s=600.0)
    ap.reset(ap.plan_for(40.0).counts)
    d = ap.observe(Observation(now_s=5.0, window_s=5.0, arrivals=200, lost={"r5n.large": 1}))
    assert d is not None and d.reason == "instance lost"
    assert d.counts == d.previous == ap.counts


def test_budget_cap_gives_the_most_the_cap_buys():
    ap = _pilot(budget_per_hour=1.5, dwell_s=0.0, scale_down_dwell_s=0.0, rate_window_s=10.0)
    ap.reset({"g4dn.xlarge": 1})
    d = ap.observe(Observation(now_s=10.0, window_s=10.0, arrivals=2000))  # 200 qps: far beyond $1.5/h
    assert d.capped and d.cost_per_hour <= 1.5 + 1e-9
    assert d.counts == PLANNER.plan(budget=1.5).counts


def test_a_type_20_percent_slower_is_replanned_around():
    truth = _slower(PROFILE, "r5n.large", 1.2)
    rate = 60.0
    ap = Autopilot(PLANNER, learn=True, dwell_s=30.0, scale_down_dwell_s=300.0, rate_window_s=10.0)
    ap.reset(ap.plan_for(rate).counts)
    need = rate * ap.headroom
    true_planner = Planner(truth, CAT, WL, qos_ms=QOS)
    assert true_planner.predicted_qps(ap.counts) < need  # the old pool is too small now
    rng = np.random.default_rng(0)
    decisions = []
    for k in range(1, 31):  # five minutes of observations every 10 s
        obs = {}
        for t in ("r5n.large", "g4dn.xlarge"):
            b = WL.sample_batches(40, rng)
            b = b[b <= PROFILE.batch_sizes(t)[-1]]
            obs[t] = (b, truth.sample(t, b, rng, extrapolate=True))
        d = ap.observe(Observation(now_s=10.0 * k, window_s=10.0, arrivals=int(rate * 10), service=obs))
        if d is not None:
            decisions.append(d)
    drift = [d for d in decisions if d.reason == "profile drift"]
    assert drift and drift[0].at_s <= 2 * ap.dwell_s  # re-planned within two dwell times
    # the pool it ends with serves the rate with headroom under the true, slower profile
    assert true_planner.predicted_qps(ap.counts) >= rate * 1.05
    learned = float(ap.profile.latency("r5n.large", 200, q="mean"))
    assert learned == pytest.approx(1.2 * float(PROFILE.latency("r5n.large", 200, q="mean")), rel=0.08)


def test_no_drift_without_a_change():
    ap = Autopilot(PLANNER, learn=True, dwell_s=10.0, scale_down_dwell_s=10_000.0, rate_window_s=10.0)
    ap.reset(ap.plan_for(40.0).counts)
    rng = np.random.default_rng(1)
    for k in range(1, 40):
        obs = {}
        for t in ("r5n.large", "g4dn.xlarge"):
            b = WL.sample_batches(30, rng)
            b = b[b <= PROFILE.batch_sizes(t)[-1]]
            obs[t] = (b, PROFILE.sample(t, b, rng, extrapolate=True))
        d = ap.observe(Observation(now_s=10.0 * k, window_s=10.0, arrivals=400, service=obs))
        assert d is None or d.reason != "profile drift"


def test_ongoing_requests_scaler_follows_its_target():
    hpa = OngoingRequestsScaler("g4dn.xlarge", target_ongoing=2.0, upscale_delay_s=30.0, downscale_delay_s=120.0)
    hpa.reset({"g4dn.xlarge": 2})
    assert hpa.observe(Observation(now_s=10.0, window_s=10.0, arrivals=10, in_flight=20.0)) is None  # too soon
    up = hpa.observe(Observation(now_s=40.0, window_s=10.0, arrivals=10, in_flight=20.0))
    assert up.counts == {"g4dn.xlarge": 10}
    downs = [hpa.observe(Observation(now_s=40.0 + 10 * k, window_s=10.0, arrivals=1, in_flight=1.0))
             for k in range(1, 20)]
    down = next(d for d in downs if d is not None)
    assert down.counts == {"g4dn.xlarge": 1} and down.at_s - 40.0 >= 120.0


def test_controllers_and_actuators_meet_their_protocols():
    assert isinstance(_pilot(), Controller)
    assert isinstance(OngoingRequestsScaler("a"), Controller)
    seen = []
    act = CallbackActuator(seen.append)
    d = Decision(at_s=1.0, counts={"a": 3}, previous={"a": 1, "b": 2}, reason="load up")
    act.apply(d)
    assert seen == [d] and d.added == {"a": 2} and d.removed == {"b": 2}
    assert "load up" in repr(d)


@pytest.mark.parametrize("kw", [
    {"headroom": 0.9}, {"hysteresis": 1.0}, {"dwell_s": 100.0, "scale_down_dwell_s": 50.0},
    {"rate_window_s": 0.0}, {"learn": "yes"}, {"budget_per_hour": -1.0},
])
def test_bad_settings_raise(kw):
    with pytest.raises(ArgumentError):
        _pilot(**kw)


def test_bad_observation_raises():
    with pytest.raises(ArgumentError):
        Observation(now_s=0.0, window_s=0.0, arrivals=1)
    with pytest.raises(ArgumentError):
        Observation(now_s=0.0, window_s=1.0, arrivals=-1)
    assert math.isclose(Observation(now_s=0.0, window_s=4.0, arrivals=10).rate_qps, 2.5)


def test_a_rate_beyond_the_catalog_caps_gets_the_most_the_caps_allow():
    cat = Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149}, caps={"g4dn.xlarge": 1, "r5n.large": 2})
    planner = Planner(PROFILE, cat, WL, qos_ms=QOS)
    ap = Autopilot(planner, learn=False, dwell_s=0.0, scale_down_dwell_s=0.0, rate_window_s=10.0)
    ap.reset({"r5n.large": 1})
    d = ap.observe(Observation(now_s=10.0, window_s=10.0, arrivals=5000))
    assert d.capped and d.counts == {"g4dn.xlarge": 1, "r5n.large": 2}
