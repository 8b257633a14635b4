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
import html
import itertools
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import numpy as np

from .._checks import instance_of, int_in_range, positive_float
from .._checks import percentile as check_percentile
from ..distribute import Dispatcher, FCFSPolicy, KairosPolicy, Policy
from ..errors import ArgumentError, ArgumentTypeError, EndpointError, KairosError, ProtocolError
from ..pool import Pool, _check_url
from ..profile import Profile
from ..results import RunResult
from ..workload import Workload
from .guard import _PolicyGuard
from .health import _Health
from .protocols import InferenceProtocol, ModelMetadata
from .queries import _Queries
from .replies import QueryFailed, Reply, _Query
from .retry import RetryPolicy
from .runs import _check_run_args, _Runs, draw_queries
from .settings import Auth, Limits, Timeouts, as_auth, as_limits, as_timeouts
from .transport import AttemptError, Transport, display_url, redact, url_secrets

__all__ = ["KairosClient", "QueryFailed", "Reply"]

log = logging.getLogger("kairos_sdk.client")
log.addHandler(logging.NullHandler())  # silent unless the application configures logging


def _flat_profile(types: Sequence[str]) -> Profile:
    return Profile.from_dict({t: {1: [1.0], 1000: [1000.0]} for t in dict.fromkeys(types)}, source="flat placeholder")


def _default_policy(profile_given: bool) -> Policy:
    return KairosPolicy() if profile_given else FCFSPolicy()


def _check_client_args(pool: Any, protocol: Any, policy: Any, profile: Any, qos_ms: Any, percentile: Any,
                       time_scale: Any, retry: Any) -> None:
    """The constructor's argument checks (settings objects check their own values)."""
    instance_of(pool, "pool", Pool)
    missing = [i.id for i in pool if not i.endpoint]
    if missing:
        raise ArgumentError(
            f"instance(s) {', '.join(missing)} have no endpoint URL; use pool.with_endpoints([...]) "
            "or kairos_sdk.endpoints.serve_pool(pool, profile)"
        )
    for inst in pool:
        _check_url(inst.id, inst.endpoint)
    instance_of(protocol, "protocol", InferenceProtocol, hint=" such as OpenInferenceProtocol('model')")
    if isinstance(policy, type):
        raise ArgumentTypeError(f"policy must be an instance, e.g. {policy.__name__}(), not the class")
    if policy is not None:
        instance_of(policy, "policy", Policy, hint=" (with prepare() and decide())")
    if profile is not None:
        instance_of(profile, "profile", Profile)
        unknown = sorted(set(pool.types) - set(profile.instance_types))
        if unknown:
            raise ArgumentError(
                f"the profile has no latencies for {', '.join(unknown)}; it covers {', '.join(profile.instance_types)}"
            )
    if qos_ms is not None:
        positive_float(qos_ms, "qos_ms", unit="milliseconds")
    check_percentile(percentile)
    positive_float(time_scale, "time_scale", unit="real ms per profile ms")
    if retry is not None:
        instance_of(retry, "retry", RetryPolicy)


def _check_auth_conflict(pool: Pool, auth: Auth) -> None:
    """A URL's user:password becomes an Authorization header too: it cannot go with a token
    or an explicit Authorization header."""
    if "authorization" not in {k.lower() for k in auth.all_headers()}:
        return
    for inst in pool:
        if url_secrets(inst.endpoint or ""):
            raise ArgumentError(
                f"instance {inst.id}: its endpoint URL carries a user:password and the client has a token (or an "
                "Authorization header) too; use one of them: drop the password from the URL or the token"
            )


