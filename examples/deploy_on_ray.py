"""Deploy a planned pool on Ray Serve, routed by KAIROS, on a local Ray cluster.

Plans rm2 at 1 USD/h, starts a local Ray cluster whose nodes stand for the planned instance
types (one node per type, one replica slot per planned instance), deploys the plan as one
Serve application of ReplayModel replicas behind KairosRequestRouter, sends a seeded
Poisson load of DeepRecSys batch sizes and prints the share of queries (and of each batch
range) routed to each type. On a real cluster, start it from ``to_ray_cluster(plan)`` and
call ``deploy`` the same way.

Needs the [ray] extra (pip install "kairos-sdk[ray]").
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter

import numpy as np

from kairos_sdk import Planner, Profile, Workload, defaults

try:
    from kairos_sdk.ray import ReplayModel, deploy, infer, to_ray_cluster
    from kairos_sdk.ray.local import local_cluster
except ImportError as exc:  # the optional extra is missing: say so and stop cleanly
    print(f"this example needs Ray Serve: {exc}")
    sys.exit(0)

FAST = bool(os.environ.get("KAIROS_EXAMPLE_FAST"))
QOS_MS = 350.0
N = 200 if FAST else 1000


async def load(handle, workload: Workload, rate_qps: float, n: int) -> list[dict]:
    rng = np.random.default_rng(0)
    batches = workload.sample_batches(n, rng)
    tasks = []
    for b in batches:
        tasks.append(asyncio.ensure_future(infer(handle, batch_size=int(b))))
        await asyncio.sleep(float(rng.exponential(1.0 / rate_qps)))
    return await asyncio.gather(*tasks)


def main() -> None:
    profile = Profile.builtin("rm2")
    workload = Workload.deeprecsys()
    catalog = defaults.default_catalog().restrict(["g4dn.xlarge", "r5n.large"])
    plan = Planner(profile, catalog, workload, qos_ms=QOS_MS).plan(budget=1.0)
    print(f"plan: {plan.describe()} at {plan.cost_per_hour:.3f} USD/h, predicted {plan.predicted_qps:.1f} qps")
    print(f"its cluster: {to_ray_cluster(plan)!r}")
    counts = {t: n for t, n in plan.counts.items() if n}
    with local_cluster(counts):
        handle = deploy(plan, profile, ReplayModel, name="rm2", qos_ms=QOS_MS, num_cpus=0.01, workload=workload)
        rate = 0.5 * plan.predicted_qps
        replies = asyncio.run(load(handle, workload, rate, N))
    by_type = Counter(r["instance_type"] for r in replies)
    print(f"\n{len(replies)} queries at {rate:.1f} qps, all answered; routed share per type:")
    for t, n in sorted(by_type.items()):
        print(f"  {t:<12} {n:5d}  {n / len(replies):6.1%}  ({counts[t]} replicas)")
    print("by batch size:")
    for lo, hi in ((0, 100), (100, 400), (400, 1000)):
        sel = [r for r in replies if lo < r["batch_size"] <= hi]
        if sel:
            share = ", ".join(f"{t} {n / len(sel):.0%}" for t, n in sorted(Counter(r["instance_type"] for r in sel).items()))
            print(f"  ({lo:>3}, {hi:>4}]: {len(sel):4d} queries: {share}")


if __name__ == "__main__":
    main()
