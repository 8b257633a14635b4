"""Faults against real servers on 127.0.0.1: every submitted query ends as a reply or as a
QueryFailed with its reason — none lost, nothing hangs."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from kairos_sdk import Pool, Profile, Workload
from kairos_sdk.client import (
    KairosClient,
    OpenInferenceProtocol,
    QueryFailed,
    Reply,
    RetryPolicy,
    Timeouts,
)
from kairos_sdk.distribute import FCFSPolicy
from kairos_sdk.endpoints import Faults, ReplayPool
from kairos_sdk.errors import EndpointError, EndpointTimeout, ProtocolError

RM2 = Profile.builtin("rm2")
OIP = OpenInferenceProtocol("rm2")
POOL3 = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2})
HANG_GUARD_S = 20  # a test that needs longer than this has a hanging query


def client(pool, **kw) -> KairosClient:
    kw.setdefault("protocol", OIP)
    kw.setdefault("profile", RM2)
    kw.setdefault("qos_ms", 350)
    kw.setdefault("time_scale", 0.05)
    kw.setdefault("policy", FCFSPolicy())
    kw.setdefault("retry", RetryPolicy(backoff_ms=1, probe_ms=20, max_probe_ms=100))
    return KairosClient(pool, **kw)


def assert_nothing_left(c: KairosClient) -> None:
    assert c.n_outstanding == 0
    assert c._dispatcher.n_active == 0


async def run(c: KairosClient, n: int, rate: float, **kw):
    return await asyncio.wait_for(c.run(Workload.deeprecsys(), rate=rate, n_queries=n, progress=False, **kw), HANG_GUARD_S)


async def test_endpoint_killed_mid_run_loses_no_query():
    async with ReplayPool(POOL3, RM2, model="rm2", time_scale=0.05) as rp, client(rp.pool) as c:
        victim = rp["r5n.large-0"]

        async def kill_later():
            while victim.n_served < 5:
                await asyncio.sleep(0.005)
            await victim.kill()

        killer = asyncio.create_task(kill_later())
        res = await run(c, 120, rate=25.0)
        await killer
        assert res.n_failed == 0 and res.failures == ()
        assert np.all(res.instance >= 0) and np.all(np.isfinite(res.latencies_ms))
        counts = res.counts_by_instance
        assert sum(counts.values()) == 120
        assert counts["r5n.large-0"] <= victim.n_served  # nothing counted after the kill
        assert counts["g4dn.xlarge-0"] + counts["r5n.large-1"] >= 120 - victim.n_served
        assert c.available["r5n.large-0"] is False
        assert "connect" in c.stats()["r5n.large-0"]["last_error"]
        assert_nothing_left(c)


async def test_killed_endpoint_is_probed_back_into_rotation():
    pool = Pool.from_counts({"g4dn.xlarge": 2})
    async with ReplayPool(pool, RM2, model="rm2", time_scale=0.0) as rp, client(rp.pool) as c:
        await rp[1].kill()
        replies = await asyncio.gather(*(c.infer(batch_size=10) for _ in range(6)))
        assert all(r.instance_id == "g4dn.xlarge-0" for r in replies)
        assert c.available["g4dn.xlarge-1"] is False
        await rp[1].start()  # same port
        for _ in range(200):
            if c.available["g4dn.xlarge-1"]:
                break
            await asyncio.sleep(0.01)
        assert c.available["g4dn.xlarge-1"] is True
        replies = await asyncio.gather(*(c.infer(batch_size=10) for _ in range(6)))
        assert {r.instance_id for r in replies} == {"g4dn.xlarge-0", "g4dn.xlarge-1"}
        assert_nothing_left(c)


async def test_endpoint_answering_500_is_retried_elsewhere():
    async with ReplayPool(POOL3, RM2, model="rm2", time_scale=0.05, faults={"g4dn.xlarge-0": Faults(status=500)}) as rp, \
            client(rp.pool) as c:
        res = await run(c, 60, rate=25.0)
        assert res.n_failed == 0
        assert res.counts_by_instance["g4dn.xlarge-0"] == 0
        assert rp["g4dn.xlarge-0"].n_faulted >= 1
        assert res.attempts.max() >= 2 and res.attempts.max() <= 3
        assert c.available["g4dn.xlarge-0"] is False  # its test queries fail too: it stays out
        assert 1 <= c.stats()["g4dn.xlarge-0"]["failed_attempts"] <= rp["g4dn.xlarge-0"].n_faulted
        assert "HTTP 500" in c.stats()["g4dn.xlarge-0"]["last_error"]
        assert_nothing_left(c)


async def test_every_endpoint_answering_500_gives_a_clear_error_and_nothing_hangs():
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 1})
    async with ReplayPool(pool, RM2, model="rm2", time_scale=0.0, faults={0: Faults(status=500), 1: Faults(status=503)}) as rp, \
            client(rp.pool, retry=RetryPolicy(max_attempts=2, backoff_ms=1, probe_ms=5),
                   timeout_s=Timeouts(unavailable_s=0.3)) as c:
        futs = [c.submit(batch_size=10) for _ in range(4)]
        results = await asyncio.wait_for(asyncio.gather(*futs), HANG_GUARD_S)
        for r in results:
            assert isinstance(r, QueryFailed) and not r.ok
            assert r.attempts <= 2 and isinstance(r.error, EndpointError)  # 0: never got an instance
            assert "HTTP 50" in r.reason and "injected fault" in r.reason
        assert {r.kind for r in results} <= {"server_error", "unavailable"}
        with pytest.raises(EndpointError, match="no endpoint available.*HTTP 500.*HTTP 503"):
            await asyncio.wait_for(c.infer(batch_size=10), HANG_GUARD_S)
        assert c.n_outstanding == 0


async def test_malformed_json_is_a_protocol_error_naming_the_endpoint():
    pool = Pool.from_counts({"g4dn.xlarge": 1})
    async with ReplayPool(pool, RM2, model="rm2", time_scale=0.0, faults={0: Faults(malformed=True)}) as rp, \
            client(rp.pool) as c:
        with pytest.raises(ProtocolError, match="g4dn.xlarge-0 at http://127.0.0.1:.*not valid JSON") as info:
            await c.infer(batch_size=3)
        assert info.value.endpoint.startswith("g4dn.xlarge-0")
        assert c.available["g4dn.xlarge-0"] is True  # not retried by default, not ejected
        res = await run(c, 10, rate=200.0)
        assert res.n_failed == 10 and len(res.failures) == 10
        assert all("protocol" in reason and "not valid JSON" in reason for _, reason in res.failures)
        assert np.all(res.instance == -1) and np.all(np.isnan(res.latencies_ms)) and res.qos_attainment == 0
        assert_nothing_left(c)


async def test_malformed_replies_can_be_retried_elsewhere():
    async with ReplayPool(POOL3, RM2, model="rm2", time_scale=0.05, faults={"r5n.large-1": Faults(malformed=True)}) as rp, \
            client(rp.pool, retry=RetryPolicy(retry_on={"connect", "timeout", "server_error", "protocol"},
                                              backoff_ms=1, probe_ms=500)) as c:
        res = await run(c, 40, rate=25.0)
        assert res.n_failed == 0 and res.counts_by_instance["r5n.large-1"] == 0
        assert_nothing_left(c)


async def test_slow_endpoint_hits_the_timeout_and_the_rest_serve():
    # Healthy replies are scaled down to a few ms (time_scale 0.005) against the 3 s stall and the
    # 0.25 s timeout, and the assertions state the rule, not a count a loaded machine can change:
    # a slow healthy reply would be one more timed-out attempt, answered by one more attempt.
    scale = 0.005
    async with ReplayPool(POOL3, RM2, model="rm2", time_scale=scale, faults={"g4dn.xlarge-0": Faults(extra_delay_ms=3000)}) as rp, \
            client(rp.pool, timeout_s=0.25, time_scale=scale,
                   retry=RetryPolicy(max_attempts=5, backoff_ms=1, probe_ms=20, max_probe_ms=100)) as c:
        res = await run(c, 40, rate=25.0)
        stats = c.stats()
        assert res.n_failed == 0
        assert res.counts_by_instance["g4dn.xlarge-0"] == 0 and stats["g4dn.xlarge-0"]["failed_attempts"] >= 1
        assert res.attempts.max() >= 2  # the query sent to the stalled endpoint was retried elsewhere
        # every extra attempt answers exactly one failed attempt, and every failure is the timeout
        assert int((res.attempts - 1).sum()) == sum(s["failed_attempts"] for s in stats.values())
        assert "no answer within 0.25 s" in stats["g4dn.xlarge-0"]["last_error"]
        assert all(s["last_error"] is None or "no answer within 0.25 s" in s["last_error"] for s in stats.values())
        assert_nothing_left(c)


async def test_a_lone_slow_endpoint_raises_endpoint_timeout():
    pool = Pool.from_counts({"g4dn.xlarge": 1})
    async with ReplayPool(pool, RM2, model="rm2", time_scale=0.0, faults={0: Faults(extra_delay_ms=2000)}) as rp, \
            client(rp.pool, timeout_s=0.1, retry=RetryPolicy.none()) as c:
        with pytest.raises(EndpointTimeout) as info:
            await asyncio.wait_for(c.infer(batch_size=5), HANG_GUARD_S)
        assert isinstance(info.value, TimeoutError) and "timeout_s" in str(info.value)
        assert_nothing_left(c)


async def test_all_endpoints_down_mid_run_fails_the_rest_promptly():
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 1})
    async with ReplayPool(pool, RM2, model="rm2", time_scale=0.05) as rp, \
            client(rp.pool, timeout_s=Timeouts(unavailable_s=0.3)) as c:

        async def kill_all():
            while sum(ep.n_served for ep in rp.endpoints) < 5:
                await asyncio.sleep(0.005)
            await asyncio.gather(*(ep.kill() for ep in rp.endpoints))

        killer = asyncio.create_task(kill_all())
        res = await run(c, 60, rate=25.0)
        await killer
        served = res.n_queries - res.n_failed
        assert served >= 5 and res.n_failed > 0
        assert served + len(res.failures) == 60  # every query accounted for
        reasons = [r for _, r in res.failures]
        assert any("no endpoint available" in r for r in reasons)
        assert all(r.split(":")[0] in {"unavailable", "connect"} for r in reasons)
        with pytest.raises(EndpointError, match="no endpoint available"):
            await asyncio.wait_for(c.infer(batch_size=1), HANG_GUARD_S)
        assert c.n_outstanding == 0


async def test_all_endpoints_down_at_start_is_a_clear_error():
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 1})
    async with ReplayPool(pool, RM2, model="rm2") as rp:
        urls = list(rp.pool.endpoints)
        down = rp.pool
        await rp.stop()
        with pytest.raises(EndpointError, match="2 of 2 endpoints are not ready") as info:
            await asyncio.wait_for(client(down).start(), HANG_GUARD_S)
        for inst, url in zip(down, urls):
            assert f"{inst.id} at {url}" in str(info.value)
        assert "cannot connect (connection refused)" in str(info.value)


async def test_one_endpoint_down_at_start_any_mode_serves_with_the_rest():
    async with ReplayPool(POOL3, RM2, model="rm2", time_scale=0.0) as rp:
        await rp["r5n.large-0"].kill()
        with pytest.raises(EndpointError, match="1 of 3 endpoints.*check_ready='any'"):
            await client(rp.pool).start()
        async with client(rp.pool, timeout_s=Timeouts(check_ready="any")) as c:
            assert c.available["r5n.large-0"] is False
            replies = await asyncio.gather(*(c.infer(batch_size=20) for _ in range(8)))
            assert all(isinstance(r, Reply) and r.instance_id != "r5n.large-0" for r in replies)
            assert_nothing_left(c)


async def test_not_ready_endpoint_is_reported_with_its_status():
    pool = Pool.from_counts({"g4dn.xlarge": 1})
    async with ReplayPool(pool, RM2, model="rm2", faults={0: Faults(ready_status=503)}) as rp:
        with pytest.raises(EndpointError, match="answered HTTP 503"):
            await client(rp.pool).start()


async def test_wrong_model_is_a_client_error_not_retried_and_not_ejected():
    async with ReplayPool(POOL3, RM2, model="rm2", time_scale=0.0) as rp, \
            client(rp.pool, protocol=OpenInferenceProtocol("rm3"), timeout_s=Timeouts(check_ready="skip")) as c:
        with pytest.raises(EndpointError, match="refused the request with HTTP 404: Model rm3 not found"):
            await c.infer(batch_size=2)
        assert all(c.available.values())
        assert sum(s["failed_attempts"] for s in c.stats().values()) == 1
        assert_nothing_left(c)


@pytest.mark.parametrize("seed", [0, 1])
async def test_chaos_every_query_is_accounted_for_exactly_once(seed):
    """Random 500s, malformed replies and stalls on every endpoint, plus one killed mid-run."""
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2, "c5n.2xlarge": 1})
    faults = {
        0: Faults(status=500, probability=0.3),
        1: Faults(malformed=True, probability=0.2),
        2: Faults(extra_delay_ms=400, probability=0.2),
    }
    async with ReplayPool(pool, RM2, model="rm2", time_scale=0.05, seed=seed, faults=faults) as rp, \
            client(rp.pool, timeout_s=0.15,
                   retry=RetryPolicy(max_attempts=3, backoff_ms=1, probe_ms=10, max_probe_ms=50, seed=seed)) as c:

        async def kill_later():
            while rp[3].n_served < 4:
                await asyncio.sleep(0.005)
            await rp[3].kill()

        killer = asyncio.create_task(kill_later())
        res = await run(c, 100, rate=30.0, seed=seed)
        await killer
        failed = {k for k, _ in res.failures}
        assert len(failed) == len(res.failures)  # each failure listed once
        for k in range(res.n_queries):
            if k in failed:
                assert res.instance[k] == -1 and np.isnan(res.latencies_ms[k])
            else:
                assert res.instance[k] >= 0 and np.isfinite(res.latencies_ms[k])
            assert 1 <= res.attempts[k] <= 3
        assert res.n_failed == len(failed) and res.n_queries == 100
        assert all(r.split(":")[0] in {"protocol", "server_error", "timeout", "connect", "unavailable"}
                   for _, r in res.failures)
        assert c.n_outstanding == 0


async def test_probe_readmits_an_endpoint_that_rejects_the_synthetic_test_query():
    """The test query uses synthetic inputs; a 4xx answer to it still means the server is up."""
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 1})
    async with ReplayPool(pool, RM2, model="rm2", time_scale=0.0) as rp, client(rp.pool) as c:
        await rp[0].kill()
        await c.infer(batch_size=5)
        while c.available["g4dn.xlarge-0"]:  # the kill is noticed by the next query sent there
            await c.infer(batch_size=5)
        rp[0].faults = Faults(status=422)
        await rp[0].start()
        for _ in range(300):
            if c.available["g4dn.xlarge-0"]:
                break
            await asyncio.sleep(0.01)
        assert c.available["g4dn.xlarge-0"] is True


# ---------------------------------------------------------------------------- bounded waiting
async def test_max_pending_refuses_new_queries_at_once_and_the_run_counts_them():
    from kairos_sdk.client import Limits
    from kairos_sdk.errors import OverloadedError

    async with ReplayPool(Pool.from_counts({"r5n.large": 1}), RM2, model="rm2", time_scale=0.05) as live, \
            client(live.pool, concurrency=Limits(1, max_pending=2)) as c:
        futs = [c.submit(batch_size=500) for _ in range(6)]  # 1 in flight, 2 waiting, 3 refused
        refused = [f.result() for f in futs if f.done()]
        assert len(refused) == 3
        assert all(isinstance(r, QueryFailed) and r.kind == "overloaded" for r in refused)
        assert isinstance(refused[0].error, OverloadedError) and "max_pending=2" in refused[0].reason
        ends = await asyncio.wait_for(asyncio.gather(*futs), HANG_GUARD_S)
        assert sum(isinstance(r, Reply) for r in ends) == 3
        res = await run(c, 60, rate=200)
        assert res.n_overloaded > 0
        assert res.n_overloaded + (res.n_queries - res.n_failed) == 60
        assert res.failures_by_kind == {"overloaded": res.n_overloaded}
        assert_nothing_left(c)


async def test_a_query_not_sent_within_its_deadline_fails_as_deadline():
    from kairos_sdk.errors import DeadlineError

    async with ReplayPool(Pool.from_counts({"r5n.large": 1}), RM2, model="rm2", time_scale=0.05) as live, \
            client(live.pool, timeout_s=Timeouts(deadline_s=0.05)) as c:
        live[0].faults = Faults(extra_delay_ms=300)  # the first query holds the only instance
        futs = [c.submit(batch_size=10) for _ in range(3)]
        ends = await asyncio.wait_for(asyncio.gather(*futs), HANG_GUARD_S)
        assert isinstance(ends[0], Reply)  # sent in time: a deadline never cuts a request short
        assert [getattr(r, "kind", None) for r in ends[1:]] == ["deadline", "deadline"]
        assert isinstance(ends[1].error, DeadlineError) and "Timeouts.deadline_s" in ends[1].reason
        assert_nothing_left_or_stale(c)


async def test_a_garbling_last_endpoint_is_not_ejected_and_queries_fail_as_protocol():
    async with ReplayPool(Pool.from_counts({"g4dn.xlarge": 1}), RM2, model="rm2", time_scale=0.05,
                          faults={0: Faults(malformed=True)}) as live, client(live.pool) as c:
        res = await c.submit(batch_size=10)
        assert isinstance(res, QueryFailed) and res.kind == "protocol" and res.attempts == 3
        assert c.available == {"g4dn.xlarge-0": True}  # the only host is never ejected for garbling
        assert c.n_outstanding == 0


def assert_nothing_left_or_stale(c: KairosClient) -> None:
    """Nothing outstanding; ended queries may still wait in the dispatcher's queue, to be
    dropped at its next decision."""
    assert c.n_outstanding == 0
    assert c._dispatcher.n_active == len(c._stale)
