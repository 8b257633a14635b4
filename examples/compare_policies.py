"""Compare distribution policies on a planned pool, in the simulator (a few seconds).

Plans a 2.5 USD/h pool for rm2 from the built-in profile, simulates it at one load under
every policy, then finds each policy's allowable throughput (the highest Poisson rate at
which 99% of queries finish within 350 ms).

    python examples/compare_policies.py
"""

from __future__ import annotations

import os
import time

from kairos_sdk import Catalog, Planner, Profile, Workload, allowable_throughput, simulate
from kairos_sdk.distribute import (
    FCFSPolicy,
    KairosPolicy,
    LeastWorkPolicy,
    PaperPolicy,
    RoundRobinPolicy,
)

QOS_MS = 350.0
PRICES = {"g4dn.xlarge": 0.526, "c5n.2xlarge": 0.432, "r5n.large": 0.149, "t3.xlarge": 0.1664}
CAPS = {"g4dn.xlarge": 5, "c5n.2xlarge": 6, "r5n.large": 17, "t3.xlarge": 15}
FAST = bool(os.environ.get("KAIROS_EXAMPLE_FAST"))  # set by the test suite
N_RUN, N_TRIAL = (2_000, 1_500) if FAST else (10_000, 5_000)


def main() -> None:
    profile = Profile.builtin("rm2")
    workload = Workload.deeprecsys()
    planner = Planner(profile, Catalog.from_prices(PRICES, caps=CAPS), workload, qos_ms=QOS_MS)
    plan = planner.plan(budget=2.5)
    pool = plan.pool()
    print(f"plan: {plan.counts}, ${plan.cost_per_hour:.3f}/h, predicted {plan.predicted_qps:.1f} qps\n")
    policies = [KairosPolicy(), PaperPolicy(), LeastWorkPolicy(), FCFSPolicy(), RoundRobinPolicy()]

    rate = 0.9 * plan.predicted_qps
    print(f"one run each at {rate:.1f} qps, {N_RUN:,} queries:")
    for pol in policies:
        t0 = time.perf_counter()
        r = simulate(pool, profile, workload, pol, rate=rate, qos_ms=QOS_MS, n_queries=N_RUN, seed=0, plan=plan)
        worst = min((a for *_, n, a in r.attainment_by_batch() if n), default=float("nan"))
        print(f"  {pol.name:12} p99 {r.p99_ms:7.1f} ms   within QoS {r.qos_attainment:7.2%}   "
              f"worst batch range {worst:7.2%}   ({time.perf_counter() - t0:.2f} s)")

    print(f"\nallowable throughput ({N_TRIAL:,} queries per trial, 1 seed, 2 % bisection):")
    for pol in policies:
        q = allowable_throughput(pool, profile, workload, pol, qos_ms=QOS_MS, n_queries=N_TRIAL, n_seeds=1,
                                 rel_tol=0.02, plan=plan)
        print(f"  {pol.name:12} {float(q):7.1f} qps")


if __name__ == "__main__":
    main()
