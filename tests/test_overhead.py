"""The per-query overhead: the value type, and how the planner, the simulator, the policies
and the live client see it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos_sdk import Pool, Profile, Workload, simulate
from kairos_sdk.client import KairosClient, OpenInferenceProtocol, measure_profile
from kairos_sdk.client.replies import server_timing
from kairos_sdk.defaults import default_catalog
from kairos_sdk.distribute import Dispatcher, FCFSPolicy, KairosPolicy
from kairos_sdk.distribute.estimates import Estimates
from kairos_sdk.endpoints import ReplayPool
from kairos_sdk.errors import InfeasibleError, KairosError
from kairos_sdk.overhead import MAX_POINTS, Overhead, breakdown, format_breakdown
from kairos_sdk.planner import Planner

NCF = Profile.builtin("ncf")
samples_ms = st.lists(st.floats(0.0, 50.0, allow_nan=False), min_size=1, max_size=300)


# ---------------------------------------------------------------------- the value type
@given(samples_ms, st.floats(0.0, 1.0))
def test_quantile_is_numpys_quantile_of_the_samples(xs, q):
    assert Overhead.from_samples(xs).quantile(q) == pytest.approx(float(np.quantile(xs, q)), abs=1e-9)


@given(samples_ms, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_quantile_is_monotone_and_within_the_samples(xs, q1, q2):
    ov = Overhead.from_samples(xs)
    lo, hi = sorted((q1, q2))
    assert min(xs) - 1e-9 <= ov.quantile(lo) <= ov.quantile(hi) + 1e-12 <= max(xs) + 1e-9


@given(samples_ms, st.integers(0, 200), st.integers(0, 2**32 - 1))
def test_samples_lie_within_the_distribution_and_repeat_with_the_seed(xs, n, seed):
    ov = Overhead.from_samples(xs)
    a = ov.sample(n, np.random.default_rng(seed))
    b = ov.sample(n, np.random.default_rng(seed))
    assert a.shape == (n,) and np.array_equal(a, b)
    assert np.all((a >= min(xs) - 1e-9) & (a <= max(xs) + 1e-9))


@given(samples_ms)
def test_dict_round_trip_gives_an_equal_overhead(xs):
    ov = Overhead.from_samples(xs, source="bench")
    back = Overhead.from_dict(ov.to_dict())
    assert back == ov and back.source == "bench"
    assert back.mean_ms == pytest.approx(float(np.mean(xs)))


def test_many_samples_are_kept_as_evenly_spaced_quantiles():
    xs = np.random.default_rng(0).exponential(1.0, 50_000)
    ov = Overhead.from_samples(xs)
    assert ov.points_ms.size == MAX_POINTS
    for q in (0.1, 0.5, 0.9, 0.99):
        assert ov.quantile(q) == pytest.approx(float(np.quantile(xs, q)), rel=0.01)


def test_zero_overhead_is_zero_and_draws_no_random_numbers():
    z = Overhead.zero()
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    assert z.is_zero and z.mean_ms == 0.0 and z.quantile(0.99) == 0.0
    assert np.array_equal(z.sample(5, rng), np.zeros(5))
    assert rng.bit_generator.state == state
    assert Overhead.constant(0.0) == z and NCF.overhead == z


@pytest.mark.parametrize("bad", [[], [-1.0], [float("nan")], [float("inf")], "abc"])
def test_bad_samples_are_refused_with_a_value_error(bad):
    with pytest.raises(KairosError) as e:
        Overhead.from_samples(bad)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("q", [-0.1, 1.5, True, "p99"])
def test_bad_quantile_is_refused(q):
    with pytest.raises(KairosError):
        Overhead.constant(1.0).quantile(q)


def test_profile_carries_its_overhead_through_json_and_restrict():
    ov = Overhead.from_samples([0.5, 1.0, 4.0])
    p = NCF.with_overhead(ov)
    assert Profile.from_json(p.to_json()).overhead == ov
    assert p.restrict(["g4dn.xlarge"]).overhead == ov
    assert "overhead" not in NCF.to_dict()  # profiles without one are written as before
    assert NCF.with_overhead(2.0).overhead == Overhead.constant(2.0)


# ---------------------------------------------------------------------- planner eligibility
def _flat_profile() -> Profile:
    """Two types; p99 latency rises with the batch size (independent truth below)."""
    rng = np.random.default_rng(0)
    return Profile.from_dict({
        "slow": {b: list(2.0 + 0.02 * b + rng.exponential(0.5, 200)) for b in (10, 100, 200, 400)},
        "fast": {b: list(1.0 + 0.01 * b + rng.exponential(0.3, 200)) for b in (10, 100, 200, 400)},
    }, model="toy")


@pytest.mark.parametrize("overhead_ms", [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0])
def test_planner_eligibility_shrinks_by_the_overhead_at_the_qos_percentile(overhead_ms):
    prof = _flat_profile()
    wl = Workload.from_distribution({10: 0.25, 100: 0.25, 200: 0.25, 400: 0.25})
    catalog = default_catalog().restrict(["g4dn.xlarge", "r5n.large"])
    prof = Profile.from_dict({"g4dn.xlarge": {b: prof.series["fast"].values[k].tolist() for k, b in enumerate((10, 100, 200, 400))},
                              "r5n.large": {b: prof.series["slow"].values[k].tolist() for k, b in enumerate((10, 100, 200, 400))}})
    qos = 9.0
    # independently: a batch size can be served iff some type's p99 plus the overhead fits
    fits = {b: any(float(prof.latency(t, b, q=0.99)) + overhead_ms <= qos for t in prof.instance_types)
            for b in (10, 100, 200, 400)}
    planner = lambda: Planner(prof.with_overhead(overhead_ms), catalog, wl, qos_ms=qos)  # noqa: E731
    if all(fits.values()):
        plan = planner().plan(budget=5.0)
        assert plan.predicted_qps > 0
        rented = set(plan.pool().types)
        assert rented
        for t in rented:
            served = [b for b in (10, 100, 200, 400) if float(prof.latency(t, b, q=0.99)) + overhead_ms <= qos]
            assert f"up to batch {max(served)}" in plan.explain()
    else:
        with pytest.raises(InfeasibleError):
            planner().plan(budget=5.0)


def test_planner_sees_the_overhead_quantile_not_its_mean():
    prof = _flat_profile().restrict(["fast"])
    prof = Profile.from_dict({"g4dn.xlarge": {b: prof.series["fast"].values[k].tolist() for k, b in enumerate((10, 100, 200, 400))}})
    catalog = default_catalog().restrict(["g4dn.xlarge"])
    wl = Workload.fixed(400)
    p99 = float(prof.latency("g4dn.xlarge", 400, q=0.99))
    # mean 0.1 ms but a tail of 3 ms on 5 % of queries: p99 of the sum is about p99 + 3
    tail = Overhead.from_samples([0.0] * 95 + [3.0] * 5)
    qos = p99 + 1.0
    Planner(prof.with_overhead(tail.mean_ms), catalog, wl, qos_ms=qos).plan(budget=5.0)
    with pytest.raises(InfeasibleError):
        Planner(prof.with_overhead(tail), catalog, wl, qos_ms=qos).plan(budget=5.0)


def test_zero_overhead_leaves_the_plan_bit_identical():
    catalog = default_catalog().restrict(NCF.instance_types)
    wl = Workload.deeprecsys()
    a = Planner(NCF, catalog, wl, qos_ms=5).plan(budget=1.0)
    b = Planner(NCF.with_overhead(Overhead.zero()), catalog, wl, qos_ms=5).plan(budget=1.0)
    assert a.pool().counts == b.pool().counts and a.predicted_qps == b.predicted_qps


# ---------------------------------------------------------------------- simulator
def test_zero_overhead_simulation_is_bit_identical():
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 3})
    wl = Workload.deeprecsys()
    a = simulate(pool, NCF, wl, rate=800, qos_ms=5, n_queries=3000, seed=4)
    b = simulate(pool, NCF.with_overhead(None), wl, rate=800, qos_ms=5, n_queries=3000, seed=4)
    assert np.array_equal(a.latencies_ms, b.latencies_ms) and np.array_equal(a.instance, b.instance)
    assert "overhead_ms" not in b.extra


@settings(deadline=None, max_examples=15)
@given(st.lists(st.floats(0.0, 5.0), min_size=1, max_size=20), st.integers(0, 1000), st.floats(20.0, 400.0))
def test_simulated_overhead_adds_to_each_query_and_holds_the_instance(xs, seed, rate):
    pool = Pool.from_counts({"g4dn.xlarge": 1})
    wl = Workload.deeprecsys()
    ov = Overhead.from_samples(xs)
    base = simulate(pool, NCF, wl, FCFSPolicy(), rate=rate, qos_ms=5, n_queries=300, seed=seed)
    r = simulate(pool, NCF.with_overhead(ov), wl, FCFSPolicy(), rate=rate, qos_ms=5, n_queries=300, seed=seed)
    # the same queries and service times as without an overhead ...
    assert np.array_equal(r.arrival_ms, base.arrival_ms) and np.array_equal(r.batch, base.batch)
    assert np.array_equal(r.extra["service_ms"], base.extra["service_ms"])
    o = r.extra.get("overhead_ms", np.zeros(r.n_queries))  # none drawn for a zero overhead
    assert np.all((o >= min(xs) - 1e-9) & (o <= max(xs) + 1e-9))
    # ... and one FIFO server holding each query for service + overhead (Lindley's recursion)
    free, lat = 0.0, []
    for a, s, x in zip(r.arrival_ms, r.extra["service_ms"], o):
        free = max(a, free) + s + x
        lat.append(free - a)
    assert np.allclose(r.latencies_ms, lat, rtol=0, atol=1e-9)


def test_at_low_load_the_overhead_shifts_each_latency_by_its_draw():
    pool = Pool.from_counts({"g4dn.xlarge": 2})
    wl = Workload.fixed(10)
    ov = Overhead.from_samples([0.2, 0.4, 0.9])
    base = simulate(pool, NCF, wl, FCFSPolicy(), rate=1.0, qos_ms=5, n_queries=200, seed=2)
    r = simulate(pool, NCF.with_overhead(ov), wl, FCFSPolicy(), rate=1.0, qos_ms=5, n_queries=200, seed=2)
    assert np.allclose(r.latencies_ms - base.latencies_ms, r.extra["overhead_ms"], rtol=0, atol=1e-9)



def test_policy_profile_sets_what_the_policy_reads_and_not_the_draws():
    """``policy_profile``: the policy reads the profile a live client was given while the
    truth (service times and overheads drawn) is the other one."""
    seen = []

    class Recording(KairosPolicy):
        def prepare(self, ctx):
            seen.append(ctx.profile)
            super().prepare(ctx)

    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 3})
    wl = Workload.deeprecsys()
    truth = NCF.with_overhead(Overhead.from_samples([0.5, 1.0, 4.0]))
    told = NCF.with_overhead(0.5)
    kw = dict(rate=900, qos_ms=5, n_queries=3000, seed=4)
    a = simulate(pool, truth, wl, Recording(), **kw)
    b = simulate(pool, truth, wl, Recording(), policy_profile=told, **kw)
    c = simulate(pool, truth, wl, Recording(), policy_profile=truth, **kw)
    assert [p.overhead for p in seen] == [truth.overhead, told.overhead, truth.overhead]
    same = a.instance == b.instance  # the same draws (a service time: where both served on one type)
    assert np.array_equal(a.extra["overhead_ms"], b.extra["overhead_ms"])
    assert np.array_equal(a.extra["service_ms"][same], b.extra["service_ms"][same])
    assert np.array_equal(a.arrival_ms, b.arrival_ms) and np.array_equal(a.batch, b.batch)
    assert not np.array_equal(a.instance, b.instance)  # estimates 3.5 ms apart at the tail decide differently
    assert np.array_equal(a.latencies_ms, c.latencies_ms) and np.array_equal(a.instance, c.instance)
    with pytest.raises(KairosError, match="policy_profile must be a kairos_sdk.Profile"):
        simulate(pool, truth, wl, policy_profile={"g4dn.xlarge": 1}, **kw)

# ---------------------------------------------------------------------- policy estimates
def test_estimates_add_the_overhead_and_zero_adds_nothing():
    types = ["g4dn.xlarge", "r5n.large"]
    ctx0 = Dispatcher(KairosPolicy(), types, NCF, qos_ms=5).ctx
    ctx1 = Dispatcher(KairosPolicy(), types, NCF.with_overhead(1.25), qos_ms=5).ctx
    ctxz = Dispatcher(KairosPolicy(), types, NCF.with_overhead(Overhead.zero()), qos_ms=5).ctx
    for b in (10, 250, 700):
        e0, e1, ez = Estimates(ctx0, q=0.99).row(b), Estimates(ctx1, q=0.99).row(b), Estimates(ctxz, q=0.99).row(b)
        assert ez == e0
        for t in range(2):
            name = ctx0.type_names[t]
            assert e1.mean_ms[t] == pytest.approx(float(NCF.latency(name, b, q="mean", extrapolate=True)) + 1.25)
            assert e1.q_ms[t] == pytest.approx(float(NCF.latency(name, b, q=0.99, extrapolate=True)) + 1.25)


# ---------------------------------------------------------------------- Server-Timing
@pytest.mark.parametrize("header, expected", [
    ("queue;dur=0.5, service;dur=3.25", (0.5, 3.25, 0.0)),
    ("compute;dur=2", (0.0, 2.0, 0.0)),
    ("db;dur=4, service;desc=\"x\";dur=1.5", (0.0, 1.5, 0.0)),
    ("queue;dur=0.5, service;dur=3.25, drawn;dur=3", (0.5, 3.0, 0.25)),  # a replay endpoint's overshoot
    ("service;dur=3, drawn;dur=4", (0.0, 3.0, 0.0)),  # a draw above the service time is not believed
    ("queue;dur=1", None),
    ("service;dur=abc", None),
    ("", None),
])
def test_server_timing_header_is_read(header, expected):
    assert server_timing({"Server-Timing": header}) == expected


# ---------------------------------------------------------------------- live
async def test_live_breakdown_sums_to_the_latency_and_compute_is_the_servers():
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2})
    async with ReplayPool(pool, NCF, model="ncf", seed=3) as replay, KairosClient(
            replay.pool, protocol=OpenInferenceProtocol("ncf"), profile=NCF, qos_ms=50) as client:
        r = await client.run(Workload.deeprecsys(), rate=100, n_queries=150, seed=1, progress=False)
    split = breakdown(r)
    assert split is not None and r.n_failed == 0
    total = sum(split[k] for k in ("client_ms", "pending_ms", "wire_ms", "server_queue_ms", "server_extra_ms",
                                   "compute_ms"))
    assert np.allclose(total, r.latencies_ms, rtol=0, atol=1e-9)
    assert np.all(split["client_ms"] >= 0) and np.all(split["pending_ms"] >= 0)
    assert np.all(split["server_queue_ms"] >= 0)
    for i, ep in enumerate(replay.endpoints):  # each endpoint serves its queries one at a time, in order
        mine = r.instance == i  # compute is the endpoint's draw, the extra its timer's overshoot
        assert np.allclose(np.sort(split["compute_ms"][mine]), np.sort(ep.service_ms), rtol=0, atol=1e-4)
        actual = split["compute_ms"][mine] + split["server_extra_ms"][mine]
        assert np.allclose(np.sort(actual), np.sort(ep.actual_ms), rtol=0, atol=2e-4)  # the header has 4 decimals
        assert np.all(np.asarray(ep.actual_ms) >= np.asarray(ep.service_ms))  # the timer never wakes early
    assert np.all(split["server_extra_ms"] >= 0)
    assert "server compute" in format_breakdown(r)
    ov = Overhead.from_run(r)  # the client's own time, the wire, the server's queue and extra; not the compute
    assert ov.points_ms.size == r.n_queries
    expect = np.sort(split["client_ms"] + split["wire_ms"] + split["server_queue_ms"] + split["server_extra_ms"])
    assert np.allclose(ov.points_ms, np.maximum(expect, 0.0))
    sim = simulate(pool, NCF, Workload.deeprecsys(), rate=100, qos_ms=50, n_queries=150, seed=1)
    assert breakdown(sim) is None and format_breakdown(sim) == ""
    # a run saved with the four parts of before: the parts split out since read as 0
    old = {k: v for k, v in r.extra["breakdown"].items() if k not in ("client_ms", "server_extra_ms")}
    old["pending_ms"] = split["pending_ms"] + split["client_ms"]
    r_old = type(r)(**{**r.__dict__, "extra": {**r.extra, "breakdown": old}})
    assert np.array_equal(breakdown(r_old)["client_ms"], np.zeros(r.n_queries))
    assert "latency" in format_breakdown(r_old)


async def test_waiting_for_the_one_instance_is_pending_not_the_clients_own_time():
    """A queue on one instance: arrivals far faster than it serves (yet slow enough for the
    client to keep up), so the later queries wait for it (``pending_ms``, which the simulator
    models) for much longer than the client's own time before each send, which is what
    ``Overhead.from_run`` counts, not the waiting."""
    rm2 = Profile.builtin("rm2")
    pool = Pool.from_counts({"r5n.large": 1})
    async with ReplayPool(pool, rm2, model="rm2", seed=3) as replay, KairosClient(
            replay.pool, protocol=OpenInferenceProtocol("rm2"), policy=FCFSPolicy(), profile=rm2, qos_ms=5000) as client:
        r = await client.run(Workload.fixed(100), rate=200, n_queries=40, seed=1, progress=False)
    split = breakdown(r)
    assert split is not None and r.n_failed == 0
    service = float(rm2.latency("r5n.large", 100, q="mean"))
    late = slice(30, 40)  # by now more than 20 services are ahead of each query (~5 ms gaps)
    assert np.all(split["pending_ms"][late] > 10 * service)
    assert np.all(split["client_ms"][late] < split["pending_ms"][late] / 5)
    assert Overhead.from_run(r).quantile(1.0) < float(np.min(split["pending_ms"][late]))


async def test_measure_profile_splits_compute_from_overhead():
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 1})
    async with ReplayPool(pool, NCF, model="ncf", seed=5) as replay:
        urls = {i.type: i.endpoint for i in replay.pool}
        split = await measure_profile(urls, [10, 100], repeats=4, protocol=OpenInferenceProtocol("ncf"), progress=False)
        whole = await measure_profile(urls, [10, 100], repeats=4, protocol=OpenInferenceProtocol("ncf"), progress=False,
                                      split_overhead=False)
        # per endpoint: one warm-up request, then the 4 x 2 measured ones of the first call
        drawn = {ep.instance_type: np.asarray(list(ep.service_ms)[1:9]) for ep in replay.endpoints}
    assert not split.overhead.is_zero and split.overhead.quantile(0.0) >= 0.0
    assert split.overhead.points_ms.size == 16
    assert whole.overhead.is_zero
    # the split profile holds the servers' reported compute, for a replay endpoint its draws
    # (its timer's overshoot is overhead): the fastest and slowest sample of every batch size
    # are draws of that endpoint (4 decimals in the header)
    for t in split.instance_types:
        for row in split.series[t].values:
            for v in (row[0], row[-1]):
                assert np.min(np.abs(drawn[t] - v)) <= 1e-4
