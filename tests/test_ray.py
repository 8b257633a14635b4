"""A plan on a real local Ray cluster, routed by KairosRequestRouter.

One module-scoped cluster: a head node plus two nodes standing for instance types ("gpu"
with one replica slot, "cpu" with two), one ReplayModel deployment of 1 + 2 replicas. The
profile is deterministic (one sample per point), so which type may serve a batch size
within QoS is plain: ``gpu`` serves both sizes, ``cpu`` only the small one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="needs the [ray] extra: pip install 'kairos-sdk[ray]'")

from kairos_sdk import Profile  # noqa: E402
from kairos_sdk.errors import EndpointError  # noqa: E402

pytestmark = pytest.mark.ray

QOS_MS = 60.0
SMALL, LARGE = 10, 100
PROFILE = Profile.from_dict({"gpu": {SMALL: [30.0], LARGE: [32.0]}, "cpu": {SMALL: [8.0], LARGE: [100.0]}})
COUNTS = {"gpu": 1, "cpu": 2}


def _eligible(batch: int) -> set[str]:
    """Types whose (deterministic) latency for ``batch`` fits the QoS target."""
    return {t for t in PROFILE.instance_types if float(PROFILE.latency(t, batch, q=1.0)) <= QOS_MS}


@pytest.fixture(scope="module")
def app():
    from ray import serve

    from kairos_sdk.ray import ReplayModel, deploy
    from kairos_sdk.ray.local import local_cluster

    with local_cluster(COUNTS, cpus_per_node=1.0):
        handle = deploy(COUNTS, PROFILE, ReplayModel, name="replay", qos_ms=QOS_MS, num_cpus=0.01)
        yield handle
        serve.delete("replay")


def _router(handle):
    """The handle's router (created by Ray Serve on the first request)."""
    from kairos_sdk.ray import KairosRequestRouter

    if not KairosRequestRouter.live():
        asyncio.run(_send(handle, [SMALL], gap_s=0.0))
    live = KairosRequestRouter.live()
    assert len(live) == 1, f"expected the one router of this test's handle, found {len(live)}"
    return live[0]


async def _send(handle, batches, *, gap_s: float, seed: int = 0, **kw):
    """Send one request per batch size with exponential gaps; return answers and errors."""
    from kairos_sdk.ray import infer

    rng = np.random.default_rng(seed)
    tasks = []
    for b in batches:
        tasks.append(asyncio.ensure_future(infer(handle, batch_size=int(b), **kw)))
        await asyncio.sleep(float(rng.exponential(gap_s)))
    return await asyncio.gather(*tasks, return_exceptions=True)


