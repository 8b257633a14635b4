"""How long one distribution decision takes, as the pool grows.

Microseconds per ``decide`` call for KairosPolicy (exact assignment fast path and the
networkx min-cost-flow formulation) and the paper's distributor (PaperPolicy), at 11, 32,
128 and 512 instances with twice as many pending queries, in two states:

* ``one-free`` — every instance busy but one that just finished: the usual decision point
  when queries are waiting (KAIROS matches against the single idle instance; the paper's
  distributor still solves the full 2N x N assignment over busy instances too);
* ``all-idle`` — every instance idle at once (the worst case for KairosPolicy: a 2N x N
  assignment).

Pools are 1 GPU (g4dn.xlarge) per 10 instances, the rest r5n.large and c5n.2xlarge; batch
sizes from the DeepRecSys mix; rm2 built-in profile. Timings are medians over repeated
calls on the same state (caches warm, as in a running system), the policies timed in
alternating rounds so that the shared machine's load changes hit them alike.

    python benchmarks/dispatch_overhead.py
    python benchmarks/dispatch_overhead.py --sizes 11 32 --quick
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from kairos_sdk import Profile, Workload
from kairos_sdk.distribute import Dispatcher, KairosPolicy, PaperPolicy

QOS_MS = 350.0


def make_dispatcher(policy, n: int, state: str, seed: int = 0) -> Dispatcher:
    rng = np.random.default_rng(seed)
    types = []
    for i in range(n):
        types.append("g4dn.xlarge" if i % 10 == 0 else ("c5n.2xlarge" if i % 10 in (3, 7) else "r5n.large"))
    d = Dispatcher(policy, types, Profile.builtin("rm2"), qos_ms=QOS_MS, workload=Workload.deeprecsys())
    now = 10_000.0
    batches = Workload.deeprecsys().sample_batches(3 * n, rng)
    k = 0
    if state == "one-free":
        # occupy every instance but the last one with a query that started a while ago
        for i in range(n - 1):
            d.submit(k, int(batches[k]), now - 200.0)
            d._apply([(0, i)])
            d._start_ready(now - float(rng.uniform(0, 150)))
            k += 1
    for _ in range(2 * n):
        d.submit(k, int(batches[k]), now - float(rng.uniform(0, QOS_MS / 2)))
        k += 1
    return d


def time_interleaved(factories: dict, n: int, state: str, budget_s: float, slow: set[str]) -> dict[str, float]:
    """Median microseconds per ``decide`` for each policy on the same state, timed in
    alternating rounds (a batch of calls per policy per round) so that a change in the
    machine's load hits every policy alike. Policies in ``slow`` get one call per round."""
    runs = {}
    for name, make in factories.items():
        d = make_dispatcher(make(), n, state)
        d.policy.decide(d.state(10_000.0))  # warm caches
        runs[name] = d
    times: dict[str, list[float]] = {k: [] for k in runs}
    t_end = time.perf_counter() + budget_s
    rounds = 0
    while rounds < 3 or (time.perf_counter() < t_end and rounds < 400):
        rounds += 1
        for name, d in runs.items():
            pol = d.policy
            reps = 1 if name in slow else 20
            st = [d.state(10_000.0) for _ in range(reps)]
            t0 = time.perf_counter()
            for s_ in st:
                pol.decide(s_)
            times[name].append((time.perf_counter() - t0) / reps)
    return {k: statistics.median(v) * 1e6 for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="*", type=int, default=[11, 32, 128, 512])
    ap.add_argument("--quick", action="store_true", help="shorter timing budgets")
    ap.add_argument("--networkx-limit-s", type=float, default=20.0,
                    help="skip the networkx formulation at larger sizes once one call takes longer")
    args = ap.parse_args(argv)
    budget = 0.3 if args.quick else 1.5
    policies = {
        "kairos (fast path)": lambda: KairosPolicy(),
        "kairos (networkx)": lambda: KairosPolicy(method="networkx"),
        "paper": lambda: PaperPolicy(),
    }
    print(f"median microseconds per decision, 2N pending queries (rm2 profile, QoS {QOS_MS:g} ms)\n")
    results: dict[tuple[str, str], dict[int, float]] = {}
    for state in ("one-free", "all-idle"):
        skip_nx = False
        for n in args.sizes:
            facs = dict(policies)
            if skip_nx:
                del facs["kairos (networkx)"]
            us = time_interleaved(facs, n, state, budget, slow={"kairos (networkx)"})
            for name, v in us.items():
                results.setdefault((state, name), {})[n] = v
            if us.get("kairos (networkx)", 0.0) / 1e6 > args.networkx_limit_s / 4:
                skip_nx = True
        print(f"state: {state}")
        print(f"{'policy':20} " + " ".join(f"{f'N={n}':>12}" for n in args.sizes) + "   growth (per N x)")
        for name in policies:
            row = results.get((state, name), {})
            cells = " ".join(f"{row[n]:>12.1f}" if n in row else f"{'skipped':>12}" for n in args.sizes)
            ns = sorted(row)
            growth = ""
            if len(ns) >= 2:
                lo, hi = ns[0], ns[-1]
                expo = np.log(row[hi] / row[lo]) / np.log(hi / lo)
                growth = f"   x{row[hi] / row[lo]:.0f} from N={lo} to {hi} (~N^{expo:.1f})"
            print(f"{name:20} {cells}{growth}")
        print()
    print("ratios (kairos fast path / paper) — below 1 means KairosPolicy decides faster:")
    for state in ("one-free", "all-idle"):
        k, p = results[(state, "kairos (fast path)")], results[(state, "paper")]
        print(f"  {state:9} " + "  ".join(f"N={n}: {k[n] / p[n]:.2f}" for n in args.sizes if n in k and n in p))
    print("ratios (kairos networkx / fast path):")
    for state in ("one-free", "all-idle"):
        k, x = results[(state, "kairos (fast path)")], results[(state, "kairos (networkx)")]
        print(f"  {state:9} " + "  ".join(f"N={n}: {x[n] / k[n]:.0f}" for n in args.sizes if n in k and n in x))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
