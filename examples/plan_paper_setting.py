"""Plan the KAIROS paper's setting: 2.5 USD/h, caps g4dn<=5, c5n<=6, r5n<=17, t3<=15, five models.

For every model it prints the planner's mix, its cost and predicted throughput, next to the
paper's own allocator's pick (its upper-bound ranking) and the best homogeneous pool, then
explains one plan. Uses the full KAIROS measurements when present ($KAIROS_DATA, else
../shared/data/kairos_aws beside the project), otherwise the built-in profiles.

    python examples/plan_paper_setting.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from kairos_sdk import Catalog, Planner, Profile, Workload
from kairos_sdk.baselines import homogeneous_best, paper_figures, paper_upper_bound
from kairos_sdk.datadir import find_data_dir

QOS_MS = {"ncf": 5.0, "rm2": 350.0, "wnd": 25.0, "mtwnd": 25.0, "dien": 35.0}
CAPS = {"g4dn.xlarge": 5, "c5n.2xlarge": 6, "r5n.large": 17, "t3.xlarge": 15}
PRICES = {"g4dn.xlarge": 0.526, "c5n.2xlarge": 0.432, "r5n.large": 0.149, "t3.xlarge": 0.1664}
ORDER = ["g4dn.xlarge", "c5n.2xlarge", "r5n.large", "t3.xlarge"]  # the paper's type order, GPU first
BUDGET = 2.5


def load_profiles(d: Path | None) -> dict[str, Profile]:
    if d is None:
        return {m: Profile.builtin(m) for m in QOS_MS}
    # the authors dropped the largest sample of every series (a warm-up outlier)
    return {m: Profile.from_csv(d / "latency.csv.gz", model=m, drop_outliers=True) for m in QOS_MS}


def short(counts: dict[str, int]) -> str:
    return " + ".join(f"{n} {t.split('.')[0]}" for t, n in sorted(counts.items(), key=lambda kv: ORDER.index(kv[0])))


def main() -> None:
    t0 = time.perf_counter()
    d = find_data_dir()
    profiles = load_profiles(d)
    authors = json.loads((d / "allocator_profile.json").read_text()) if d else None
    print(f"profiles: {'KAIROS measurements in ' + str(d) if d else 'built-in'} ({time.perf_counter() - t0:.1f} s)")
    catalog = Catalog.from_prices(PRICES, caps=CAPS)
    workload = Workload.deeprecsys()
    print(f"budget ${BUDGET}/h, caps {CAPS}\n")
    header = f"{'model':6} {'QoS':>6}  {'planner mix':24} {'$/h':>6} {'pred qps':>9} {'fluid':>8}  {'paper pick':18} {'its pred':>9}  {'best homogeneous':>17}"
    print(header)
    print("-" * len(header))
    planners = {}
    for model, qos in QOS_MS.items():
        planner = Planner(profiles[model], catalog, workload, qos_ms=qos)
        planners[model] = planner
        plan = planner.plan(budget=BUDGET)
        figures = authors[model] if authors else paper_figures(profiles[model], workload, qos, gpu="g4dn.xlarge", types=ORDER)
        paper = paper_upper_bound(figures, catalog, BUDGET)
        homo = homogeneous_best(planner, BUDGET)
        print(f"{model:6} {qos:5g}ms  {short(plan.counts):24} {plan.cost_per_hour:6.3f} {plan.predicted_qps:9.1f} "
              f"{plan.fluid_qps:8.1f}  {short(paper.counts):18} {planner.predicted_qps(paper.counts):9.1f}  "
              f"{short(homo.counts):>8} {homo.score:8.1f}")
    print("\npred qps: the planner's estimate of the allowable throughput (p99 within QoS, Poisson arrivals),")
    print("fluid: the same pool with every instance busy 100% of the time (an upper bound).")
    print("paper pick: the KAIROS paper's upper-bound allocator"
          + (" with the authors' allocator_profile.json" if authors else " (figures computed from the profile)") + ".\n")
    print(planners["rm2"].plan(budget=BUDGET).explain())
    print(f"\ndone in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
