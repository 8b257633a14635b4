"""How honest is ``Plan.predicted_qps``? The planner's prediction against the allowable
throughput the discrete-event simulator measures (KairosPolicy, Poisson arrivals, p99 within
the QoS target), on the KAIROS data, for many pools per model.

The pools: the planner's plan at several budgets, the paper allocator's picks, the best
homogeneous pool, and a few mixed pools the planner would not pick (held out from the
fit of the headroom defaults, which used the 2.5 USD/h plans, the paper's picks, 4 x g4dn,
1 g4dn + 4 r5n and 1 g4dn + 6 r5n).

    python benchmarks/planner_calibration.py            # validate the defaults
    python benchmarks/planner_calibration.py --fit      # also grid-search rho_max/reserve
    python benchmarks/planner_calibration.py --models rm2 --seeds 1 --queries 5000  # quick

Needs the shared data ($KAIROS_DATA or ../shared/data/kairos_aws). Takes ~10 min on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from kairos_sdk import Catalog, Headroom, Planner, Profile, Workload, allowable_throughput
from kairos_sdk.datadir import find_data_dir
from kairos_sdk.distribute import KairosPolicy

QOS_MS = {"ncf": 5.0, "rm2": 350.0, "wnd": 25.0, "mtwnd": 25.0, "dien": 35.0}
CAPS = {"g4dn.xlarge": 5, "c5n.2xlarge": 6, "r5n.large": 17, "t3.xlarge": 15}
PRICES = {"g4dn.xlarge": 0.526, "c5n.2xlarge": 0.432, "r5n.large": 0.149, "t3.xlarge": 0.1664}
FIXED = [
    {"g4dn.xlarge": 1, "r5n.large": 13},
    {"g4dn.xlarge": 2, "r5n.large": 9},
    {"g4dn.xlarge": 4},
    {"g4dn.xlarge": 1, "r5n.large": 4},
    {"g4dn.xlarge": 1, "r5n.large": 6},
    {"g4dn.xlarge": 2, "c5n.2xlarge": 2, "r5n.large": 3},
    {"g4dn.xlarge": 3, "t3.xlarge": 4},
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=list(QOS_MS))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--queries", type=int, default=20_000)
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--refit", metavar="OUTPUT", help="only re-fit on the table printed by an earlier run")
    args = ap.parse_args()
    d = find_data_dir()
    if d is None:
        raise SystemExit("shared data not found: set KAIROS_DATA or place it at ../shared/data/kairos_aws")
    if args.refit:
        fit(rows_from_output(args.refit), Catalog.from_prices(PRICES, caps=CAPS), Workload.deeprecsys(), d)
        return
    cat = Catalog.from_prices(PRICES, caps=CAPS)
    wl = Workload.deeprecsys()
    rows = []
    print(f"{'model':6} {'pool':44} {'fluid':>8} {'pred':>8} {'sim':>8} {'pred/sim':>8}")
    for model in args.models:
        prof = Profile.from_csv(d / "latency.csv.gz", model=model, drop_outliers=True)
        planner = Planner(prof, cat, wl, qos_ms=QOS_MS[model])
        pools = [planner.plan(budget=b).counts for b in (1.5, 2.5, 4.0)] + FIXED
        seen: list[dict] = []
        for counts in pools:
            if counts in seen:
                continue
            seen.append(counts)
            ev = planner.evaluate(counts)
            t0 = time.perf_counter()
            sim = float(allowable_throughput(ev.pool(), prof, wl, KairosPolicy(), qos_ms=QOS_MS[model],
                                             n_seeds=args.seeds, n_queries=args.queries))
            rows.append((model, counts, ev.fluid_qps, ev.predicted_qps, sim))
            desc = " + ".join(f"{n} {t.split('.')[0]}" for t, n in counts.items())
            print(f"{model:6} {desc:44} {ev.fluid_qps:8.1f} {ev.predicted_qps:8.1f} {sim:8.1f} "
                  f"{ev.predicted_qps / sim:8.3f}   ({time.perf_counter() - t0:.0f} s)", flush=True)
    err = np.array([p / s - 1 for *_, p, s in rows])
    print(f"\n{len(rows)} pools: |pred/sim - 1| max {np.abs(err).max():.3f}, mean {np.abs(err).mean():.3f}, "
          f"within 15%: {np.mean(np.abs(err) <= 0.15):.0%}; sim/fluid from {min(s / f for _, _, f, _, s in rows):.2f} "
          f"to {max(s / f for _, _, f, _, s in rows):.2f}")
    if args.fit:
        fit(rows, cat, wl, d)


def rows_from_output(path: str):
    """Re-read the pools and simulated figures printed by an earlier run (to re-fit fast)."""
    import re

    rows = []
    for line in Path(path).read_text().splitlines():
        m = re.match(r"(\w+)\s+(.+?)\s{2,}([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+\(", line)
        if m and m.group(1) in QOS_MS:
            counts = {}
            for part in m.group(2).split(" + "):
                k, short = part.split()
                counts[next(t for t in PRICES if t.startswith(short + "."))] = int(k)
            rows.append((m.group(1), counts, float(m.group(3)), float(m.group(4)), float(m.group(5))))
    return rows


def fit(rows, cat, wl, d) -> None:
    """Grid-search the two headroom constants on the measured pools."""
    planners = {}
    best = []
    for rho in (0.85, 0.88, 0.9, 0.92, 0.95, 1.0):
        for reserve in np.arange(0.0, 0.41, 0.025):
            h = Headroom(rho_max=rho, reserve=float(reserve))
            errs = []
            for model, counts, _, _, sim in rows:
                key = (model, rho, reserve)
                if key not in planners:
                    prof = planners.get(model) or Profile.from_csv(d / "latency.csv.gz", model=model, drop_outliers=True)
                    planners[model] = prof
                    planners[key] = Planner(prof, cat, wl, qos_ms=QOS_MS[model], headroom=h)
                errs.append(planners[key].predicted_qps(counts) / sim - 1)
            e = np.abs(errs)
            best.append((-np.mean(e <= 0.15), e.mean(), rho, float(reserve)))
    best.sort()
    print("\nbest (share within 15%, mean |err|, rho_max, reserve):")
    for b in best[:5]:
        print(f"  {-b[0]:.0%} {b[1]:.3f} rho_max={b[2]:g} reserve={b[3]:.3f}")


if __name__ == "__main__":
    main()
