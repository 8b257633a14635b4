"""``kairos demo``: plan a heterogeneous pool, drive it live against the best homogeneous one.

"Throughput at QoS" is found by a search on live runs, not read off a fixed grid: one anchor
run at 0.6x the simulated rate, then runs that bracket the knee (x1.15 steps until a run
misses or meets, then geometric bisection). The figure is the highest rate that met QoS
below the lowest rate that missed, so a lucky run above a miss cannot become the headline,
and the output gives the bracket it lies in.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..baselines import homogeneous_best
from ..defaults import PAPER_BUDGET_PER_HOUR
from ..errors import KairosError
from .args import positive, time_scale
from .common import ms, policy, print_table, progress_wanted
from .data import Setup, add_data_args
from .plan import add_budget_arg
from .simulate import allowable

#: The first live run of each pool, as a fraction of its simulated allowable throughput.
ANCHOR = 0.6
#: Live runs per pool: the anchor, then the search for the knee.
RUNS_PER_POOL = 5
#: Step of the search before the knee is bracketed.
STEP = 1.15
#: Real requests per second above which ``--time-scale auto`` slows endpoints and client down.
MAX_REAL_QPS = 150.0

EXAMPLES = """examples:
  kairos demo
  kairos demo --model wnd --duration 30
  kairos demo --profile latency.csv.gz --prices prices.csv --budget 3 --out plots/"""


def add_parser(sub) -> None:
    q = sub.add_parser("demo", help="plan a heterogeneous pool, drive it live against the best homogeneous one",
                       description="Plan the heterogeneous pool with the most allowable throughput within the "
                                   "budget, start loopback replay endpoints that answer with the profile's "
                                   "latencies, and search live for the highest rate at which it meets QoS "
                                   f"({RUNS_PER_POOL} runs: one at {ANCHOR:g}x its simulated rate, then a "
                                   "search that brackets the knee); do the same for the best homogeneous pool "
                                   "at the same budget, and print a side-by-side table, how sure each figure "
                                   "is, and a latency-vs-load PNG.")
    add_data_args(q)
    add_budget_arg(q)
    q.add_argument("--duration", type=positive(float, "--duration"), default=60.0, metavar="SECONDS",
                   help=f"total seconds of live load over all {2 * RUNS_PER_POOL} runs (default %(default)g)")
    q.add_argument("--out", default=".", metavar="DIR", help="directory for the PNG plot (default: current)")
    q.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    q.add_argument("--no-progress", action="store_true", help="no progress bars")
    q.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    q.add_argument("--time-scale", type=time_scale, default="auto", metavar="X",
                   help="real seconds per profile second for the replay endpoints and the client; "
                        "default 'auto': 1, or slower than real time when a fast model's rates exceed "
                        f"{MAX_REAL_QPS:g} requests/s")
    q.epilog = EXAMPLES
    q.set_defaults(func=cmd)


@dataclass
class Knee:
    """The live search for one pool's throughput at QoS."""

    label: str
    pool: object
    planned_qps: float
    simulated_qps: float
    percentile: float = 99.0
    runs: list = field(default_factory=list)

    def next_rate(self) -> float:
        """The next offered rate: the anchor, then x STEP out of the known side, then bisection."""
        if not self.runs:
            return ANCHOR * self.simulated_qps
        lo, hi = self.bracket()
        if len(self.runs) == 1:
            return self.simulated_qps if lo is not None else ANCHOR * self.simulated_qps / STEP
        if hi is None:
            return lo.rate_qps * STEP
        if lo is None:
            return hi.rate_qps / STEP
        return math.sqrt(lo.rate_qps * hi.rate_qps)

    def bracket(self):
        """``(lo, hi)`` runs: the lowest rate that missed QoS, and the highest that met it below."""
        missed = [r for r in self.runs if not _met(r)]
        hi = min(missed, key=lambda r: r.rate_qps, default=None)
        met = [r for r in self.runs if _met(r) and (hi is None or r.rate_qps < hi.rate_qps)]
        return max(met, key=lambda r: r.rate_qps, default=None), hi

    @property
    def noisy(self) -> list:
        """Runs that met QoS above a rate that missed it (left out of the figure)."""
        _, hi = self.bracket()
        return [r for r in self.runs if hi is not None and _met(r) and r.rate_qps > hi.rate_qps]

    def sureness(self) -> str:
        lo, hi = self.bracket()
        if lo is None:
            return "met QoS at no tested rate"
        n = min(r.n_queries for r in self.runs)
        allowed = math.floor(n * (1 - self.percentile / 100) + 1e-9)
        if hi is None:
            text = f"met QoS at every tested rate up to {lo.rate_qps:.1f} qps: a lower bound"
        else:
            text = (f"knee between {lo.rate_qps:.1f} and {hi.rate_qps:.1f} qps offered "
                    f"(±{(hi.rate_qps / lo.rate_qps - 1) / 2:.0%})")
        extra = f"; {len(self.noisy)} run(s) met QoS above a miss, left out" if self.noisy else ""
        return (f"{text}; >= {n} queries per run, so a run meets the {self.percentile:g}% target with at most "
                f"{allowed} late{extra}")


