"""k routers over one pool (kairos_sdk.scaleout): one router is simulate() itself, no query
is lost or served twice, an instance never runs two queries at once, and partial views
cost throughput that a global view recovers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kairos_sdk import FCFSPolicy, KairosPolicy, Profile, SimulationError, Workload, simulate
from kairos_sdk.distribute import LeastWorkPolicy
from kairos_sdk.scaleout import (
    PARKS,
    SPLITS,
    VIEWS,
    default_probe_ms,
    routers_throughput,
    simulate_routers,
)

RM2 = Profile.builtin("rm2")
POOL = {"g4dn.xlarge": 1, "r5n.large": 6}
WL = Workload.deeprecsys()


@pytest.mark.parametrize("policy", [KairosPolicy, FCFSPolicy, LeastWorkPolicy], ids=["kairos", "fcfs", "least-work"])
@pytest.mark.parametrize("split,view", [(s, v) for s in SPLITS for v in VIEWS])
def test_one_router_is_simulate(policy, split, view):
    a = simulate(POOL, RM2, WL, policy(), rate=40, qos_ms=350, n_queries=3000, seed=5)
    b = simulate_routers(POOL, RM2, WL, policy(), rate=40, qos_ms=350, n_queries=3000, seed=5,
                         routers=1, split=split, view=view)
    np.testing.assert_array_equal(a.latencies_ms, b.latencies_ms)
    np.testing.assert_array_equal(a.instance, b.instance)
    assert b.extra["rejections"] == 0
    assert b.extra["probes"] == 0


def test_views_include_probed():
    assert "probed" in VIEWS


def _overlaps(res) -> int:
    """Pairs of queries that ran at the same time on one instance."""
    start = res.arrival_ms + res.latencies_ms - res.extra["service_ms"]
    end = res.arrival_ms + res.latencies_ms
    bad = 0
    for i in np.unique(res.instance):
        m = res.instance == i
        order = np.argsort(start[m])
        s, e = start[m][order], end[m][order]
        bad += int(np.count_nonzero(s[1:] < e[:-1] - 1e-9))
    return bad


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routers=st.integers(2, 6), split=st.sampled_from(SPLITS), view=st.sampled_from(VIEWS),
       park=st.sampled_from(PARKS), rate=st.floats(20, 160), seed=st.integers(0, 10_000))
def test_every_query_served_once_and_instances_never_overlap(routers, split, view, park, rate, seed):
    pool = {"g4dn.xlarge": 2, "r5n.large": 6}  # enough instances for a partition of 6 routers
    r = simulate_routers(pool, RM2, WL, rate=rate, qos_ms=350, n_queries=1500, seed=seed, routers=routers,
                         split=split, view=view, park=park)
    assert r.n_queries == 1500 and r.n_failed == 0
    assert np.all(np.isfinite(r.latencies_ms))
    assert np.all(r.latencies_ms >= r.extra["service_ms"] - 1e-9)  # waiting is never negative
    assert _overlaps(r) == 0
    if split == "partition":
        assert r.extra["rejections"] == 0  # nobody else's queries run on a router's share
    if view != "probed" or split == "partition":
        assert r.extra["probes"] == 0


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routers=st.integers(2, 8), rate=st.floats(30, 200), seed=st.integers(0, 10_000),
       probe_ms=st.one_of(st.none(), st.floats(0.05, 50.0)), probe_rtt_ms=st.sampled_from([0.0, 0.5, 5.0]))
def test_probed_never_loses_a_query(routers, rate, seed, probe_ms, probe_rtt_ms):
    r = simulate_routers(POOL, RM2, WL, rate=rate, qos_ms=350, n_queries=800, seed=seed, routers=routers,
                         view="probed", probe_ms=probe_ms, probe_rtt_ms=probe_rtt_ms)
    assert r.n_queries == 800 and r.n_failed == 0
    assert np.all(np.isfinite(r.latencies_ms))
    assert np.all(r.latencies_ms >= r.extra["service_ms"] - 1e-9)
    assert _overlaps(r) == 0
    # a router probes only an instance that turned it away, and keeps probing it until it is free
    assert (r.extra["probes"] > 0) == (r.extra["rejections"] > 0)


def test_probes_come_at_the_stated_period():
    # a parked instance is probed every probe_ms until it is free: with the same collisions, a
    # ten times longer period must send several times fewer probes
    counts = [simulate_routers(POOL, RM2, WL, rate=80, qos_ms=350, n_queries=1000, seed=3, routers=4,
                               view="probed", probe_ms=p).extra["probes"] for p in (0.5, 5.0)]
    assert counts[0] > 3 * counts[1] > 0


def test_default_probe_period_is_a_quarter_of_the_quickest_mean_service():
    for t in RM2.instance_types:
        b = RM2.batch_sizes(t)[0]
        assert default_probe_ms(RM2, t) == pytest.approx(max(0.05, 0.25 * float(RM2.latency(t, b, q="mean"))))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fast=st.floats(0.5, 5.0), slow_factor=st.floats(4.0, 20.0), seed=st.integers(0, 1000))
def test_a_shorter_probe_period_never_costs_much_throughput(fast, slow_factor, seed):
    # a router that looks sooner learns sooner that an instance is free: on a small pool with
    # many routers, probing 4-20x more often must not lose more than the search tolerance
    kw = dict(qos_ms=350, n_queries=2000, rel_tol=0.03, start_qps=60, routers=6, view="probed", seed=seed)
    quick = float(routers_throughput(POOL, RM2, WL, probe_ms=fast, **kw))
    slow = float(routers_throughput(POOL, RM2, WL, probe_ms=fast * slow_factor, **kw))
    assert quick >= slow * 0.93


def test_partial_views_cost_throughput_and_a_global_view_recovers_some():
    kw = dict(qos_ms=350, n_queries=4000, rel_tol=0.03, start_qps=60)
    one = float(routers_throughput(POOL, RM2, WL, routers=1, **kw))
    pushed = float(routers_throughput(POOL, RM2, WL, routers=6, view="pushed", **kw))
    glob = float(routers_throughput(POOL, RM2, WL, routers=6, view="global", **kw))
    probed = float(routers_throughput(POOL, RM2, WL, routers=6, view="probed", **kw))
    assert pushed < one
    assert pushed <= glob * 1.03
    assert probed <= one * 1.03  # partial views never beat one router by more than the tolerance


def test_collisions_grow_with_routers():
    rej = [simulate_routers(POOL, RM2, WL, rate=60, qos_ms=350, n_queries=3000, seed=1,
                            routers=k).extra["rejections"] for k in (1, 2, 6)]
    assert rej[0] == 0 < rej[1] < rej[2]


@pytest.mark.parametrize("bad,match", [
    (dict(routers=0), "routers"), (dict(routers=2.5), "routers"), (dict(split="mesh"), "split"),
    (dict(view="psychic"), "view"), (dict(park="forever"), "park"), (dict(qos_ms=-1), "qos_ms"),
    (dict(probe_ms=0), "probe_ms"), (dict(probe_ms=-1.0), "probe_ms"), (dict(probe_ms=float("nan")), "probe_ms"),
    (dict(probe_ms="1"), "probe_ms"), (dict(probe_ms=True), "probe_ms"), (dict(probe_rtt_ms=-0.1), "probe_rtt_ms"),
    (dict(probe_rtt_ms=float("inf")), "probe_rtt_ms"),
    (dict(rate=0), "rate"), (dict(percentile=0), "percentile"), (dict(n_queries=0), "n_queries"),
])
def test_bad_arguments_are_clear_errors(bad, match):
    kw = dict(rate=20, qos_ms=350, n_queries=100)
    kw.update(bad)
    with pytest.raises(SimulationError, match=match):
        simulate_routers(POOL, RM2, WL, **kw)


def test_bad_probe_period_is_refused_by_the_throughput_search_too():
    with pytest.raises(SimulationError, match="probe_ms"):
        routers_throughput(POOL, RM2, WL, qos_ms=350, view="probed", probe_ms=0.0, n_queries=100)


def test_partition_needs_an_instance_per_router():
    with pytest.raises(SimulationError, match="partition"):
        simulate_routers({"g4dn.xlarge": 1}, RM2, WL, rate=5, qos_ms=350, n_queries=50, routers=2, split="partition")


def test_unknown_instance_type_is_a_clear_error():
    with pytest.raises(SimulationError, match="no latency profile"):
        simulate_routers({"x9.huge": 1}, RM2, WL, rate=5, qos_ms=350, n_queries=50)
