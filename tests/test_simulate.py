"""The simulator: closed-form queueing results, no query lost, exact reproducibility,
common random numbers, and the allowable-throughput search."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kairos_sdk import (
    FCFSPolicy,
    KairosPolicy,
    Pool,
    Profile,
    RunResult,
    SimulationError,
    Workload,
    allowable_throughput,
    simulate,
)
from kairos_sdk.distribute import LeastWorkPolicy, PaperPolicy, RoundRobinPolicy

POLICIES = [FCFSPolicy, RoundRobinPolicy, LeastWorkPolicy, PaperPolicy, KairosPolicy,
            lambda: KairosPolicy(method="networkx")]
POLICY_IDS = ["fcfs", "round-robin", "least-work", "paper", "kairos", "kairos-networkx"]


def exponential_profile(mean_ms: float) -> Profile:
    """One type, one batch size, exponential service: a dense quantile table of Exp(mean)."""
    levels = np.concatenate([np.linspace(0.0, 0.99, 3000), 1.0 - np.geomspace(1e-2, 1e-9, 600)[1:], [1.0]])
    values = np.maximum(-mean_ms * np.log1p(-np.minimum(levels, 1 - 1e-10)), 1e-9)
    return Profile.from_quantiles(
        {"srv": {"batch": [10], "levels": levels, "values": [values], "mean_ms": [mean_ms]}}
    )


def deterministic_profile(service_ms: float) -> Profile:
    return Profile.from_dict({"srv": {10: [service_ms]}})


@pytest.fixture(scope="module")
def rm2() -> Profile:
    return Profile.builtin("rm2")


HET = {"g4dn.xlarge": 1, "r5n.large": 4, "c5n.2xlarge": 1}


# ---------------------------------------------------------------------------- closed forms
def test_mm1_waiting_time_and_tail():
    mean_s, lam = 10.0, 50.0  # mu = 100/s, rho = 0.5
    r = simulate({"srv": 1}, exponential_profile(mean_s), Workload.fixed(10), FCFSPolicy(),
                 rate=lam, qos_ms=1000, n_queries=200_000, seed=3)
    mu = 1000.0 / mean_s
    wait = r.latencies_ms - r.extra["service_ms"]
    assert np.mean(r.extra["service_ms"]) == pytest.approx(mean_s, rel=0.02)
    assert np.mean(wait) == pytest.approx(1000.0 * (lam / mu) / (mu - lam), rel=0.05)  # Wq = rho/(mu-lam)
    # sojourn time is Exp(mu - lam): its 99th percentile is ln(100)/(mu - lam)
    assert r.latency_quantile(0.99) == pytest.approx(1000.0 * math.log(100) / (mu - lam), rel=0.05)


def test_md1_waiting_time():
    d, lam = 5.0, 120.0  # rho = 0.6
    r = simulate({"srv": 1}, deterministic_profile(d), Workload.fixed(10), FCFSPolicy(),
                 rate=lam, qos_ms=1000, n_queries=200_000, seed=4)
    rho = lam * d / 1000.0
    wait = r.latencies_ms - r.extra["service_ms"]
    assert np.all(r.extra["service_ms"] == d)
    assert np.mean(wait) == pytest.approx(rho * d / (2 * (1 - rho)), rel=0.05)  # Pollaczek-Khinchine


def test_allowable_throughput_matches_mm1_closed_form():
    """For M/M/1 the sojourn time is Exp(mu - lam): p99 <= qos  <=>  lam <= mu - ln(100)/qos."""
    mean_s, qos = 10.0, 100.0
    res = allowable_throughput({"srv": 1}, exponential_profile(mean_s), Workload.fixed(10), FCFSPolicy(),
                               qos_ms=qos, n_queries=20_000, n_seeds=3)
    exact = 1000.0 / mean_s - 1000.0 * math.log(100) / qos
    assert float(res) == pytest.approx(exact, rel=0.08)
    assert len(res.per_seed_qps) == 3 and res.n_runs > 3
    assert "qps" in repr(res)


def test_concurrency_equals_more_workers():
    prof = deterministic_profile(4.0)
    a = simulate({"srv": 1}, prof, Workload.fixed(10), FCFSPolicy(), rate=300, qos_ms=50, n_queries=3000,
                 concurrency=2, seed=1)
    b = simulate({"srv": 2}, prof, Workload.fixed(10), FCFSPolicy(), rate=300, qos_ms=50, n_queries=3000, seed=1)
    np.testing.assert_allclose(a.latencies_ms, b.latencies_ms)


# ---------------------------------------------------------------------------- invariants
@pytest.mark.parametrize("make", POLICIES, ids=POLICY_IDS)
@pytest.mark.parametrize("rate", [20.0, 90.0])
def test_no_query_lost(make, rate, rm2):
    n = 300 if make().name == "kairos-networkx" else 1500  # the networkx formulation is slow
    r = simulate(HET, rm2, Workload.deeprecsys(), make(), rate=rate, qos_ms=350, n_queries=n, seed=2)
    assert isinstance(r, RunResult)
    assert r.n_queries == n and r.n_failed == 0
    assert np.all(np.isfinite(r.latencies_ms)) and np.all(r.latencies_ms > 0)
    assert np.all(r.latencies_ms >= r.extra["service_ms"] - 1e-9)
    assert sum(r.counts_by_type.values()) == n
    assert all(0.0 <= u <= 1.0 + 1e-9 for u in r.utilization.values())
    assert r.source == "simulated" and r.policy == make().name


def test_shedding_under_overload_keeps_served_queries_in_time_and_loses_none(rm2):
    """At twice what the pool serves, serving every query leaves the late ones waiting for an
    idle instance, which comes only when the arrivals stop (tens of seconds); shedding gives
    them up at once, costs no query that would have been in time, keeps the ones served
    within QoS, and lists every query it gave up (a miss)."""
    w = Workload.deeprecsys()
    n, rate = 3000, 180.0
    serve = simulate(HET, rm2, w, KairosPolicy(), rate=rate, qos_ms=350, n_queries=n, seed=4)
    shed = simulate(HET, rm2, w, KairosPolicy(shed=True), rate=rate, qos_ms=350, n_queries=n, seed=4)
    assert serve.n_failed == 0 and serve.n_shed == 0
    assert np.nanpercentile(serve.latencies_ms, 99) > 10 * 350
    gone = shed.instance < 0
    assert 0 < shed.n_shed == shed.n_failed == int(gone.sum()) < n
    assert [k for k, _ in shed.failures] == np.flatnonzero(gone).tolist()
    assert all(why.startswith("shed: ") and "350 ms" in why for _, why in shed.failures)
    assert np.all(np.isnan(shed.latencies_ms[gone])) and np.all(np.isfinite(shed.latencies_ms[~gone]))
    assert sum(shed.counts_by_type.values()) + shed.n_shed == n
    assert np.percentile(shed.latencies_ms[~gone], 99) <= 1.1 * 350
    # a shed query is a miss: attainment counts it against the run
    assert shed.qos_attainment == pytest.approx(np.count_nonzero(shed.latencies_ms <= 350) / n)
    assert shed.qos_attainment >= serve.qos_attainment - 0.01
    assert shed.summary()["shed"] == shed.n_shed and "failed" in repr(shed)


def test_allowable_throughput_counts_shed_queries_as_misses(rm2):
    w = Workload.deeprecsys()
    pol = KairosPolicy(shed=True)
    res = allowable_throughput(HET, rm2, w, pol, qos_ms=350, n_queries=3000, n_seeds=1, rel_tol=0.02)
    at = simulate(HET, rm2, w, pol, rate=float(res), qos_ms=350, n_queries=3000, seed=0)
    above = simulate(HET, rm2, w, pol, rate=1.1 * float(res), qos_ms=350, n_queries=3000, seed=0)
    assert at.meets_qos and not above.meets_qos
    assert above.n_shed > 0


class _Never(FCFSPolicy):
    name = "never"

    def decide(self, state):
        return []


def test_a_policy_that_strands_queries_is_an_error_not_a_silent_loss(rm2):
    with pytest.raises(SimulationError, match="left 5 queries pending"):
        simulate({"r5n.large": 1}, rm2, Workload.fixed(10), _Never(), rate=10, qos_ms=350, n_queries=5)


def test_single_worker_instances_serve_one_query_at_a_time(rm2):
    r = simulate(HET, rm2, Workload.deeprecsys(), KairosPolicy(), rate=80, qos_ms=350, n_queries=2000, seed=5)
    start = r.arrival_ms + r.latencies_ms - r.extra["service_ms"]
    end = r.arrival_ms + r.latencies_ms
    for i in range(len(r.instance_ids)):
        m = r.instance == i
        order = np.argsort(start[m])
        assert np.all(start[m][order][1:] >= end[m][order][:-1] - 1e-9)


def test_seed_reproduces_exactly_and_differs_across_seeds(rm2):
    args = dict(rate=60.0, qos_ms=350, n_queries=2000)
    a = simulate(HET, rm2, Workload.deeprecsys(), KairosPolicy(), seed=7, **args)
    b = simulate(HET, rm2, Workload.deeprecsys(), KairosPolicy(), seed=7, **args)
    c = simulate(HET, rm2, Workload.deeprecsys(), KairosPolicy(), seed=8, **args)
    np.testing.assert_array_equal(a.latencies_ms, b.latencies_ms)
    np.testing.assert_array_equal(a.instance, b.instance)
    assert not np.array_equal(a.batch, c.batch)


def test_common_random_numbers_across_rates(rm2):
    a = simulate(HET, rm2, Workload.deeprecsys(), FCFSPolicy(), rate=10, qos_ms=350, n_queries=500, seed=1)
    b = simulate(HET, rm2, Workload.deeprecsys(), FCFSPolicy(), rate=20, qos_ms=350, n_queries=500, seed=1)
    np.testing.assert_array_equal(a.batch, b.batch)
    np.testing.assert_allclose(a.arrival_ms, 2.0 * b.arrival_ms)


def test_warmup_is_left_out(rm2):
    r = simulate(HET, rm2, Workload.deeprecsys(), FCFSPolicy(), rate=30, qos_ms=350, n_queries=1000,
                 warmup=200, seed=1)
    full = simulate(HET, rm2, Workload.deeprecsys(), FCFSPolicy(), rate=30, qos_ms=350, n_queries=1000, seed=1)
    assert r.n_queries == 800 and r.extra["warmup"] == 200
    np.testing.assert_allclose(r.latencies_ms, full.latencies_ms[200:])
    assert r.arrival_ms[0] == 0.0


def test_attainment_by_batch_shows_large_queries(rm2):
    r = simulate(HET, rm2, Workload.deeprecsys(), KairosPolicy(), rate=60, qos_ms=350, n_queries=2000, seed=1)
    rows = r.attainment_by_batch()
    assert sum(n for _, _, n, _ in rows) == 2000
    assert all(np.isnan(a) or 0 <= a <= 1 for *_, a in rows)


# ---------------------------------------------------------------------------- allowable throughput
def test_kairos_beats_fcfs_on_a_heterogeneous_pool(rm2):
    w = Workload.deeprecsys()
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 6})
    k = allowable_throughput(pool, rm2, w, KairosPolicy(), qos_ms=350, n_queries=4000, n_seeds=1, rel_tol=0.02)
    f = allowable_throughput(pool, rm2, w, FCFSPolicy(), qos_ms=350, n_queries=4000, n_seeds=1, rel_tol=0.02)
    assert float(k) > 1.2 * float(f)


def test_allowable_throughput_at_least_shortcut(rm2):
    w = Workload.deeprecsys()
    res = allowable_throughput({"g4dn.xlarge": 1}, rm2, w, FCFSPolicy(), qos_ms=350, n_queries=2000,
                               n_seeds=1, at_least=1000.0)
    assert float(res) == 0.0 and res.n_runs == 1


def test_allowable_throughput_is_zero_for_every_seed_when_nothing_meets_qos():
    # service always takes 20 ms against a 10 ms target: no rate meets QoS, for any seed
    res = allowable_throughput({"srv": 1}, deterministic_profile(20.0), Workload.fixed(10), FCFSPolicy(),
                               qos_ms=10, n_queries=500, n_seeds=3)
    assert float(res) == 0.0 and res.per_seed_qps == (0.0, 0.0, 0.0)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rate=0), "rate"),
        (dict(rate=float("nan")), "rate"),
        (dict(rate=10, qos_ms=-1), "qos_ms"),
        (dict(rate=10, n_queries=0), "n_queries"),
        (dict(rate=10, warmup=5000), "warmup"),
        (dict(rate=10, percentile=0), "percentile"),
        (dict(rate=10, concurrency=0), "concurrency"),
    ],
)
def test_simulate_rejects_bad_arguments(kwargs, match, rm2):
    args = dict(qos_ms=350, n_queries=100)
    args.update(kwargs)
    with pytest.raises(SimulationError, match=match):
        simulate({"g4dn.xlarge": 1}, rm2, Workload.deeprecsys(), FCFSPolicy(), **args)


def test_simulate_rejects_wrong_objects(rm2):
    with pytest.raises(SimulationError, match="no latency profile"):
        simulate({"p3.2xlarge": 1}, rm2, Workload.deeprecsys(), rate=10, qos_ms=350)
    with pytest.raises(SimulationError, match="pool"):
        simulate(["g4dn.xlarge"], rm2, Workload.deeprecsys(), rate=10, qos_ms=350)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="workload must be a kairos_sdk.Workload"):  # ArgumentTypeError
        simulate({"g4dn.xlarge": 1}, rm2, [10, 20], rate=10, qos_ms=350)  # type: ignore[arg-type]
    with pytest.raises(SimulationError, match="policy"):
        simulate({"g4dn.xlarge": 1}, rm2, Workload.deeprecsys(), object(), rate=10, qos_ms=350)  # type: ignore[arg-type]
    with pytest.raises(SimulationError, match="n_seeds"):
        allowable_throughput({"g4dn.xlarge": 1}, rm2, Workload.deeprecsys(), qos_ms=350, n_seeds=0)
    with pytest.raises(SimulationError, match="rel_tol"):
        allowable_throughput({"g4dn.xlarge": 1}, rm2, Workload.deeprecsys(), qos_ms=350, rel_tol=0)


def test_latency_quantile_with_failed_queries_is_inf_not_nan():
    n = 100
    lat = np.arange(1.0, n + 1.0)
    lat[-3:] = np.nan  # three failed queries
    res = RunResult(latencies_ms=lat, batch=np.full(n, 10), arrival_ms=np.arange(float(n)),
                    instance=np.where(np.isnan(lat), -1, 0), instance_ids=("a",), instance_types=("t",),
                    busy_ms=np.array([1.0]), duration_ms=100.0, qos_ms=50.0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert res.latency_quantile(0.99) == np.inf
        assert res.latency_quantile(0.5) == pytest.approx(np.quantile(np.arange(1.0, 98.0).tolist() + [1e9] * 3, 0.5))
        assert res.latency_quantile(0.0) == 1.0


@pytest.mark.parametrize("rate", [7.5, 40.0])
def test_simulate_draws_its_queries_with_workload_arrivals(rate):
    """The simulator's queries are exactly Workload.arrivals(n, rate, default_rng(seed)): the
    one draw the live client makes too (tests/test_client.py runs both paths)."""
    w = Workload.deeprecsys()
    r = simulate(Pool.from_counts({"g4dn.xlarge": 2}), Profile.builtin("rm2"), w, FCFSPolicy(), rate=rate,
                 qos_ms=350, n_queries=300, seed=11)
    batch, arrival_ms = w.arrivals(300, rate, np.random.default_rng(11))
    np.testing.assert_array_equal(r.batch, batch)
    np.testing.assert_array_equal(r.arrival_ms, arrival_ms)


def test_results_live_in_their_own_module_and_are_re_exported():
    import importlib

    import kairos_sdk

    results = importlib.import_module("kairos_sdk.results")
    simulate_module = importlib.import_module("kairos_sdk.simulate")  # the package's `simulate` is the function

    for name in ("RunResult", "ThroughputResult"):
        cls = getattr(results, name)
        assert cls.__module__ == "kairos_sdk.results"
        assert getattr(simulate_module, name) is cls and getattr(kairos_sdk, name) is cls
