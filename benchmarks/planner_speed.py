"""Planner speed, side by side in one run.

1. The paper's 4-type catalog (g4dn/c5n/r5n/t3, caps 5/6/17/15, 2.5 USD/h, built-in profiles
   of the five models): the MILP against exhaustive enumeration of every configuration
   within budget and caps, each scored by the same routing LP. Both must find the same
   optimum; prints the time ratio.
2. Synthetic catalogs of 8, 16, 32 and 64 types with caps of 20 each (the MILP alone; an
   enumeration of 21^32 configurations is out of the question): the first plan (which also
   builds the cvxpy problem) and the median of re-solves at other budgets (cvxpy Parameters,
   no rebuild), at the paper's budget and at a budget scaled with the catalog size.

    python benchmarks/planner_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from kairos_sdk import Catalog, Planner, Profile, Workload
from kairos_sdk.baselines import enumerate_configs, exhaustive, synthetic_setting

QOS_MS = {"ncf": 5.0, "rm2": 350.0, "wnd": 25.0, "mtwnd": 25.0, "dien": 35.0}
CAPS = {"g4dn.xlarge": 5, "c5n.2xlarge": 6, "r5n.large": 17, "t3.xlarge": 15}
PRICES = {"g4dn.xlarge": 0.526, "c5n.2xlarge": 0.432, "r5n.large": 0.149, "t3.xlarge": 0.1664}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def median_plan_time(planner: Planner, budgets) -> tuple[float, list]:
    times, plans = [], []
    for b in budgets:
        p, t = timed(lambda b=b: planner.plan(budget=b))
        times.append(t)
        plans.append(p)
    return statistics.median(times), plans


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5, help="re-solves per median")
    args = ap.parse_args()
    wl = Workload.deeprecsys()
    print(f"# planner speed — {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print("\n## 1. paper's 4-type catalog at 2.5 USD/h: MILP vs exhaustive enumeration (same model)")
    cat = Catalog.from_prices(PRICES, caps=CAPS)
    n_cfg = len(enumerate_configs(cat, 2.5))
    print(f"{n_cfg} configurations within budget and caps\n")
    print(f"{'model':6} {'MILP plan':34} {'qps':>8} {'exhaustive':>8} {'MILP ms':>8} {'enum ms':>8} {'ratio':>7}")
    four_type_ms = []
    budgets4 = [2.5 * (0.9 + 0.05 * k) for k in range(args.repeats)]
    for model, qos in QOS_MS.items():
        planner = Planner(Profile.builtin(model), cat, wl, qos_ms=qos)
        first, t_first = timed(lambda planner=planner: planner.plan(budget=2.5))
        t_milp, _ = median_plan_time(planner, [*budgets4[1:], 2.5])
        plan = planner.plan(budget=2.5)
        ex, t_enum = timed(lambda planner=planner: exhaustive(planner, 2.5))
        agree = abs(plan.predicted_qps - ex.score) <= 1e-6 * ex.score
        assert agree, f"{model}: MILP {plan.predicted_qps} != exhaustive {ex.score}"
        four_type_ms.append(t_milp * 1000)
        desc = " + ".join(f"{n} {t.split('.')[0]}" for t, n in plan.counts.items())
        print(f"{model:6} {desc:34} {plan.predicted_qps:8.1f} {ex.score:8.1f} {t_milp * 1000:8.0f} "
              f"{t_enum * 1000:8.0f} {t_enum / t_milp:6.0f}x   (first plan incl. build {t_first * 1000:.0f} ms)")
    base_ms = statistics.median(four_type_ms)
    print(f"\n4-type MILP median {base_ms:.0f} ms; both methods agree on every model.")

    print("\n## 2. synthetic catalogs, caps of 20 each (MILP only)")
    print(f"{'types':>5} {'budget':>10} {'first (build+solve) ms':>23} {'median re-solve ms':>19} {'x 4-type':>9}  plan")
    scale_rows = []
    for n_types in (4, 8, 16, 32, 64):
        prof, cat_n = synthetic_setting(n_types, seed=n_types, cap=20)
        for label, budget in (("2.5", 2.5), (f"{2.5 * n_types / 4:g} (scaled)", 2.5 * n_types / 4)):
            planner = Planner(prof, cat_n, wl, qos_ms=350)
            first, t_first = timed(lambda planner=planner, budget=budget: planner.plan(budget=budget))
            budgets = [budget * (0.9 + 0.05 * k) for k in range(args.repeats)]
            t_med, plans = median_plan_time(planner, budgets)
            for p, b in zip(plans, budgets):
                assert p.cost_per_hour <= b + 1e-9 and all(n <= 20 for n in p.counts.values())
            desc = f"{sum(first.counts.values())} instances of {len(first.counts)} types, {first.predicted_qps:.0f} qps"
            scale_rows.append((n_types, label, t_med))
            print(f"{n_types:5d} {label:>10} {t_first * 1000:23.0f} {t_med * 1000:19.0f} "
                  f"{t_med * 1000 / base_ms:8.1f}x  {desc}")
    print("\nsolve-time growth (median re-solve, paper budget): " + ", ".join(
        f"{n} types {t * 1000:.0f} ms" for n, label, t in scale_rows if label == "2.5"))

    print("\n## 3. a frontier of 10 budgets: one planner re-solved through cvxpy Parameters vs a new planner per budget")
    budgets = [1.0 + 0.25 * k for k in range(10)]
    for label, prof, cat_n, qos in (("paper 4-type, rm2", Profile.builtin("rm2"), cat, 350.0),
                                    ("synthetic 16-type", *synthetic_setting(16, seed=16, cap=20), 350.0)):
        planner = Planner(prof, cat_n, wl, qos_ms=qos)
        front, t_re = timed(lambda planner=planner: planner.frontier(budgets))
        rebuilt, t_new = timed(lambda prof=prof, cat_n=cat_n, qos=qos: [
            Planner(prof, cat_n, wl, qos_ms=qos).plan(budget=b, strict=False) for b in budgets])
        assert all(abs(a.predicted_qps - b.predicted_qps) <= 1e-6 * max(b.predicted_qps, 1) for a, b in zip(front, rebuilt))
        print(f"{label:20} frontier {t_re * 1000:6.0f} ms, rebuilt each time {t_new * 1000:6.0f} ms "
              f"({t_new / t_re:.1f}x)")


if __name__ == "__main__":
    main()