def _met(r) -> bool:
    return r.meets_qos and r.n_failed == 0


def cmd(args: argparse.Namespace) -> int:

    s = Setup(args)
    budget = float(args.budget if args.budget is not None else PAPER_BUDGET_PER_HOUR)
    t_start = time.perf_counter()
    planner = s.planner()
    plan = planner.plan(budget=budget)
    homo = homogeneous_best(planner, budget=budget)
    print(f"kairos demo — {s.describe()}, budget ${budget:g}/h")
    print("Planning, then simulating each pool's allowable throughput (KairosPolicy)…", flush=True)
    knees = [_simulated(s, "heterogeneous", plan.pool(), float(plan.predicted_qps), args.seed),
             _simulated(s, "homogeneous", homo.pool(), float(homo.score), args.seed)]
    scale = _time_scale(args, knees)
    per_run_real_s = max(1.0, args.duration / (len(knees) * RUNS_PER_POOL))
    print(f"Searching each pool live for its throughput at QoS (loopback replay endpoints, async client, "
          f"KairosPolicy): {RUNS_PER_POOL} runs of {per_run_real_s:.1f} s, the first at {ANCHOR:g} x its "
          "simulated rate…", flush=True)
    if scale != 1.0:
        print(f"(time scale {scale:.3g}: endpoints and client run {scale:.3g}x "
              f"{'slower' if scale > 1 else 'faster'} than real time; latencies are reported in the "
              "profile's milliseconds)", flush=True)
    asyncio.run(_search(s, knees, per_run_real_s / scale, args.seed, progress_wanted(args), scale))
    _summary(s, knees, budget)
    if not args.no_plot:
        from .plot import load_plot

        path = load_plot([(f"{k.label}: {k.pool.describe()} (${k.pool.cost_per_hour:.2f}/h)", k.runs) for k in knees],
                         qos_ms=s.qos_ms, percentile=s.percentile,
                         title=f"kairos demo — {s.model}, live replay endpoints, budget ${budget:g}/h",
                         path=Path(args.out) / f"kairos_demo_{s.model}.png")
        print(f"latency vs load plot: {path}")
    print(f"demo finished in {time.perf_counter() - t_start:.0f} s")
    return 0


def _simulated(s: Setup, label: str, pool, predicted: float, seed: int) -> Knee:

    sim, _ = allowable(pool, s, policy("kairos"), seed=seed, n_seeds=1, n_queries=5000,
                       start_qps=max(predicted, 1e-3))
    if not sim > 0:
        raise KairosError(f"the {label} pool {pool.describe()} meets QoS at no rate in simulation; "
                          "loosen --qos or raise --budget")
    print(f"  {label:13s} {pool.describe():34s} ${pool.cost_per_hour:.3f}/h  planned {predicted:6.1f} qps, "
          f"simulated {sim:6.1f} qps", flush=True)
    return Knee(label, pool, predicted, sim, s.percentile)


