"""Drive live endpoints: plan a pool, start replay endpoints for it, run Poisson load through
the async client, and compare with the simulator on the very same queries.

    python examples/drive_endpoints.py [--model rm2] [--budget 1.0] [--pool g4dn.xlarge=1,r5n.large=2]
                                       [--fraction 0.7] [--queries 400] [--time-scale 0.5]

Replay endpoints are aiohttp servers on 127.0.0.1 that answer the Open Inference Protocol
with the profile's latencies (one request at a time, like a single-worker server). Point the
same client at real servers (MLServer, KServe, Triton...) by giving the pool their URLs:
``pool.with_endpoints(["http://10.0.0.5:8080", ...])``.

``--time-scale 0.5`` replays the profile twice as fast as real time (latencies are reported
in profile milliseconds); ``KAIROS_EXAMPLE_FAST=1`` makes the run short.
"""

from __future__ import annotations

import argparse
import asyncio
import os

import kairos_sdk as ks
from kairos_sdk.client import KairosClient, OpenInferenceProtocol
from kairos_sdk.defaults import PAPER_QOS_MS, default_catalog
from kairos_sdk.distribute import KairosPolicy
from kairos_sdk.endpoints import serve_pool
from kairos_sdk.planner import Planner


def parse_counts(text: str) -> dict[str, int]:
    counts = {}
    for part in text.split(","):
        name, _, n = part.partition("=")
        counts[name.strip()] = int(n or 1)
    return counts


async def drive(pool: ks.Pool, profile: ks.Profile, workload: ks.Workload, *, model: str, qos_ms: float,
                rate: float, n_queries: int, time_scale: float) -> ks.RunResult:
    async with serve_pool(pool, profile, model=model, time_scale=time_scale, seed=1) as live:
        for inst in live:
            print(f"  {inst.id:16s} {inst.endpoint}")
        async with KairosClient(live, protocol=OpenInferenceProtocol(model), policy=KairosPolicy(),
                                profile=profile, qos_ms=qos_ms, time_scale=time_scale) as client:
            reply = await client.infer(batch_size=200)  # one query first
            print(f"one query: {reply}")
            return await client.run(workload, rate=rate, n_queries=n_queries, seed=0)


def main() -> None:
    fast = os.environ.get("KAIROS_EXAMPLE_FAST") == "1"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="rm2", choices=ks.Profile.builtin_models())
    ap.add_argument("--budget", type=float, default=1.0, help="USD/hour for the planned pool")
    ap.add_argument("--pool", help="a fixed pool instead of a planned one, e.g. g4dn.xlarge=1,r5n.large=2")
    ap.add_argument("--fraction", type=float, default=0.7, help="offered rate as a share of the pool's planned qps")
    ap.add_argument("--queries", type=int, default=120 if fast else 400)
    ap.add_argument("--time-scale", type=float, default=0.25 if fast else 0.5)
    args = ap.parse_args()

    profile = ks.Profile.builtin(args.model)
    qos_ms = PAPER_QOS_MS[args.model]
    workload = ks.Workload.deeprecsys()
    catalog = default_catalog().restrict(profile.instance_types)
    planner = Planner(profile, catalog, workload, qos_ms=qos_ms)
    if args.pool:
        pool = ks.Pool.from_counts(parse_counts(args.pool), catalog)
        capacity = ks.allowable_throughput(pool, profile, workload, qos_ms=qos_ms, n_queries=4000, seed=0).qps
    else:
        plan = planner.plan(budget=args.budget)
        pool, capacity = plan.pool(), plan.predicted_qps
    rate = round(args.fraction * capacity, 1)
    print(f"{args.model}: {pool!r}, capacity ~{capacity:.1f} qps; offering {rate} qps, QoS {qos_ms:g} ms at p99")

    live = asyncio.run(drive(pool, profile, workload, model=args.model, qos_ms=qos_ms, rate=rate,
                             n_queries=args.queries, time_scale=args.time_scale))
    sim = ks.simulate(pool, profile, workload, KairosPolicy(), rate=rate, qos_ms=qos_ms,
                      n_queries=args.queries, seed=0)
    print()
    for r in (sim, live):
        print(r)
    print(f"served per instance (live): {live.counts_by_instance}")
    if live.n_failed:
        print("failures:", live.failures[:3])


if __name__ == "__main__":
    main()
