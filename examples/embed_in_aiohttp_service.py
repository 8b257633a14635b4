"""Embed the client in a web service: an aiohttp app whose handler forwards each request to
the pool through one shared KairosClient.

    python examples/embed_in_aiohttp_service.py [--serve]

The app owns the client for its whole life (``cleanup_ctx``): one connection pool, one
pending queue and one distribution policy shared by every request the service handles, so
the policy sees the service's whole load. Here the pool is served by replay endpoints on
127.0.0.1; in production give ``Pool.with_endpoints`` your servers' URLs.

Without ``--serve`` the script starts the service on a free loopback port, sends it a few
requests, prints the answers and exits. With ``--serve`` it keeps running; try
``curl -s localhost:PORT/predict -d '{"rows": [[1, 2], [3, 4]]}'``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket

import aiohttp
import numpy as np
from aiohttp import web

import kairos_sdk as ks
from kairos_sdk.client import KairosClient, OpenInferenceProtocol
from kairos_sdk.distribute import KairosPolicy
from kairos_sdk.endpoints import serve_pool

MODEL = "rm2"
CLIENT = web.AppKey("client", KairosClient)


async def pool_and_client(app: web.Application):
    """Start the backend pool (replay endpoints here) and the one shared client; stop both on exit."""
    profile = ks.Profile.builtin(MODEL)
    pool = ks.Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2})
    async with serve_pool(pool, profile, model=MODEL) as live, KairosClient(
        live, protocol=OpenInferenceProtocol(MODEL), policy=KairosPolicy(), profile=profile, qos_ms=350,
        timeout_s=5.0,
    ) as client:
        app[CLIENT] = client
        yield


async def predict(request: web.Request) -> web.Response:
    try:
        rows = np.asarray((await request.json())["rows"], dtype=np.float32)
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": 'send {"rows": [[...], ...]}: equal-length lists of numbers'}, status=400)
    try:
        reply = await request.app[CLIENT].infer(rows)
    except ks.KairosError as exc:  # every failure the client can report is a KairosError
        return web.json_response({"error": str(exc)}, status=503)
    return web.json_response({
        "outputs": reply.output.ravel().tolist(),
        "served_by": reply.instance_id,
        "latency_ms": round(reply.latency_ms, 2),
        "attempts": reply.attempts,
    })


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[CLIENT].stats())


def make_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(pool_and_client)
    app.router.add_post("/predict", predict)
    app.router.add_get("/stats", stats)
    return app


async def demo() -> None:
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    with socket.socket() as s:  # a free loopback port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    print(f"service listening on {base}")
    try:
        async with aiohttp.ClientSession() as http:
            rng = np.random.default_rng(0)
            requests = [rng.random((int(b), 2)).round(3).tolist() for b in (5, 120, 400, 40, 800, 10)]

            async def call(rows):
                async with http.post(base + "/predict", json={"rows": rows}) as r:
                    return r.status, await r.json()

            for (status, body), rows in zip(await asyncio.gather(*(call(r) for r in requests)), requests):
                print(f"POST /predict batch {len(rows):4d} -> {status}: served by {body['served_by']}, "
                      f"{body['latency_ms']:.1f} ms, attempts {body['attempts']}, first output {body['outputs'][0]:.3f}")
            status, body = await call([[1.0], [2.0, 3.0]])
            print(f"POST /predict ragged rows -> {status}: {body['error']}")
            async with http.get(base + "/stats") as r:
                served = {k: v["served"] for k, v in (await r.json()).items()}
            print(f"GET /stats -> served per instance {json.dumps(served)}")
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", action="store_true", help="keep serving on port 8000 until Ctrl-C")
    if ap.parse_args().serve:
        web.run_app(make_app(), host="127.0.0.1", port=8000)
    else:
        asyncio.run(demo())
