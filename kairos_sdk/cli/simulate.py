"""``kairos simulate``: a pool's allowable throughput, or one run, in the discrete-event simulator."""

from __future__ import annotations

import argparse
import json

from ..errors import KairosError
from ..simulate import allowable_throughput, simulate
from .args import positive
from .common import POLICIES, bar, policy, print_table, verdict
from .data import add_data_args, setup_with_pool
from .plan import add_budget_arg

EXAMPLES = """examples:
  kairos simulate
  kairos simulate --pool plan.json                 # the output of 'kairos plan --json'
  kairos simulate --pool g4dn.xlarge=1,r5n.large=13 --policy all --n-seeds 1
  kairos simulate --pool g4dn.xlarge=4 --rate 40 --policy fcfs
  kairos simulate --pool g4dn.xlarge=6 --caps g4dn.xlarge=6"""


def add_parser(sub) -> None:
    q = sub.add_parser("simulate", help="allowable throughput of a pool under a policy (simulated)",
                       description="Simulate a pool under a distribution policy. Without --rate: the "
                                   "allowable throughput (highest Poisson rate meeting QoS). With --rate: "
                                   "one run's throughput, p99, QoS attainment and whether it meets QoS. "
                                   "A progress bar shows on a terminal (not when output is piped).")
    add_data_args(q)
    add_budget_arg(q, "; the pool is the plan for it unless --pool is given")
    q.add_argument("--pool", metavar="TYPE=N,... | FILE",
                   help="the pool, e.g. g4dn.xlarge=1,r5n.large=13, or a 'kairos plan --json' file "
                        "(default: the plan for --budget)")
    q.add_argument("--policy", choices=(*POLICIES, "all"), default="kairos",
                   help="distribution policy, or 'all' to compare (default %(default)s)")
    q.add_argument("--rate", type=positive(float, "--rate"), metavar="QPS", help="simulate one run at this rate")
    q.add_argument("--n-queries", type=positive(int, "--n-queries"), default=20_000, metavar="N",
                   help="queries per simulated run (default %(default)s)")
    q.add_argument("--n-seeds", type=positive(int, "--n-seeds"), default=3, metavar="K",
                   help="without --rate: seeds the allowable throughput is averaged over (default %(default)s)")
    q.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.epilog = EXAMPLES
    q.set_defaults(func=cmd)


def allowable(pool, s, pol, *, seed: int, n_seeds: int, n_queries: int, start_qps: float | None, progress=None):
    """Mean over seeds of the allowable throughput, one seed per call so a bar can advance;
    each seed starts from the previous seed's answer, as ``allowable_throughput`` does."""

    answers = []
    for k in range(n_seeds):
        start = answers[-1] if answers and answers[-1] > 0 else start_qps
        res = allowable_throughput(pool, s.profile, s.workload, policy=pol, qos_ms=s.qos_ms,
                                   percentile=s.percentile, seed=seed + k, n_seeds=1, n_queries=n_queries,
                                   start_qps=start)
        answers.append(float(res))
        if progress is not None:
            progress.update(1)
    return sum(answers) / len(answers), answers


def cmd(args: argparse.Namespace) -> int:

    s, pool, how = setup_with_pool(args)
    hint = None
    if args.rate is None:  # the planner's estimate is a good first rate for the bisection
        try:
            hint = s.planner().predicted_qps(pool.counts) or None
        except KairosError:
            hint = None
    names = list(POLICIES) if args.policy == "all" else [args.policy]
    if not args.json:
        print(f"kairos simulate — {pool!r} ({how}), {s.describe()}")
        if args.rate is None:
            print(f"allowable throughput: highest Poisson rate meeting QoS, {args.n_queries} queries x "
                  f"{args.n_seeds} seed(s) per trial (bisection to 1%)…", flush=True)
    rows, docs = [], []
    n_steps = len(names) * (1 if args.rate is not None else args.n_seeds)
    with bar(n_steps, "simulating", args) as progress:
        for name in names:
            pol = policy(name)
            if args.rate is not None:
                r = simulate(pool, s.profile, s.workload, policy=pol, rate=args.rate, n_queries=args.n_queries,
                             qos_ms=s.qos_ms, percentile=s.percentile, seed=args.seed)
                if progress is not None:
                    progress.update(1)
                rows.append([name, f"{args.rate:g}", f"{r.throughput_qps:.1f}", f"{r.p99_ms:.1f}",
                             f"{r.qos_attainment:.2%}", f"{r.n_shed}", "yes" if r.meets_qos else "no"])
                docs.append({"policy": name, **r.summary(), "meets_qos": r.meets_qos, "verdict": verdict(r, s.qos_ms, s.percentile)})
            else:
                qps, per_seed = allowable(pool, s, pol, seed=args.seed, n_seeds=args.n_seeds,
                                          n_queries=args.n_queries, start_qps=hint, progress=progress)
                rows.append([name, f"{qps:.1f}", " ".join(f"{x:.1f}" for x in per_seed)])
                docs.append({"policy": name, "allowable_qps": qps, "per_seed_qps": per_seed})
    if args.json:
        print(json.dumps({"model": s.model, "pool": pool.counts, "cost_per_hour": pool.cost_per_hour,
                          "qos_ms": s.qos_ms, "percentile": s.percentile, "results": docs},
                         indent=2, default=float))
        return 0
    if args.rate is not None:
        print_table(rows, ["policy", "rate qps", "throughput qps", "p99 ms", "QoS attainment", "shed", "meets QoS"])
        if len(docs) == 1:
            print(docs[0]["verdict"])
    else:
        print_table(rows, ["policy", "allowable throughput qps", "per seed"])
        if any(d["allowable_qps"] <= 0 for d in docs):
            print(f"0 means the pool meets QoS at no rate under that policy. {reach(pool, s)}")
    return 0


def reach(pool, s) -> str:
    """Which batch sizes each type of ``pool`` serves within QoS, and the share of queries above."""
    parts = []
    for t in pool.counts:
        b = s.profile.max_batch(t, s.qos_ms, q=s.percentile / 100)
        share = s.workload.probability(lo=b + 1)
        parts.append(f"{t} serves batches up to {b} within {s.qos_ms:g} ms at p{s.percentile:g} "
                     f"({share:.1%} of queries are larger)")
    return "; ".join(parts) + "."
