"""KairosRequestRouter against Ray Serve's own router, on a real local Ray cluster.

The same heterogeneous replicas (a planned rm2 pool of ReplayModel replicas on nodes that
stand for g4dn.xlarge and r5n.large), the same seeded Poisson loads (DeepRecSys batch
sizes), routed by (a) Ray Serve's default PowerOfTwoChoicesRequestRouter and (b)
KairosRequestRouter; and ``simulate()`` of the same pool with KairosPolicy and Ray Serve's
measured per-request overhead.

How it runs:

* **Time-scaled** (``--time-scale``, default 4): every replica sleeps ``time_scale`` times
  the profile's latency, the routers get the profile and the QoS scaled alike, and the
  offered rates are divided by it. Ray Serve's fixed per-request cost (milliseconds of
  Python per hop) and this machine's two cores then weigh ``time_scale`` times less
  against the service times. Every rate, latency and throughput printed is in profile time
  (wall time divided by the scale), comparable with ``simulate``.
* **Routers out of the load generator's process** (``--ingress``, default 1): the driver
  sends each request to an ingress deployment whose replicas call the model's handle, so
  the router under test lives in the ingress replica's process; ``--ingress 2`` makes two
  routers (two ingress replicas, each with its own view), ``--ingress 0`` routes from the
  driver's own handle.
* **Ray Serve's per-request overhead**: ``--seq`` sequential requests of the smallest batch
  size through the same path; client latency minus the replica's reported sleep. Its
  distribution (profile time) is attached to the profile (``Profile.with_overhead``) for
  the ``simulate`` column, so that column is like for like.
* **Throughput at QoS** per router: a ladder of offered rates (fractions of the simulated
  allowable rate of KairosPolicy, without overhead, the issue's reference), climbed until a
  run misses p99 <= QoS (and halved below the first rung while even that misses); the
  highest rate that met it, and the ratio KairosRequestRouter / default.
* **Decision cost**: KairosRequestRouter's mean time per policy decision (state build,
  policy, bookkeeping), read from the routers in the ingress replicas, next to Ray's
  per-request overhead.

    python benchmarks/ray_router.py                                   # both pools
    python benchmarks/ray_router.py --pools 2.5 --fractions 0.5 0.7 0.85 1.0 --n 500
    python benchmarks/ray_router.py --pools 2.5 --ingress 2           # two routers live
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import numpy as np

from kairos_sdk import KairosPolicy, Profile, Workload, allowable_throughput, simulate
from kairos_sdk.datadir import find_data_dir
from kairos_sdk.overhead import Overhead

POOLS = {"2.5": {"g4dn.xlarge": 1, "r5n.large": 13}, "1.0": {"g4dn.xlarge": 1, "r5n.large": 3}}
QOS_MS = 350.0
TARGET = 0.99


def _profile() -> Profile:
    d = find_data_dir()
    if d is not None:
        return Profile.from_csv(d / "latency.csv.gz", model="rm2", drop_outliers=True)
    print("(shared data not found: the built-in rm2 profile)", file=sys.stderr)
    return Profile.builtin("rm2")


async def _load(call, batches, gaps_s, *, timeout_s: float):
    """Send at the given gaps; returns (wall latency ms or nan, wall seconds)."""
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


def _row(lat_ms: np.ndarray, wall_s: float) -> tuple[float, float, float]:
    """(attainment, p99 ms, served qps), all in profile time."""
    ok = np.nan_to_num(lat_ms, nan=np.inf)
    return (float(np.mean(ok <= QOS_MS)), float(np.quantile(ok, 0.99)),
            float(np.count_nonzero(np.isfinite(lat_ms)) / wall_s))


def _ingress_app(serve, model_app, replicas: int):
    @serve.deployment(num_replicas=replicas, ray_actor_options={"num_cpus": 0.01}, max_ongoing_requests=10_000)
    class Ingress:
        def __init__(self, model):
            self.model = model

        async def __call__(self, batch: int):
            return await self.model.remote(None, batch_size=batch)

        def router_stats(self) -> list[dict]:
            from ray import serve as _serve

            from kairos_sdk.ray import KairosRequestRouter

            me = _serve.get_replica_context().replica_id.unique_id
            return [dict(r.snapshot(), ingress=me) for r in KairosRequestRouter.live()]

    return Ingress.bind(model_app)


async def _router_stats(handle, ingress: int) -> list[dict]:
    """The KairosRequestRouter snapshots of every ingress replica (asked until each answered)."""
    if not ingress:
        from kairos_sdk.ray import KairosRequestRouter

        return [r.snapshot() for r in KairosRequestRouter.live()]
    seen: dict[str, list[dict]] = {}
    for _ in range(40 * ingress):
        snaps = await handle.router_stats.remote()
        for s in snaps:
            seen[s["ingress"]] = snaps
        if len(seen) >= ingress:
            break
    return [s for snaps in seen.values() for s in snaps]


async def _measure(call, args, wl, rates_wall: list[float]):  # long: overhead, then the ladder with its stops
    """Sequential overhead samples (profile ms), then the load ladder: {rate index: row}."""
    for _ in range(10):  # warm up: the router learns the replicas' types, the policy is prepared
        await call(int(wl.batch_sizes.min()))
    seq = []
    for _ in range(args.seq):
        s = time.perf_counter()
        r = await call(int(wl.batch_sizes.min()))
        seq.append((1000.0 * (time.perf_counter() - s) - r["service_ms"] * args.time_scale) / args.time_scale)
    rows: dict[float, tuple] = {}

    async def run(rate):
        n = min(args.n, max(100, int(rate * args.max_run_s)))  # slow rates: shorter runs
        rng = np.random.default_rng(args.seed)
        batches = wl.sample_batches(n, rng)
        gaps = rng.exponential(1.0 / rate, size=n)
        lat, wall = await _load(call, batches, gaps, timeout_s=60.0 * args.time_scale)
        row = _row(lat / args.time_scale, wall / args.time_scale)
        rows[rate] = row
        print(f"    {rate * args.time_scale:7.1f} qps: attainment {row[0]:.4f}, p99 {row[1]:.0f} ms ({n} queries)",
              flush=True)
        return row[0] >= TARGET

    for rate in rates_wall:  # climb until a run misses the target
        if not await run(rate):
            break
    low = min(rates_wall)
    for _ in range(2):  # the first rung missed: look lower
        if any(rows[r][0] >= TARGET for r in rows):
            break
        low /= 2
        await run(low)
    return np.maximum(np.array(seq), 0.0), rows


def _run_router(serve, router, pool, prof, wl, args, rates_wall):
    from kairos_sdk.ray import ReplayModel, build_app

    app = build_app(pool, prof, ReplayModel, qos_ms=QOS_MS, name="model", router=router, num_cpus=0.01,
                    workload=wl, time_scale=args.time_scale)
    if args.ingress:
        handle = serve.run(_ingress_app(serve, app, args.ingress), name="bench", route_prefix=None)

        async def call(b, h=handle):
            return await h.remote(b)
    else:
        handle = serve.run(app, name="bench", route_prefix=None)

        async def call(b, h=handle):
            return await h.remote(None, batch_size=b)

    async def go():
        seq, rows = await _measure(call, args, wl, rates_wall)
        stats = await _router_stats(handle, args.ingress) if router == "kairos" else []
        return seq, rows, stats

    print(f"  {router}:", flush=True)
    out = asyncio.run(go())
    serve.delete("bench")
    return out


def _report(pool_name, args, rates_wall, results, prof, pool, wl, sim_qps):  # long: one printed table
    ts = args.time_scale
    ov = Overhead.from_samples(results["kairos"][0] if "kairos" in results else next(iter(results.values()))[0],
                               source="Ray Serve, sequential")
    prof_ov = prof.with_overhead(ov)
    sim_ov_qps = float(allowable_throughput(pool, prof_ov, wl, KairosPolicy(), qos_ms=QOS_MS, n_queries=20_000,
                                            n_seeds=3))
    names = list(results)
    all_rates = sorted({r for n in names for r in results[n][1]})
    head = "  ".join(f"{n + ' att':>16} {'p99':>6} {'qps':>6}" for n in names)
    print(f"\n== rm2 pool {pool_name} USD/h {pool}: time scale {ts:g}, up to {args.n} queries per run, "
          + (f"{args.ingress} ingress replica(s) (routers)" if args.ingress else "router in the driver"))
    print(f"{'rate':>7}  {head}  {'sim+ovh att':>11} {'p99':>6}")
    for rate in all_rates:
        cells = []
        for n in names:
            row = results[n][1].get(rate)
            cells.append(f"{row[0]:16.4f} {row[1]:6.0f} {row[2]:6.1f}" if row else f"{'-':>16} {'':6} {'':6}")
        r = simulate(pool, prof_ov, wl, KairosPolicy(), rate=rate * ts, qos_ms=QOS_MS,
                     n_queries=max(args.n, 5000), seed=args.seed)
        print(f"{rate * ts:7.1f}  {'  '.join(cells)}  {r.qos_attainment:11.4f} {r.p99_ms:6.0f}")
    at_qos = {n: max([r * ts for r, row in results[n][1].items() if row[0] >= TARGET], default=0.0) for n in names}
    ratio = at_qos.get("kairos", 0.0) / at_qos["power-of-two"] if at_qos.get("power-of-two") else float("inf")
    print(f"simulate(KairosPolicy) allowable: {sim_qps:.1f} qps without overhead, {sim_ov_qps:.1f} qps with "
          f"Ray's measured overhead")
    both = "kairos" in at_qos and "power-of-two" in at_qos
    print("throughput at QoS (highest rate run meeting p99 <= 350 ms): "
          + ", ".join(f"{n} {at_qos[n]:.1f} qps" for n in names)
          + (f"; ratio kairos/default {ratio:.2f}" if both else ""))
    for n in names:
        seq = results[n][0]
        print(f"Ray Serve per-request overhead with {n}: median {np.median(seq) * ts:.2f} ms wall "
              f"(p99 {np.quantile(seq, 0.99) * ts:.2f} ms; {np.median(seq):.2f} ms profile time)")
    stats = results.get("kairos", (None, None, []))[2]
    if stats:
        dec = sum(s["decisions"] for s in stats)
        routed = sum(sum(s["routed_by_type"].values()) for s in stats)
        dec_s = sum(s["decide_s"] for s in stats)
        cpu_s = sum(s.get("decide_cpu_s", float("nan")) for s in stats)
        print(f"KairosRequestRouter ({len(stats)} router(s)): {1e6 * dec_s / max(dec, 1):.0f} us per decision "
              f"({1e6 * cpu_s / max(dec, 1):.0f} us of CPU), "
              f"{dec / max(routed, 1):.2f} decisions and {1e6 * dec_s / max(routed, 1):.0f} us of deciding per "
              f"request; {sum(s['taken_out'] for s in stats)} replicas taken out of rotation, "
              f"{sum(s['probes'] for s in stats)} probes")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pools", nargs="+", default=["2.5", "1.0"], choices=sorted(POOLS))
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.5, 0.7, 0.85, 1.0],
                    help="the ladder of rates, fractions of the simulated KairosPolicy allowable rate")
    ap.add_argument("--n", type=int, default=500, help="queries per run")
    ap.add_argument("--max-run-s", type=float, default=75.0,
                    help="fewer queries (at least 100) in a run at a rate that would take longer (wall s)")
    ap.add_argument("--time-scale", type=float, default=4.0, help="wall time per profile time")
    ap.add_argument("--ingress", type=int, default=1,
                    help="ingress replicas, each one a router (0 = route from the driver's handle)")
    ap.add_argument("--routers", nargs="+", default=["power-of-two", "kairos"])
    ap.add_argument("--seq", type=int, default=100, help="sequential requests measuring the overhead")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        from ray import serve

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
        rates_wall = sorted(f * sim_qps / args.time_scale for f in args.fractions)
        print(f"\nrm2 pool {pool_name} USD/h {pool}: simulate(KairosPolicy) allowable {sim_qps:.1f} qps", flush=True)
        with local_cluster(pool, cpus_per_node=1.0, head_cpus=2.0):
            results = {r: _run_router(serve, r, pool, prof, wl, args, rates_wall) for r in args.routers}
        _report(pool_name, args, rates_wall, results, prof, pool, wl, sim_qps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
