"""KairosClient against replay endpoints on 127.0.0.1: replies, load runs, policy, auth,
cancellation and shutdown. Fault handling is in test_client_faults.py."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from kairos_sdk import Pool, Profile, Workload
from kairos_sdk.client import (
    Auth,
    KairosClient,
    Limits,
    OpenInferenceProtocol,
    QueryFailed,
    Reply,
    Timeouts,
    measure_profile,
)
from kairos_sdk.distribute import FCFSPolicy, KairosPolicy
from kairos_sdk.endpoints import ReplayPool, serve_pool
from kairos_sdk.errors import EndpointError, KairosError, ShedError
from kairos_sdk.simulate import RunResult, simulate

RM2 = Profile.builtin("rm2")
OIP = OpenInferenceProtocol("rm2")
POOL = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2})
FAST = 0.02  # replay 50x faster than real time


class RecordingPolicy(FCFSPolicy):
    """FCFS that records what the client's dispatcher asked it."""

    name = "recording-fcfs"

    def __init__(self) -> None:
        self.contexts = []
        self.decisions = 0

    def prepare(self, ctx) -> None:
        self.contexts.append(ctx)
        super().prepare(ctx)

    def decide(self, state):
        self.decisions += 1
        return super().decide(state)


def client(pool, **kw) -> KairosClient:
    kw.setdefault("protocol", OIP)
    kw.setdefault("profile", RM2)
    kw.setdefault("qos_ms", 350)
    kw.setdefault("time_scale", FAST)
    kw.setdefault("policy", FCFSPolicy())
    return KairosClient(pool, **kw)


async def test_infer_returns_outputs_and_who_served_it():
    async with ReplayPool(POOL, RM2, model="rm2", time_scale=FAST) as rp, client(rp.pool) as c:
        x = np.arange(8, dtype=np.float32).reshape(4, 2)
        reply = await c.infer(x)
        assert isinstance(reply, Reply) and reply.ok
        np.testing.assert_allclose(reply.output, x.sum(axis=1, keepdims=True))
        assert reply.outputs["output-0"].dtype == np.float32
        assert reply.batch_size == 4 and reply.attempts == 1
        assert reply.instance_id == POOL[reply.instance].id and reply.instance_type == POOL[reply.instance].type
        assert rp[reply.instance].n_served == 1 and 0 < reply.latency_ms < 1e6
        assert "served by" in repr(reply)
        # synthetic inputs with an explicit batch size
        r2 = await c.infer(batch_size=250)
        assert r2.output.shape == (250, 1)


async def test_run_returns_a_live_run_result_matching_simulate_query_for_query():
    wl = Workload.deeprecsys()
    async with serve_pool(POOL, RM2, model="rm2", time_scale=FAST) as live, client(live) as c:
        res = await c.run(wl, rate=15.0, n_queries=40, seed=7, progress=False)
    sim = simulate(POOL, RM2, wl, FCFSPolicy(), rate=15.0, qos_ms=350, n_queries=40, seed=7)
    assert isinstance(res, RunResult) and res.source == "live" and res.policy == "fcfs"
    assert res.n_queries == 40 and res.n_failed == 0 and res.failures == ()
    # same seed, same queries as simulate: both draw them with Workload.arrivals
    batch, arrival_ms = wl.arrivals(40, 15.0, np.random.default_rng(7))
    for r in (res, sim):
        np.testing.assert_array_equal(r.batch, batch)
        np.testing.assert_array_equal(r.arrival_ms, arrival_ms)
    assert np.all(res.instance >= 0) and np.all(res.attempts == 1)
    assert np.all(np.isfinite(res.latencies_ms)) and np.all(res.latencies_ms > 0)
    assert sum(res.counts_by_instance.values()) == 40
    assert res.instance_ids == tuple(i.id for i in POOL) and res.instance_types == POOL.types
    assert np.all(res.busy_ms > 0) and res.duration_ms >= res.arrival_ms[-1]
    assert res.rate_qps == 15.0 and res.qos_ms == 350 and res.extra["time_scale"] == FAST
    assert 0 <= res.qos_attainment <= 1


