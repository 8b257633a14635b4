"""``kairos plan``: choose the instance mix and print it as a table, an explanation or JSON."""

from __future__ import annotations

import argparse
import json
import sys

from .. import defaults
from .args import UsageError, positive
from .common import print_table
from .data import Setup, add_data_args

EXAMPLES = """examples:
  kairos plan
  kairos plan --budget 1.5 --explain
  kairos plan --target-qps 80 --json > plan.json
  kairos plan --target-qps 80 --budget 2          # the cheapest pool for 80 qps, if it fits in $2/h
  kairos plan --model mymodel --profile latency.csv --prices prices.csv --qos 100 --caps g4dn.xlarge=8"""


def add_budget_arg(q: argparse.ArgumentParser, extra: str = "") -> None:
    q.add_argument("--budget", type=positive(float, "--budget"), default=None, metavar="USD_PER_HOUR",
                   help=f"cost budget in USD/hour (default {defaults.PAPER_BUDGET_PER_HOUR:g}){extra}")


def add_parser(sub) -> None:
    q = sub.add_parser("plan", help="choose the instance mix (prints the plan table)",
                       description="Choose how many instances of each type to rent: the most allowable "
                                   "throughput within --budget, or the cheapest pool sustaining --target-qps. "
                                   "Given both, the cheapest pool sustaining --target-qps, which must also "
                                   "fit within --budget (otherwise an error says what it would cost).")
    add_data_args(q)
    add_budget_arg(q, "; with --target-qps, an upper limit on the cheapest pool's cost")
    q.add_argument("--target-qps", type=positive(float, "--target-qps"), metavar="QPS",
                   help="the cheapest pool that sustains this rate (within --budget when given)")
    q.add_argument("--explain", action="store_true", help="say why these types and what binds")
    q.add_argument("--json", action="store_true",
                   help="print the plan as JSON (with model, QoS, prices and units; 'kairos simulate/run/"
                        "serve-replay --pool FILE' read it)")
    q.epilog = EXAMPLES
    q.set_defaults(func=cmd)


def make_plan(s: Setup, budget: float | None, target_qps: float | None):
    """The plan for ``--budget`` / ``--target-qps`` (both: min cost for the rate, within the budget)."""
    planner = s.planner()
    if target_qps is None:
        return planner.plan(budget=budget if budget is not None else defaults.PAPER_BUDGET_PER_HOUR)
    plan = planner.plan(target_qps=target_qps)
    if budget is not None and plan.cost_per_hour > budget + 1e-9:
        raise UsageError(f"the cheapest pool sustaining {target_qps:g} qps is {plan.describe()} at "
                         f"${plan.cost_per_hour:.3f}/h, above --budget ${budget:g}/h; raise --budget or "
                         "lower --target-qps")
    return plan


def plan_doc(plan, s: Setup) -> dict:
    """``plan.to_dict()`` with the model and the workload, as ``kairos plan --json`` prints it."""
    return {"model": s.model, "workload": s.workload.name, **plan.to_dict()}


def cmd(args: argparse.Namespace) -> int:
    s = Setup(args)
    plan = make_plan(s, args.budget, args.target_qps)
    if args.json:
        print(json.dumps(plan_doc(plan, s), indent=2, default=float))
        return 0
    if args.target_qps is not None:
        goal = f"the cheapest pool for {args.target_qps:g} qps"
        goal += f" within ${args.budget:g}/h" if args.budget is not None else ""
    else:
        goal = f"budget ${plan.budget_per_hour:g}/h"
    print(f"kairos plan — {s.describe()}, {goal}")
    if args.explain:
        print(plan.explain())
        return 0
    print_plan_table(plan)
    print("(--explain says why these types and what binds; --json prints everything)")
    return 0


def print_plan_table(plan, out=None) -> None:
    """The plan as a plain-text table: count, price, rate and utilization per type."""
    rows = []
    for t, n in plan.counts.items():
        price = plan.catalog[t].cost_per_hour if plan.catalog is not None else float("nan")
        rate = sum(plan.routing.get(t, {}).values())
        rows.append([t, n, f"{price:.4g}", f"{n * price:.3f}", f"{rate:.1f}", f"{plan.utilization.get(t, 0.0):.0%}"])
    rows.append(["total", sum(plan.counts.values()), "", f"{plan.cost_per_hour:.3f}", f"{plan.predicted_qps:.1f}", ""])
    print_table(rows, ["instance type", "count", "USD/h each", "USD/h", "rate qps", "utilization"], out=out)
    print(f"predicted allowable throughput {plan.predicted_qps:.1f} qps (fluid bound {plan.fluid_qps:.1f}), "
          f"{plan.status}, solved in {plan.total_seconds * 1000:.0f} ms", file=out or sys.stdout)
