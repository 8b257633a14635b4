"""``kairos bench``: the built-in quick comparison, the list of benchmark scripts, or one of them."""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import time
from pathlib import Path

from .. import defaults
from ..baselines import homogeneous_best
from .args import UsageError, positive
from .common import data_dir, policy, print_table
from .data import Setup, add_data_args
from .plan import add_budget_arg
from .simulate import allowable

EXAMPLES = """examples:
  kairos bench
  kairos bench --model dien --n-seeds 3 --n-queries 20000
  kairos bench list
  kairos bench planner_speed --repeats 3"""

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"

#: What in a script's text says it reads the full shared KAIROS measurements.
_DATA_MARKERS = ("Needs the shared data", "find_data_dir", "_paper_setting")


def add_parser(sub) -> None:
    q = sub.add_parser("bench", help="quick built-in comparison, or list / run the benchmark scripts",
                       description="'kairos bench' (or 'kairos bench quick') plans the pool and compares its "
                                   "simulated allowable throughput with the best homogeneous pool's. "
                                   "'kairos bench list' lists the benchmarks/ scripts of a source checkout, "
                                   "one line each, marking those that need the full shared data; "
                                   "'kairos bench NAME [ARGS...]' runs one.")
    q.add_argument("name", nargs="?", metavar="NAME", help="quick (default), list, or a script name")
    q.add_argument("extra", nargs=argparse.REMAINDER, metavar="ARGS", help="arguments for the script")
    add_data_args(q)
    add_budget_arg(q)
    q.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    q.add_argument("--n-queries", type=positive(int, "--n-queries"), default=5000, metavar="N",
                   help="queries per simulated trial in 'quick' (default %(default)s)")
    q.add_argument("--n-seeds", type=positive(int, "--n-seeds"), default=1, metavar="K",
                   help="seeds averaged in 'quick' (default %(default)s)")
    q.epilog = EXAMPLES
    q.set_defaults(func=cmd)


def scripts(bench_dir: Path = BENCH_DIR) -> list[tuple[str, str, bool]]:
    """``(name, first docstring line, needs the shared data)`` per benchmark script."""
    out = []
    for p in sorted(bench_dir.glob("*.py")) if bench_dir.is_dir() else []:
        if p.name.startswith("_"):
            continue
        text = p.read_text()
        try:
            doc = ast.get_docstring(ast.parse(text)) or ""
        except SyntaxError:
            doc = ""
        first = " ".join(doc.split("\n\n", 1)[0].split()).replace("``", "")
        first = re.split(r"(?<=[.?])\s", first, maxsplit=1)[0].rstrip(".")
        first = first if len(first) <= 90 else first[:89].rstrip() + "…"
        out.append((p.stem, first, any(m in text for m in _DATA_MARKERS)))
    return out


def cmd(args: argparse.Namespace) -> int:
    found = scripts()
    names = [n for n, _, _ in found]
    if args.name in (None, "quick"):
        return quick(args)
    if args.name == "list":
        have = data_dir()
        width = max([len(n) for n in names] + [5])
        print(f"{'quick':<{width}}  built-in: the planned pool vs the best homogeneous one, simulated")
        for name, desc, needs in found:
            mark = "[shared data] " if needs else ""
            print(f"{name:<{width}}  {mark}{desc}")
        if not found:
            print("(the benchmarks/ scripts come with a source checkout)")
        elif any(n for *_, n in found):
            where = f"found at {have}" if have else "not found: set KAIROS_DATA or place it at ../shared/data/kairos_aws"
            print(f"[shared data]: needs the full KAIROS measurements ({where})")
        return 0
    if args.name not in names:
        where = f"available: quick, list, {', '.join(names)}" if names else (
            "the benchmarks/ scripts come with a source checkout; only 'quick' is built in")
        raise UsageError(f"no benchmark {args.name!r}; {where}")
    return subprocess.call([sys.executable, str(BENCH_DIR / f"{args.name}.py"), *args.extra])


def quick(args: argparse.Namespace) -> int:

    s = Setup(args)
    budget = args.budget if args.budget is not None else defaults.PAPER_BUDGET_PER_HOUR
    t0 = time.perf_counter()
    planner = s.planner()
    plan = planner.plan(budget=budget)
    t_plan = time.perf_counter() - t0
    homo = homogeneous_best(planner, budget=budget)
    print(f"kairos bench quick — {s.describe()}, budget ${budget:g}/h (plan solved in {t_plan * 1000:.0f} ms)")
    print(f"simulated allowable throughput, {args.n_queries} queries x {args.n_seeds} seed(s) per trial, "
          "KairosPolicy for both pools…", flush=True)
    rows, qps = [], []
    for label, pool, predicted in (("planned", plan.pool(), plan.predicted_qps),
                                   ("homogeneous", homo.pool(), homo.score)):
        t1 = time.perf_counter()
        res, _ = allowable(pool, s, policy("kairos"), seed=args.seed, n_seeds=args.n_seeds,
                           n_queries=args.n_queries, start_qps=max(predicted, 1e-3))
        qps.append(res)
        rows.append([label, pool.describe(), f"{pool.cost_per_hour:.3f}", f"{predicted:.1f}", f"{res:.1f}",
                     f"{time.perf_counter() - t1:.1f}"])
    print_table(rows, ["", "pool", "USD/h", "predicted qps", "simulated qps", "sim seconds"])
    if qps[1] > 0:
        print(f"planned / homogeneous (simulated): {qps[0] / qps[1]:.2f}x at the same budget")
    print("Full benchmarks: 'kairos bench list' in a source checkout.")
    return 0