async def test_run_prepares_the_policy_with_the_weights_simulate_gives_it():
    """One policy, two clocks: for the same pool, profile, QoS and workload, the policy that
    decides a live run holds the very weights it holds in simulate (the LP prices of the
    workload's mix), not the speed weights it falls back to without a workload."""
    pool = Pool.from_counts({"c5n.2xlarge": 1, "g4dn.xlarge": 1, "r5n.large": 2})
    wl = Workload.deeprecsys()
    in_sim = KairosPolicy()
    simulate(pool, RM2, wl, in_sim, rate=20.0, qos_ms=350, n_queries=50, seed=3)
    live_policy = KairosPolicy()
    during_run = []
    async with serve_pool(pool, RM2, model="rm2", time_scale=FAST) as live, \
            client(live, policy=live_policy) as c:
        for_infer = dict(live_policy.type_weights)
        res = await c.run(wl, rate=20.0, n_queries=30, seed=3, progress=False,
                          on_result=lambda _r: during_run.append(dict(live_policy.type_weights)))
        after_run = dict(live_policy.type_weights)
    assert res.n_failed == 0 and len(during_run) == 30
    assert all(w == in_sim.type_weights for w in during_run)
    # outside a run (no workload, no plan) the policy weighs the types by speed, as documented
    assert for_infer == after_run != in_sim.type_weights
    fastest = max(for_infer, key=for_infer.get)
    assert for_infer[fastest] == 1.0 and set(for_infer) == set(in_sim.type_weights)


async def test_run_reports_each_query_to_on_result_and_survives_a_broken_hook():
    seen = []

    def hook(item):
        seen.append(item)
        if len(seen) == 2:
            raise RuntimeError("dashboard bug")

    async with serve_pool(POOL, RM2, model="rm2", time_scale=0.0) as live, client(live) as c:
        res = await c.run(Workload.fixed(20), rate=300.0, n_queries=6, progress=False, on_result=hook)
        with pytest.raises(KairosError, match="on_result"):
            await c.run(Workload.fixed(20), rate=300.0, n_queries=1, on_result=42)
    assert len(seen) == 6 and res.n_failed == 0
    assert all(isinstance(x, Reply) for x in seen)
    assert sorted(x.latency_ms for x in seen) == pytest.approx(sorted(res.latencies_ms))


async def test_run_for_a_duration():
    async with serve_pool(POOL, RM2, model="rm2", time_scale=FAST) as live, client(live) as c:
        res = await c.run(Workload.fixed(50), rate=200.0, duration_s=0.2, progress=False)
    assert res.n_queries > 10 and res.arrival_ms[-1] <= 200.0 and res.n_failed == 0


async def test_the_same_policy_object_decides():
    policy = RecordingPolicy()
    async with serve_pool(POOL, RM2, model="rm2", time_scale=FAST) as live, client(live, policy=policy) as c:
        wl = Workload.fixed(100)
        await c.run(wl, rate=50.0, n_queries=12, progress=False)
    # prepared at start (for infer), for the run with its workload, then again for infer
    assert [ctx.workload for ctx in policy.contexts] == [None, wl, None]
    for ctx in policy.contexts:
        assert ctx.instance_types == POOL.types and ctx.qos_ms == 350 and ctx.profile is RM2
    assert policy.decisions >= 12


class HesitantPolicy(FCFSPolicy):
    """Holds every query back the first few times it is asked, even with all instances idle."""

    name = "hesitant"

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals

    def decide(self, state):
        if self.refusals > 0:
            self.refusals -= 1
            return []
        return super().decide(state)


async def test_a_policy_that_holds_queries_back_on_an_idle_pool_is_asked_again():
    policy = HesitantPolicy(refusals=3)
    async with serve_pool(POOL, RM2, model="rm2", time_scale=0.0) as live, client(live, policy=policy) as c:
        reply = await asyncio.wait_for(c.infer(batch_size=10), 10)
    assert reply.attempts == 1 and policy.refusals == 0


async def test_a_shedding_policy_fails_given_up_queries_without_sending_them():
    """Twelve large queries at once on one GPU: only a few fit within 350 ms. The shedding
    policy gives the rest up; each ends as QueryFailed(kind="shed") with a ShedError, was
    never sent, and the endpoint served exactly the others."""
    pool = Pool.from_counts({"g4dn.xlarge": 1})
    async with ReplayPool(pool, RM2, model="rm2", time_scale=FAST) as rp, \
            client(rp.pool, policy=KairosPolicy(shed=True)) as c:
        res = await asyncio.wait_for(asyncio.gather(*[c.submit(batch_size=1000) for _ in range(12)]), 30)
        assert c.n_outstanding == 0
    ok = [r for r in res if r.ok]
    shed = [r for r in res if not r.ok]
    assert ok and shed and len(ok) + len(shed) == 12
    for r in shed:
        assert r.kind == "shed" and isinstance(r.error, ShedError) and "350 ms" in r.reason
        assert r.attempts == 0 and r.instance_ids == ()
        with pytest.raises(ShedError):
            r.raise_()
    assert rp[0].n_served == len(ok)


