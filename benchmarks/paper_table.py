"""The KAIROS paper's evaluation, side by side in one run, on the shared measurements.

For each of the five models at 2.5 USD/h with the paper's QoS targets (p99 of queueing +
service within ncf 5, rm2 350, wnd 25, mtwnd 25, dien 35 ms), allowable throughput
(highest Poisson rate meeting QoS; 20,000 queries per trial, mean of 3 seeds, 1 % bisection):

* homogeneous — the best single-type pool (as many instances as budget and caps allow),
  under its best policy (FCFS or KairosPolicy);
* paper — the paper's allocator (``paper_upper_bound`` on the authors' own
  ``allocator_profile.json`` figures) with the paper's distributor (``PaperPolicy``);
* kairos_sdk — ``Planner.plan(budget=2.5)`` with ``KairosPolicy`` (serves every query);
* +shed — the same plan with ``KairosPolicy(shed=True)``, which gives up (and reports as
  failed) the queries it could only serve late; a shed query counts as a miss;
* oracle — the best allowable throughput (KairosPolicy) over every configuration within
  budget, searched in descending order of its fluid bound until the bound falls below the
  best found. The search never looks at kairos_sdk's plan or result: the planner's
  configuration is measured like any other when its turn comes. To keep it affordable a
  configuration is first screened with one run of seed 0 at ``1 - SCREEN_MARGIN`` of the best
  mean so far (a margin wider than the 1-4 % seed-to-seed spread) and, if it passes, measured
  in full (all seeds) and kept when its mean is higher. kairos/oracle can exceed 1 (the
  oracle gives the policy no plan; seeds and bisection are noisy to about 1-2 %);
* fluid — the fluid upper bound of the best configuration (the largest over all
  configurations within budget): the queueing-free physical limit for this budget.

    python benchmarks/paper_table.py            # full (~15-25 min on 2 shared cores)
    python benchmarks/paper_table.py --quick    # CI smoke: fewer queries, 1 seed, 3 % (~1 min)
    python benchmarks/paper_table.py --models rm2 dien

Needs the shared data ($KAIROS_DATA or ../shared/data/kairos_aws).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from kairos_sdk import Catalog, Planner, Profile, Workload, allowable_throughput
from kairos_sdk.baselines import enumerate_configs, paper_upper_bound
from kairos_sdk.datadir import find_data_dir
from kairos_sdk.distribute import FCFSPolicy, KairosPolicy, PaperPolicy

QOS_MS = {"ncf": 5.0, "rm2": 350.0, "wnd": 25.0, "mtwnd": 25.0, "dien": 35.0}
CAPS = {"g4dn.xlarge": 5, "c5n.2xlarge": 6, "r5n.large": 17, "t3.xlarge": 15}
PRICES = {"g4dn.xlarge": 0.526, "c5n.2xlarge": 0.432, "r5n.large": 0.149, "t3.xlarge": 0.1664}
BUDGET = 2.5
# The oracle screens a configuration on seed 0 at this fraction below the best mean so far:
# wider than the seed-to-seed spread, so a configuration better on average is not dropped
# for one unlucky seed.
SCREEN_MARGIN = 0.05
# The independent figures (Poisson arrivals, p99 within QoS, 20,000 queries, mean of 3
# seeds): best homogeneous (4 x g4dn) qps, the paper's method qps, fluid bound of that config.
INDEPENDENT = {
    "ncf": (2900, 5970, 7444),
    "rm2": (49, 128, 144),
    "wnd": (880, 1400, 1606),
    "mtwnd": (545, 920, 1111),
    "dien": (335, 610, 756),
}
SHORT = {"g4dn.xlarge": "g4dn", "c5n.2xlarge": "c5n", "r5n.large": "r5n", "t3.xlarge": "t3"}


def cfg(counts: dict[str, int]) -> str:
    return "+".join(f"{n}{SHORT.get(t, t)}" for t, n in counts.items() if n) or "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="*", default=list(QOS_MS))
    ap.add_argument("--quick", action="store_true", help="4,000 queries, 1 seed, 3 %% precision, small oracle")
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    d = find_data_dir()
    if d is None:
        print("shared data not found: set KAIROS_DATA or place it at ../shared/data/kairos_aws", file=sys.stderr)
        return 2
    n_q = args.queries or (4_000 if args.quick else 20_000)
    n_s = args.seeds or (1 if args.quick else 3)
    tol = 0.03 if args.quick else 0.01
    max_oracle = 2 if args.quick else 10_000
    figures_all = json.loads((d / "allocator_profile.json").read_text())
    cat = Catalog.from_prices(PRICES, caps=CAPS)
    wl = Workload.deeprecsys()
    t_all = time.perf_counter()
    print(f"KAIROS evaluation at ${BUDGET}/h: {n_q} queries per trial, mean of {n_s} seed(s), "
          f"bisection to {tol:.0%}, Poisson (exponential) arrivals, p99 within QoS (every column alike)")
    print("  homogeneous: best single-type pool, best of FCFS/KairosPolicy | paper: paper_upper_bound "
          "config, PaperPolicy | kairos_sdk: Planner.plan, KairosPolicy(plan=plan)")
    print(f"  oracle: every config within budget by fluid bound, KairosPolicy, independent of kairos_sdk's "
          f"answer; screened on seed 0 at {1 - SCREEN_MARGIN:.0%} of the best so far, then all seeds"
          f"{f', at most {max_oracle} configs' if max_oracle < 10_000 else ''} | fluid: bound of the best config\n")
    rows = []
    for model in args.models:
        t0 = time.perf_counter()
        qos = QOS_MS[model]
        prof = Profile.from_csv(d / "latency.csv.gz", model=model, drop_outliers=True)
        planner = Planner(prof, cat, wl, qos_ms=qos)

        def thr(counts, policy, *, at_least=None, plan=None, prof=prof, qos=qos, planner=planner):
            return allowable_throughput(counts, prof, wl, policy, qos_ms=qos, n_queries=n_q, n_seeds=n_s,
                                        rel_tol=tol, at_least=at_least, plan=plan,
                                        start_qps=max(planner.fluid_bound(counts), 1.0) * 0.85)

        # --- best homogeneous pool under its best policy
        homo = []
        for t in cat.names:
            n = min(CAPS[t], int(BUDGET / PRICES[t] + 1e-9))
            if n:
                homo.append(({t: n}, planner.fluid_bound({t: n})))
        homo.sort(key=lambda r: -r[1])
        homo = [h for h in homo if h[1] >= 0.8 * homo[0][1]][: (1 if args.quick else 2)]
        best_h = (0.0, None, "")
        for counts, _ in homo:
            for pol in ([FCFSPolicy()] if args.quick else [FCFSPolicy(), KairosPolicy()]):
                q = float(thr(counts, pol))
                if q > best_h[0]:
                    best_h = (q, counts, pol.name)
        homo_fcfs = float(thr(best_h[1], FCFSPolicy())) if best_h[2] != "fcfs" else best_h[0]

        # --- the paper's method
        pub = paper_upper_bound(figures_all[model], cat, BUDGET)
        paper_q = float(thr(pub.counts, PaperPolicy()))

        # --- kairos_sdk
        plan = planner.plan(budget=BUDGET)
        kq = thr(plan.counts, KairosPolicy(), plan=plan)
        kairos_q = float(kq)
        shed_q = float(thr(plan.counts, KairosPolicy(shed=True), plan=plan))

        # --- oracle and fluid limit
        configs = [c for c in enumerate_configs(cat, BUDGET) if any(c.values())]
        scored = sorted(((planner.fluid_bound(c), c) for c in configs), key=lambda r: -r[0])
        fluid_best, fluid_cfg = scored[0]
        best_o, best_o_cfg, tried, measured = 0.0, None, 0, 0
        for fb, c in scored:
            if fb < best_o or tried >= max_oracle:
                break
            c = {k: v for k, v in c.items() if v}
            tried += 1
            screen = best_o * (1.0 - SCREEN_MARGIN) if best_o > 0 else None
            res = thr(c, KairosPolicy(), at_least=screen)
            measured += screen is None or float(res) > 0
            if float(res) > best_o:
                best_o, best_o_cfg = float(res), c
        secs = time.perf_counter() - t0
        ind = INDEPENDENT[model]
        row = dict(
            model=model, qos_ms=qos,
            homogeneous=best_h[0], homogeneous_config=cfg(best_h[1]), homogeneous_policy=best_h[2],
            homogeneous_fcfs=homo_fcfs,
            paper=paper_q, paper_config=cfg(pub.counts),
            kairos=kairos_q, kairos_config=cfg(plan.counts), kairos_seeds=list(kq.per_seed_qps),
            kairos_shed=shed_q,
            predicted=float(plan.predicted_qps),
            oracle=best_o, oracle_config=cfg(best_o_cfg) if best_o_cfg else "-", oracle_tried=tried, oracle_measured=measured,
            fluid=float(fluid_best), fluid_config=cfg(fluid_cfg),
            independent_homogeneous=ind[0], independent_paper=ind[1], independent_fluid=ind[2],
            seconds=secs,
        )
        rows.append(row)
        print(f"{model}: homogeneous {row['homogeneous_config']} ({row['homogeneous_policy']}) "
              f"{row['homogeneous']:.1f} | paper {row['paper_config']} {paper_q:.1f} | kairos_sdk "
              f"{row['kairos_config']} {kairos_q:.1f} (predicted {row['predicted']:.1f}; shedding {shed_q:.1f}) | oracle "
              f"{row['oracle_config']} {best_o:.1f} ({tried} screened, {measured} in full) | fluid {row['fluid_config']} "
              f"{row['fluid']:.1f}  [{secs:.0f} s]", flush=True)

    print()
    hdr = (f"{'model':6} {'homogeneous':>22} {'paper (config)':>24} {'kairos_sdk (config)':>26} "
           f"{'oracle (config)':>24} {'fluid':>8} | {'k/homo':>6} {'k/paper':>7} {'k/oracle':>8} "
           f"{'k/fluid':>7} {'pred/sim':>8} | {'+shed':>8} {'s/fluid':>7}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['model']:6} {r['homogeneous']:>9.1f} {r['homogeneous_config']:>12} "
              f"{r['paper']:>9.1f} {r['paper_config']:>14} {r['kairos']:>9.1f} {r['kairos_config']:>16} "
              f"{r['oracle']:>9.1f} {r['oracle_config']:>14} {r['fluid']:>8.1f} | "
              f"{r['kairos'] / r['homogeneous']:>6.2f} {r['kairos'] / r['paper']:>7.3f} "
              f"{r['kairos'] / r['oracle']:>8.3f} {r['kairos'] / r['fluid']:>7.3f} "
              f"{r['predicted'] / r['kairos']:>8.3f} | {r['kairos_shed']:>8.1f} {r['kairos_shed'] / r['fluid']:>7.3f}")
    if rows:
        kf = np.mean([r["kairos"] / r["fluid"] for r in rows])
        kp = min(r["kairos"] / r["paper"] for r in rows)
        sf = np.mean([r["kairos_shed"] / r["fluid"] for r in rows])
        print(f"\nmean kairos_sdk / fluid bound = {kf:.3f} (with shedding {sf:.3f}); "
              f"min kairos_sdk / paper's method = {kp:.3f}")
        print("\nagainst the issue's independent figures (this simulator / independent):")
        print(f"{'model':6} {'homog. FCFS':>12} {'paper method':>13} {'fluid':>8}")
        for r in rows:
            print(f"{r['model']:6} {r['homogeneous_fcfs'] / r['independent_homogeneous']:>12.3f} "
                  f"{r['paper'] / r['independent_paper']:>13.3f} {r['fluid'] / r['independent_fluid']:>8.3f}")
        print(f"\ntotal {time.perf_counter() - t_all:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
