"""Serving every query vs shedding the ones that can no longer meet QoS, side by side.

For each model's planned pool (2.5 USD/h, the paper's p99 targets) this runs KairosPolicy
twice on the same queries (common random numbers) at several shares of the pool's fluid
bound — below it, at it and beyond it — once serving every query (the default) and once
with ``shed=True``. It prints QoS attainment (a shed query counts as a miss), the share of
queries shed, and the p99 and largest latency of the queries *served*.

    python benchmarks/shedding.py                       # dien, 0.9/1.0/1.1 x fluid (~20 s)
    python benchmarks/shedding.py --models ncf dien --shares 0.85 0.95 1.2

Needs the shared data ($KAIROS_DATA or ../shared/data/kairos_aws).
"""

from __future__ import annotations

import argparse

import numpy as np
from _paper_setting import planned_models

from kairos_sdk import Workload, simulate
from kairos_sdk.distribute import KairosPolicy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="*", default=["dien"])
    ap.add_argument("--shares", nargs="*", type=float, default=[0.9, 1.0, 1.1], help="rates as shares of the fluid bound")
    ap.add_argument("--queries", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    wl = Workload.deeprecsys()
    setting = planned_models(args.models, wl)
    print(f"{args.queries} queries, seed {args.seed}; attainment counts shed queries as misses; "
          "p99 / max over the queries served\n")
    hdr = (f"{'model':6} {'rate':>8} {'x fluid':>7} | {'serve all: attain':>17} {'p99':>9} {'max':>9} | "
           f"{'shed: attain':>12} {'shed':>6} {'p99':>7} {'max':>7}")
    print(hdr)
    print("-" * len(hdr))
    for m in setting:
        for share in args.shares:
            rate = share * m.fluid_qps
            out = []
            for pol in (KairosPolicy(), KairosPolicy(shed=True)):
                r = simulate(m.plan.pool(), m.profile, wl, pol, rate=rate, qos_ms=m.qos_ms, n_queries=args.queries,
                             seed=args.seed, plan=m.plan)
                lat = r.latencies_ms[r.instance >= 0]
                out.append((r.qos_attainment, r.n_shed / r.n_queries, np.percentile(lat, 99), lat.max()))
            (a0, _, p0, m0), (a1, s1, p1, m1) = out
            print(f"{m.model:6} {rate:>8.1f} {share:>7.2f} | {a0:>17.4f} {p0:>7.1f}ms {m0:>7.0f}ms | "
                  f"{a1:>12.4f} {s1:>6.2%} {p1:>5.1f}ms {m1:>5.1f}ms", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
