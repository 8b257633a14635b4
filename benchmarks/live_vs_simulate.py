"""Live vs simulated: the same planned pool, policy, rate and queries, run through the
discrete-event simulator and live against replay endpoints on loopback.

The pool is planned for rm2 (built-in profile, QoS 350 ms at p99) within a budget; the
offered rate is a fraction of the plan's predicted throughput. ``KairosClient.run`` draws
the very same batch sizes and arrival times as ``simulate`` for the same seed, so the two
runs see identical queries; only service-time draws (same distribution, different random
numbers) and the real HTTP/event-loop overheads differ. Printed side by side: QoS
attainment, throughput, p99 and mean latency, and their relative differences (target:
attainment and throughput within 10 %).

Run::

    python benchmarks/live_vs_simulate.py [--budget 1.0] [--fraction 0.8] \
        [--queries 800] [--time-scale 1.0] [--policy kairos] [--seeds 1]

``--policy`` takes any name of ``kairos_sdk.distribute.policy_names()``; ``kairos-shed`` is
``KairosPolicy(shed=True)``: the "shed" column counts the queries it gave
up (failed, and QoS misses) in each run.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from kairos_sdk import Profile, Workload, simulate
from kairos_sdk.client import KairosClient, OpenInferenceProtocol
from kairos_sdk.defaults import default_catalog
from kairos_sdk.distribute import policy_from_name, policy_names
from kairos_sdk.endpoints import serve_pool
from kairos_sdk.planner import Planner

MODEL, QOS_MS = "rm2", 350.0


async def live_run(pool, profile, workload, args, rate, seed):
    async with serve_pool(pool, profile, model=MODEL, time_scale=args.time_scale, seed=1000 + seed) as live, KairosClient(
        live, protocol=OpenInferenceProtocol(MODEL), policy=policy_from_name(args.policy), profile=profile,
        qos_ms=QOS_MS, time_scale=args.time_scale,
    ) as client:
        return await client.run(workload, rate=rate, n_queries=args.queries, seed=seed, progress=False)


def _rel(live: float, sim: float) -> str:
    """Relative difference, or n/a when a p99 is infinite (more than 1 % of queries shed)."""
    return f"{(live - sim) / sim:+.1%}" if np.isfinite(live) and np.isfinite(sim) else "n/a"


def row(name, r):
    return (f"{name:10s} {r.qos_attainment:10.2%} {r.throughput_qps:10.2f} {r.p99_ms:9.1f} "
            f"{np.nanmean(r.latencies_ms):9.1f} {r.n_failed:7d} {r.n_shed:6d}")


def main(args: argparse.Namespace) -> None:
    profile = Profile.builtin(MODEL)
    workload = Workload.deeprecsys()
    catalog = default_catalog().restrict(profile.instance_types)
    plan = Planner(profile, catalog, workload, qos_ms=QOS_MS).plan(budget=args.budget)
    pool = plan.pool()
    rate = round(args.fraction * plan.predicted_qps, 1)
    print(f"rm2, {pool!r}, planned {plan.predicted_qps:.1f} qps; offered {rate} qps ({args.fraction:.0%}), "
          f"{args.queries} queries, policy {args.policy}, time_scale {args.time_scale:g}")
    print(f"{'':10s} {'QoS att.':>10s} {'thr (qps)':>10s} {'p99 (ms)':>9s} {'mean (ms)':>9s} {'failed':>7s} {'shed':>6s}")
    d_att, d_thr = [], []
    for seed in range(args.seeds):
        t = time.perf_counter()
        live = asyncio.run(live_run(pool, profile, workload, args, rate, seed))
        wall = time.perf_counter() - t
        sim = simulate(pool, profile, workload, policy_from_name(args.policy), rate=rate, qos_ms=QOS_MS,
                       n_queries=args.queries, seed=seed)
        print(f"seed {seed} (live run took {wall:.1f} s wall)")
        print(row("simulated", sim))
        print(row("live", live))
        d_att.append(abs(live.qos_attainment - sim.qos_attainment) / sim.qos_attainment)
        d_thr.append(abs(live.throughput_qps - sim.throughput_qps) / sim.throughput_qps)
        print(f"{'rel. diff':10s} {d_att[-1]:10.2%} {d_thr[-1]:10.2%} "
              f"{_rel(live.p99_ms, sim.p99_ms):>9s} "
              f"{(np.nanmean(live.latencies_ms) - np.nanmean(sim.latencies_ms)) / np.nanmean(sim.latencies_ms):+9.1%}")
    ok = max(d_att) <= 0.10 and max(d_thr) <= 0.10
    print(f"\nlargest relative difference: QoS attainment {max(d_att):.2%}, throughput {max(d_thr):.2%} "
          f"-> {'within' if ok else 'OUTSIDE'} the 10% target")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=1.0)
    ap.add_argument("--fraction", type=float, default=0.8)
    ap.add_argument("--queries", type=int, default=800)
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--policy", choices=policy_names(), default="kairos")
    ap.add_argument("--seeds", type=int, default=1)
    main(ap.parse_args())
