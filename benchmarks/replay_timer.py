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

    python benchmarks/replay_timer.py [--queries 1500] [--model ncf] [--rate 400]

Then the client's side of the same problem: an open-loop run sends each query at its
arrival time, and a late wake-up counts as latency. For each loop and pacing mode of
``KairosClient.schedule_mode`` (``timer``: the loop's timer; ``spin``: timer, then yield to
the loop; ``thread``: a pacing thread's timed waits, handed to the loop a little early, the
loop waiting out the rest; ``thread, no lead``: the same handed over at the due time) it prints how late
queries were sent (8 idle-enough endpoints, so the policy sends at once) and the process's CPU
share, and the ratios to the first row.

Last, the idle penalty: sequential requests to one endpoint with the client and the server
idle 0, 2 or 6 ms before each; the wire time grows with the idle time (colder processes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import numpy as np
from live_vs_simulate import ReplayProcess  # benchmarks/ is on the path of a script run from it

from kairos_sdk import Pool, Profile, Workload, _loop
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
    return {"overshoot": over, "overhead": split["wire_ms"] + split["server_queue_ms"] + split["server_extra_ms"],
            "cpu_ms_per_query": np.array([(time.process_time() - cpu0) * 1000.0 / n])}


async def pacing(model: str, n: int, mode: str, rate: float) -> dict[str, np.ndarray]:
    """The client's open-loop pacing: how late each query is sent after its arrival, with
    eight idle-enough endpoints (10-20 % busy, in a child process as ``kairos serve-replay``
    runs them) so that the policy sends at once. ``"thread, no lead"`` is the pacing thread
    without its early hand-off (``PACE_LEAD_S = PACE_HAND_S = 0``)."""
    prof = Profile.builtin(model)
    lead = _loop.PACE_LEAD_S, _loop.PACE_HAND_S
    if mode == "thread, no lead":
        mode, _loop.PACE_LEAD_S, _loop.PACE_HAND_S = "thread", 0.0, 0.0
    KairosClient.schedule_mode = mode
    with ReplayProcess(model, Pool.from_counts({"g4dn.xlarge": 8})) as pool:
        async with KairosClient(pool, protocol=OpenInferenceProtocol(model), profile=prof, qos_ms=1e4) as client:
            cpu0, t0 = time.process_time(), time.perf_counter()
            r = await client.run(Workload.deeprecsys(), rate=rate, n_queries=n, seed=3, progress=False)
    _loop.PACE_LEAD_S, _loop.PACE_HAND_S = lead
    split = breakdown(r)
    return {"late": split["client_ms"] + split["pending_ms"], "cpu_share": np.array([(time.process_time() - cpu0)
                                                                      / (time.perf_counter() - t0)])}


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

    # the client's pacing of open-loop arrivals: loop timer only, timer then yield, a thread
    default_mode = KairosClient.schedule_mode
    prow = []
    for name, factory in loops:
        for mode in ("timer", "spin", "thread, no lead", "thread") if name == "asyncio" else ("timer", "thread"):
            with asyncio.Runner(loop_factory=factory) as runner:
                prow.append((f"{name}, {mode}", runner.run(pacing(args.model, args.queries, mode, args.rate))))
    KairosClient.schedule_mode = default_mode
    print(f"\nclient pacing at {args.rate:g} qps (8 endpoints in a child process): "
          "send lateness after the arrival, ms")
    print(f"{'configuration':28s} {'late p50':>9s} {'p99':>8s} {'mean':>8s} | {'process CPU share':>17s}")
    for label, r in prow:
        lt = r["late"][np.isfinite(r["late"])]
        print(f"{label:28s} {np.quantile(lt, .5):9.4f} {np.quantile(lt, .99):8.4f} {lt.mean():8.4f} | "
              f"{r['cpu_share'][0]:17.0%}")
    ref = prow[0][1]["late"]
    for label, r in prow[1:]:
        print(f"{label:28s} lateness p50 x{np.nanquantile(r['late'], .5) / max(np.nanquantile(ref, .5), 1e-9):.3f}, "
              f"p99 x{np.nanquantile(r['late'], .99) / max(np.nanquantile(ref, .99), 1e-9):.3f} vs {prow[0][0]}")


    idle_penalty(args.model, args.queries)


def idle_penalty(model: str, n: int, gaps_ms: tuple[float, ...] = (0.0, 2.0, 6.0)) -> None:
    """The overhead of a query that finds the client and the server idle: sequential requests
    to one endpoint in a child process, this process sleeping ``gap`` before each (so both sit
    idle), the wire time (round trip minus the server's time) per gap."""
    async def measure_gaps() -> dict[float, np.ndarray]:
        out = {}
        with ReplayProcess(model, Pool.from_counts({"g4dn.xlarge": 1})) as pool:
            async with KairosClient(pool, protocol=OpenInferenceProtocol(model)) as client:
                body = client._body_for_batch(50)
                for gap in gaps_ms:
                    wire = []
                    for _ in range(n // len(gaps_ms)):
                        time.sleep(gap / 1000.0)  # blocks the loop: the process idles, as does the server
                        _, ms, timing = await client._send_pinned(0, body)
                        wire.append(ms - timing[0] - timing[1] - timing[2])
                    out[gap] = np.asarray(wire[20:])
        return out

    with asyncio.Runner() as runner:
        res = runner.run(measure_gaps())
    print(f"\nidle penalty ({model}, one endpoint in a child process, sequential, batch 50): wire ms "
          "(round trip minus the server's time)")
    ref = np.quantile(res[gaps_ms[0]], .5)
    for gap, w in res.items():
        print(f"  idle {gap:4.1f} ms before each request: p50 {np.quantile(w, .5):.3f} p99 {np.quantile(w, .99):.3f} "
              f"mean {w.mean():.3f}  (p50 x{np.quantile(w, .5) / ref:.2f} the back-to-back one)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=1500)
    ap.add_argument("--model", default="ncf")
    ap.add_argument("--rate", type=float, default=400.0, help="offered rate of the pacing measurement")
    main(ap.parse_args())
