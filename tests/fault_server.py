"""An independent fault-injecting inference server for the fault matrix (tests only).

A small aiohttp app speaking the Open Inference Protocol (KServe V2 REST) written for the
tests, separate from :mod:`kairos_sdk.endpoints`, so the client is not only tested against
its own replay twin. Each server serves one request at a time and answers ``[batch, 1]``
FP32 outputs after ``(base_ms + batch * per_row_ms)`` real milliseconds.

``mode`` (changeable while running):

- ``"ok"``: answers normally;
- ``"500"``: every inference answers HTTP 500;
- ``"503:0.3"``: 30 % of inference requests answer HTTP 503 (seeded);
- ``"garbled"``: inference answers 200 with a truncated JSON body;
- ``"slow"``: inference sleeps ``slow_s`` before answering;
- ``"echo401"``: inference answers 401 echoing the request's credentials (a careless server).

:class:`SilentServer` accepts TCP connections and never answers; :func:`closed_port` gives a
loopback port nothing listens on (connection refused).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket

from aiohttp import web


class FaultServer:
    def __init__(self, model: str = "rm2", *, mode: str = "ok", base_ms: float = 0.5, per_row_ms: float = 0.002,
                 slow_s: float = 30.0, seed: int = 0) -> None:
        self.model = model
        self.mode = mode
        self.base_ms = base_ms
        self.per_row_ms = per_row_ms
        self.slow_s = slow_s
        self.rng = random.Random(seed)
        self.port = 0
        self.n_infer = 0
        self.n_ok = 0
        self._lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/v2/health/live", self._ok)
        app.router.add_get("/v2/health/ready", self._ok)
        app.router.add_get("/v2/models/{model}/ready", self._ok)
        app.router.add_get("/v2/models/{model}", self._meta)
        app.router.add_post("/v2/models/{model}/infer", self._infer)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.05)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            server = runner.server
            if server is not None:  # drop open connections, as a crashed server would
                for h in server.connections:
                    if h.transport is not None:
                        h.transport.abort()
            await runner.cleanup()

    async def _ok(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    async def _meta(self, request: web.Request) -> web.Response:
        return web.json_response({"name": self.model, "platform": "fault-server",
                                  "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, -1]}],
                                  "outputs": [{"name": "output-0", "datatype": "FP32", "shape": [-1, 1]}]})

    async def _infer(self, request: web.Request) -> web.Response:
        self.n_infer += 1
        doc = await request.json()
        t = doc["inputs"][0]
        batch = int(t["shape"][0])
        mode = self.mode
        if mode == "500":
            return web.json_response({"error": "internal error"}, status=500)
        if mode.startswith("503:") and self.rng.random() < float(mode[4:]):
            return web.json_response({"error": "overloaded, try again"}, status=503)
        if mode == "echo401":
            echo = f"Authorization: {request.headers.get('Authorization')}, X-Api-Key: {request.headers.get('X-Api-Key')}"
            return web.json_response({"error": f"bad credentials ({echo}) for {request.url}"}, status=401)
        async with self._lock:
            if mode == "slow":
                await asyncio.sleep(self.slow_s)
            await asyncio.sleep((self.base_ms + batch * self.per_row_ms) / 1000.0)
        if mode == "garbled":
            return web.Response(body=b'{"outputs": [{"name": "output-0", "da', content_type="application/json")
        self.n_ok += 1
        out = {"model_name": self.model, "outputs": [
            {"name": "output-0", "datatype": "FP32", "shape": [batch, 1], "data": [0.0] * batch}]}
        return web.Response(body=json.dumps(out).encode(), content_type="application/json")


class SilentServer:
    """Accepts connections and reads, never answers (a hung process behind an open port)."""

    def __init__(self) -> None:
        self._server: asyncio.base_events.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)
            try:
                while await reader.read(65536):
                    pass
            except (ConnectionError, asyncio.CancelledError):
                pass

        self._server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.url

    async def stop(self) -> None:
        for w in self._writers:
            w.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
