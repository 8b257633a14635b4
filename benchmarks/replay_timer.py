"""How faithful is a replay endpoint's service time, and what does a query pay on top of it?

One replay endpoint (ncf, one g4dn.xlarge) and the client in one process, sequential queries
(no queueing): for each event loop (asyncio's default and, when installed, uvloop) and each
timer mode of the endpoint (``spin_s = 0``: sleep on the loop's timer only; the default
``spin_s``: timer, then yield to the loop until the deadline — asyncio only, see
:func:`kairos_sdk._loop.sleep_until`), prints the overshoot of the
real service time over the profile's draw and the per-query overhead (round trip minus the
server's reported compute), p50/p99/mean, and the ratios to the first configuration
measured in the same run.

Run::

    python benchmarks/replay_timer.py [--queries 1500] [--model ncf]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import numpy as np

from kairos_sdk import Pool, Profile, Workload
from kairos_sdk.client import KairosClient, OpenInferenceProtocol
from kairos_sdk.endpoints import ReplayEndpoint, ReplayPool
from kairos_sdk.overhead import breakdown

try:
    import uvloop
except ImportError:  # optional extra: pip install kairos-sdk[fast]
    uvloop = None


async def measure(model: str, n: int, spin_s: float) -> dict[str, np.ndarray]:
    prof = Profile.builtin(model)
    pool = Pool.from_counts({"g4dn.xlarge": 1})
    ReplayEndpoint.spin_s = spin_s
    cpu0 = time.process_time()
    async with ReplayPool(pool, prof, model=model, seed=1) as rp, KairosClient(
            rp.pool, protocol=OpenInferenceProtocol(model), profile=prof, qos_ms=1e4) as client:
        # far below capacity: every query finds the endpoint idle
        r = await client.run(Workload.deeprecsys(), rate=50, n_queries=n, seed=2, progress=False)
        ep = rp.endpoints[0]
        over = np.asarray(ep.actual_ms) - np.asarray(ep.service_ms)
    split = breakdown(r)
    return {"overshoot": over, "overhead": split["wire_ms"] + split["server_queue_ms"],
            "cpu_ms_per_query": np.array([(time.process_time() - cpu0) * 1000.0 / n])}


def main(args: argparse.Namespace) -> None:
    default_spin = ReplayEndpoint.spin_s
    loops = [("asyncio", None)] + ([("uvloop", uvloop.new_event_loop)] if uvloop is not None else [])
    rows = []
    for name, factory in loops:
        # on uvloop sleep_until never yields in a loop (it starved uvloop's I/O): timer only
        for spin in ((0.0, default_spin) if name == "asyncio" else (0.0,)):
            with asyncio.Runner(loop_factory=factory) as runner:
                res = runner.run(measure(args.model, args.queries, spin))
            rows.append((f"{name}, spin_s={spin * 1000:g} ms", res))
    ReplayEndpoint.spin_s = default_spin
    print(f"{args.model}, {args.queries} sequential queries per configuration; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"{'configuration':28s} {'overshoot p50':>13s} {'p99':>8s} {'mean':>8s} | {'overhead p50':>12s} {'p99':>8s} "
          f"{'mean':>8s} | {'CPU ms/q':>8s}")
    ref = rows[0][1]
    for label, r in rows:
        o, w = r["overshoot"], r["overhead"]
        print(f"{label:28s} {np.quantile(o, .5):13.4f} {np.quantile(o, .99):8.4f} {o.mean():8.4f} | "
              f"{np.quantile(w, .5):12.4f} {np.quantile(w, .99):8.4f} {w.mean():8.4f} | {r['cpu_ms_per_query'][0]:8.3f}")
    print("\nratios to the first row (same run):")
    for label, r in rows[1:]:
        print(f"{label:28s} overshoot p99 x{np.quantile(r['overshoot'], .99) / max(np.quantile(ref['overshoot'], .99), 1e-9):.3f}, "
              f"overhead p50 x{np.quantile(r['overhead'], .5) / np.quantile(ref['overhead'], .5):.3f}, "
              f"overhead p99 x{np.quantile(r['overhead'], .99) / np.quantile(ref['overhead'], .99):.3f}, "
              f"CPU/query x{r['cpu_ms_per_query'][0] / ref['cpu_ms_per_query'][0]:.3f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=1500)
    ap.add_argument("--model", default="ncf")
    main(ap.parse_args())
