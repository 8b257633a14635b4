"""One latency rule: :meth:`Profile.latency` (interpolation between measured batch sizes,
linear extrapolation beyond them, a one-point profile constant) is what every consumer uses,
each where it looks a latency up: the dispatcher's and the policies' estimates (KAIROS's cost
rows, the paper's rounded means), the planner (within the measured range: outside it the
planner does not plan on extrapolated figures), the simulator and the replay endpoints."""

from __future__ import annotations

import aiohttp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kairos_sdk import Catalog, Planner, Profile, Workload, simulate
from kairos_sdk.distribute import Dispatcher, FCFSPolicy, KairosPolicy, PaperPolicy
from kairos_sdk.distribute.estimates import Estimates
from kairos_sdk.endpoints import ReplayEndpoint


@st.composite
def profiles(draw) -> Profile:
    """One or two types, each measured at one to three batch sizes with a few samples."""
    doc = {}
    for name in draw(st.sampled_from([["cpu"], ["cpu", "gpu"]])):
        grid = draw(st.lists(st.integers(1, 200), min_size=1, max_size=3, unique=True))
        doc[name] = {b: draw(st.lists(st.floats(0.5, 400.0), min_size=1, max_size=4)) for b in sorted(grid)}
    return Profile.from_dict(doc)


def _lat(prof: Profile, t: str, b: int, q) -> float:
    return float(prof.latency(t, b, q=q, extrapolate=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prof=profiles(), batch=st.integers(1, 400), q=st.floats(0.01, 0.99), with_workload=st.booleans())
def test_policies_and_dispatcher_estimate_with_the_profile_rule(prof, batch, q, with_workload):
    types = list(prof.instance_types)
    wl = Workload.from_distribution({batch: 1.0}) if with_workload else None  # (looked up at once)
    d = Dispatcher(FCFSPolicy(), types, prof, qos_ms=1e6, workload=wl)
    mean = [_lat(prof, t, batch, "mean") for t in d.ctx.type_names]
    quant = [_lat(prof, t, batch, q) for t in d.ctx.type_names]
    assert Estimates(d.ctx, q=q).row(batch) == (tuple(mean), tuple(quant))
    assert Estimates(d.ctx, round_ms=True).row(batch).mean_ms == tuple(float(np.round(m)) for m in mean)
    # the dispatcher's estimate of when the instance frees
    d.submit(0, batch, now_ms=0.0)
    assert d.dispatch(0.0) == [(0, 0)]
    assert d.state(0.0).busy_until_ms[0] == mean[d.ctx.type_index[0]]
    # KAIROS's cost rows (mean and feasible_q latency per type)
    kp = KairosPolicy(feasible_q=q, weighting="speed")
    Dispatcher(kp, types, prof, qos_ms=1e6, workload=wl)
    row = kp.costs.row(batch)
    assert (row.mean_ms, row.q_ms) == (tuple(mean), tuple(quant))
    # the paper's cost: whole-ms means of the idle instance's type
    pp = PaperPolicy()
    d2 = Dispatcher(pp, types[:1], prof, qos_ms=1e6, workload=wl)
    d2.submit(0, batch, now_ms=0.0)
    assert pp.cost_matrix(d2.state(0.0))[0, 0] == float(np.round(mean[0]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prof=profiles(), q=st.sampled_from([0.5, 0.9, 0.99]), data=st.data())
def test_planner_uses_the_profile_rule_within_the_measured_range(prof, q, data):
    t = prof.instance_types[0]
    grid = prof.batch_sizes(t)
    sizes = sorted(data.draw(st.lists(st.integers(int(grid[0]), int(grid[-1])), min_size=1, max_size=4, unique=True)))
    wl = Workload.from_distribution({b: 1.0 / len(sizes) for b in sizes})
    planner = Planner(prof.restrict([t]), Catalog.from_prices({t: 1.0}), wl, qos_ms=1e6, percentile=100 * q)
    mean, tail = planner._lookup(t, np.asarray(sizes), q)  # what the model is built from
    assert mean.tolist() == [_lat(prof, t, b, "mean") for b in sizes]
    assert tail.tolist() == [_lat(prof, t, b, q) for b in sizes]


def test_a_one_point_profile_is_constant_for_every_consumer():
    """The case the issue found: measured only at batch 10 (5 ms), batch 40 is 5 ms for the
    profile, the policies and the simulator alike (it was 20 ms for the policies)."""
    prof = Profile.from_dict({"cpu": {10: [5.0]}})
    assert float(prof.latency("cpu", 40, q="mean", extrapolate=True)) == 5.0
    d = Dispatcher(KairosPolicy(), ["cpu"], prof, qos_ms=50)
    assert d.policy.costs.row(40).mean_ms == (5.0,)
    r = simulate({"cpu": 1}, prof, Workload.from_distribution({5: 0.5, 40: 0.5}), FCFSPolicy(), rate=0.01,
                 qos_ms=50, n_queries=50, seed=3)
    np.testing.assert_allclose(r.latencies_ms, 5.0, rtol=1e-8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grid=st.lists(st.integers(1, 200), min_size=1, max_size=3, unique=True),
       levels=st.lists(st.floats(0.5, 100.0), min_size=2, max_size=3, unique=True),
       sizes=st.lists(st.integers(1, 400), min_size=1, max_size=4, unique=True))
def test_the_simulator_serves_for_the_profile_latency(grid, levels, sizes):
    """A profile with one latency per batch size (every sample equal): at a rate low enough
    that no query waits, every simulated latency is the profile's latency of its batch."""
    prof = Profile.from_dict({"cpu": {b: [v, v] for b, v in zip(sorted(grid), levels)}})
    r = simulate({"cpu": 1}, prof, Workload.from_distribution({b: 1.0 / len(sizes) for b in sizes}), FCFSPolicy(),
                 rate=0.001, qos_ms=1e6, n_queries=30, seed=0)
    expect = [_lat(prof, "cpu", int(b), 0.5) for b in r.batch]
    # (end - arrival, on a clock of 1e7 ms: equal up to that subtraction's rounding)
    np.testing.assert_allclose(r.latencies_ms, expect, rtol=1e-8)


@pytest.mark.parametrize("seed", [0, 7])
async def test_replay_endpoint_serves_for_the_profile_latency(seed):
    """A replay endpoint draws each service time at a uniform quantile of the profile's
    latency, inside and outside the measured range."""
    prof = Profile.from_dict({"cpu": {10: [2.0, 3.0, 7.0], 30: [4.0, 9.0, 11.0]}})
    batches = [10, 20, 30, 5, 60]
    async with ReplayEndpoint(prof, "cpu", seed=seed, time_scale=0.0) as ep, aiohttp.ClientSession() as http:
        for b in batches:
            body = {"inputs": [{"name": "x", "shape": [b, 1], "datatype": "FP32", "data": [0.0] * b}]}
            async with http.post(f"{ep.url}/v2/models/model/infer", json=body) as resp:
                assert resp.status == 200
    u = np.random.default_rng(seed).random(len(batches))
    assert list(ep.service_ms) == [_lat(prof, "cpu", b, float(x)) for b, x in zip(batches, u)]
