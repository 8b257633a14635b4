"""One replay endpoint: an aiohttp server answering like a real single-worker inference
server over the Open Inference Protocol, its service times drawn from a profile; and the
:class:`Faults` it can inject. The package docstring (:mod:`kairos_sdk.endpoints`) says more."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import math
import socket
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from aiohttp import web

from .._checks import instance_of, int_in_range, non_negative_float, positive_int, probability
from .._loop import SPIN_S, sleep_until
from .._version import __version__
from ..errors import ArgumentError, KairosError, ProfileError
from ..profile import Profile

__all__ = ["Faults", "ReplayEndpoint"]

_JSON = "application/json"


@dataclass(frozen=True)
class Faults:
    """Faults a :class:`ReplayEndpoint` injects (for tests and demos).

    Parameters
    ----------
    status : answer inference requests with this HTTP status (e.g. 500, 503) instead.
    malformed : answer inference requests with a 200 whose body is not valid JSON.
    extra_delay_ms : add this much (real) time to every service time (e.g. beyond the
        client's timeout).
    ready_status : answer readiness checks with this status (e.g. 503).
    probability : share of inference requests affected by ``status``/``malformed``/
        ``extra_delay_ms`` (drawn from the endpoint's seeded generator).
    """

    status: int | None = None
    malformed: bool = False
    extra_delay_ms: float = 0.0
    ready_status: int | None = None
    probability: float = 1.0

    def __post_init__(self) -> None:
        for name in ("status", "ready_status"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, int_in_range(v, f"Faults.{name}", 100, 599, what=" (an HTTP status) or None"))
        instance_of(self.malformed, "Faults.malformed", bool)
        object.__setattr__(self, "extra_delay_ms",
                           non_negative_float(self.extra_delay_ms, "Faults.extra_delay_ms", unit="milliseconds"))
        object.__setattr__(self, "probability", probability(self.probability, "Faults.probability"))

    @property
    def any(self) -> bool:
        return self.status is not None or self.malformed or self.extra_delay_ms > 0 or self.ready_status is not None


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(doc, separators=(",", ":")).encode(), status=status, content_type=_JSON)


class ReplayEndpoint:
    """One replay server for one instance of type ``instance_type``.

    Parameters
    ----------
    profile : where service times come from.
    instance_type : the profile's instance type this endpoint pretends to be.
    model : the model name it serves (requests for another name get 404).
    host, port : where to listen (``port=0``: a free port, fixed at the first start).
    seed : seeds the service-time draws (``None``: fresh entropy).
    time_scale : real ms slept per profile ms (0: answer at once; 0.1: 10x faster).
    workers : requests served at once (1 = a single-worker server; others wait in FIFO order).
    faults : :class:`Faults` to inject; can be changed while running via ``endpoint.faults``.
    instance_id : a label for reprs and metadata.
    token : when set, every request must carry ``Authorization: Bearer <token>`` (else HTTP
        401, the header never echoed): for a trial on a shared network.
    max_body_bytes : largest request body accepted (HTTP 413 beyond it); default: sized from
        the profile's largest batch size (1 KiB per row, twice the largest batch, at least
        1 MiB).

    Examples
    --------
    >>> import asyncio
    >>> from kairos_sdk import Profile
    >>> from kairos_sdk.endpoints import ReplayEndpoint
    >>> async def main():
    ...     async with ReplayEndpoint(Profile.builtin("ncf"), "g4dn.xlarge", model="ncf") as ep:
    ...         return ep.url.startswith("http://127.0.0.1:"), ep.n_served
    >>> asyncio.run(main())
    (True, 0)
    """

    #: how many of the latest service times ``service_ms`` (and ``actual_ms``) keep: bounded, so
    #: a long-running server does not grow (a subclass may set another number)
    keep_service_ms: int = 10_000

    #: seconds before the end of a service time from which the endpoint yields to the event
    #: loop instead of sleeping on a timer (see :func:`kairos_sdk._loop.sleep_until`); 0 sleeps
    #: on the timer only. Every reply reports the real service time in its ``Server-Timing``
    #: header whatever the setting.
    spin_s: float = SPIN_S

    def __init__(
        self,
        profile: Profile,
        instance_type: str,
        *,
        model: str = "model",
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | np.random.SeedSequence | None = None,
        time_scale: float = 1.0,
        workers: int = 1,
        faults: Faults | None = None,
        instance_id: str | None = None,
        token: str | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        instance_of(profile, "profile", Profile)
        instance_of(instance_type, "instance_type", str)
        if instance_type not in profile.instance_types:
            raise ProfileError(
                f"instance type {instance_type!r} is not in the profile; it covers {', '.join(profile.instance_types)}"
            )
        instance_of(model, "model", str)
        if not model:
            raise ArgumentError(f"model must be a non-empty string, got {model!r}")
        port = int_in_range(port, "port", 0, 65535, what=" (0 = any free port)")
        time_scale = non_negative_float(time_scale, "time_scale", unit="real ms per profile ms")
        workers = positive_int(workers, "workers")
        if faults is not None:
            instance_of(faults, "faults", Faults)
        self._token = _check_token(token)
        if max_body_bytes is None:
            largest = max(int(profile.batch_sizes(t)[-1]) for t in profile.instance_types)
            max_body_bytes = max(1024**2, 2 * largest * 1024)
        self.max_body_bytes = positive_int(max_body_bytes, "max_body_bytes")
        keep_service_ms = positive_int(self.keep_service_ms, "keep_service_ms")
        self.profile = profile
        self.instance_type = instance_type
        self.instance_id = instance_id or instance_type
        self.model = model
        self.host = host
        self.port = port
        self.time_scale = float(time_scale)
        self.workers = workers
        self.faults = faults or Faults()
        self._rng = np.random.default_rng(seed)
        self._slots = asyncio.Semaphore(workers) if workers > 1 else None
        self._lock: asyncio.Lock | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task] = set()
        self._free_at = 0.0
        self.n_served = 0
        self.n_faulted = 0
        self.n_in_service = 0
        self.max_in_service = 0
        self.busy_ms = 0.0
        self.service_ms: deque[float] = deque(maxlen=keep_service_ms)  #: the latest service times (profile ms)
        self.actual_ms: deque[float] = deque(maxlen=keep_service_ms)  #: their real service times (profile ms)

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """``http://host:port`` (valid once started); bound to all interfaces (``0.0.0.0``,
        ``::``), the URL names this machine's host name, which other machines can connect to."""
        host = _connectable_host(self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> str:
        """Start listening (again, on the same port after a stop or kill); returns the URL."""
        if self._runner is not None:
            return self.url
        if not _is_loopback(self.host):
            warnings.warn(
                f"replay endpoints listening on {self.host} are reachable from other machines"
                + ("" if self._token else "; pass token=... so that only your client can use it"),
                UserWarning, stacklevel=3,
            )
        middlewares = [self._check_auth] if self._token else []
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=middlewares)
        app.router.add_get("/v2/health/live", self._live)
        app.router.add_get("/v2/health/ready", self._ready)
        app.router.add_get("/v2", self._server_meta)
        for base in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
            app.router.add_get(base, self._model_meta)
            app.router.add_get(base + "/ready", self._model_ready)
            app.router.add_post(base + "/infer", self._infer)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.25)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise KairosError(f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); pick another port") from None
        self.port = int(runner.addresses[0][1])
        self._runner = runner
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self.url

    async def stop(self) -> None:
        """Stop gracefully (requests in progress get a quarter of a second to finish)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def kill(self) -> None:
        """Drop the server abruptly: stop listening, reset every open connection and abandon
        the requests in progress, as a crashed machine would."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for site in list(runner.sites):
            await site.stop()
        server = runner.server
        if server is not None:
            for handler in server.connections:
                if handler.transport is not None:
                    handler.transport.abort()
        for t in list(self._handlers):
            t.cancel()
        self.n_in_service = 0
        self._lock = asyncio.Lock()  # waiters of the dead server are gone
        await asyncio.sleep(0)
        await runner.cleanup()

    async def __aenter__(self) -> ReplayEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ handlers
    @web.middleware
    async def _check_auth(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        got = request.headers.get("Authorization", "")
        want = f"Bearer {self._token}"
        if not hmac.compare_digest(got.encode(), want.encode()):
            return _json({"error": "missing or wrong bearer token"}, 401)
        return await handler(request)

    async def _live(self, request: web.Request) -> web.Response:
        return _json({"live": True})

    async def _ready(self, request: web.Request) -> web.Response:
        if self.faults.ready_status is not None:
            return _json({"error": "injected fault: not ready"}, self.faults.ready_status)
        return _json({"ready": True})

    async def _server_meta(self, request: web.Request) -> web.Response:
        return _json({"name": "kairos-replay", "version": __version__, "extensions": []})

    def _model_error(self, request: web.Request) -> web.Response | None:
        name = request.match_info["model"]
        if name != self.model:
            return _json({"error": f"Model {name} not found"}, 404)
        return None

    async def _model_meta(self, request: web.Request) -> web.Response:
        err = self._model_error(request)
        if err is not None:
            return err
        return _json({
            "name": self.model,
            "versions": [],
            "platform": "kairos-replay",
            "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, -1]}],
            "outputs": [{"name": "output-0", "datatype": "FP32", "shape": [-1, 1]}],
            "parameters": {"instance_type": self.instance_type, "instance_id": self.instance_id},
        })

    async def _model_ready(self, request: web.Request) -> web.Response:
        err = self._model_error(request)
        if err is not None:
            return err
        if self.faults.ready_status is not None:
            return _json({"error": "injected fault: not ready"}, self.faults.ready_status)
        return _json({"name": self.model, "ready": True})

    async def _infer(self, request: web.Request) -> web.Response:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            return await self._infer_inner(request)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _infer_inner(self, request: web.Request) -> web.Response:
        t_arrive = time.perf_counter()
        err = self._model_error(request)
        if err is not None:
            return err
        body = await request.read()
        try:
            doc = json.loads(body)
        except ValueError:
            return _json({"error": "request body is not valid JSON"}, 400)
        try:
            batch, rows = _parse_inputs(doc)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        f = self.faults
        hit = f.any and (f.probability >= 1.0 or self._rng.random() < f.probability)
        if hit and f.status is not None:
            self.n_faulted += 1
            return _json({"error": f"injected fault: HTTP {f.status}"}, f.status)
        service_ms = float(self.profile.sample(self.instance_type, batch, self._rng, extrapolate=True))
        delay_s = service_ms * self.time_scale / 1000.0 + (f.extra_delay_ms / 1000.0 if hit else 0.0)
        lock = self._lock
        assert lock is not None
        ctx = self._slots if self._slots is not None else lock
        async with ctx:
            self.n_in_service += 1
            self.max_in_service = max(self.max_in_service, self.n_in_service)
            try:
                # Service starts when the request arrived or the previous one ended, so reading
                # and decoding the request and encoding the reply happen inside the replayed
                # service time rather than on top of it.
                t_start = time.perf_counter() if self._slots is not None else max(t_arrive, self._free_at)
                if hit and f.malformed:
                    reply = web.Response(body=b'{"outputs": [{"name": "output-0", "data": [1, 2', content_type=_JSON)
                else:
                    reply = self._reply(request, doc, batch, rows, service_ms, t_start - t_arrive)
                if delay_s > 0:
                    await sleep_until(t_start + delay_s, self.spin_s)
                t_end = time.perf_counter()
                self._free_at = t_end
            finally:
                self.n_in_service -= 1
        self.n_served += 1
        self.busy_ms += (t_end - t_start) * 1000.0
        self.service_ms.append(service_ms)
        # what the request really took, in profile ms: the draw plus the timer's overshoot
        # (or minus its undershoot), reported to the client as Server-Timing
        scale = self.time_scale if self.time_scale > 0 else 1.0
        actual_ms = (t_end - t_start) * 1000.0 / scale
        self.actual_ms.append(actual_ms)
        reply.headers["Server-Timing"] = (f"queue;dur={max(t_start - t_arrive, 0.0) * 1000.0 / scale:.4f}, "
                                          f"service;dur={actual_ms:.4f}, drawn;dur={service_ms:.4f}")
        if hit and f.malformed:
            self.n_faulted += 1
        return reply

    def _reply(self, request: web.Request, doc: Any, batch: int, rows: np.ndarray, service_ms: float, queued_s: float) -> web.Response:
        out = rows.astype(np.float32).reshape(batch, 1)
        scale = self.time_scale if self.time_scale > 0 else 1.0
        return _json({
            "model_name": self.model,
            "model_version": request.match_info.get("version", ""),
            "id": doc.get("id", "") if isinstance(doc, dict) else "",
            "outputs": [{"name": "output-0", "datatype": "FP32", "shape": [batch, 1], "data": out.ravel().tolist()}],
            "parameters": {
                "instance_type": self.instance_type,
                "service_ms": service_ms,
                "queue_ms": max(queued_s, 0.0) * 1000.0 / scale,
            },
        })

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        faults = f", faults={self.faults}" if self.faults.any else ""
        return f"ReplayEndpoint({self.instance_id}: {self.instance_type}, model={self.model!r}, {state}, served={self.n_served}{faults})"


def _check_token(token: Any) -> str | None:
    if token is None:
        return None
    instance_of(token, "token", str)
    if not token or any(ch.isspace() for ch in token):
        raise ArgumentError("token must be a non-empty string without spaces")
    return token


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connectable_host(host: str) -> str:
    """The host to put in URLs: the machine's name when bound to every interface."""
    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname() or "localhost"
    return host


def _parse_inputs(doc: Any) -> tuple[int, np.ndarray]:
    """Batch size and per-row sums of the first input of an OIP request; ValueError if bad."""
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list) or not doc["inputs"]:
        raise ValueError("request needs a non-empty 'inputs' list")
    t = doc["inputs"][0]
    if not isinstance(t, dict):
        raise ValueError("inputs[0] must be an object with name, shape, datatype and data")
    shape = t.get("shape")
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ValueError(f"inputs[0].shape must be a non-empty list of non-negative ints, got {shape!r}")
    batch = shape[0]
    if batch < 1:
        raise ValueError("inputs[0] has batch size 0; send at least one row")
    data = t.get("data")
    if not isinstance(data, list):
        raise ValueError("inputs[0].data must be a list")
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("inputs[0].data must hold numbers") from None
    if arr.size != math.prod(shape):
        raise ValueError(f"inputs[0]: {arr.size} values do not fill shape {shape}")
    return batch, arr.reshape(batch, -1).sum(axis=1)