def _wait_idle(router, timeout_s: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout_s
    snap = router.snapshot()
    while time.monotonic() < deadline and (snap["in_flight"] or snap["waiting"] or snap["out_of_rotation"]):
        time.sleep(0.05)
        snap = router.snapshot()
    return snap


def test_batches_reach_only_eligible_types_and_all_are_answered(app):
    assert _eligible(LARGE) == {"gpu"} and _eligible(SMALL) == {"gpu", "cpu"}
    rng = np.random.default_rng(1)
    batches = rng.choice([SMALL, LARGE], size=120, p=[0.7, 0.3])
    out = asyncio.run(_send(app, batches, gap_s=0.012))
    errors = [r for r in out if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    assert len(out) == len(batches)
    assert [r["batch_size"] for r in out] == batches.tolist()
    for r in out:
        assert r["instance_type"] in _eligible(r["batch_size"]), r
    by_type = Counter(r["instance_type"] for r in out)
    assert by_type["cpu"] > 0 and by_type["gpu"] > 0  # both types take work
    assert len({r["replica"] for r in out if r["instance_type"] == "cpu"}) == 2


def test_router_view_returns_to_zero(app):
    out = asyncio.run(_send(app, [SMALL, LARGE] * 20, gap_s=0.0))  # a burst: requests wait in the router
    assert not [r for r in out if isinstance(r, BaseException)]
    router = _router(app)
    snap = _wait_idle(router)
    assert snap["in_flight"] == 0 and snap["waiting"] == 0 and snap["out_of_rotation"] == 0, snap
    assert set(snap["replicas"].values()) == {"gpu", "cpu"}
    assert sum(snap["routed_by_type"].values()) >= 40


@pytest.mark.parametrize("ray_cache", ["fresh", "stale"])
def test_a_replica_another_handle_occupies_is_probed_and_comes_back(app, ray_cache):
    """Another process's handle (its own router) keeps the one gpu replica busy with large
    batches; this router's large batches are rejected there (Ray's queue-length cache is
    fresh and says the replica is free) or found full by Ray's own probe (the cache entry
    is stale: the request comes back to be routed again); either way the replica leaves
    the rotation, is probed, comes back and serves them: none lost, none on the cpu type."""
    import ray

    router = _router(app)
    before = router.snapshot()
    cache = router.replica_queue_len_cache
    staleness_s = cache._staleness_timeout_s
    if ray_cache == "stale":
        cache._staleness_timeout_s = 0.0  # every entry stale: Ray probes before each send

    @ray.remote(num_cpus=0)
    class Other:
        async def begin(self, n: int, batch: int) -> None:
            """Send ``n`` requests at once; return when the first is answered (the rest
            then hold the gpu back to back)."""
            from ray import serve

            h = serve.get_deployment_handle("replay", app_name="replay")
            self.sent = [asyncio.ensure_future(h.remote(None, batch_size=batch)) for _ in range(n)]
            await asyncio.wait(self.sent, return_when=asyncio.FIRST_COMPLETED)

        async def finish(self) -> list[str]:
            return [r["instance_type"] for r in await asyncio.gather(*self.sent)]

    other = Other.remote()
    ray.get(other.begin.remote(1, SMALL))  # its router is up before the contention starts
    ray.get(other.finish.remote())

    async def run():
        await asyncio.wrap_future(other.begin.remote(40, LARGE).future())  # the gpu is theirs now
        ours = await _send(app, [LARGE] * 30, gap_s=0.01, seed=3, timeout_s=60.0)
        return ours, await asyncio.wrap_future(other.finish.remote().future())

    try:
        ours, theirs = asyncio.run(run())
    finally:
        cache._staleness_timeout_s = staleness_s
    assert not [r for r in ours if isinstance(r, BaseException)], ours[:3]
    assert len(ours) == 30 and {r["instance_type"] for r in ours} == {"gpu"}
    assert set(theirs) == {"gpu"} and len(theirs) == 40
    snap = _wait_idle(router)
    assert snap["taken_out"] > before["taken_out"], snap  # the gpu was seen occupied ...
    assert snap["probes"] > before["probes"], snap        # ... and probed back into rotation
    assert snap["in_flight"] == 0 and snap["waiting"] == 0 and snap["out_of_rotation"] == 0, snap
    ray.kill(other)


def test_killing_a_replica_mid_run_loses_no_request(app):
    import ray

    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
             if a["name"].startswith("SERVE_REPLICA::") and "replay" in a["name"]]
    assert len(names) == 3

    # a cpu replica: the gpu one stays, so the large batches keep an eligible replica (with
    # none left, the policy lets any type take them rather than strand them)
    types = _router(app).snapshot()["replicas"]
    victim = next(n for n in names if types.get(n.rsplit("#", 1)[-1]) == "cpu")

    async def run():
        batches = [SMALL, LARGE, SMALL] * 30
        sending = asyncio.ensure_future(_send(app, batches, gap_s=0.01, seed=2, attempts=4, timeout_s=60.0))
        await asyncio.sleep(0.3)  # mid-run: requests are in flight on every replica
        ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
        return batches, await sending

    batches, out = asyncio.run(run())
    assert len(out) == len(batches)
    answered = [r for r in out if not isinstance(r, BaseException)]
    failed = [r for r in out if isinstance(r, BaseException)]
    # no request is lost: each one is answered, or fails with the SDK's clear error
    assert all(isinstance(e, EndpointError) for e in failed), failed[:3]
    assert len(answered) >= 0.95 * len(batches)
    assert any(r["replica"] == victim.rsplit("#", 1)[-1] for r in answered)  # it died mid-run
    for r in answered:
        assert r["instance_type"] in _eligible(r["batch_size"])
    snap = _wait_idle(_router(app))
    assert snap["in_flight"] == 0 and snap["waiting"] == 0, snap
