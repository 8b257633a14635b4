"""KairosRequestRouter against Ray Serve's own router, on a real local Ray cluster.

The same heterogeneous replicas (a planned rm2 pool of ReplayModel replicas on nodes that
stand for g4dn.xlarge and r5n.large), the same seeded Poisson loads (DeepRecSys batch
sizes), routed by (a) Ray Serve's default PowerOfTwoChoicesRequestRouter and (b)
KairosRequestRouter; and ``simulate()`` of the same pool with KairosPolicy at the same rates.
For each rate: QoS attainment, p99 and throughput of both routers side by side; then the
throughput at QoS of each (the highest rate tried whose run met the target) and their ratio,
the per-request overhead of Ray Serve (client-observed latency minus the replica's sleep,
sequential requests) and the router's decision cost.

    python benchmarks/ray_router.py                     # both pools, 4 rates each
    python benchmarks/ray_router.py --pools 1.0 --fractions 0.5 0.7 0.9 1.1 --n 1500
    python benchmarks/ray_router.py --pools 1.0 --ingress 2   # two routers (ingress replicas)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import numpy as np

from kairos_sdk import KairosPolicy, Profile, Workload, allowable_throughput, simulate
from kairos_sdk.defaults import find_data_dir

POOLS = {"2.5": {"g4dn.xlarge": 1, "r5n.large": 13}, "1.0": {"g4dn.xlarge": 1, "r5n.large": 3}}
QOS_MS = 350.0


def _profile() -> Profile:
    d = find_data_dir()
    if d is not None:
        return Profile.from_csv(d / "latency.csv.gz", model="rm2", drop_outliers=True)
    print("(shared data not found: the built-in rm2 profile)", file=sys.stderr)
    return Profile.builtin("rm2")


async def _load(call, batches, gaps_s, *, timeout_s: float):
    """Send at the given gaps; returns (latency_ms or nan, wall seconds)."""
    t0 = time.perf_counter()
    sent = []

    async def one(b):
        s = time.perf_counter()
        try:
            await asyncio.wait_for(call(int(b)), timeout=timeout_s)
        except Exception:
            return float("nan")
        return 1000.0 * (time.perf_counter() - s)

    start = time.perf_counter()
    for b, g in zip(batches, gaps_s):
        start += g
        delay = start - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(asyncio.ensure_future(one(b)))
    lat = await asyncio.gather(*sent)
    return np.array(lat), time.perf_counter() - t0


def _row(lat: np.ndarray, wall_s: float) -> tuple[float, float, float]:
    ok = np.nan_to_num(lat, nan=np.inf)
    att = float(np.mean(ok <= QOS_MS))
    p99 = float(np.quantile(ok, 0.99))
    thr = float(np.count_nonzero(np.isfinite(lat)) / wall_s)
    return att, p99, thr


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pools", nargs="+", default=["1.0", "2.5"], choices=sorted(POOLS))
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.5, 0.7, 0.9, 1.1],
                    help="rates as fractions of the simulated KairosPolicy allowable rate")
    ap.add_argument("--n", type=int, default=1500, help="queries per run")
    ap.add_argument("--ingress", type=int, default=0,
                    help="route through this many ingress replicas (each one a router); 0 = the driver's handle")
    ap.add_argument("--routers", nargs="+", default=["power-of-two", "kairos"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        from ray import serve

        from kairos_sdk.ray import KairosRequestRouter, ReplayModel, build_app
        from kairos_sdk.ray.local import local_cluster
    except ImportError as exc:
        print(f"needs the [ray] extra: {exc}", file=sys.stderr)
        return 2

    prof = _profile()
    wl = Workload.deeprecsys()
    for pool_name in args.pools:
        pool = POOLS[pool_name]
        sim_qps = float(allowable_throughput(pool, prof, wl, KairosPolicy(), qos_ms=QOS_MS, n_queries=20_000,
                                             n_seeds=3))
        rates = [f * sim_qps for f in args.fractions]
        print(f"\nrm2 pool {pool_name} USD/h: {pool}; simulate(KairosPolicy) allowable {sim_qps:.1f} qps; "
              f"{args.n} queries per run" + (f"; {args.ingress} ingress replicas" if args.ingress else ""), flush=True)
        results: dict[str, list] = {}
        overhead: dict[str, float] = {}
        decide_us = float("nan")
        with local_cluster(pool, cpus_per_node=1.0, head_cpus=2.0):
            for router in args.routers:
                app = build_app(pool, prof, ReplayModel, qos_ms=QOS_MS, name="model", router=router, num_cpus=0.01,
                                workload=wl)
                if args.ingress:
                    ingress = _ingress_app(serve, app, args.ingress)
                    handle = serve.run(ingress, name="bench", route_prefix=None)

                    async def call(b, h=handle):
                        return await h.remote(b)
                else:
                    handle = serve.run(app, name="bench", route_prefix=None)

                    async def call(b, h=handle):
                        return await h.remote(None, batch_size=b)

                async def measure(call=call, rates=rates):
                    # sequential requests of the smallest batch: Ray Serve's own per-request cost
                    seq = []
                    for _ in range(100):
                        s = time.perf_counter()
                        r = await call(10)
                        seq.append(1000.0 * (time.perf_counter() - s) - r["service_ms"])
                    out = []
                    for rate in rates:
                        rng = np.random.default_rng(args.seed)
                        batches = wl.sample_batches(args.n, rng)
                        gaps = rng.exponential(1.0 / rate, size=args.n)
                        lat, wall = await _load(call, batches, gaps, timeout_s=30.0)
                        out.append(_row(lat, wall))
                    return float(np.median(seq)), out

                med, out = asyncio.run(measure())
                overhead[router] = med
                results[router] = out
                if router == "kairos" and not args.ingress:
                    live = KairosRequestRouter.live()
                    if live:
                        snap = live[0].snapshot()
                        decide_us = 1e6 * snap["decide_s"] / max(snap["decisions"], 1)
                serve.delete("bench")
        sims = []
        for rate in rates:
            r = simulate(pool, prof, wl, KairosPolicy(), rate=rate, qos_ms=QOS_MS, n_queries=args.n, seed=args.seed)
            sims.append((r.qos_attainment, r.p99_ms, r.throughput_qps))
        names = list(results)
        head = "  ".join(f"{n + ' att':>14} {'p99':>7} {'qps':>6}" for n in names)
        print(f"{'rate':>7}  {head}  {'simulate att':>12} {'p99':>7}")
        for i, rate in enumerate(rates):
            cells = "  ".join(f"{results[n][i][0]:14.4f} {results[n][i][1]:7.0f} {results[n][i][2]:6.1f}" for n in names)
            print(f"{rate:7.1f}  {cells}  {sims[i][0]:12.4f} {sims[i][1]:7.0f}")
        at_qos = {}
        for n in names:
            ok = [rates[i] for i in range(len(rates)) if results[n][i][0] >= 0.99]
            at_qos[n] = max(ok) if ok else 0.0
        line = ", ".join(f"{n} {at_qos[n]:.1f} qps" for n in names)
        ratio = (at_qos.get("kairos", 0) / at_qos["power-of-two"]) if at_qos.get("power-of-two") else float("inf")
        print(f"throughput at QoS (highest rate tried meeting p99 <= {QOS_MS:g} ms): {line}; ratio {ratio:.2f}")
        print("Ray Serve per-request overhead (median, sequential, client latency minus replica sleep): "
              + ", ".join(f"{n} {overhead[n]:.2f} ms" for n in names))
        if np.isfinite(decide_us):
            print(f"KairosRequestRouter decision: {decide_us:.0f} us per policy decision (mean)")
    return 0


def _ingress_app(serve, model_app, replicas: int):
    @serve.deployment(num_replicas=replicas, ray_actor_options={"num_cpus": 0.01}, max_ongoing_requests=10_000)
    class Ingress:
        def __init__(self, model):
            self.model = model

        async def __call__(self, batch: int):
            return await self.model.remote(None, batch_size=batch)

    return Ingress.bind(model_app)


if __name__ == "__main__":
    raise SystemExit(main())