async def test_a_shedding_policy_in_a_live_run_lists_what_it_gave_up():
    wl = Workload.fixed(1000)
    pool = Pool.from_counts({"g4dn.xlarge": 1})
    async with serve_pool(pool, RM2, model="rm2", time_scale=FAST) as live, \
            client(live, policy=KairosPolicy(shed=True)) as c:
        res = await c.run(wl, rate=40.0, n_queries=60, seed=3, progress=False)
    assert 0 < res.n_shed == res.n_failed < 60
    assert all(why.startswith("shed: ") for _, why in res.failures)
    assert np.all(res.instance[[k for k, _ in res.failures]] == -1)
    assert sum(res.counts_by_instance.values()) + res.n_shed == 60


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_per_instance_concurrency(concurrency):
    pool = Pool.from_counts({"t3.xlarge": 2})
    async with ReplayPool(pool, RM2, model="rm2", time_scale=FAST, workers=4) as rp, \
            client(rp.pool, concurrency=concurrency) as c:
        await asyncio.gather(*(c.infer(batch_size=300) for _ in range(12)))
        assert max(ep.max_in_service for ep in rp.endpoints) == concurrency


async def test_default_policy_and_placeholder_profile():
    async with serve_pool(POOL, RM2, model="rm2", time_scale=0.0) as live:
        c = KairosClient(live, protocol=OIP)  # no profile: FCFS on a flat placeholder profile
        assert c.policy.name == "fcfs"
        async with c:
            assert (await c.infer(batch_size=5)).attempts == 1
        with_profile = KairosClient(live, protocol=OIP, profile=RM2, qos_ms=350)
        assert with_profile.policy.name == "kairos"


async def test_metadata_and_readiness_report():
    async with serve_pool(POOL, RM2, model="rm2", time_scale=0.0) as live, client(live) as c:
        md = await c.metadata("r5n.large-1")
        assert md.name == "rm2" and md.outputs[0].shape == (-1, 1)
        assert await c.check_endpoints() == {i.id: None for i in POOL}
        assert c.available == {i.id: True for i in POOL}
        assert set(c.stats()) == {i.id for i in POOL}


async def test_measure_profile_plugs_into_the_planner():
    from kairos_sdk.defaults import default_catalog
    from kairos_sdk.planner import Planner

    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2, "t3.xlarge": 1})
    async with serve_pool(pool, RM2, model="rm2", time_scale=0.1) as live:
        urls: dict[str, list[str]] = {}
        for inst in live:
            urls.setdefault(inst.type, []).append(inst.endpoint)
        measured = await measure_profile(urls, [10, 100, 500, 1000], repeats=2, protocol=OIP,
                                         time_scale=0.1, progress=False)
    assert measured.instance_types == ("g4dn.xlarge", "r5n.large", "t3.xlarge")
    assert measured.model == "rm2"
    assert measured.batch_sizes("r5n.large").tolist() == [10, 100, 500, 1000]
    catalog = default_catalog().restrict(measured.instance_types)
    # generous target: at time_scale 0.1 every HTTP millisecond counts as 10 profile ms
    plan = Planner(measured, catalog, Workload.deeprecsys(), qos_ms=1000).plan(budget=2.5)
    assert plan.cost_per_hour <= 2.5 + 1e-9


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"endpoints_by_type": {}}, "non-empty"),
        ({"endpoints_by_type": {"g4dn.xlarge": []}}, "no endpoint URL"),
        ({"batch_sizes": [0, 10]}, "positive"),
        ({"repeats": 0}, "repeats"),
        ({"warmup": -1}, "warmup"),
    ],
)
async def test_measure_profile_validates(kwargs, match):
    args = {"endpoints_by_type": {"g4dn.xlarge": "http://127.0.0.1:9"}, "batch_sizes": [10], "repeats": 1, **kwargs}
    with pytest.raises(KairosError, match=match):
        await measure_profile(args.pop("endpoints_by_type"), args.pop("batch_sizes"), args.pop("repeats"),
                              protocol=OIP, progress=False, **args)


