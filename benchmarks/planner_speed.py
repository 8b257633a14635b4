"""Planner speed, side by side in one run.

1. The paper's 4-type catalog (g4dn/c5n/r5n/t3, caps 5/6/17/15, 2.5 USD/h, built-in profiles
   of the five models): the MILP against exhaustive enumeration of every configuration
   within budget and caps, each scored by the same routing LP. Both must find the same
   optimum. Two ratios, both sides printed:

   * cold vs cold — a new ``Planner`` and its first plan (which builds the cvxpy problem)
     against a new ``Planner`` enumerating once: what a one-off question costs each way;
   * re-solve vs enumeration — the median of warm MILP re-solves at other budgets (cvxpy
     Parameters, no rebuild) against that same cold enumeration: what each further budget
     costs once the problem is built.

2. Synthetic catalogs of 8, 16, 32 and 64 types with caps of 20 each (the MILP alone; an
   enumeration of 21^32 configurations is out of the question): the first plan (which also
   builds the cvxpy problem) and the median of re-solves at other budgets (cvxpy Parameters,
   no rebuild), at the paper's budget and at a budget scaled with the catalog size.

Re-solve budgets are distinct and never the first plan's own budget, so the median counts
each budget once.

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


def resolve_budgets(budget: float, n: int) -> list[float]:
    """``n`` distinct budgets around ``budget`` (0.95, 1.05, 0.9, 1.1, ... times it), none of
    them ``budget`` itself: re-solves at a budget the planner has not just solved."""
    return [budget * (1 + (-1) ** (k + 1) * 0.05 * (k // 2 + 1)) for k in range(n)]


def median_plan_time(planner: Planner, budgets) -> tuple[float, list]:
    times, plans = [], []
    for b in budgets:
        p, t = timed(lambda b=b: planner.plan(budget=b))
        times.append(t)
        plans.append(p)
    return statistics.median(times), plans


def _new_and_plan(prof: Profile, cat: Catalog, wl: Workload, qos: float, budget: float):
    planner = Planner(prof, cat, wl, qos_ms=qos)
    return planner, planner.plan(budget=budget)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5, help="re-solves per median")
    args = ap.parse_args()
    wl = Workload.deeprecsys()
    print(f"# planner speed — {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print("\n## 1. paper's 4-type catalog at 2.5 USD/h: MILP vs exhaustive enumeration (same model)")
    cat = Catalog.from_prices(PRICES, caps=CAPS)
    n_cfg = len(enumerate_configs(cat, 2.5))
    # One plan and one LP before timing, so no side pays the process's one-off lazy imports.
    warm = Planner(Profile.builtin("rm2"), cat, wl, qos_ms=350.0)
    warm.plan(budget=2.5)
    warm.predicted_qps({"g4dn.xlarge": 1})
    print(f"{n_cfg} configurations within budget and caps (process warmed up by one plan and one LP first)\n")
    print("cold: a new Planner and its first plan (builds the cvxpy problem) | a new Planner enumerating once")
    print(f"re-solve: median of {args.repeats} warm MILP re-solves at other budgets "
          f"({', '.join(f'{b:.3g}' for b in resolve_budgets(2.5, args.repeats))} USD/h) | the same cold enumeration\n")
    print(f"{'model':6} {'MILP plan':22} {'qps':>8} {'exhaustive':>10} {'MILP cold ms':>12} {'enum cold ms':>12} "
          f"{'cold/cold':>9} {'re-solve ms':>11} {'enum/re-solve':>13}")
    cold_ratios, warm_ratios, resolve_ms = [], [], []
    for model, qos in QOS_MS.items():
        prof = Profile.builtin(model)
        (planner, plan), t_first = timed(lambda prof=prof, qos=qos: _new_and_plan(prof, cat, wl, qos, 2.5))
        t_milp, _ = median_plan_time(planner, resolve_budgets(2.5, args.repeats))
        ex, t_enum = timed(lambda prof=prof, qos=qos: exhaustive(Planner(prof, cat, wl, qos_ms=qos), 2.5))
        agree = abs(plan.predicted_qps - ex.score) <= 1e-6 * ex.score
        assert agree, f"{model}: MILP {plan.predicted_qps} != exhaustive {ex.score}"
        cold_ratios.append(t_enum / t_first)
        warm_ratios.append(t_enum / t_milp)
        resolve_ms.append(t_milp * 1000)
        desc = " + ".join(f"{n} {t.split('.')[0]}" for t, n in plan.counts.items())
        print(f"{model:6} {desc:22} {plan.predicted_qps:8.1f} {ex.score:10.1f} {t_first * 1000:12.0f} "
              f"{t_enum * 1000:12.0f} {t_enum / t_first:8.1f}x {t_milp * 1000:11.0f} {t_enum / t_milp:12.0f}x")
    base_ms = statistics.median(resolve_ms)
    print(f"\nenumeration / MILP, cold vs cold: {min(cold_ratios):.1f}-{max(cold_ratios):.1f}x; "
          f"re-solve vs enumeration: {min(warm_ratios):.0f}-{max(warm_ratios):.0f}x. "
          f"4-type median re-solve {base_ms:.0f} ms; both methods agree on every model.")

    print("\n## 2. synthetic catalogs, caps of 20 each (MILP only)")
    print(f"{'types':>5} {'budget':>10} {'first (build+solve) ms':>23} {'median re-solve ms':>19} {'x 4-type':>9}  plan")
    scale_rows = []
    for n_types in (4, 8, 16, 32, 64):
        prof, cat_n = synthetic_setting(n_types, seed=n_types, cap=20)
        for label, budget in (("2.5", 2.5), (f"{2.5 * n_types / 4:g} (scaled)", 2.5 * n_types / 4)):
            planner = Planner(prof, cat_n, wl, qos_ms=350)
            first, t_first = timed(lambda planner=planner, budget=budget: planner.plan(budget=budget))
            budgets = resolve_budgets(budget, args.repeats)
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
