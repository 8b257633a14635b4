"""What k routers cost: allowable throughput of one planned pool routed by k independent
routers, as a ratio to one router (kairos_sdk.scaleout, no Ray needed).

For each model, the pool planned at ``--scale`` times the paper's budget (caps scaled alike,
so 10x is ~140 instances and 50x ~700), and for k = 1, 2, 4, 8, 16 routers:

* ``random/pushed`` — arrivals split at random; each router sees every instance, knows its
  own work and what rejections tell it (what KairosRequestRouter has on Ray Serve);
* ``random/probed`` — the same, but an instance that turned a router away is probed for its
  queue length (``RunningReplica.get_queue_len``) every ``probe_ms`` (default: a quarter of the
  type's quickest mean service time) and back in rotation as soon as it is free;
* ``random/global`` — the same split, every router seeing the true state (an upper bound
  for any split: what probing every replica at every decision would give);
* ``partition`` — each router owns a disjoint share of the instances.

It prints the allowable throughput (qps) of each, its ratio to k = 1, the dispatch CPU per
query (µs, all routers' dispatchers together, at the k = 1 allowable rate), rejections and
probes per query at that rate (a probe is one RPC on Ray Serve).

    python benchmarks/scale_out.py --scale 10 --models ncf rm2 wnd mtwnd dien
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kairos_sdk import Catalog, Planner, Profile, Workload
from kairos_sdk.datadir import find_data_dir
from kairos_sdk.defaults import (
    PAPER_BUDGET_PER_HOUR,
    PAPER_CAPS,
    PAPER_PRICES_PER_HOUR,
    PAPER_QOS_MS,
)
from kairos_sdk.scaleout import routers_throughput, simulate_routers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["ncf", "rm2", "wnd", "mtwnd", "dien"])
    ap.add_argument("--scale", type=float, nargs="+", default=[10.0])
    ap.add_argument("--routers", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--variants", nargs="+", default=["random/pushed", "random/probed", "random/global",
                                                             "partition/pushed"])
    ap.add_argument("--n-queries", type=int, default=20_000)
    ap.add_argument("--rel-tol", type=float, default=0.02)
    ap.add_argument("--probe-ms", type=float, default=None, help="probe period (default: per type, see above)")
    ap.add_argument("--probe-rtt-ms", type=float, default=0.0)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    d = find_data_dir()
    if d is None:
        print("shared data not found: set KAIROS_DATA or place it at ../shared/data/kairos_aws", file=sys.stderr)
        return 2
    wl = Workload.deeprecsys()
    variants = [tuple(v.split("/")) for v in args.variants]
    rows = []
    for scale in args.scale:
        cat = Catalog.from_prices(PAPER_PRICES_PER_HOUR, caps={t: int(c * scale) for t, c in PAPER_CAPS.items()})
        for model in args.models:
            qos = PAPER_QOS_MS[model]
            prof = Profile.from_csv(d / "latency.csv.gz", model=model, drop_outliers=True)
            plan = Planner(prof, cat, wl, qos_ms=qos).plan(budget=PAPER_BUDGET_PER_HOUR * scale)
            counts = {t: n for t, n in plan.counts.items() if n}
            n_inst = sum(counts.values())
            print(f"\n{model} x{scale:g} budget ({plan.cost_per_hour:.2f} USD/h): "
                  f"{', '.join(f'{n} {t}' for t, n in counts.items())} = {n_inst} instances, QoS {qos:g} ms", flush=True)
            base = None
            print(f"{'k':>3} {'variant':<17} {'qps':>9} {'ratio':>6} {'us/query':>9} {'rej/q':>6} {'probes/q':>8} {'s':>6}")
            for k in args.routers:
                for split, view in variants:
                    if k == 1 and (split, view) != variants[0]:
                        continue  # one router: every variant is the same run
                    t0 = time.perf_counter()
                    probe = dict(probe_ms=args.probe_ms, probe_rtt_ms=args.probe_rtt_ms)
                    try:
                        res = routers_throughput(counts, prof, wl, qos_ms=qos, routers=k, split=split, view=view, **probe,
                                                 n_queries=args.n_queries, rel_tol=args.rel_tol, plan=plan,
                                                 start_qps=base or plan.predicted_qps)
                        qps = float(res)
                    except Exception as exc:  # e.g. a partition with fewer instances than routers
                        print(f"{k:>3} {split + '/' + view:<17} skipped: {exc}")
                        continue
                    if k == 1:
                        base = qps
                    at = base if base else qps
                    r = simulate_routers(counts, prof, wl, rate=at, qos_ms=qos, routers=k, split=split, view=view,
                                         n_queries=min(args.n_queries, 10_000), plan=plan, **probe)
                    nq = r.n_queries
                    secs = time.perf_counter() - t0
                    ratio = qps / base if base else float("nan")
                    print(f"{k:>3} {split + '/' + view:<17} {qps:9.1f} {ratio:6.3f} "
                          f"{r.extra['dispatch_us_per_query']:9.1f} {r.extra['rejections'] / nq:6.2f} "
                          f"{r.extra['probes'] / nq:8.2f} {secs:6.0f}", flush=True)
                    rows.append({"model": model, "scale": scale, "instances": n_inst, "routers": k, "split": split,
                                 "view": view, "qps": qps, "ratio": ratio,
                                 "dispatch_us_per_query": r.extra["dispatch_us_per_query"],
                                 "rejections_per_query": r.extra["rejections"] / nq,
                                 "probes_per_query": r.extra["probes"] / nq, "seconds": secs})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