# ---------------------------------------------------------------------- auth, TLS, secrets
async def test_bearer_token_and_headers_reach_the_server_but_never_reprs_or_logs(caplog, unused_tcp_port):
    seen = []

    async def handler(request):
        seen.append(dict(request.headers))
        if request.path.endswith("/infer"):
            raise web.HTTPInternalServerError(text="boom")
        return web.json_response({"ready": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    url = f"http://127.0.0.1:{unused_tcp_port}"
    try:
        pool = Pool.from_counts({"g4dn.xlarge": 1}).with_endpoints([url])
        caplog.set_level(logging.DEBUG, logger="kairos_sdk")
        c = client(pool, token=Auth(token="s3cret-token", headers={"X-Api-Key": "k3y-value"}),
                   timeout_s=Timeouts(unavailable_s=0.2))
        async with c:
            with pytest.raises(EndpointError) as info:
                await c.infer(batch_size=1)
            text = repr(c) + str(info.value) + caplog.text + repr(c.stats())
        assert all(h.get("Authorization") == "Bearer s3cret-token" for h in seen)
        assert all(h.get("X-Api-Key") == "k3y-value" for h in seen)
        assert "s3cret" not in text and "k3y-value" not in text
        assert "Authorization" in repr(c) and "values hidden" in repr(c)
    finally:
        await runner.cleanup()


async def test_tls_verification_is_on_by_default(tmp_path, unused_tcp_port):
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
             "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60,
        )
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:  # pragma: no cover
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    async def ready(request):
        return web.json_response({"ready": True})

    app = web.Application()
    app.router.add_get("/{tail:.*}", ready)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port, ssl_context=ctx).start()
    try:
        pool = Pool.from_counts({"g4dn.xlarge": 1}).with_endpoints([f"https://127.0.0.1:{unused_tcp_port}"])
        with pytest.raises(EndpointError, match="TLS failed.*verify=") as info:
            async with client(pool):
                pass
        assert "certificate verification failed" in str(info.value)  # not an errno's words
        assert "operation not permitted" not in str(info.value)
        async with client(pool, token=Auth(verify=str(cert))) as c:  # trust the test CA explicitly
            assert (await c.check_endpoints()) == {"g4dn.xlarge-0": None}
        async with client(pool, token=Auth(verify=False)) as c:
            assert (await c.check_endpoints()) == {"g4dn.xlarge-0": None}
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------- cancellation and shutdown
async def test_cancelled_infer_frees_its_slot_and_ends_the_query():
    pool = Pool.from_counts({"t3.xlarge": 1})
    async with serve_pool(pool, RM2, model="rm2", time_scale=0.5) as live, client(live, time_scale=0.5) as c:
        task = asyncio.create_task(c.infer(batch_size=1000))  # ~440 ms real
        await asyncio.sleep(0.05)
        assert c.n_outstanding == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert c.n_outstanding == 0 and c._dispatcher.n_active == 0
        reply = await c.infer(batch_size=10)  # the slot was released: served at once
        assert reply.instance_id == "t3.xlarge-0"


async def test_query_cancelled_before_its_attempt_ran_frees_everything():
    pool = Pool.from_counts({"t3.xlarge": 1})
    async with serve_pool(pool, RM2, model="rm2", time_scale=0.0) as live, client(live) as c:
        fut = c.submit(batch_size=10)  # started on the idle instance: its attempt task is created ...
        fut.cancel()  # ... and cancelled before it ever ran
        await asyncio.sleep(0)
        assert c.n_outstanding == 0 and c._dispatcher.n_active == 0 and c._n_inflight == 0
        assert (await asyncio.wait_for(c.infer(batch_size=10), 5)).attempts == 1


async def test_cancelled_pending_query_never_reaches_an_endpoint():
    pool = Pool.from_counts({"t3.xlarge": 1})
    async with ReplayPool(pool, RM2, model="rm2", time_scale=0.5) as rp, client(rp.pool, time_scale=0.5) as c:
        first = c.submit(batch_size=500)
        second = c.submit(batch_size=10)  # waits in the client's pending queue
        await asyncio.sleep(0.01)
        second.cancel()
        res = await first
        assert isinstance(res, Reply)
        await asyncio.sleep(0.05)
        assert rp[0].n_served == 1
        assert c.n_outstanding == 0 and c._dispatcher.n_active == 0


