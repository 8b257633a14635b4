"""The :class:`Dispatcher`: bookkeeping between arrivals, a :class:`~kairos_sdk.distribute.Policy`
and a pool's instances (the pending queue, each instance's local queue and running queries,
and the estimated time each instance frees), shared by the simulator and the live client."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import instance_of, positive_float, positive_int
from .._checks import percentile as check_percentile
from ..errors import SimulationError
from ..profile import Profile
from ..workload import Workload
from .base import SHED, DispatchState, Policy, PolicyContext
from .estimates import Estimates

__all__ = ["Dispatcher"]


class Dispatcher:
    """Bookkeeping between arrivals, a :class:`Policy` and a pool's instances.

    Parameters
    ----------
    policy : the distribution policy (``prepare`` is called here).
    instance_types : type name of each instance, in pool order.
    profile : latency profile used for estimates.
    qos_ms, percentile : the QoS target the policy aims at.
    concurrency : queries one instance serves at once (1 = a single-worker server).
    plan : optional plan behind the pool, passed to the policy.
    workload : optional expected workload, passed to the policy (KairosPolicy prices
        instance time with it).
    """

    def __init__(
        self,
        policy: Policy,
        instance_types: Sequence[str],
        profile: Profile,
        *,
        qos_ms: float,
        percentile: float = 99.0,
        concurrency: int = 1,
        plan: Any = None,
        workload: Any = None,
    ) -> None:
        types = tuple(instance_types) if instance_types else ()
        qos_ms, percentile, concurrency = _check_args(policy, types, profile, qos_ms, percentile, concurrency,
                                                      workload)
        names = tuple(sorted(set(types)))
        self.ctx = PolicyContext(
            instance_types=types,
            type_names=names,
            type_index=np.array([names.index(t) for t in types], dtype=np.intp),
            profile=profile,
            qos_ms=float(qos_ms),
            percentile=float(percentile),
            concurrency=concurrency,
            plan=plan,
            workload=workload,
        )
        self.policy = policy
        policy.prepare(self.ctx)
        self._idle_only = bool(getattr(policy, "assigns_to_idle_only", False))
        n = len(types)
        self._n = n
        self._conc = concurrency
        self._tix = self.ctx.type_index.tolist()
        self._est = Estimates(self.ctx)
        self._pending_id: list[int] = []
        self._pending_batch: list[int] = []
        self._pending_arrival: list[float] = []
        self._info: dict[int, tuple[int, float]] = {}
        self._where: dict[int, int] = {}  # qid -> instance, for queued and running queries
        self.queues: list[deque[int]] = [deque() for _ in range(n)]
        self.running: list[dict[int, float]] = [{} for _ in range(n)]  # qid -> estimated end
        self._queued_ms = np.zeros(n)
        self._run_end = np.zeros(n)  # latest estimated end of the running queries
        self._n_run = np.zeros(n, dtype=np.intp)
        self._qlen = np.zeros(n, dtype=np.intp)
        self.available = np.ones(n, dtype=bool)
        self._idle: set[int] = set(range(n))
        self._ready: set[int] = set()  # instances with a queued query and a free slot
        self._shed: list[int] = []  # ids the policy gave up, until the caller takes them

    # ------------------------------------------------------------------ inputs
    def submit(self, query_id: int, batch: int, now_ms: float) -> None:
        """A query arrived (or is re-submitted after a failure, keeping its arrival time)."""
        if query_id in self._info:
            raise SimulationError(f"query {query_id} was already submitted")
        self._info[query_id] = (int(batch), float(now_ms))
        self._pending_id.append(query_id)
        self._pending_batch.append(int(batch))
        self._pending_arrival.append(float(now_ms))

    def requeue(self, query_id: int, instance: int) -> None:
        """Take a started query back from ``instance`` (e.g. it failed there) and make it
        pending again, ahead of younger queries, with its original arrival time."""
        if self.running[instance].pop(query_id, None) is not None:
            self._n_run[instance] -= 1
            self._after_leave(instance)
        self._where.pop(query_id, None)
        batch, arrival = self._info[query_id]
        k = int(np.searchsorted(np.asarray(self._pending_arrival), arrival, side="right"))
        self._pending_id.insert(k, query_id)
        self._pending_batch.insert(k, batch)
        self._pending_arrival.insert(k, arrival)

    def finish(self, query_id: int, now_ms: float) -> int:
        """A query completed; returns the instance that served it."""
        i = self._where.get(query_id)
        if i is None or query_id not in self.running[i]:
            raise SimulationError(f"query {query_id} is not running")
        self.finish_on(i, query_id)
        return i

    def finish_on(self, instance: int, query_id: int) -> None:
        """Like :meth:`finish` when the instance is known (O(1))."""
        del self.running[instance][query_id]
        self._info.pop(query_id, None)
        self._where.pop(query_id, None)
        self._n_run[instance] -= 1
        self._after_leave(instance)

    def _after_leave(self, i: int) -> None:
        run = self.running[i]
        if self._conc == 1:
            self._run_end[i] = 0.0
        else:
            self._run_end[i] = max(run.values()) if run else 0.0
        if self.queues[i]:
            self._ready.add(i)
        elif self.available[i]:
            self._idle.add(i)

    def set_available(self, instance: int, available: bool) -> list[int]:
        """Take an instance out of rotation (returns its locally queued query ids, now
        pending again) or put it back."""
        self.available[instance] = available
        back: list[int] = []
        if not available:
            self._idle.discard(instance)
            self._ready.discard(instance)
            q = self.queues[instance]
            while q:
                back.append(q.pop())
            self._queued_ms[instance] = 0.0
            self._qlen[instance] = 0
            for qid in reversed(back):
                self._where.pop(qid, None)
                self.requeue(qid, instance)
        elif self._n_run[instance] < self._conc and not self.queues[instance]:
            self._idle.add(instance)
        return back

    # ------------------------------------------------------------------ decisions
    @property
    def n_pending(self) -> int:
        return len(self._pending_id)

    @property
    def n_active(self) -> int:
        """Queries submitted and not finished (pending, queued or running)."""
        return len(self._info)

    def take_shed(self) -> list[int]:
        """Ids of the queries the policy gave up (assigned to :data:`SHED`) since the last
        call; the caller reports them as failed. They count in :attr:`n_active` until taken."""
        out, self._shed = self._shed, []
        for qid in out:
            del self._info[qid]
        return out

    @property
    def pending_ids(self) -> tuple[int, ...]:
        """Ids of the pending queries, oldest first."""
        return tuple(self._pending_id)

    def state(self, now_ms: float) -> DispatchState:
        """The current :class:`DispatchState` (lazy: arrays are built when a policy reads them)."""
        return DispatchState(
            now_ms,
            self._pending_batch,
            self._pending_arrival,
            lambda: np.maximum(self._run_end, now_ms) + self._queued_ms,
            lambda: self._conc - self._n_run,
            self._qlen,
            self.available,
            idle=lambda: sorted(self._idle),
        )

    def dispatch(self, now_ms: float) -> list[tuple[int, int]]:
        """Ask the policy, then return ``(query id, instance)`` pairs to start now."""
        if self._pending_id and (self._idle if self._idle_only else self.available.any()):
            assignments = self.policy.decide(self.state(now_ms))
            if assignments:
                self._apply(assignments)
        if self._ready:
            return self._start_ready(now_ms)
        return []

    # ------------------------------------------------------------------ internals
    def _estimate(self, instance: int, batch: int) -> float:
        return self._est.row(batch).mean_ms[self._tix[instance]]

    def _apply(self, assignments: Sequence[tuple[int, int]]) -> None:
        n = self._n
        npend = len(self._pending_id)
        taken: set[int] = set()
        for k, i in assignments:
            k, i = int(k), int(i)
            if not (0 <= k < npend) or k in taken:
                raise SimulationError(f"policy {self.policy.name!r} assigned pending query {k} twice or out of range")
            if i == SHED:
                taken.add(k)
                self._shed.append(self._pending_id[k])
                continue
            if not (0 <= i < n) or not self.available[i]:
                raise SimulationError(f"policy {self.policy.name!r} assigned a query to unavailable instance {i}")
            taken.add(k)
            qid = self._pending_id[k]
            self.queues[i].append(qid)
            self._where[qid] = i
            self._qlen[i] += 1
            self._queued_ms[i] += self._estimate(i, self._pending_batch[k])
            self._idle.discard(i)
            if self._n_run[i] < self._conc:
                self._ready.add(i)
        if len(taken) == npend:
            self._pending_id.clear()
            self._pending_batch.clear()
            self._pending_arrival.clear()
        elif len(taken) == 1:
            (k,) = taken
            del self._pending_id[k], self._pending_batch[k], self._pending_arrival[k]
        else:
            keep = [k for k in range(npend) if k not in taken]
            self._pending_id = [self._pending_id[k] for k in keep]
            self._pending_batch = [self._pending_batch[k] for k in keep]
            self._pending_arrival = [self._pending_arrival[k] for k in keep]

    def _start_ready(self, now_ms: float) -> list[tuple[int, int]]:
        out = []
        conc = self._conc
        for i in sorted(self._ready):
            q = self.queues[i]
            run = self.running[i]
            while q and len(run) < conc:
                qid = q.popleft()
                est = self._estimate(i, self._info[qid][0])
                self._qlen[i] -= 1
                self._queued_ms[i] = max(0.0, self._queued_ms[i] - est) if q else 0.0
                end = now_ms + est
                run[qid] = end
                self._n_run[i] += 1
                if end > self._run_end[i]:
                    self._run_end[i] = end
                out.append((qid, i))
            if not q and len(run) < conc and self.available[i]:
                self._idle.add(i)
        self._ready.clear()
        return out


def _check_args(policy: Any, types: tuple[str, ...], profile: Any, qos_ms: Any, percentile: Any,
                concurrency: Any, workload: Any) -> tuple[float, float, int]:
    """``qos_ms``, ``percentile`` and ``concurrency`` checked and normalised; a wrong type raises
    :class:`~kairos_sdk.errors.ArgumentTypeError`, a bad value :class:`SimulationError` (and so
    does a policy without ``prepare``/``decide``, as ``simulate`` reports it)."""
    if not isinstance(policy, Policy):
        raise SimulationError(f"policy must implement prepare() and decide(), got {type(policy).__name__}")
    instance_of(profile, "profile", Profile)
    if workload is not None:
        instance_of(workload, "workload", Workload)
    if not types:
        raise SimulationError("a dispatcher needs at least one instance")
    if not (isinstance(qos_ms, float) and qos_ms == math.inf):  # inf: no target (a client without one)
        qos_ms = positive_float(qos_ms, "qos_ms", unit="milliseconds", error=SimulationError)
    percentile = check_percentile(percentile, error=SimulationError)
    concurrency = positive_int(concurrency, "concurrency", error=SimulationError)
    for t in set(types):
        if t not in profile.series:
            raise SimulationError(
                f"instance type {t!r} has no latency profile; the profile covers {', '.join(profile.instance_types)}"
            )
    return qos_ms, percentile, concurrency
