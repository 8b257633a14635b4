"""The fault matrix: every fault case x every distribution policy, against real loopback
servers (the SDK's replay endpoints and an independent fault server, tests/fault_server.py).

Each case asserts that every submitted query is accounted for (served + failed == submitted),
that nothing is left pending in the client or its dispatcher, and which failure kinds may
appear. Latencies are time-scaled (``TS``) and query counts small, so the whole matrix runs
in seconds. docs/reliability.md shows the counts measured with ``python -m tests.test_faults``.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from kairos_sdk import Pool, Profile, Workload
from kairos_sdk.client import (
    KairosClient,
    Limits,
    OpenInferenceProtocol,
    QueryFailed,
    RetryPolicy,
    Timeouts,
)
from kairos_sdk.distribute import policy_from_name, policy_names
from kairos_sdk.endpoints import ReplayPool
from kairos_sdk.errors import EndpointError

from .fault_server import FaultServer, SilentServer, closed_port

RM2 = Profile.builtin("rm2")
OIP = OpenInferenceProtocol("rm2")
POOL4 = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 3})
TS = 0.05  # real ms per profile ms, for the replay endpoints and the client
N = 40  # queries per run
RATE = 20.0  # queries per second (profile time): the load on this pool
#: a batch-size mix where a third of the queries only the GPU serves in time
MIX = Workload.from_distribution({50: 0.4, 300: 0.3, 900: 0.3}, name="gpu-heavy")
HANG_GUARD_S = 15.0  # a run needing longer than this has a hanging query


# ---------------------------------------------------------------------------- policies
#: registered policies that give queries up (``SHED``) when they can no longer meet QoS
SHEDDING = {"kairos-shed", "clockwork"}


def _policies() -> list[str]:
    """Every registered policy name, so a policy added to the registry joins the matrix."""
    return list(policy_names())


def _make_policy(name: str):
    """A fresh policy object for ``name`` (never shared between cases)."""
    return policy_from_name(name)


def _sheds(policy_name: str) -> bool:
    return policy_name in SHEDDING


# ---------------------------------------------------------------------------- harness
@dataclass
class Outcome:
    submitted: int
    served: int
    kinds: Counter

    @property
    def failed(self) -> int:
        return sum(self.kinds.values())


def make_client(pool: Pool, policy_name: str, *, request_s: float = 2.0, check_ready: str = "all",
                max_pending: int | None = None, deadline_s: float | None = None, hold_s: float = 0.1,
                after_hold: str = "serve") -> KairosClient:
    return KairosClient(
        pool, protocol=OIP, policy=_make_policy(policy_name), profile=RM2, qos_ms=350, time_scale=TS,
        concurrency=Limits(concurrency=1, max_pending=max_pending),
        # readiness is not under test here: a generous ready_s keeps a loaded machine from failing the start
        timeout_s=Timeouts(request_s=request_s, ready_s=5.0, unavailable_s=0.3, check_ready=check_ready,
                           hold_s=hold_s, after_hold=after_hold, deadline_s=deadline_s),
        retry=RetryPolicy(backoff_ms=1, probe_ms=20, max_probe_ms=100, seed=0),
    )


def assert_nothing_left(c: KairosClient) -> None:
    assert c.n_outstanding == 0
    d = c._dispatcher
    if d is not None:  # ended queries may wait in the dispatcher's queue until the next decision
        assert d.n_active == len(getattr(c, "_stale", ()))


async def drive(c: KairosClient, *, n: int = N, rate: float = RATE, workload: Workload = MIX,
                at: dict[int, Callable[[], Awaitable[None]]] | None = None) -> Outcome:
    """``c.run`` with ``at = {k: action}``: the action starts when the k-th query has ended."""
    ended = 0
    actions = dict(at or {})
    tasks: list[asyncio.Task] = []

    def on_result(res) -> None:
        nonlocal ended
        ended += 1
        act = actions.pop(ended, None)
        if act is not None:
            tasks.append(asyncio.ensure_future(act()))

    for k in [k for k in actions if k <= 0]:  # at once
        tasks.append(asyncio.ensure_future(actions.pop(k)()))
    res = await asyncio.wait_for(c.run(workload, rate=rate, n_queries=n, progress=False, on_result=on_result),
                                 HANG_GUARD_S)
    for t in tasks:
        await t
    kinds = Counter(why.split(":", 1)[0] for _, why in res.failures)
    assert res.n_queries == n
    assert res.n_queries - res.n_failed + sum(kinds.values()) == n  # served + failed == submitted
    assert res.n_failed == sum(kinds.values())
    return Outcome(n, n - res.n_failed, kinds)


async def with_fault_servers(modes: list[str], body, **server_kw):
    """Start one FaultServer per mode (``"silent"``: a SilentServer, ``"refused"``: no
    server) for POOL4, run ``body(pool)``, stop them."""
    servers, urls = [], []
    for m in modes:
        if m == "silent":
            s = SilentServer()
        elif m == "refused":
            urls.append(f"http://127.0.0.1:{closed_port()}")
            continue
        else:
            s = FaultServer("rm2", mode=m, **server_kw)
        servers.append(s)
        urls.append(await s.start())
    try:
        return await body(POOL4.with_endpoints(urls), servers)
    finally:
        for s in servers:
            await s.stop()


# ---------------------------------------------------------------------------- the cases
# each case: async (policy name) -> (Outcome, failure kinds allowed); it asserts its own extras too


async def case_endpoint_killed_mid_run(p):
    async with ReplayPool(POOL4, RM2, model="rm2", time_scale=TS, seed=1) as live, make_client(live.pool, p) as c:
        out = await drive(c, at={N // 4: live["r5n.large-1"].kill})
        assert_nothing_left(c)
    return out, {"connect"}


async def case_only_gpu_killed_mid_run(p):
    # defect 1: batch sizes only the g4dn serves in time must not wait for it forever
    async with ReplayPool(POOL4, RM2, model="rm2", time_scale=TS, seed=2) as live, make_client(live.pool, p) as c:
        out = await drive(c, at={3: live["g4dn.xlarge-0"].kill})
        assert_nothing_left(c)
    return out, set()


async def case_always_500(p):
    async def body(pool, servers):
        async with make_client(pool, p) as c:
            out = await drive(c)
            assert not c.available["g4dn.xlarge-0"]  # ejected, probed, kept out
            assert_nothing_left(c)
        return out
    return await with_fault_servers(["500", "ok", "ok", "ok"], body), set()


async def case_30pct_503(p):
    async def body(pool, servers):
        async with make_client(pool, p) as c:
            out = await drive(c)
            assert_nothing_left(c)
        return out
    return await with_fault_servers(["503:0.3"] * 4, body), {"server_error", "unavailable"}


async def case_malformed_json(p):
    # defect 2: a garbling endpoint is retried around and ejected, not a black hole
    async def body(pool, servers):
        async with make_client(pool, p) as c:
            out = await drive(c, workload=Workload.from_distribution({50: 0.5, 300: 0.5}))
            assert not c.available["r5n.large-0"]
            assert_nothing_left(c)
        return out
    return await with_fault_servers(["ok", "garbled", "ok", "ok"], body), set()


async def case_slow_past_timeout(p):
    async def body(pool, servers):
        async with make_client(pool, p, request_s=0.3) as c:
            out = await drive(c)
            assert_nothing_left(c)
        return out
    return await with_fault_servers(["ok", "ok", "slow", "ok"], body), set()


async def case_accepts_but_never_answers(p):
    async def body(pool, servers):
        async with make_client(pool, p, request_s=0.3, check_ready="skip") as c:
            out = await drive(c)
            assert not c.available["r5n.large-2"]
            assert_nothing_left(c)
        return out
    return await with_fault_servers(["ok", "ok", "ok", "silent"], body), set()


async def case_connection_refused(p):
    async def body(pool, servers):
        async with make_client(pool, p, check_ready="skip") as c:
            out = await drive(c)
            assert not c.available["r5n.large-0"]
            assert_nothing_left(c)
        return out
    return await with_fault_servers(["ok", "refused", "ok", "ok"], body), set()


async def case_all_down_at_start(p):
    async def body(pool, servers):
        with pytest.raises(EndpointError, match="4 of 4 endpoints are not ready"):
            async with make_client(pool, p):
                pass
        async with make_client(pool, p, check_ready="skip") as c:
            out = await drive(c, n=12)
            assert out.served == 0
            assert_nothing_left(c)
        return out
    return await with_fault_servers(["refused"] * 4, body), {"connect", "unavailable"}


async def case_all_die_mid_run(p):
    async with ReplayPool(POOL4, RM2, model="rm2", time_scale=TS, seed=3) as live:
        async def kill_all():
            await asyncio.gather(*(ep.kill() for ep in live.endpoints))
        async with make_client(live.pool, p) as c:
            out = await drive(c, at={N // 4: kill_all})
            assert out.served >= 1  # those served before the crash
            assert_nothing_left(c)
    return out, {"connect", "unavailable", "timeout"}


async def case_recovery_after_outage(p):
    async with ReplayPool(POOL4, RM2, model="rm2", time_scale=TS, seed=4) as live:
        gpu, cpu = live["g4dn.xlarge-0"], live["r5n.large-0"]

        async def outage():
            await asyncio.gather(gpu.kill(), cpu.kill())

        async def back():
            await asyncio.gather(gpu.start(), cpu.start())

        async with make_client(live.pool, p) as c:
            out = await drive(c, n=60, at={8: outage, 20: back})
            for _ in range(100):  # the probes readmit both within a few probe periods
                if all(c.available.values()):
                    break
                await asyncio.sleep(0.02)
            assert all(c.available.values())
            served_after = gpu.n_served + cpu.n_served
            await asyncio.wait_for(asyncio.gather(*(c.infer(batch_size=b) for b in (900, 50, 50, 50))), HANG_GUARD_S)
            assert gpu.n_served + cpu.n_served > served_after  # back in rotation, serving
            assert_nothing_left(c)
    return out, {"connect"}


async def case_cancelled_mid_run(p):
    async with ReplayPool(POOL4, RM2, model="rm2", time_scale=TS, seed=5) as live, make_client(live.pool, p) as c:
        ends: list = []
        run = asyncio.ensure_future(c.run(MIX, rate=3 * RATE, n_queries=400, progress=False, on_result=ends.append))
        while (len(ends) < 10 or c.n_outstanding < 3) and not run.done():  # cancel with queries outstanding
            await asyncio.sleep(0.002)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert_nothing_left(c)
        kinds = Counter(r.kind for r in ends if isinstance(r, QueryFailed))
        served = sum(1 for r in ends if not isinstance(r, QueryFailed))
        assert kinds["cancelled"] >= 1
        # every query submitted before the cancellation ended, each once
        assert len({r.query_id for r in ends}) == len(ends)
        reply = await asyncio.wait_for(c.infer(batch_size=50), HANG_GUARD_S)  # the client still works
        assert reply.ok
    return Outcome(len(ends), served, kinds), {"cancelled"}


async def case_overload_is_bounded(p):
    async with ReplayPool(POOL4, RM2, model="rm2", time_scale=TS, seed=6) as live, make_client(live.pool, p, max_pending=12, deadline_s=0.05) as c:
        # 3x the rate on this pool; a deadline of 1 s profile time (~3x the QoS target)
        out = await drive(c, n=150, rate=3 * RATE, workload=Workload.deeprecsys())
        assert out.kinds["overloaded"] + out.kinds["deadline"] + out.kinds["shed"] > 0  # bounded, one way or another
        assert_nothing_left(c)
    return out, {"overloaded", "deadline"}


CASES = {
    "endpoint killed mid-run": case_endpoint_killed_mid_run,
    "only GPU killed mid-run": case_only_gpu_killed_mid_run,
    "always HTTP 500": case_always_500,
    "30% HTTP 503": case_30pct_503,
    "malformed JSON": case_malformed_json,
    "slow past the timeout": case_slow_past_timeout,
    "accepts, never answers": case_accepts_but_never_answers,
    "connection refused": case_connection_refused,
    "all down at start": case_all_down_at_start,
    "all die mid-run": case_all_die_mid_run,
    "recovery after outage": case_recovery_after_outage,
    "cancelled mid-run": case_cancelled_mid_run,
    "3x overload, bounded": case_overload_is_bounded,
}


@pytest.mark.parametrize("policy", _policies())
@pytest.mark.parametrize("case", list(CASES))
async def test_fault_matrix(case, policy):
    out, allowed = await CASES[case](policy)
    if _sheds(policy):
        allowed = allowed | {"shed"}
    assert out.served + out.failed == out.submitted
    assert set(out.kinds) <= allowed, f"{case} under {policy}: unexpected failure kinds {dict(out.kinds)}"


# ---------------------------------------------------------------------------- single defects
@pytest.mark.parametrize("policy", _policies())
async def test_a_batch_only_a_downed_type_serves_in_time_is_served_late_not_held(policy):
    """Defect 1 at start: the g4dn down, infer(batch_size=900) answers (from an r5n, late;
    a shedding policy may give it up as hopeless instead)."""
    async with ReplayPool(POOL4, RM2, model="rm2", time_scale=TS, seed=7) as live:
        await live["g4dn.xlarge-0"].kill()
        async with make_client(live.pool, policy, check_ready="any") as c:
            res = await asyncio.wait_for(c.submit(batch_size=900), HANG_GUARD_S)
            if _sheds(policy) and isinstance(res, QueryFailed):
                assert res.kind == "shed"
            else:
                assert res.ok and res.instance_type == "r5n.large"
            assert_nothing_left(c)


async def test_after_hold_fail_ends_a_stranded_query_as_unavailable():
    async with ReplayPool(POOL4, RM2, model="rm2", time_scale=TS, seed=8) as live:
        await live["g4dn.xlarge-0"].kill()
        async with make_client(live.pool, "kairos", check_ready="any", hold_s=0.05, after_hold="fail") as c:
            res = await asyncio.wait_for(c.submit(batch_size=900), HANG_GUARD_S)
            assert isinstance(res, QueryFailed) and res.kind == "unavailable"
            assert "Timeouts.hold_s" in res.reason and "g4dn.xlarge-0" in res.reason
            small = await asyncio.wait_for(c.infer(batch_size=10), HANG_GUARD_S)  # others still served
            assert small.ok
            assert_nothing_left(c)


if __name__ == "__main__":  # the counts shown in docs/reliability.md
    async def main() -> None:
        policies = _policies()
        print("| case | " + " | ".join(policies) + " |")
        print("|---|" + "---|" * len(policies))
        for name, case in CASES.items():
            cells = []
            for p in policies:
                out, _ = await case(p)
                fails = ", ".join(f"{k} {v}" for k, v in sorted(out.kinds.items()))
                cells.append(f"{out.served}/{out.submitted}" + (f" ({fails})" if fails else ""))
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)

    sys.exit(asyncio.run(main()))