async def test_cancelled_run_ends_every_query():
    async with serve_pool(POOL, RM2, model="rm2", time_scale=0.2) as live, client(live, time_scale=0.2) as c:
        task = asyncio.create_task(c.run(Workload.deeprecsys(), rate=40.0, n_queries=200, progress=False))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert c.n_outstanding == 0
        assert (await c.infer(batch_size=10)).attempts == 1


async def test_closing_the_client_ends_outstanding_queries_as_failed():
    pool = Pool.from_counts({"t3.xlarge": 1})
    async with serve_pool(pool, RM2, model="rm2", time_scale=0.5) as live:
        c = client(live, time_scale=0.5)
        async with c:
            futures = [c.submit(batch_size=800) for _ in range(3)]
            await asyncio.sleep(0.02)
        results = await asyncio.wait_for(asyncio.gather(*futures), timeout=5)
        assert all(isinstance(r, QueryFailed) and r.kind == "closed" for r in results)
        assert "closed" in results[0].reason
        with pytest.raises(KairosError, match="closed"):
            await c.infer(batch_size=1)


async def test_progress_bar_can_be_forced_on(capsys):
    async with serve_pool(POOL, RM2, model="rm2", time_scale=0.0) as live, client(live) as c:
        await c.run(Workload.fixed(10), rate=500.0, n_queries=5, progress=True)
    assert "live fcfs" in capsys.readouterr().err


# ---------------------------------------------------------------------- settings
def test_a_plain_keyword_and_its_settings_object_configure_the_same_client():
    live = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2}).with_endpoints(
        ["http://127.0.0.1:9", "http://127.0.0.1:10", "http://127.0.0.1:11"])
    plain = KairosClient(live, protocol=OIP, concurrency=3, timeout_s=2.5, token="s3cret")
    full = KairosClient(live, protocol=OIP, concurrency=Limits(concurrency=3), timeout_s=Timeouts(request_s=2.5),
                        token=Auth(token="s3cret"))
    for c in (plain, full):
        assert c.concurrency == 3 and c.limits == Limits(3) and c.timeout_s == 2.5
        assert c.timeouts == Timeouts(request_s=2.5, ready_s=2.5, unavailable_s=2.0, wait_ready_s=0.0)
        assert c._transport.header_names == ("User-Agent", "Authorization")
        # the session is sized for the pool: 2 connections per slot and per instance, at least 100
        assert c._transport._limit == 100
    assert KairosClient(live, protocol=OIP, concurrency=Limits(20))._transport._limit == 2 * 3 * 20 + 2 * 3
    assert KairosClient(live, protocol=OIP, concurrency=Limits(1, max_connections=7))._transport._limit == 7
    assert Timeouts(request_s=30).ready_s == 5.0 and Timeouts(check_ready=False).check_ready == "skip"
    assert "s3cret" not in repr(Auth(token="s3cret", headers={"X-Api-Key": "k3y"}))
    assert "k3y" not in repr(Auth(token="s3cret", headers={"X-Api-Key": "k3y"}))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Timeouts(request_s=-1), "timeout_s must be a positive"),
        (lambda: Timeouts(ready_s=0), "ready_s must be a positive"),
        (lambda: Timeouts(unavailable_s=float("nan")), "unavailable_timeout_s"),
        (lambda: Timeouts(wait_ready_s=-0.5), "wait_ready_s must be a non-negative"),
        (lambda: Timeouts(check_ready="most"), "check_ready must be one of 'all', 'any', 'skip'"),
        (lambda: Limits(concurrency=True), "concurrency must be an integer, got True"),
        (lambda: Limits(concurrency=0), "concurrency must be a positive integer"),
        (lambda: Limits(max_connections=0), "max_connections must be a positive integer"),
        (lambda: Auth(token=""), "token must be a non-empty string"),
    ],
)
def test_settings_objects_check_their_values(make, match):
    with pytest.raises(KairosError, match=match):
        make()


