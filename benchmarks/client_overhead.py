"""Client overhead: KairosClient vs a bare aiohttp request loop, side by side in one run.

Zero-latency replay endpoints (``time_scale=0``) run in a separate process; the client
process drives them in two ways, like for like:

* bare   — one aiohttp worker per endpoint: POST the same JSON body, read, parse the reply.
* client — ``KairosClient`` (FCFS and Kairos policies, ``concurrency=1``) driven by one
  caller per endpoint, each awaiting one query at a time: pending queue, policy decision on
  every arrival and completion, reply parsed into numpy arrays, retry bookkeeping.

Both sides keep N = endpoints queries outstanding (so at most one request in flight per
endpoint) and parse replies with the same JSON parser (``--json``: orjson, the ``fast``
extra, or the standard library; the client's protocol is switched to it). An extra row, not
in the ratio, drives the client with 2N outstanding: then a completion starts the next
queued query at once, before the caller even sees its reply, a head start the bare loop's
workers do not get.

Printed: both sides' settings, sustained queries/s, client-process CPU per query and the
ratio client/bare; the client's extra CPU per query is the difference. Target: client
throughput >= 0.6x the bare loop.

Run::

    python benchmarks/client_overhead.py [--endpoints 4] [--queries 3000] [--batch 100] [--json orjson|stdlib]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from kairos_sdk import Pool, Profile
from kairos_sdk.client import KairosClient, OpenInferenceProtocol, protocols
from kairos_sdk.distribute import FCFSPolicy

MODEL = "bench"


def start_servers(n: int, tmp: Path) -> tuple[subprocess.Popen, list[str]]:
    pool_file = tmp / "pool.json"
    code = (
        "from kairos_sdk import Profile; from kairos_sdk.endpoints import serve_forever; "
        f"serve_forever({{'g4dn.xlarge': {n}}}, Profile.builtin('rm2'), model={MODEL!r}, time_scale=0.0, "
        f"pool_file={str(pool_file)!r})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while not pool_file.exists() or not pool_file.read_text().strip().endswith("}"):
        if proc.poll() is not None or time.time() > deadline:
            raise SystemExit(f"replay servers did not start:\n{proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.05)
    doc = json.loads(pool_file.read_text())
    return proc, [i["endpoint"] for i in doc["instances"]]


async def bare_loop(urls: list[str], body: bytes, n: int) -> tuple[float, float]:
    connector = aiohttp.TCPConnector(limit=100, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        infer = [u + f"/v2/models/{MODEL}/infer" for u in urls]
        headers = {"Content-Type": "application/json"}
        left = [0]

        async def worker(url: str) -> None:
            while left[0] > 0:
                left[0] -= 1
                async with session.post(url, data=body, headers=headers) as r:
                    protocols._loads(await r.read())  # the parser the client's protocol uses
                    assert r.status == 200

        left[0] = 4 * len(infer)
        await asyncio.gather(*(worker(u) for u in infer))  # warm-up: connections, caches
        left[0] = n
        c0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(u) for u in infer))
        return n / (time.perf_counter() - t0), (time.process_time() - c0) / n


async def client_loop(pool: Pool, batch: int, n: int, policy, window: int) -> tuple[float, float]:
    prof = Profile.builtin("rm2")
    async with KairosClient(pool, protocol=OpenInferenceProtocol(MODEL), policy=policy, profile=prof, qos_ms=350,
                            concurrency=1) as client:

        async def drive(count: int) -> None:
            left = [count]

            async def one() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    await client.infer(batch_size=batch)

            await asyncio.gather(*(one() for _ in range(window)))

        await drive(4 * window)  # warm-up
        c0, t0 = time.process_time(), time.perf_counter()
        await drive(n)
        return n / (time.perf_counter() - t0), (time.process_time() - c0) / n


async def main(args: argparse.Namespace) -> None:
    from kairos_sdk.distribute import KairosPolicy

    if args.json == "orjson":
        import orjson  # the ``fast`` extra

        protocols._orjson = orjson
    else:
        protocols._orjson = None
    n = args.endpoints
    with tempfile.TemporaryDirectory() as tmp:
        proc, urls = start_servers(n, Path(tmp))
        try:
            pool = Pool.from_counts({"g4dn.xlarge": n}).with_endpoints(urls)
            body = OpenInferenceProtocol(MODEL).encode_inputs(OpenInferenceProtocol(MODEL).synthetic_inputs(args.batch))
            runs = {
                "bare aiohttp loop": lambda: bare_loop(urls, body, args.queries),
                "KairosClient fcfs": lambda: client_loop(pool, args.batch, args.queries, FCFSPolicy(), n),
                "KairosClient kairos": lambda: client_loop(pool, args.batch, args.queries, KairosPolicy(), n),
                "client fcfs, 2N out*": lambda: client_loop(pool, args.batch, args.queries, FCFSPolicy(), 2 * n),
            }
            names = list(runs)
            rounds: list[dict[str, tuple[float, float]]] = []
            for r in range(args.repeats):  # every row once per round, order rotated: load drift hits all alike
                order = names[r % len(names):] + names[: r % len(names)]
                rounds.append({name: await runs[name]() for name in order})
        finally:
            proc.terminate()
            proc.wait(10)

    def med(name: str, k: int) -> float:
        return statistics.median(rnd[name][k] for rnd in rounds)

    def paired(name: str, f) -> list[float]:  # client vs the bare loop of the same round
        return sorted(f(rnd[name], rnd["bare aiohttp loop"]) for rnd in rounds)

    parser = f"{args.json} ({'orjson.loads' if args.json == 'orjson' else 'json.loads'})"
    print(f"{n} zero-latency replay endpoints in another process, batch {args.batch}, {args.queries} queries per run, "
          f"{args.repeats} rounds (machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    print(f"  bare  : {n} aiohttp workers, 1 request each -> {n} outstanding, <= 1 in flight per endpoint; "
          f"JSON parser {parser}")
    print(f"  client: {n} callers awaiting client.infer() -> {n} outstanding, concurrency=1 -> <= 1 in flight per "
          f"endpoint; JSON parser {parser}, encoder {args.json}")
    print("\nmedians over the rounds; 'vs bare' pairs each run with the bare loop of its round (median, range)")
    print(f"{'':22s} {'queries/s':>10s} {'CPU us/query':>13s} {'vs bare':>8s} {'range':>12s} {'extra CPU us':>13s}")
    for name in names:
        ratio = paired(name, lambda c, b: c[0] / b[0])
        extra = paired(name, lambda c, b: (c[1] - b[1]) * 1e6)
        print(f"{name:22s} {med(name, 0):10.0f} {med(name, 1) * 1e6:13.0f} {statistics.median(ratio):7.2f}x "
              f"{f'{ratio[0]:.2f}-{ratio[-1]:.2f}x':>12s} {statistics.median(extra):13.0f}")
    print(f"* not like for like: {2 * n} outstanding, the extra {n} queued in the client, which starts one the "
          "moment a reply lands")
    for label in ("fcfs", "kairos"):
        name = f"KairosClient {label}"
        ratio = statistics.median(paired(name, lambda c, b: c[0] / b[0]))
        extra = statistics.median(paired(name, lambda c, b: (c[1] - b[1]) * 1e6))
        print(f"client/bare ({label}): throughput {ratio:.2f}x (target >= 0.6x); client's extra CPU {extra:.0f} us per query")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoints", type=int, default=4)
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5, help="rounds; every row runs once per round")
    ap.add_argument("--json", choices=("orjson", "stdlib"), default="orjson" if protocols._orjson is not None else "stdlib",
                    help="JSON parser for both sides (default: orjson when installed)")
    asyncio.run(main(ap.parse_args()))