def _time_scale(args: argparse.Namespace, knees: list[Knee]) -> float:
    if args.time_scale != "auto":
        return float(args.time_scale)
    # keep the real request rate within what one Python process on a small machine serves
    # and drives without its own overhead (~1 ms per request) weighing on the QoS target
    peak = max(k.simulated_qps for k in knees) * STEP
    return max(1.0, peak / MAX_REAL_QPS)


async def _search(s: Setup, knees: list[Knee], per_run_s: float, seed: int, progress, scale: float) -> None:
    from ..client import KairosClient, OpenInferenceProtocol
    from ..endpoints import serve_pool

    k = 0
    for knee in knees:
        async with serve_pool(knee.pool, s.profile, model=s.model, seed=seed, time_scale=scale) as live, KairosClient(
            live, protocol=OpenInferenceProtocol(s.model), policy=policy("kairos"), profile=s.profile,
            qos_ms=s.qos_ms, percentile=s.percentile, time_scale=scale,
        ) as client:
            for _ in range(RUNS_PER_POOL):
                rate = round(knee.next_rate(), 1)
                r = await client.run(s.workload, rate=rate, duration_s=per_run_s, seed=seed + k, progress=progress)
                k += 1
                knee.runs.append(r)
                mark = "meets" if _met(r) else "misses"
                fail = f", {r.n_failed} failed" if r.n_failed else ""
                print(f"  {knee.label:13s} offered {rate:6.1f} qps: measured {r.throughput_qps:6.1f} qps, "
                      f"p{s.percentile:g} {ms(r.latency_quantile(s.percentile / 100)):>6s} ms, "
                      f"{r.qos_attainment:7.2%} within {s.qos_ms:g} ms ({mark} QoS{fail})", flush=True)


def _summary(s: Setup, knees: list[Knee], budget: float) -> None:
    print()
    print(f"Same budget (${budget:g}/h), live: throughput at QoS = the highest offered Poisson rate at which "
          f">= {s.percentile:g}% of queries finished within {s.qos_ms:g} ms, with no miss at a lower rate "
          "(as the simulated figure is defined)")
    rows = []
    for kn in knees:
        lo, hi = kn.bracket()
        rows.append([kn.label, kn.pool.describe(), f"{kn.pool.cost_per_hour:.3f}", f"{kn.planned_qps:.1f}",
                     f"{kn.simulated_qps:.1f}", f"{lo.rate_qps:.1f}" if lo else "none",
                     f"{hi.rate_qps:.1f}" if hi else "-", f"{lo.throughput_qps:.1f}" if lo else "",
                     ms(lo.latency_quantile(s.percentile / 100)) if lo else "",
                     f"{lo.qos_attainment:.2%}" if lo else ""])
    print_table(rows, ["", "pool", "USD/h", "planned qps", "simulated qps", "live qps at QoS", "missed at qps",
                       "measured qps", f"p{s.percentile:g} ms", "QoS attainment"])
    for kn in knees:
        print(f"  {kn.label}: {kn.sureness()}")
    (het_lo, het_hi), (hom_lo, hom_hi) = knees[0].bracket(), knees[1].bracket()
    if not (het_lo and hom_lo):
        print("\nA pool met QoS at none of its rates: this machine may be too busy for live timing; "
              "run the demo again, or with a longer --duration.")
        return
    c_het, c_hom = knees[0].pool.cost_per_hour, knees[1].pool.cost_per_hour
    ratio = het_lo.rate_qps / hom_lo.rate_qps
    # the true knees lie in [lo, hi] of each pool, so the ratio lies in [lo/hi', hi/lo']
    low = het_lo.rate_qps / hom_hi.rate_qps if hom_hi else None
    high = het_hi.rate_qps / hom_lo.rate_qps if het_hi else None
    rng = (f" (between {low:.2f}x and {high:.2f}x given the brackets)" if low and high else
           f" (at least {low:.2f}x given the brackets)" if low else "")
    print(f"\nheterogeneous / homogeneous: {ratio:.2f}x the throughput at QoS{rng}; per USD/h "
          f"{het_lo.rate_qps / c_het:.1f} vs {hom_lo.rate_qps / c_hom:.1f} qps: "
          f"{(het_lo.rate_qps / c_het) / (hom_lo.rate_qps / c_hom):.2f}x")
