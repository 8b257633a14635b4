""":class:`KairosClient`: drive a pool of real inference endpoints with the same distribution
policy the simulator uses.

Every query goes into a pending queue in front of a :class:`~kairos_sdk.distribute.Dispatcher`;
on every arrival and every completion the dispatcher asks the policy which pending query
starts on which instance (at most ``concurrency`` in flight per instance). Failed attempts
are retried on another instance according to a :class:`~kairos_sdk.client.RetryPolicy`,
the failing instance is taken out of rotation and probed back in, and every submitted query
ends as a :class:`Reply` or a :class:`QueryFailed` — none is lost or left hanging, also
when the caller cancels or the client closes.

Examples
--------
>>> import asyncio
>>> from kairos_sdk import Pool, Profile
>>> from kairos_sdk.client import KairosClient, OpenInferenceProtocol
>>> from kairos_sdk.endpoints import serve_pool
>>> profile = Profile.builtin("rm2")
>>> pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 1})
>>> async def main():
...     async with serve_pool(pool, profile, model="rm2", time_scale=0.01) as live:
...         async with KairosClient(live, protocol=OpenInferenceProtocol("rm2"),
...                                 profile=profile, qos_ms=350, time_scale=0.01) as client:
...             reply = await client.infer(batch_size=100)
...             return reply.outputs["output-0"].shape, reply.attempts
>>> asyncio.run(main())
((100, 1), 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import numpy as np

from ..distribute import Dispatcher, FCFSPolicy, Policy
from ..errors import EndpointError, KairosError, ProtocolError, ShedError
from ..pool import Pool
from ..profile import Profile
from ..simulate import RunResult
from ..workload import Workload
from .protocols import HttpResponse, InferenceProtocol, ModelMetadata
from .retry import RetryPolicy
from .transport import AttemptError, Transport, display_url

__all__ = ["KairosClient", "QueryFailed", "Reply"]

log = logging.getLogger("kairos_sdk.client")
log.addHandler(logging.NullHandler())  # silent unless the application configures logging

_BODY_CACHE_MAX = 1024


@dataclass(frozen=True, repr=False, eq=False)
class Reply:
    """A served query.

    Attributes
    ----------
    outputs : output tensors by name (numpy arrays).
    instance_id, instance_type, instance : the instance that served it (``instance`` is the
        index in the pool).
    latency_ms : from submission (or scheduled arrival, in ``run``) to the reply, queueing in
        the client included (in profile milliseconds when ``time_scale != 1``).
    attempts : instances tried, this one included.
    query_id, batch_size : the client's id of the query and its batch size.
    """

    outputs: Mapping[str, np.ndarray]
    instance_id: str
    instance_type: str
    instance: int
    latency_ms: float
    attempts: int
    query_id: int
    batch_size: int

    ok = True

    def __getitem__(self, name: str) -> np.ndarray:
        return self.outputs[name]

    @property
    def output(self) -> np.ndarray:
        """The only (or first) output tensor."""
        return next(iter(self.outputs.values()))

    def __repr__(self) -> str:
        outs = ", ".join(f"{k}{list(v.shape)}" for k, v in self.outputs.items())
        return (
            f"Reply(query {self.query_id}, batch {self.batch_size}, served by {self.instance_id} in "
            f"{self.latency_ms:.1f} ms, attempts={self.attempts}, outputs: {outs})"
        )


@dataclass(frozen=True, repr=False, eq=False)
class QueryFailed:
    """A query that ended without a reply, and why.

    Attributes
    ----------
    reason : a message naming the endpoints tried and what went wrong on each.
    kind : the last failure's kind (``"connect"``, ``"timeout"``, ``"server_error"``,
        ``"client_error"``, ``"protocol"``, ``"tls"``, ``"unavailable"``, ``"cancelled"``,
        ``"closed"``, or ``"shed"``: a load-shedding policy gave it up unsent, as it could
        no longer meet QoS).
    error : the matching :class:`~kairos_sdk.errors.KairosError` (``raise_()`` raises it).
    attempts : requests sent for this query.
    instance_ids : the instances tried, in order.
    latency_ms : time from submission to the failure.
    """

    query_id: int
    reason: str
    kind: str
    error: KairosError
    attempts: int
    instance_ids: tuple[str, ...]
    latency_ms: float
    batch_size: int

    ok = False

    def raise_(self) -> None:
        raise self.error

    def __repr__(self) -> str:
        return f"QueryFailed(query {self.query_id}, {self.kind}, attempts={self.attempts}: {self.reason})"


@dataclass(eq=False)
class _Query:
    qid: int
    batch: int
    body: bytes
    arrival_ms: float
    future: asyncio.Future
    state: str = "pending"  # pending | running | backoff | done
    attempts: int = 0
    tried: list[int] = field(default_factory=list)
    errors: list[tuple[str, KairosError]] = field(default_factory=list)
    disp_instance: int | None = None  # instance holding it as "running" in the dispatcher
    inflight: bool = False  # counted in KairosClient._n_inflight
    task: asyncio.Task | None = None
    timer: asyncio.TimerHandle | None = None


def _flat_profile(types: Sequence[str]) -> Profile:
    return Profile.from_dict({t: {1: [1.0], 1000: [1000.0]} for t in dict.fromkeys(types)}, source="flat placeholder")


def _default_policy(profile_given: bool) -> Policy:
    if profile_given:
        from .. import distribute

        cls = getattr(distribute, "KairosPolicy", None)
        if cls is not None:
            return cls()
    return FCFSPolicy()


class KairosClient:
    """Async client over a pool of inference endpoints, distributing queries with a policy.

    Parameters
    ----------
    pool : a :class:`~kairos_sdk.Pool` whose instances carry endpoint URLs
        (``Pool.with_endpoints`` or :func:`~kairos_sdk.endpoints.serve_pool`).
    protocol : how to talk to the endpoints, e.g. ``OpenInferenceProtocol("rm2")``.
    policy : the distribution policy (the very object the simulator takes); default
        ``KairosPolicy()`` when a profile is given, else ``FCFSPolicy()``.
    profile : latency profile the policy estimates service times from; without one a flat
        placeholder is used (fine for FCFS).
    qos_ms, percentile : the latency target (default: none, every reply counts as on time).
    concurrency : queries in flight per instance (1 = a single-worker server).
    timeout_s : per-request timeout in seconds (real time; default 10). A request without a
        complete answer by then fails with kind ``"timeout"`` and is retried elsewhere.
    retry : a :class:`RetryPolicy` (default: 3 attempts on connection errors, 5xx, timeouts).
    token : bearer token sent as ``Authorization: Bearer ...``; never shown in reprs or logs.
    headers : extra headers for every request (e.g. an API-key header); values never shown.
    verify : TLS verification, on by default; ``False``, a CA bundle path or an SSLContext.
    check_ready : at start, ``"all"`` endpoints must be ready (default), ``"any"`` (the
        others start out of rotation and are probed), or ``"skip"``.
    wait_ready_s : keep re-checking readiness for up to this long before giving up.
    unavailable_timeout_s : when every instance is out of rotation this long, pending
        queries fail with :class:`~kairos_sdk.errors.EndpointError` instead of waiting.
    time_scale : real milliseconds per profile millisecond (0.1 runs a profile 10x faster
        against replay endpoints started with the same ``time_scale``); latencies, busy
        times and the clock the policy sees are in profile milliseconds.
    plan : the plan behind the pool, passed on to the policy.
    max_connections : connection limit of the session (default: enough for the pool).
    progress : show tqdm progress bars in ``run`` (default: when stderr is a terminal or in
        Jupyter).
    seed : seeds the retry jitter.
    """

    def __init__(
        self,
        pool: Pool,
        *,
        protocol: InferenceProtocol,
        policy: Policy | None = None,
        profile: Profile | None = None,
        qos_ms: float | None = None,
        percentile: float = 99.0,
        concurrency: int = 1,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        verify: Any = True,
        check_ready: Literal["all", "any", "skip"] | bool = "all",
        wait_ready_s: float = 0.0,
        unavailable_timeout_s: float = 2.0,
        time_scale: float = 1.0,
        plan: Any = None,
        max_connections: int | None = None,
        progress: bool | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(pool, Pool):
            raise KairosError(f"pool must be a kairos_sdk.Pool, got {type(pool).__name__}")
        missing = [i.id for i in pool if not i.endpoint]
        if missing:
            raise KairosError(
                f"instance(s) {', '.join(missing)} have no endpoint URL; use pool.with_endpoints([...]) "
                "or kairos_sdk.endpoints.serve_pool(pool, profile)"
            )
        if not isinstance(protocol, InferenceProtocol):
            raise KairosError(
                f"protocol must be an InferenceProtocol such as OpenInferenceProtocol('model'), got {type(protocol).__name__}"
            )
        if isinstance(policy, type):
            raise KairosError(f"policy must be an instance, e.g. {policy.__name__}(), not the class")
        if policy is not None and not isinstance(policy, Policy):
            raise KairosError(f"policy must implement prepare() and decide(), got {type(policy).__name__}")
        if profile is not None and not isinstance(profile, Profile):
            raise KairosError(f"profile must be a kairos_sdk.Profile, got {type(profile).__name__}")
        if profile is not None:
            unknown = sorted(set(pool.types) - set(profile.instance_types))
            if unknown:
                raise KairosError(
                    f"the profile has no latencies for {', '.join(unknown)}; it covers {', '.join(profile.instance_types)}"
                )
        if qos_ms is not None and not (isinstance(qos_ms, (int, float)) and math.isfinite(qos_ms) and qos_ms > 0):
            raise KairosError(f"qos_ms must be a positive number of milliseconds, got {qos_ms!r}")
        if not (isinstance(percentile, (int, float)) and 0 < percentile <= 100):
            raise KairosError(f"percentile must be in (0, 100], got {percentile!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise KairosError(f"concurrency must be a positive integer (queries in flight per instance), got {concurrency!r}")
        for name, v, lo in (("timeout_s", timeout_s, 0.0), ("wait_ready_s", wait_ready_s, -1.0),
                            ("unavailable_timeout_s", unavailable_timeout_s, -1.0)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= lo or v < 0:
                raise KairosError(f"{name} must be a {'positive' if lo == 0 else 'non-negative'} number of seconds, got {v!r}")
        if isinstance(time_scale, bool) or not isinstance(time_scale, (int, float)) or not (time_scale > 0) or not math.isfinite(time_scale):
            raise KairosError(f"time_scale must be a positive number (real ms per profile ms), got {time_scale!r}")
        if retry is None:
            retry = RetryPolicy()
        if not isinstance(retry, RetryPolicy):
            raise KairosError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        if check_ready is True:
            check_ready = "all"
        elif check_ready is False:
            check_ready = "skip"
        if check_ready not in ("all", "any", "skip"):
            raise KairosError(f"check_ready must be 'all', 'any' or 'skip', got {check_ready!r}")
        hdrs = {str(k): str(v) for k, v in (headers or {}).items()}
        if token is not None:
            if not isinstance(token, str) or not token:
                raise KairosError("token must be a non-empty string")
            hdrs["Authorization"] = f"Bearer {token}"

        self.pool = pool
        self.protocol = protocol
        self.profile = profile
        self.policy = policy if policy is not None else _default_policy(profile is not None)
        self.qos_ms = float(qos_ms) if qos_ms is not None else float("inf")
        self.percentile = float(percentile)
        self.concurrency = concurrency
        self.timeout_s = float(timeout_s)
        self.retry = retry
        self.check_ready = check_ready
        self.wait_ready_s = float(wait_ready_s)
        self.unavailable_timeout_s = float(unavailable_timeout_s)
        self.time_scale = float(time_scale)
        self.plan = plan
        self.progress = progress
        n = len(pool)
        limit = max_connections if max_connections is not None else max(100, 2 * n * concurrency + 2 * n)
        self._transport = Transport(headers=hdrs, verify=verify, limit=limit)
        self._rng = random.Random(seed)
        self._labels = [f"{i.id} at {display_url(i.endpoint or '')}" for i in pool]
        self._urls = [i.endpoint or "" for i in pool]
        self._infer_req = [protocol.infer_request(u, b"") for u in self._urls]
        self._timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        self._ready_timeout = aiohttp.ClientTimeout(total=min(self.timeout_s, 5.0))
        self._state = "new"
        self._dispatcher: Dispatcher | None = None
        self._queries: dict[int, _Query] = {}
        self._ids = itertools.count()
        self._available = [True] * n
        self._n_available = n
        self._down_since: float | None = None
        self._down_timer: asyncio.TimerHandle | None = None
        self._probes: dict[int, asyncio.Task] = {}
        self._last_error: list[str | None] = [None] * n
        self._busy_real_s = np.zeros(n)
        self._served = np.zeros(n, dtype=np.int64)
        self._failed_attempts = np.zeros(n, dtype=np.int64)
        self._body_cache: dict[int, bytes] = {}
        self._n_inflight = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_recheck_s = 0.01
        self._t0 = time.perf_counter()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> KairosClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Open the session, check readiness and set up the dispatcher (``async with`` does this)."""
        if self._state != "new":
            raise KairosError(f"this client is {self._state}; create a new KairosClient")
        self._loop = asyncio.get_running_loop()
        self._state = "starting"
        await self._transport.open()
        try:
            if self.check_ready != "skip":
                reasons = await self._initial_readiness()
                bad = {i: r for i, r in enumerate(reasons) if r is not None}
                if bad and (self.check_ready == "all" or len(bad) == len(self.pool)):
                    lines = "\n".join(f"  {self._labels[i]}: {r}" for i, r in bad.items())
                    hint = "start them or fix the URLs" + (
                        "; pass check_ready='any' to start with the ready ones" if len(bad) < len(self.pool) else ""
                    )
                    raise EndpointError(f"{len(bad)} of {len(self.pool)} endpoints are not ready ({hint}):\n{lines}")
            else:
                bad = {}
            profile = self.profile if self.profile is not None else _flat_profile(self.pool.types)
            self._dispatcher = Dispatcher(
                self.policy,
                self.pool.types,
                profile,
                qos_ms=self.qos_ms,
                percentile=self.percentile,
                concurrency=self.concurrency,
                plan=self.plan,
            )
        except BaseException:
            self._state = "closed"
            await self._transport.close()
            raise
        self._t0 = time.perf_counter()
        self._state = "open"
        for i, r in bad.items():
            self._last_error[i] = r
            self._eject(i, f"not ready at start: {r}")

    async def aclose(self) -> None:
        """Stop: every query still outstanding ends as ``QueryFailed`` (kind ``"closed"``)."""
        if self._state in ("closed", "new"):
            self._state = "closed"
            return
        self._state = "closing"
        now = self._now()
        tasks = []
        for q in list(self._queries.values()):
            if q.state != "done":
                err = EndpointError(f"query {q.qid}: the client closed before the query finished")
                if q.task is not None:
                    tasks.append(q.task)
                self._finish_failed(q, "closed", err, now=now, cancel=True)
        for t in self._probes.values():
            t.cancel()
            tasks.append(t)
        self._probes.clear()
        if self._down_timer is not None:
            self._down_timer.cancel()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._transport.close()
        self._state = "closed"

    # ------------------------------------------------------------------ public API
    async def infer(self, inputs: Any = None, *, batch_size: int | None = None) -> Reply:
        """Send one query and wait for its reply.

        Parameters
        ----------
        inputs : the model inputs (an array, or ``{name: array}``); ``None`` sends synthetic
            inputs of the protocol's shape.
        batch_size : the batch size the policy sees; default: first dimension of the inputs.

        Raises
        ------
        EndpointError, EndpointTimeout, ProtocolError
            when the query failed on every attempt (the message names each endpoint tried).
        ShedError
            when a load-shedding policy (``KairosPolicy(shed=True)``) gave the query up.
        """
        q = self._submit_query(inputs, batch_size)
        try:
            res = await asyncio.shield(q.future)
        except asyncio.CancelledError:
            self._abandon(q, "cancelled", "query cancelled by the caller")
            raise
        if isinstance(res, QueryFailed):
            raise res.error
        return res

    def submit(self, inputs: Any = None, *, batch_size: int | None = None) -> asyncio.Future:
        """Queue one query now; the returned future resolves to :class:`Reply` or
        :class:`QueryFailed` (it never raises). Call from inside the event loop."""
        return self._submit_query(inputs, batch_size).future

    async def metadata(self, instance: int | str = 0) -> ModelMetadata:
        """Model metadata as reported by one instance (index or id)."""
        self._check_open()
        i = self._index(instance)
        req = self.protocol.metadata_request(self._urls[i])
        if req is None:
            raise KairosError(f"{type(self.protocol).__name__} has no metadata call")
        try:
            resp = await self._transport.send(req, self._labels[i], self._ready_timeout)
        except AttemptError as exc:
            raise exc.error from None
        if resp.status != 200:
            raise self._status_error(resp)[1]
        return self.protocol.parse_metadata(resp)

    async def check_endpoints(self) -> dict[str, str | None]:
        """Check readiness of every endpoint now: ``{instance id: None if ready else why not}``."""
        self._check_open()
        reasons = await asyncio.gather(*(self._ready_reason(i) for i in range(len(self.pool))))
        return {inst.id: r for inst, r in zip(self.pool, reasons)}

    async def run(
        self,
        workload: Workload,
        *,
        rate: float,
        n_queries: int | None = None,
        duration_s: float | None = None,
        seed: int | None = 0,
        progress: bool | None = None,
        on_result: Callable[[Reply | QueryFailed], Any] | None = None,
    ) -> RunResult:
        """Open-loop Poisson load: queries of ``workload``'s batch sizes arrive at ``rate``
        queries/second (profile time), with synthetic inputs; returns a :class:`RunResult`
        (``source="live"``) comparable field by field with ``simulate``.

        Give ``n_queries`` or ``duration_s`` (seconds of arrivals, profile time). A
        cancelled run ends its outstanding queries as failed and re-raises. ``on_result`` is
        called with each query's :class:`Reply` or :class:`QueryFailed` as it ends (e.g. a
        live dashboard); an exception it raises is logged and does not disturb the run.
        """
        self._check_open()
        if not isinstance(workload, Workload):
            raise KairosError(f"workload must be a kairos_sdk.Workload, got {type(workload).__name__}")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            raise KairosError(f"rate must be a positive number of queries per second, got {rate!r}")
        if (n_queries is None) == (duration_s is None):
            raise KairosError("give exactly one of n_queries= or duration_s=")
        rng = np.random.default_rng(seed)
        if n_queries is not None:
            if isinstance(n_queries, bool) or not isinstance(n_queries, (int, np.integer)) or n_queries < 1:
                raise KairosError(f"n_queries must be a positive integer, got {n_queries!r}")
            batches, arrivals = _sample(workload, int(n_queries), float(rate), rng)
        else:
            if isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)) or not (duration_s > 0) or not math.isfinite(duration_s):
                raise KairosError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
            n_est = int(rate * duration_s * 1.2 + 10 * math.sqrt(rate * duration_s) + 10)
            batches, arrivals = _sample(workload, n_est, float(rate), rng)
            while arrivals[-1] <= duration_s * 1000.0:
                b2, a2 = _sample(workload, n_est, float(rate), rng)
                batches, arrivals = np.concatenate([batches, b2]), np.concatenate([arrivals, a2 + arrivals[-1]])
            keep = arrivals <= duration_s * 1000.0
            batches, arrivals = batches[keep], arrivals[keep]
            if batches.size == 0:
                raise KairosError(f"no query arrives within duration_s={duration_s} at rate {rate}; run longer or faster")
        if on_result is not None and not callable(on_result):
            raise KairosError(f"on_result must be a callable taking a Reply or QueryFailed, got {type(on_result).__name__}")
        return await self._run_arrivals(batches.astype(np.int64), arrivals.astype(float), rate=float(rate),
                                        progress=progress, on_result=on_result)

    # ------------------------------------------------------------------ introspection
    @property
    def available(self) -> dict[str, bool]:
        """Which instances are in rotation."""
        return {inst.id: a for inst, a in zip(self.pool, self._available)}

    @property
    def n_outstanding(self) -> int:
        """Queries submitted and not yet ended."""
        return sum(1 for q in self._queries.values() if q.state != "done")

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per instance: served queries, failed attempts, busy ms, in rotation, last error."""
        return {
            inst.id: {
                "served": int(self._served[i]),
                "failed_attempts": int(self._failed_attempts[i]),
                "busy_ms": float(self._busy_real_s[i] * 1000.0 / self.time_scale),
                "available": self._available[i],
                "last_error": self._last_error[i],
            }
            for i, inst in enumerate(self.pool)
        }

    def __repr__(self) -> str:
        hdrs = [h for h in self._transport.header_names if h != "User-Agent"]
        auth = f", headers=[{', '.join(hdrs)}: values hidden]" if hdrs else ""
        qos = f", qos_ms={self.qos_ms:g}" if math.isfinite(self.qos_ms) else ""
        return (
            f"KairosClient({self.pool.describe()}, {self.protocol!r}, policy={getattr(self.policy, 'name', self.policy)!r}"
            f"{qos}, concurrency={self.concurrency}, timeout_s={self.timeout_s:g}{auth}, {self._state})"
        )

    def _repr_html_(self) -> str:
        import html as _html

        rows = "".join(
            f"<tr><td>{_html.escape(k)}</td><td>{_html.escape(self.pool[i].type)}</td>"
            f"<td>{'yes' if v['available'] else 'no'}</td><td>{v['served']}</td><td>{v['failed_attempts']}</td>"
            f"<td>{v['busy_ms']:.0f}</td><td>{_html.escape(v['last_error'] or '')}</td></tr>"
            for i, (k, v) in enumerate(self.stats().items())
        )
        return (
            f"<table><caption>{_html.escape(repr(self))}</caption><tr><th>instance</th><th>type</th>"
            f"<th>in rotation</th><th>served</th><th>failed attempts</th><th>busy ms</th><th>last error</th></tr>"
            f"{rows}</table>"
        )

    # ------------------------------------------------------------------ internals: submission
    def _now(self) -> float:
        return (time.perf_counter() - self._t0) * 1000.0 / self.time_scale

    def _check_open(self) -> None:
        if self._state != "open":
            hint = "use `async with KairosClient(...) as client:`" if self._state == "new" else "create a new KairosClient"
            raise KairosError(f"the client is {self._state}; {hint}")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not self._loop:
            raise KairosError(
                "this client was started in another event loop; create and use it inside one loop "
                "(one asyncio.run(...), or top-level await in Jupyter)"
            )

    def _index(self, instance: int | str) -> int:
        if isinstance(instance, str):
            for i, inst in enumerate(self.pool):
                if inst.id == instance:
                    return i
            raise KairosError(f"no instance {instance!r} in the pool; ids: {', '.join(i.id for i in self.pool)}")
        if isinstance(instance, bool) or not isinstance(instance, (int, np.integer)) or not 0 <= instance < len(self.pool):
            raise KairosError(f"instance must be an id or an index in 0..{len(self.pool) - 1}, got {instance!r}")
        return int(instance)

    def _body_for_batch(self, batch: int) -> bytes:
        body = self._body_cache.get(batch)
        if body is None:
            body = self.protocol.encode_inputs(self.protocol.synthetic_inputs(batch))
            if len(self._body_cache) >= _BODY_CACHE_MAX:
                self._body_cache.pop(next(iter(self._body_cache)))
            self._body_cache[batch] = body
        return body

    def _submit_query(self, inputs: Any, batch_size: int | None, arrival_ms: float | None = None) -> _Query:
        self._check_open()
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
            raise KairosError(f"batch_size must be a positive integer, got {batch_size!r}")
        if inputs is None:
            if batch_size is None:
                raise KairosError("give inputs, or batch_size= for synthetic inputs")
            body = self._body_for_batch(int(batch_size))
        else:
            body = self.protocol.encode_inputs(inputs)
            if batch_size is None:
                batch_size = self.protocol.batch_size(inputs)
                if batch_size < 1:
                    raise KairosError("inputs have an empty batch dimension; send at least one row")
        return self._submit_body(body, int(batch_size), arrival_ms)

    def _submit_body(self, body: bytes, batch: int, arrival_ms: float | None) -> _Query:
        assert self._loop is not None and self._dispatcher is not None
        now = self._now()
        q = _Query(next(self._ids), batch, body, now if arrival_ms is None else arrival_ms, self._loop.create_future())
        self._queries[q.qid] = q
        q.future.add_done_callback(lambda f, q=q: f.cancelled() and self._abandon(q, "cancelled", "query future cancelled"))
        if self._down_expired():
            self._finish_failed(q, "unavailable", self._unavailable_error(), now=now)
            return q
        self._dispatcher.submit(q.qid, batch, q.arrival_ms)
        self._pump(now)
        return q

    # ------------------------------------------------------------------ internals: dispatching
    def _pump(self, now: float | None = None) -> None:
        if self._state != "open":
            return
        d = self._dispatcher
        assert d is not None
        if now is None:
            now = self._now()
        try:
            while True:
                stale = False
                for qid, i in d.dispatch(now):
                    q = self._queries.get(qid)
                    if q is None or q.state != "pending":
                        d.finish_on(i, qid)  # ended while pending (cancelled / unavailable)
                        stale = True
                        continue
                    self._start_attempt(q, i)
                for qid in d.take_shed():
                    q = self._queries.get(qid)
                    if q is not None and q.state == "pending":
                        err = ShedError(f"query {qid} (batch {q.batch}) shed after {now - q.arrival_ms:.1f} ms: it could "
                                        f"no longer meet the {self.qos_ms:g} ms QoS target")
                        self._finish_failed(q, "shed", err, now=now)
                if not stale:
                    break
            if (d.n_pending and self._n_inflight == 0 and self._n_available and self._idle_timer is None
                    and any(q.state == "pending" for q in self._queries.values())):
                # Nothing is running, so no completion will come to trigger the next decision:
                # a policy that held queries back gets asked again shortly.
                assert self._loop is not None
                self._idle_timer = self._loop.call_later(self._idle_recheck_s, self._idle_recheck)
        except Exception as exc:  # a policy bug must not strand queries
            log.exception("distribution policy %r failed", getattr(self.policy, "name", self.policy))
            err = KairosError(f"the distribution policy {getattr(self.policy, 'name', self.policy)!r} raised {type(exc).__name__}: {exc}")
            for q in list(self._queries.values()):
                if q.state in ("pending", "backoff"):
                    self._finish_failed(q, "policy", err, now=now)

    def _idle_recheck(self) -> None:
        self._idle_timer = None
        self._pump()

    def _start_attempt(self, q: _Query, i: int) -> None:
        assert self._loop is not None
        q.state = "running"
        q.disp_instance = i
        q.attempts += 1
        q.tried.append(i)
        self._n_inflight += 1
        q.inflight = True
        q.task = self._loop.create_task(self._attempt(q, i))
        q.task.add_done_callback(lambda _t, q=q: self._attempt_over(q))  # also when cancelled before it ran

    def _attempt_over(self, q: _Query) -> None:
        if q.inflight:
            q.inflight = False
            self._n_inflight -= 1

    async def _attempt(self, q: _Query, i: int) -> None:
        label = self._labels[i]
        req = self._infer_req[i]
        t0 = time.perf_counter()
        kind: str | None = None
        err: KairosError | None = None
        outputs: dict[str, np.ndarray] | None = None
        try:
            resp = await self._transport.send(type(req)(req.method, req.url, q.body, req.headers), label, self._timeout)
            if resp.status // 100 == 2:
                outputs = self.protocol.parse_infer(resp)
            else:
                kind, err = self._status_error(resp)
        except AttemptError as exc:
            kind, err = exc.kind, exc.error
        except ProtocolError as exc:
            kind, err = "protocol", exc
        except asyncio.CancelledError:
            self._attempt_over(q)
            self._busy_real_s[i] += time.perf_counter() - t0
            self._release(q)
            raise
        except Exception as exc:  # a bug in a custom protocol: fail the query, keep going
            kind, err = "protocol", ProtocolError(f"{label}: {type(exc).__name__} while handling the reply: {exc}", endpoint=label)
        self._attempt_over(q)
        self._busy_real_s[i] += time.perf_counter() - t0
        if q.state != "running":  # ended meanwhile (closing)
            self._release(q)
            return
        q.task = None
        now = self._now()
        if err is None:
            assert outputs is not None
            self._served[i] += 1
            self._release(q)
            inst = self.pool[i]
            self._resolve(q, Reply(outputs, inst.id, inst.type, i, now - q.arrival_ms, q.attempts, q.qid, q.batch))
        else:
            assert kind is not None
            self._on_failure(q, i, kind, err, now)
        self._pump(now)

    def _status_error(self, resp: HttpResponse) -> tuple[str, KairosError]:
        detail = self.protocol.error_detail(resp.body)
        detail = f": {detail}" if detail else ""
        if resp.status >= 500:
            return "server_error", EndpointError(f"{resp.endpoint} failed with HTTP {resp.status}{detail}", endpoint=resp.endpoint)
        return "client_error", EndpointError(f"{resp.endpoint} refused the request with HTTP {resp.status}{detail}", endpoint=resp.endpoint)

    def _on_failure(self, q: _Query, i: int, kind: str, err: KairosError, now: float) -> None:
        self._failed_attempts[i] += 1
        self._last_error[i] = str(err)
        q.errors.append((kind, err))
        if kind in self.retry.retry_on:
            self._eject(i, str(err))
            if q.attempts < self.retry.max_attempts:
                assert self._loop is not None
                q.state = "backoff"
                delay_s = self.retry.backoff_delay_ms(q.attempts, self._rng) / 1000.0
                q.timer = self._loop.call_later(delay_s, self._requeue, q)
                return
        self._finish_failed(q, kind, self._combined_error(q), now=now)

    def _requeue(self, q: _Query) -> None:
        q.timer = None
        if q.state != "backoff" or self._state != "open":
            return
        if self._down_expired():
            self._finish_failed(q, "unavailable", self._unavailable_error(q), now=self._now())
            return
        assert self._dispatcher is not None
        i = q.disp_instance
        q.state = "pending"
        if i is not None:
            self._dispatcher.requeue(q.qid, i)
            q.disp_instance = None
        self._pump()

    def _release(self, q: _Query) -> None:
        """Give the query's slot back to the dispatcher (finished, failed or abandoned)."""
        if q.disp_instance is not None and self._dispatcher is not None:
            with contextlib.suppress(KeyError):
                self._dispatcher.finish_on(q.disp_instance, q.qid)
            q.disp_instance = None

    def _resolve(self, q: _Query, result: Reply | QueryFailed) -> None:
        q.state = "done"
        self._queries.pop(q.qid, None)
        if not q.future.done():
            q.future.set_result(result)

    def _finish_failed(self, q: _Query, kind: str, err: KairosError, *, now: float, cancel: bool = False) -> None:
        """End ``q`` as QueryFailed. A pending query stays in the dispatcher's queue until the
        next dispatch hands it out, where ``_pump`` drops it."""
        if q.timer is not None:
            q.timer.cancel()
            q.timer = None
        task, q.task = q.task, None
        self._release(q)  # at once, even if a cancelled attempt task never gets to run
        ids = tuple(self.pool[i].id for i in q.tried)
        self._resolve(q, QueryFailed(q.qid, str(err), kind, err, q.attempts, ids, now - q.arrival_ms, q.batch))
        if task is not None and cancel:
            task.cancel()
            self._attempt_over(q)

    def _abandon(self, q: _Query, kind: str, reason: str) -> None:
        if q.state == "done":
            return
        self._finish_failed(q, kind, EndpointError(f"query {q.qid}: {reason}"), now=self._now(), cancel=True)
        self._pump()  # its slot or its place in the queue is free

    def _combined_error(self, q: _Query) -> KairosError:
        last_kind, last = q.errors[-1]
        msgs = "; ".join(str(e) for _, e in q.errors)
        text = f"query {q.qid} (batch {q.batch}) failed after {q.attempts} attempt{'s' if q.attempts != 1 else ''}: {msgs}"
        cls = type(last) if isinstance(last, (EndpointError, ProtocolError)) else EndpointError
        try:
            return cls(text, endpoint=getattr(last, "endpoint", None))
        except TypeError:  # pragma: no cover - a subclass with another signature
            return last

    # ------------------------------------------------------------------ internals: rotation
    def _eject(self, i: int, reason: str) -> None:
        if not self._available[i] or self._state != "open":
            return
        assert self._dispatcher is not None and self._loop is not None
        self._available[i] = False
        self._n_available -= 1
        self._dispatcher.set_available(i, False)
        label = self._labels[i]
        log.warning("%s out of rotation: %s", label, reason.removeprefix(label + ": ").removeprefix(label + " "))
        if i not in self._probes:
            self._probes[i] = self._loop.create_task(self._probe(i))
        if self._n_available == 0:
            self._down_since = time.perf_counter()
            if self._down_timer is not None:
                self._down_timer.cancel()
            self._down_timer = self._loop.call_later(self.unavailable_timeout_s, self._on_all_down)

    def _restore(self, i: int) -> None:
        if self._available[i] or self._state != "open":
            return
        assert self._dispatcher is not None
        self._available[i] = True
        self._n_available += 1
        self._down_since = None
        if self._down_timer is not None:
            self._down_timer.cancel()
            self._down_timer = None
        self._dispatcher.set_available(i, True)
        log.info("%s back in rotation", self._labels[i])
        self._pump()

    async def _probe(self, i: int) -> None:
        failures = 0
        try:
            while self._state == "open" and not self._available[i]:
                await asyncio.sleep(self.retry.probe_delay_ms(failures, self._rng) / 1000.0)
                reason = await self._ready_reason(i)
                if reason is None:
                    reason = await self._canary_reason(i)
                if reason is None:
                    self._restore(i)
                    return
                self._last_error[i] = reason
                failures += 1
        finally:
            if self._probes.get(i) is asyncio.current_task():
                del self._probes[i]

    async def _canary_reason(self, i: int) -> str | None:
        """One small real query (batch 1, synthetic inputs): an endpoint whose readiness
        calls answer but whose inference is stuck, failing (5xx) or malformed stays out. A 4xx
        counts as healthy: the server answered promptly, it just disliked the synthetic input."""
        label = self._labels[i]
        req = self._infer_req[i]
        try:
            resp = await self._transport.send(type(req)(req.method, req.url, self._body_for_batch(1), req.headers), label, self._timeout)
            if 400 <= resp.status < 500:
                return None
            if resp.status // 100 != 2:
                return f"test query: {self._status_error(resp)[1]}".replace(label + " ", "", 1)
            self.protocol.parse_infer(resp)
        except AttemptError as exc:
            return "test query: " + str(exc.error).removeprefix(label + ": ")
        except KairosError as exc:
            return "test query: " + str(exc).removeprefix(label + ": ")
        except Exception as exc:  # a custom protocol's bug: keep the instance out, say why
            return f"test query: {type(exc).__name__}: {exc}"
        return None

    def _down_expired(self) -> bool:
        return (
            self._n_available == 0
            and self._down_since is not None
            and time.perf_counter() - self._down_since >= self.unavailable_timeout_s - 1e-3
        )

    def _unavailable_error(self, q: _Query | None = None) -> EndpointError:
        last = "; ".join(f"{self._labels[i]}: {e}" for i, e in enumerate(self._last_error) if e)
        before = ""
        if q is not None and q.errors:
            before = f" after {q.attempts} failed attempt{'s' if q.attempts != 1 else ''}"
        return EndpointError(
            f"no endpoint available{before}: all {len(self.pool)} instances have been out of rotation for "
            f"{self.unavailable_timeout_s:g} s (last errors: {last or 'none recorded'})"
        )

    def _on_all_down(self) -> None:
        self._down_timer = None
        if not self._down_expired():
            return
        now = self._now()
        for q in list(self._queries.values()):
            if q.state == "pending":
                self._finish_failed(q, "unavailable", self._unavailable_error(q), now=now)

    async def _ready_reason(self, i: int) -> str | None:
        for req in self.protocol.ready_requests(self._urls[i]):
            try:
                resp = await self._transport.send(req, self._labels[i], self._ready_timeout)
            except AttemptError as exc:
                return str(exc.error).removeprefix(self._labels[i] + ": ")
            reason = self.protocol.check_ready(resp)
            if reason is not None:
                return f"{req.method} {urlsplit(req.url).path} answered {reason}"
        return None

    async def _initial_readiness(self) -> list[str | None]:
        n = len(self.pool)
        deadline = time.perf_counter() + self.wait_ready_s
        reasons: list[str | None] = [""] * n
        todo = list(range(n))
        while True:
            got = await asyncio.gather(*(self._ready_reason(i) for i in todo))
            for i, r in zip(todo, got):
                reasons[i] = r
            todo = [i for i in todo if reasons[i] is not None]
            if not todo or time.perf_counter() >= deadline:
                return reasons
            await asyncio.sleep(min(0.1, max(0.0, deadline - time.perf_counter())))

    # ------------------------------------------------------------------ internals: pinned requests
    async def _send_pinned(self, i: int, body: bytes) -> tuple[dict[str, np.ndarray], float]:
        """One request to instance ``i``, bypassing the policy (for profiling). Returns the
        outputs and the round-trip time in profile ms; raises the endpoint's error."""
        self._check_open()
        req = self._infer_req[i]
        t0 = time.perf_counter()
        try:
            resp = await self._transport.send(type(req)(req.method, req.url, body, req.headers), self._labels[i], self._timeout)
        except AttemptError as exc:
            raise exc.error from None
        dt = time.perf_counter() - t0
        self._busy_real_s[i] += dt
        if resp.status // 100 != 2:
            raise self._status_error(resp)[1]
        return self.protocol.parse_infer(resp), dt * 1000.0 / self.time_scale

    # ------------------------------------------------------------------ internals: load runs
    async def _run_arrivals(self, batches: np.ndarray, arrivals_ms: np.ndarray, *, rate: float, progress: bool | None,
                            on_result: Callable[[Reply | QueryFailed], Any] | None = None) -> RunResult:
        n = int(batches.size)
        lat = np.full(n, np.nan)
        inst = np.full(n, -1, dtype=np.int64)
        att = np.zeros(n, dtype=np.int64)
        end_ms = np.full(n, np.nan)
        failures: list[tuple[int, str]] = []
        busy0 = self._busy_real_s.copy()
        assert self._loop is not None
        all_done = self._loop.create_future()
        remaining = [n]
        show = _want_progress(progress if progress is not None else self.progress)
        bar = _make_bar(n, show, f"live {getattr(self.policy, 'name', 'policy')} @ {rate:g} qps")
        queries: list[_Query] = []

        def on_done(k: int, fut: asyncio.Future) -> None:
            if fut.cancelled():
                failures.append((k, "cancelled: the query's future was cancelled"))
                end_ms[k] = self._now() - t_start
                remaining[0] -= 1
                if remaining[0] == 0 and not all_done.done():
                    all_done.set_result(None)
                return
            res = fut.result()
            att[k] = res.attempts
            if isinstance(res, Reply):
                lat[k] = res.latency_ms
                inst[k] = res.instance
            else:
                failures.append((k, f"{res.kind}: {res.reason}"))
            end_ms[k] = arrivals_ms[k] + res.latency_ms
            remaining[0] -= 1
            if bar is not None:
                bar.update(1)
            if on_result is not None:
                try:
                    on_result(res)
                except Exception:
                    log.exception("on_result callback failed on query %d", res.query_id)
            if remaining[0] == 0 and not all_done.done():
                all_done.set_result(None)

        t_start = self._now()
        real0 = self._t0 + t_start * self.time_scale / 1000.0
        scale = self.time_scale / 1000.0
        wall0 = time.perf_counter()
        try:
            for k in range(n):
                delay = real0 + arrivals_ms[k] * scale - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                b = int(batches[k])
                q = self._submit_body(self._body_for_batch(b), b, t_start + float(arrivals_ms[k]))
                queries.append(q)
                q.future.add_done_callback(lambda f, k=k: on_done(k, f))
            await all_done
        except asyncio.CancelledError:
            for q in queries:
                self._abandon(q, "cancelled", "the run was cancelled")
            raise
        finally:
            if bar is not None:
                bar.close()
        finish = float(np.nanmax(end_ms)) if n else 0.0
        return RunResult(
            latencies_ms=lat,
            batch=batches.copy(),
            arrival_ms=arrivals_ms.copy(),
            instance=inst,
            instance_ids=tuple(i.id for i in self.pool),
            instance_types=self.pool.types,
            busy_ms=(self._busy_real_s - busy0) * 1000.0 / self.time_scale,
            duration_ms=finish,
            qos_ms=self.qos_ms,
            percentile=self.percentile,
            rate_qps=rate,
            policy=str(getattr(self.policy, "name", type(self.policy).__name__)),
            attempts=att,
            failures=tuple(sorted(failures)),
            source="live",
            extra={"time_scale": self.time_scale, "wall_s": time.perf_counter() - wall0,
                   "endpoints": tuple(display_url(u) for u in self._urls)},
        )


def _sample(workload: Workload, n: int, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Batch sizes and arrival times exactly as ``simulate`` draws them for the same seed
    (unit-rate draws scaled to ``rate``), so a live run and a simulation see the same queries."""
    batch, unit = workload.sample(n, rate=1000.0, rng=rng)
    return batch, unit * (1000.0 / rate)


def _want_progress(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _make_bar(total: int, show: bool, desc: str):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="q", leave=False)
