"""``KairosRequestRouter``: Ray Serve routing with the same policy object as the simulator.

How it fits Ray Serve's router (``ray.serve.request_router.RequestRouter``): every request
waiting to be routed runs a routing task that calls :meth:`choose_replicas` with it. This
router keeps the requests its tasks hold in a pending list (batch size, arrival time) and
the replicas as a pool of instances (type, estimated busy time), builds a
:class:`~kairos_sdk.distribute.DispatchState` of them and asks the policy, exactly as the
:class:`~kairos_sdk.distribute.Dispatcher` does in the simulator and the client. All the
pairs of one decision are applied at once (each replica reserved for its request); the
task of a request the policy leaves pending waits until something that matters changes (a
request arrives or completes, a replica is rejected, probed free or leaves, or a short
timer) and the policy decides again. A policy that assigns to idle instances only (as
:class:`~kairos_sdk.distribute.KairosPolicy` does) is not asked while no replica has room,
as the ``Dispatcher`` does not ask it. So the decisions are the policy's own, not a
re-implementation: ``KairosPolicy`` sends a batch size only to types that serve it within
QoS while such a replica exists.

What a router knows:

* the batch size of a request: the ``batch_size`` keyword of the call
  (``handle.remote(inputs, batch_size=180)``), else the length of the first positional
  argument when it has one (``len()``, or ``shape[0]``), else ``default_batch``;
* each replica's instance type: the ``instance_type`` its ``record_routing_stats``
  reports (see :class:`~kairos_sdk.ray.ReplayModel`), else the
  :data:`~kairos_sdk.ray.INSTANCE_TYPE_LABEL` label of its node (looked up once per node);
  a replica of unknown type gets nothing;
* its own requests in flight on each replica (sent, not completed), with the profile's
  mean estimate of when they end;
* what Ray Serve reports about the others, and probes: a replica that rejects one of this
  router's requests, whose count of ongoing requests (``on_new_queue_len_info``, with
  every request it accepts or rejects) shows requests that are not this router's, or that
  did not take a request handed to it (Ray's own probe found it full, and the request came
  back to be routed again), leaves the rotation and is probed
  (``RunningReplica.get_queue_len``) every ``probe_ms`` until it reports room; then it is
  back and the policy decides again. Probing, not guessing how long the others' work
  lasts. A probe that fails does not strand a request: a replica whose actor died is
  dropped from the view (as Ray's own probes do), one that is unavailable or does not
  answer in time goes back into rotation with Ray's queue-length cache entry cleared (Ray
  then probes it itself before sending).

Replicas take one request at a time by default (``max_ongoing_requests = 1`` in
:func:`~kairos_sdk.ray.build_app`), as an instance of the simulator does: the policy's
idle instances are the replicas with a free slot.

Examples
--------
>>> from kairos_sdk import Profile
>>> from kairos_sdk.ray import router_config
>>> cfg = router_config(Profile.builtin("rm2"), qos_ms=350)    # doctest: +SKIP
>>> cfg.request_router_class                                     # doctest: +SKIP
'kairos_sdk.ray.router.KairosRequestRouter'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from ..distribute import SHED, DispatchState, PolicyContext, policy_from_name
from ..errors import KairosError
from ..profile import Profile
from ..scaleout import default_probe_ms
from ..workload import Workload
from ._require import require_ray

require_ray()

import numpy as np  # noqa: E402
from ray.exceptions import ActorDiedError  # noqa: E402
from ray.serve.config import RequestRouterConfig  # noqa: E402
from ray.serve.request_router import PendingRequest, ReplicaID, RequestRouter, RunningReplica  # noqa: E402

from . import _live  # noqa: E402
from ._requests import batch_of, node_label  # noqa: E402

__all__ = ["KairosRequestRouter", "router_config", "batch_of"]

logger = logging.getLogger("ray.serve")

_TYPE_KEY = "instance_type"
_IDLE_WAIT_S = 0.05  # longest a routing task with no request waits before Ray asks again
_MIN_PROBE_MS = 1.0  # probes no more often than this (an RPC to the replica each)


class KairosRequestRouter(RequestRouter):
    """A Ray Serve request router that decides with a kairos_sdk policy.

    Configure it through :func:`router_config` (or ``RequestRouterConfig(
    request_router_class=KairosRequestRouter, request_router_kwargs=...)`` with the same
    keywords as :meth:`initialize_state`). See the module docstring for what it knows and
    how it waits.

    Attributes
    ----------
    n_in_flight : this router's requests sent and not yet completed.
    n_waiting : requests its routing tasks hold that the policy has not placed yet.
    routed_by_type : ``{instance type: requests routed}`` since it started.
    decisions : policy decisions taken; ``decide_s`` the wall time :meth:`_decide` took in
        total (building the state, the policy, applying its pairs), ``decide_cpu_s`` its CPU
        time (the router thread's: without the time other processes took the core).
    taken_out, probes, probe_failures : times a replica was taken out of rotation, probes sent,
        probes that failed.
    """

    # ------------------------------------------------------------------ configuration
    def initialize_state(
        self,
        *,
        profile: Mapping[str, Any] | str,
        qos_ms: float,
        percentile: float = 99.0,
        policy: str = "kairos",
        batch_mix: Mapping[str, float] | None = None,
        default_batch: int = 1,
        recheck_ms: float = 5.0,
        max_waiting: int = 256,
        probe_ms: float | None = None,
        **_: Any,
    ) -> None:
        """Called by Ray Serve with ``request_router_kwargs``.

        Parameters
        ----------
        profile : ``Profile.to_dict()`` (or its JSON), the latencies the policy estimates from
            (already time-scaled when the replicas are).
        qos_ms, percentile : the target.
        policy : a policy name (``"kairos"``, ``"fcfs"``, ``"least-work"``, ...); policies that
            shed are refused (a router cannot fail a request it was asked to route).
        batch_mix : ``{batch: probability}`` the pool expects (lets ``KairosPolicy`` price
            instance time by the fluid LP, as in the simulator).
        default_batch : batch size of a request that carries none.
        recheck_ms : longest a waiting request goes without a new decision.
        max_waiting : most requests held by routing tasks at once (Ray's own cap is twice
            the replicas).
        probe_ms : period of the probes of a replica out of rotation; default a quarter of
            its type's quickest mean service time (the profile's mean latency at its smallest
            measured batch), at least 1 ms.
        """
        doc = json.loads(profile) if isinstance(profile, str) else dict(profile)
        self._profile = Profile.from_json(json.dumps(doc))
        self._qos_ms = float(qos_ms)
        self._percentile = float(percentile)
        self._policy = policy_from_name(policy)
        if getattr(self._policy, "shed", False):
            raise KairosError("KairosRequestRouter cannot shed: use a policy that serves every request")
        self._idle_only = bool(getattr(self._policy, "assigns_to_idle_only", False))
        self._workload = (Workload.from_distribution({int(b): float(p) for b, p in batch_mix.items()})
                          if batch_mix else None)
        self._default_batch = int(default_batch)
        self._recheck_s = float(recheck_ms) / 1000.0
        self._max_waiting = int(max_waiting)
        self._probe_ms = None if probe_ms is None else max(float(probe_ms), _MIN_PROBE_MS)
        # replica bookkeeping
        self._types: dict[ReplicaID, str] = {}
        self._node_types: dict[str, str | None] = {}
        self._order: tuple[ReplicaID, ...] = ()  # the pool the policy was prepared for
        self._caps: list[int] = []  # max_ongoing_requests of each replica of the pool, in order
        self._pool_stale = True
        self._inflight: dict[ReplicaID, dict[str, float]] = {}  # replica -> request id -> est. end (ms)
        self._out: dict[ReplicaID, asyncio.Task | None] = {}  # out of rotation -> its probe
        # pending requests held by routing tasks
        self._waiting: dict[str, tuple[int, float]] = {}  # request id -> (batch, arrival ms)
        self._assigned: dict[str, ReplicaID] = {}
        self._where: dict[str, ReplicaID] = {}  # request id -> replica reserved or running it
        self._handed: dict[str, Any] = {}  # requests handed to Ray with a replica, until fulfilled
        self._dirty = True
        self._last_decide = 0.0
        self._wake: asyncio.Event | None = None
        _live.ROUTERS.add(self)
        # figures
        self.routed_by_type: dict[str, int] = {}
        self.decisions = 0
        self.decide_s = 0.0
        self.decide_cpu_s = 0.0
        self.taken_out = 0
        self.probes = 0
        self.probe_failures = 0

    @property
    def max_num_routing_tasks(self) -> int:  # noqa: D401 - Ray's property
        """Routing tasks allowed: enough for the policy to see a window of pending requests."""
        return min(getattr(self, "_max_waiting", 50), max(2 * len(self.curr_replicas), 16))

    @property
    def target_num_routing_tasks(self) -> int:  # noqa: D401 - Ray's property
        """Ray's target, but never fewer than the tasks running while any of them holds a
        request: Ray matches a chosen replica to its request by id, so a task that ended
        while holding one would leave that request unrouted."""
        base = min(self.num_pending_requests, self.max_num_routing_tasks)
        return max(base, self.curr_num_routing_tasks) if self._holding() else base

    def _holding(self) -> bool:
        if getattr(self, "_waiting", None):
            return True
        handed = getattr(self, "_handed", None)
        if handed:
            for req in [r for r, pr in handed.items() if pr.future.done()]:
                del handed[req]
        return bool(handed)

    # ------------------------------------------------------------------ figures
    @classmethod
    def live(cls) -> list[KairosRequestRouter]:
        """The routers alive in this process (one per deployment handle that routed)."""
        return list(_live.ROUTERS)

    @property
    def n_in_flight(self) -> int:
        return sum(len(d) for d in self._inflight.values())

    @property
    def n_waiting(self) -> int:
        return len(self._waiting)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready summary of the router's view (for tests and dashboards)."""
        return {
            "in_flight": self.n_in_flight,
            "waiting": self.n_waiting,
            "out_of_rotation": len(self._out),
            "replicas": {str(r.unique_id if hasattr(r, "unique_id") else r): t for r, t in self._types.items()},
            "routed_by_type": dict(self.routed_by_type),
            "decisions": self.decisions,
            "decide_s": self.decide_s,
            "decide_cpu_s": self.decide_cpu_s,
            "taken_out": self.taken_out,
            "probes": self.probes,
            "probe_failures": self.probe_failures,
        }

    def __repr__(self) -> str:
        return (f"KairosRequestRouter({len(self._order)} replicas, {self.n_in_flight} in flight, "
                f"{self.n_waiting} waiting, {len(self._out)} out of rotation, {self.decisions} decisions)")

    # ------------------------------------------------------------------ Ray's hooks
    def update_replicas(self, replicas: list[RunningReplica]) -> None:
        super().update_replicas(replicas)
        live = set(self.curr_replicas)
        for rid in list(self._inflight):
            if rid not in live:
                # a replica that left: its requests fail or are retried by Ray and come back
                # through choose_replicas; forget them here so the view returns to zero
                for req in self._inflight.pop(rid):
                    self._where.pop(req, None)
        for rid in [r for r in self._out if r not in live]:
            self._back_in(rid)
        self._pool_stale = True
        self._changed()

    def on_replica_actor_died(self, replica_id: ReplicaID) -> None:
        super().on_replica_actor_died(replica_id)
        for req in self._inflight.pop(replica_id, {}):
            self._where.pop(req, None)
        self._back_in(replica_id)
        self._pool_stale = True
        self._changed()

    def on_new_queue_len_info(self, replica_id: ReplicaID, queue_len_info: Any) -> None:
        super().on_new_queue_len_info(replica_id, queue_len_info)
        own = len(self._inflight.get(replica_id, ()))
        if not queue_len_info.accepted or int(queue_len_info.num_ongoing_requests) > own:
            # full, or someone else's work is there: out of rotation until a probe shows room
            self._take_out(replica_id)
        # an accepted request with nothing else there changes nothing this router counts

    def decrement_queue_len_cache(self, replica_id: ReplicaID) -> None:
        super().decrement_queue_len_cache(replica_id)
        self._changed()  # Ray's cache shows the replica free again: decide

    def on_request_completed(self, replica_id: ReplicaID, internal_request_id: str) -> None:
        super().on_request_completed(replica_id, internal_request_id)
        d = self._inflight.get(replica_id)
        if d is not None and d.pop(internal_request_id, None) is not None:
            if self._where.get(internal_request_id) == replica_id:
                del self._where[internal_request_id]
            # decide after Ray's own completion callbacks (its queue-length cache drops this
            # request in the next one): a replica chosen before that would look full and be
            # probed over RPC first
            self._dirty = True
            try:
                asyncio.get_running_loop().call_soon(self._changed)
            except RuntimeError:
                self._changed()

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        if pending_request is None:
            # Ray's routing task found no request to hand out. Give it a replica the queue
            # length cache says has room (it fulfils nothing with it: Ray matches replicas
            # to requests by id) so that it leaves its retry loop and takes the next request
            # or ends; but first wait for a change, so that it does not spin. With no room
            # anywhere it gets nothing (a replica that looks full would be probed over RPC).
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake_event().wait(), timeout=_IDLE_WAIT_S)
            room = self.select_available_replicas(candidate_replicas)
            return [room[:1]] if room else []
        req = pending_request.metadata.internal_request_id
        refused = self._release(req)  # back again: the replica chosen last time did not take it
        if refused is not None:
            self._take_out(refused)  # busy with others' work (Ray's own probe found it full)
        if req not in self._waiting:
            self._waiting[req] = (batch_of(pending_request, self._default_batch),
                                  float(pending_request.created_at) * 1000.0)
            self._dirty = True
        while True:
            if self._dirty:
                try:
                    self._decide()
                except Exception:  # never strand a request: fall back to Ray's own choice
                    logger.exception("KairosRequestRouter: the policy failed; routing by queue length")
                    self._waiting.pop(req, None)
                    return [list(candidate_replicas)]
            rid = self._assigned.pop(req, None)
            if rid is not None:
                replica = self.curr_replicas.get(rid)
                if replica is not None:
                    t = self._types[rid]
                    self.routed_by_type[t] = self.routed_by_type.get(t, 0) + 1
                    self._handed[req] = pending_request
                    return [[replica]]
                self._release(req)  # it left meanwhile
                continue
            if pending_request.future.done():  # cancelled by the caller
                self._waiting.pop(req, None)
                return []
            try:
                await asyncio.wait_for(self._wake_event().wait(), timeout=self._recheck_s)
            except asyncio.TimeoutError:
                # time moved, laxities changed: decide again, once per period for all tasks
                if time.monotonic() - self._last_decide >= self._recheck_s:
                    self._dirty = True

    # ------------------------------------------------------------------ probing
    def _take_out(self, rid: ReplicaID) -> None:
        """Keep ``rid`` out of rotation and probe it until it reports room."""
        if rid in self._out or rid not in self.curr_replicas:
            return
        try:
            task = asyncio.get_running_loop().create_task(self._probe(rid))
        except RuntimeError:  # no loop to probe from: leave it to Ray's own probes
            return
        self.taken_out += 1
        self._out[rid] = task

    def _back_in(self, rid: ReplicaID) -> None:
        task = self._out.pop(rid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _probe_s(self, rid: ReplicaID) -> float:
        """Probe period of a replica: ``probe_ms``, else a quarter of its type's quickest
        mean service time (at least 1 ms)."""
        if self._probe_ms is not None:
            return self._probe_ms / 1000.0
        t = self._types.get(rid)
        if t is None:
            return _MIN_PROBE_MS / 1000.0
        return max(default_probe_ms(self._profile, t), _MIN_PROBE_MS) / 1000.0  # the simulator's rule

    async def _probe(self, rid: ReplicaID) -> None:
        period_s = self._probe_s(rid)
        deadline_s = max(float(self.queue_len_response_deadline_s), period_s)
        try:
            while True:
                await asyncio.sleep(period_s)
                replica = self.curr_replicas.get(rid)
                if replica is None:
                    return  # it left the replica set: nothing to bring back
                self.probes += 1
                try:
                    q = await asyncio.wait_for(replica.get_queue_len(deadline_s=deadline_s), timeout=deadline_s)
                except asyncio.CancelledError:
                    raise
                except ActorDiedError:
                    self.probe_failures += 1
                    self.on_replica_actor_died(rid)  # dropped from the view, as Ray's probes do
                    return
                except Exception:  # unavailable or too slow: Ray probes it before sending
                    self.probe_failures += 1
                    self.on_replica_actor_unavailable(rid)
                    return
                self.replica_queue_len_cache.update(rid, q)
                if q < replica.max_ongoing_requests:
                    return
        finally:
            if self._out.get(rid) is asyncio.current_task():
                del self._out[rid]
                self._changed()

    # ------------------------------------------------------------------ internals
    def _wake_event(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    def _changed(self) -> None:
        self._dirty = True
        if self._wake is not None:
            self._wake.set()
            self._wake = None

    def _release(self, req: str) -> ReplicaID | None:
        """Undo the reservation of a request that is routed again; return the replica it
        was handed to, if any."""
        self._assigned.pop(req, None)
        self._handed.pop(req, None)
        rid = self._where.pop(req, None)
        if rid is not None:
            self._inflight.get(rid, {}).pop(req, None)
            self._dirty = True
        return rid

    def _type_of(self, replica: RunningReplica) -> str | None:
        stats = replica.routing_stats or {}
        t = stats.get(_TYPE_KEY)
        if t is None:
            node = replica.node_id
            if node not in self._node_types:
                self._node_types[node] = node_label(node)
            t = self._node_types[node]
        if t is not None and t not in self._profile.series:
            return None
        return t

    def _pool(self) -> tuple[ReplicaID, ...]:
        """The typed replicas in a fixed order; re-prepares the policy when they change.
        Recomputed only when the replica set changed or some replica's type is unknown."""
        if not self._pool_stale and len(self._order) == len(self.curr_replicas):
            return self._order
        typed = []
        for rid, rep in self.curr_replicas.items():
            t = self._types.get(rid) or self._type_of(rep)
            if t is not None:
                self._types[rid] = t
                typed.append(rid)
        self._pool_stale = len(typed) < len(self.curr_replicas)  # look again for the untyped
        order = tuple(sorted(typed, key=lambda r: (self._types[r], str(r))))
        if order != self._order:
            self._order = order
            if order:
                types = tuple(self._types[r] for r in order)
                names = tuple(sorted(set(types)))
                ctx = PolicyContext(
                    instance_types=types, type_names=names,
                    type_index=np.array([names.index(t) for t in types], dtype=np.intp),
                    profile=self._profile, qos_ms=self._qos_ms, percentile=self._percentile,
                    concurrency=1, plan=None, workload=self._workload,
                )
                self._policy.prepare(ctx)
                self._est_tab = {t: {} for t in names}
        self._caps = [self.curr_replicas[r].max_ongoing_requests for r in order]
        return order

    def _estimate(self, t: str, batch: int) -> float:
        tab = self._est_tab[t]
        hit = tab.get(batch)
        if hit is None:
            hit = tab[batch] = float(self._profile.latency(t, batch, q="mean", extrapolate=True))
        return hit

    def _state(self, order: tuple[ReplicaID, ...], now: float) -> tuple[list, list, list, list]:
        """Per replica of ``order``: estimated busy-until, free slots, in rotation; and the
        idle ones (a free slot, in rotation)."""
        n = len(order)
        busy = [now] * n
        free = [0] * n
        avail = [True] * n
        idle = []
        cache = self.replica_queue_len_cache
        for j, rid in enumerate(order):
            if rid in self._out:
                avail[j] = False
                continue
            own = self._inflight.get(rid)
            used = 0
            if own:
                used = len(own)
                end = max(own.values())
                if end > now:
                    busy[j] = end
            cached = cache.get(rid)  # Ray's count of its ongoing requests
            if cached is not None and cached > used:
                used = cached  # Ray knows of more work there (its own completion callback may lag)
            f = self._caps[j] - used
            if f > 0:
                free[j] = f
                idle.append(j)
        return busy, free, avail, idle

    def _decide(self) -> None:
        """One policy decision over every waiting request; applies all its pairs."""
        self._dirty = False
        self._last_decide = time.monotonic()
        if not self._waiting:
            return
        order = self._pool()
        if not order:
            return
        t0, c0 = time.perf_counter(), time.thread_time()
        now = _now_ms()
        busy, free, avail, idle = self._state(order, now)
        if self._idle_only and not idle:
            return  # the policy places nothing without a free replica: not asked (as the Dispatcher)
        waiting = self._waiting
        reqs = sorted(waiting, key=lambda r: waiting[r][1])
        batches = [waiting[r][0] for r in reqs]
        arrivals = [waiting[r][1] for r in reqs]
        state = DispatchState(now, batches, arrivals, busy, free, [0] * len(order), avail, idle=idle)
        pairs = self._policy.decide(state)
        self.decisions += 1
        for k, j in pairs:
            if j == SHED:
                continue  # refused at configuration; never drop a request
            req, rid = reqs[k], order[j]
            del waiting[req]
            self._assigned[req] = rid
            self._where[req] = rid
            self._inflight.setdefault(rid, {})[req] = now + self._estimate(self._types[rid], batches[k])
        self.decide_s += time.perf_counter() - t0
        self.decide_cpu_s += time.thread_time() - c0
        if pairs and self._wake is not None:
            self._wake.set()
            self._wake = None


def _now_ms() -> float:
    return time.time() * 1000.0


def router_config(
    profile: Profile,
    *,
    qos_ms: float,
    percentile: float = 99.0,
    policy: str = "kairos",
    batch_mix: Mapping[int, float] | None = None,
    default_batch: int = 1,
    recheck_ms: float = 5.0,
    probe_ms: float | None = None,
    stats_period_s: float = 1.0,
    **router_options: Any,
) -> RequestRouterConfig:
    """A ``RequestRouterConfig`` that routes with :class:`KairosRequestRouter`.

    ``router_options`` go to ``RequestRouterConfig`` (``initial_backoff_s``, ...).
    The retry backoff defaults are short and constant (1 ms; a constant multiplier also keeps
    Ray's exponential backoff from overflowing on long waits): a request this router sends
    to a replica that turns out full is decided again at once.
    """
    if not isinstance(profile, Profile):
        raise KairosError(f"profile must be a Profile, got {type(profile).__name__}")
    kwargs: dict[str, Any] = {
        "profile": profile.to_dict(), "qos_ms": float(qos_ms), "percentile": float(percentile),
        "policy": policy, "default_batch": int(default_batch), "recheck_ms": float(recheck_ms),
    }
    if probe_ms is not None:
        kwargs["probe_ms"] = float(probe_ms)
    if batch_mix:
        kwargs["batch_mix"] = {str(int(b)): float(p) for b, p in batch_mix.items()}
    opts = {"initial_backoff_s": 0.001, "backoff_multiplier": 1.0, "max_backoff_s": 0.001,
            "request_routing_stats_period_s": float(stats_period_s)}
    opts.update(router_options)
    return RequestRouterConfig(request_router_class=KairosRequestRouter, request_router_kwargs=kwargs, **opts)