class KairosClient(_Queries, _Health, _Runs):
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
    plan : the plan behind the pool, passed on to the policy.
    time_scale : real milliseconds per profile millisecond (0.1 runs a profile 10x faster
        against replay endpoints started with the same ``time_scale``); latencies, busy
        times and the clock the policy sees are in profile milliseconds.
    concurrency : queries in flight per instance (1 = a single-worker server), or a
        :class:`~kairos_sdk.client.Limits` (``max_connections`` too).
    timeout_s : per-request timeout in seconds (real time; default 10): a request without a
        complete answer by then fails with kind ``"timeout"`` and is retried elsewhere. Or a
        :class:`~kairos_sdk.client.Timeouts` (readiness calls, waiting for readiness at
        start, ``check_ready``, how long all instances may be out of rotation).
    token : bearer token sent as ``Authorization: Bearer ...`` (never shown in reprs or
        logs), or an :class:`~kairos_sdk.client.Auth` (extra headers, TLS verification).
    retry : a :class:`RetryPolicy` (default: 3 attempts on connection errors, 5xx, timeouts;
        its ``seed`` seeds the retry jitter).

    The policy is prepared (``Policy.prepare``) with the same context as in the simulator:
    pool, profile, QoS target, concurrency, plan and, in :meth:`run`, the run's workload, so
    a policy holds the same weights live as in :func:`~kairos_sdk.simulate`. Queries sent with
    :meth:`infer` or :meth:`submit` outside a run see the policy prepared without a workload:
    ``KairosPolicy`` then weighs instance types by the plan's batch mix when a plan is given,
    else by speed (give ``KairosPolicy(workload=...)`` to price them with a known mix).
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
        plan: Any = None,
        time_scale: float = 1.0,
        concurrency: int | Limits = 1,
        timeout_s: float | Timeouts = 10.0,
        token: str | Auth | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        _check_client_args(pool, protocol, policy, profile, qos_ms, percentile, time_scale, retry)
        self.pool = pool
        self.protocol = protocol
        self.profile = profile
        self.policy = policy if policy is not None else _default_policy(profile is not None)
        self.qos_ms = float(qos_ms) if qos_ms is not None else float("inf")
        self.percentile = float(percentile)
        self.plan = plan
        self.time_scale = float(time_scale)
        self.limits = as_limits(concurrency)
        self.timeouts = as_timeouts(timeout_s)
        self.retry = retry if retry is not None else RetryPolicy()
        auth = as_auth(token)
        _check_auth_conflict(pool, auth)
        self._transport = Transport(headers=auth.all_headers(), verify=auth.verify,
                                    limit=self.limits.connections_for(len(pool)))
        self._rng = random.Random(self.retry.seed)
        secrets = set(self._transport.secrets)
        for inst in pool:
            secrets.update(url_secrets(inst.endpoint or ""))
        self._secrets = tuple(sorted(secrets, key=len, reverse=True))
        self._setup_state()

    def _setup_state(self) -> None:
        """Per-endpoint request templates, and the bookkeeping of queries and rotation."""
        n = len(self.pool)
        self._labels = [f"{i.id} at {display_url(i.endpoint or '')}" for i in self.pool]
        self._urls = [i.endpoint or "" for i in self.pool]
        self._infer_req = [self.protocol.infer_request(u, b"") for u in self._urls]
        self._timeout = aiohttp.ClientTimeout(total=self.timeouts.request_s)
        self._ready_timeout = aiohttp.ClientTimeout(total=self.timeouts.ready_s)
        self._state = "new"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = time.perf_counter()
        # queries (see queries.py and guard.py)
        self._dispatcher: Dispatcher | None = None
        self._stale: set[int] = set()  # ended while in the dispatcher's queue, not yet dropped there
        self._stranded: set[int] = set()  # pending past Timeouts.hold_s with an instance out
        self._stranded_failed: set[int] = set()  # given up by the guard (after_hold="fail")
        self._n_served_after_hold = 0  # stranded queries the guard sent on anyway (served late)
        self._hold_timer: asyncio.TimerHandle | None = None
        self._out_since: float | None = None  # perf_counter() when an instance last left rotation
        self._queries: dict[int, _Query] = {}
        self._ids = itertools.count()
        self._body_cache: dict[int, bytes] = {}
        self._n_inflight = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_recheck_s = 0.01
        # rotation (see health.py)
        self._available = [True] * n
        self._n_available = n
        self._down_since: float | None = None
        self._down_timer: asyncio.TimerHandle | None = None
        self._probes: dict[int, asyncio.Task] = {}
        self._last_error: list[str | None] = [None] * n
        # per-instance counters
        self._busy_real_s = np.zeros(n)
        self._served = np.zeros(n, dtype=np.int64)
        self._failed_attempts = np.zeros(n, dtype=np.int64)
        self._consecutive = np.zeros(n, dtype=np.int64)  # failed attempts in a row (outlier ejection)

    # ------------------------------------------------------------------ settings, read-only
    @property
    def concurrency(self) -> int:
        """Queries in flight per instance."""
        return self.limits.concurrency

    @property
    def timeout_s(self) -> float:
        """Per-request timeout, real seconds."""
        return self.timeouts.request_s

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
            bad: dict[int, str] = {}
            if self.timeouts.check_ready != "skip":
                bad = self._not_ready_at_start(await self._initial_readiness())
            self._dispatcher = self._new_dispatcher(workload=None)
        except BaseException:
            self._state = "closed"
            await self._transport.close()
            raise
        self._t0 = time.perf_counter()
        self._state = "open"
        for i, r in bad.items():
            self._last_error[i] = r
            self._eject(i, f"not ready at start: {r}")

    def _new_dispatcher(self, workload: Workload | None) -> Dispatcher:
        """A dispatcher over the pool, preparing the policy with the simulator's context
        (``workload`` included); instances out of rotation stay out."""
        profile = self.profile if self.profile is not None else _flat_profile(self.pool.types)
        guard = _PolicyGuard(self.policy, self)
        d = Dispatcher(guard, self.pool.types, profile, qos_ms=self.qos_ms, percentile=self.percentile,
                       concurrency=self.concurrency, plan=self.plan, workload=workload)
        guard.dispatcher = d
        self._stale.clear()  # the queries a new dispatcher holds are all live
        for i, up in enumerate(self._available):
            if not up:
                d.set_available(i, False)
        return d

    def _prepare_policy(self, workload: Workload) -> None:
        """Prepare the policy for a run of ``workload``, before its first query. With queries
        outstanding it keeps its current preparation: a policy is never re-prepared under
        queries it is deciding for."""
        if self._queries:
            log.warning("%d queries outstanding: the policy keeps its current preparation", len(self._queries))
            return
        self._dispatcher = self._new_dispatcher(workload)

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
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
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
            resp = await self._transport.send(req, self._labels[i], self._ready_timeout, "Timeouts.ready_s")
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

        Give ``n_queries`` or ``duration_s`` (seconds of arrivals, profile time). The queries
        are drawn by :meth:`Workload.arrivals <kairos_sdk.Workload.arrivals>` from
        ``numpy.random.default_rng(seed)``, as ``simulate`` draws them, and the policy is
        prepared for ``workload`` as ``simulate`` prepares it. ``progress`` shows a tqdm bar
        (default: when stderr is a terminal or in Jupyter). A cancelled run ends its
        outstanding queries as failed and re-raises. ``on_result`` is called with each
        query's :class:`Reply` or :class:`QueryFailed` as it ends (e.g. a live dashboard); an
        exception it raises is logged and does not disturb the run.
        """
        self._check_open()
        _check_run_args(workload, rate, n_queries, duration_s, on_result)
        batches, arrivals = draw_queries(workload, float(rate), n_queries=n_queries, duration_s=duration_s,
                                         rng=np.random.default_rng(seed))
        if batches.size == 0:
            raise KairosError(f"no query arrives within duration_s={duration_s} at rate {rate}; run longer or faster")
        self._prepare_policy(workload)
        try:
            return await self._run_arrivals(batches.astype(np.int64), arrivals.astype(float), rate=float(rate),
                                            progress=progress, on_result=on_result)
        finally:
            if self._state == "open" and not self._queries:  # back to the preparation for infer
                self._dispatcher = self._new_dispatcher(workload=None)

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
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(self.pool[i].type)}</td>"
            f"<td>{'yes' if v['available'] else 'no'}</td><td>{v['served']}</td><td>{v['failed_attempts']}</td>"
            f"<td>{v['busy_ms']:.0f}</td><td>{html.escape(v['last_error'] or '')}</td></tr>"
            for i, (k, v) in enumerate(self.stats().items())
        )
        return (
            f"<table><caption>{html.escape(repr(self))}</caption><tr><th>instance</th><th>type</th>"
            f"<th>in rotation</th><th>served</th><th>failed attempts</th><th>busy ms</th><th>last error</th></tr>"
            f"{rows}</table>"
        )

    # ------------------------------------------------------------------ internals
    def _redact(self, text: str) -> str:
        """``text`` without the client's secrets (token, secret header values, URL passwords)."""
        return redact(text, self._secrets)

    def _redacted(self, err: KairosError) -> KairosError:
        """``err``, or the same kind of error with its message redacted."""
        text = str(err)
        clean = self._redact(text)
        if clean == text:
            return err
        if isinstance(err, (EndpointError, ProtocolError)):
            return type(err)(clean, endpoint=err.endpoint)
        try:
            return type(err)(clean)
        except TypeError:  # pragma: no cover - a subclass with another signature
            return KairosError(clean)

    def _policy_name(self) -> str:
        return str(getattr(self.policy, "name", type(self.policy).__name__))

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
            raise ArgumentError(f"no instance {instance!r} in the pool; ids: {', '.join(i.id for i in self.pool)}")
        return int_in_range(instance, "instance", 0, len(self.pool) - 1, what=" (or an instance id)")
