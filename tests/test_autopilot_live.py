"""The same Autopilot against the live client on replay endpoints (time-scaled)."""

from __future__ import annotations

import asyncio

from kairos_sdk import Catalog, Planner, Pool, Profile, Workload
from kairos_sdk.adapt import Autopilot, CallbackActuator
from kairos_sdk.client import KairosClient, OpenInferenceProtocol
from kairos_sdk.client.autopilot import LiveObserver, run_autopilot
from kairos_sdk.endpoints import serve_pool

SCALE = 0.5  # twice as fast as profile time (gentle: the replay servers share the test's cores)


async def test_autopilot_scales_up_when_the_live_load_steps_up():
    profile = Profile.builtin("rm2")
    cat = Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149})
    planner = Planner(profile.restrict(cat.names), cat, Workload.deeprecsys(), qos_ms=350)
    ap = Autopilot(planner, dwell_s=4.0, scale_down_dwell_s=60.0, rate_window_s=4.0, learn=False)
    ap.reset(ap.plan_for(3.0).counts)
    start = dict(ap.counts)
    decisions = []
    pool = Pool.from_counts({"g4dn.xlarge": 2, "r5n.large": 8})
    async with (serve_pool(pool, profile, model="rm2", time_scale=SCALE) as live,
                KairosClient(live, protocol=OpenInferenceProtocol("rm2"), profile=profile, qos_ms=350,
                             time_scale=SCALE) as client):
        observer = LiveObserver(time_scale=SCALE, pool={"g4dn.xlarge": 2, "r5n.large": 8})
        stop = asyncio.Event()
        loop = asyncio.create_task(run_autopilot(ap, observer, CallbackActuator(decisions.append),
                                                 every_s=2.0 * SCALE, stop=stop))
        low = await client.run(Workload.deeprecsys(), rate=3.0, duration_s=10.0, on_result=observer, progress=False)
        high = await client.run(Workload.deeprecsys(), rate=12.0, duration_s=20.0, on_result=observer,
                                progress=False)
        stop.set()
        made = await loop
    assert made == decisions
    assert low.n_failed == 0 and high.n_failed == 0
    assert any(d.reason == "load up" for d in decisions), decisions
    # the pool it ends with carries the new rate with headroom; the one it started with did not
    assert planner.predicted_qps(ap.counts) >= 12.0 * ap.headroom > planner.predicted_qps(start)