async def test_a_run_among_outstanding_queries_keeps_the_policy_as_prepared(caplog):
    policy = RecordingPolicy()
    async with serve_pool(POOL, RM2, model="rm2", time_scale=FAST) as live, client(live, policy=policy) as c:
        early = [c.submit(batch_size=1000) for _ in range(4)]  # still outstanding when the run starts
        with caplog.at_level("WARNING", logger="kairos_sdk.client"):
            res = await c.run(Workload.fixed(10), rate=100.0, n_queries=5, progress=False)
        assert all(r.ok for r in await asyncio.gather(*early)) and res.n_failed == 0
    # never re-prepared for the run's workload under the queries it was deciding for
    assert policy.contexts and all(ctx.workload is None for ctx in policy.contexts)
    assert "queries outstanding: the policy keeps its current preparation" in caplog.text


# ---------------------------------------------------------------------- misuse
def test_constructor_validates():
    bare = Pool.from_counts({"g4dn.xlarge": 1})
    live = bare.with_endpoints(["http://127.0.0.1:9"])
    cases = [
        (lambda: KairosClient(bare, protocol=OIP), "no endpoint URL"),
        (lambda: KairosClient(live, protocol="oip"), "InferenceProtocol"),
        (lambda: KairosClient(live, protocol=OIP, policy=FCFSPolicy), "instance"),
        (lambda: KairosClient(live, protocol=OIP, profile=Profile.from_dict({"cpu": {1: [1.0]}})), "no latencies for g4dn.xlarge"),
        (lambda: KairosClient(live, protocol=OIP, qos_ms=-1), "qos_ms"),
        (lambda: KairosClient(live, protocol=OIP, concurrency=0), "concurrency"),
        (lambda: KairosClient(live, protocol=OIP, timeout_s=0), "timeout_s"),
        (lambda: KairosClient(live, protocol=OIP, time_scale=0), "time_scale"),
        (lambda: KairosClient(live, protocol=OIP, timeout_s=Timeouts(check_ready="some")), "check_ready"),
        (lambda: KairosClient(live, protocol=OIP, retry=3), "RetryPolicy"),
        (lambda: KairosClient(live, protocol=OIP, token=""), "token"),
        (lambda: KairosClient(live, protocol=OIP, token=Auth(verify=3)), "verify"),
    ]
    for make, match in cases:
        with pytest.raises(KairosError, match=match):
            make()


async def test_calls_outside_the_context_and_bad_arguments():
    async with serve_pool(POOL, RM2, model="rm2", time_scale=0.0) as live:
        c = client(live)
        with pytest.raises(KairosError, match="async with"):
            await c.infer(batch_size=1)
        async with c:
            with pytest.raises(KairosError, match="batch_size"):
                await c.infer()
            with pytest.raises(KairosError, match="batch_size"):
                await c.infer(batch_size=0)
            with pytest.raises(KairosError, match="exactly one"):
                await c.run(Workload.fixed(1), rate=1.0)
            with pytest.raises(KairosError, match="rate"):
                await c.run(Workload.fixed(1), rate=0, n_queries=1)
            with pytest.raises(KairosError, match="Workload"):
                await c.run([1, 2], rate=1.0, n_queries=1)
            with pytest.raises(KairosError, match="no instance"):
                await c.metadata("p3.2xlarge-0")
        with pytest.raises(KairosError, match="create a new"):
            await c.start()


async def test_a_session_is_shared_and_closed():
    async with serve_pool(POOL, RM2, model="rm2", time_scale=0.0) as live:
        c = client(live)
        async with c:
            session = c._transport._session
            assert isinstance(session, aiohttp.ClientSession)
            await asyncio.gather(*(c.infer(batch_size=3) for _ in range(10)))
            assert c._transport._session is session
        assert session.closed


def test_a_client_belongs_to_the_loop_it_started_in():
    async def start():
        async with serve_pool(POOL, RM2, model="rm2", time_scale=0.0) as live:
            c = client(live)
            await c.start()
            return c

    c = asyncio.run(start())

    async def use():
        await c.infer(batch_size=1)

    with pytest.raises(KairosError, match="another event loop"):
        asyncio.run(use())


async def test_html_repr_lists_instances_without_secrets():
    async with serve_pool(POOL, RM2, model="rm2", time_scale=0.0) as live, client(live, token="tok-123") as c:
        await c.infer(batch_size=2)
        page = c._repr_html_()
    assert page.count("<tr>") == 1 + len(POOL) and "tok-123" not in page
