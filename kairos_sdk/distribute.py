"""Runtime query distribution: the :class:`Policy` protocol and the :class:`Dispatcher`.

One policy, two clocks: the simulator and the live client both drive a :class:`Dispatcher`,
which keeps the pending queue and each instance's estimated state and asks the policy, at
every decision point, which pending query goes to which instance. Nothing here does I/O or
knows what time it is; callers pass ``now_ms``.

Decision points are arrivals and completions. Each assignment ``(pending index, instance
index)`` puts the query on that instance's local FIFO queue; an instance starts the head of
its queue whenever it has a free slot (``concurrency`` queries in flight at most). Policies
that only assign to instances with a free slot and an empty queue (all built-in ones but
:class:`PaperPolicy`-style queueing) therefore start every assigned query at once.

Examples
--------
>>> from kairos_sdk import Profile
>>> from kairos_sdk.distribute import Dispatcher, FCFSPolicy
>>> prof = Profile.from_dict({"cpu": {10: [5.0]}})
>>> d = Dispatcher(FCFSPolicy(), ["cpu", "cpu"], prof, qos_ms=50)
>>> d.submit(0, 10, now_ms=0.0); d.submit(1, 10, now_ms=0.0); d.submit(2, 10, now_ms=0.0)
>>> d.dispatch(now_ms=0.0)
[(0, 0), (1, 1)]
>>> d.finish(0, now_ms=5.0)
0
>>> d.dispatch(now_ms=5.0)
[(2, 0)]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import KairosError, SimulationError
from .profile import Profile

__all__ = [
    "DispatchState",
    "Dispatcher",
    "FCFSPolicy",
    "Policy",
    "PolicyContext",
]


@dataclass(frozen=True, eq=False)
class PolicyContext:
    """What a policy may know about a run before it starts.

    Attributes
    ----------
    instance_types : type name of every instance, in pool order.
    type_names : the distinct type names; ``type_index[i]`` indexes it for instance ``i``.
    type_index : (N,) int array.
    profile : latency profile (policies estimate service times from it, never the truth).
    qos_ms : latency target (queueing included), ms.
    percentile : the share of queries (in %) that must meet ``qos_ms``.
    concurrency : queries an instance serves at once.
    plan : the :class:`~kairos_sdk.planner.Plan` behind the pool, when known (its routing
        may guide a policy).
    """

    instance_types: tuple[str, ...]
    type_names: tuple[str, ...]
    type_index: np.ndarray
    profile: Profile
    qos_ms: float
    percentile: float
    concurrency: int
    plan: Any = None

    def estimate_ms(self, type_name: str, batch: Any, q: Any = "mean") -> np.ndarray:
        """Service-time estimate from the profile (extrapolated beyond the measured range)."""
        return self.profile.latency(type_name, batch, q=q, extrapolate=True)


@dataclass(eq=False)
class DispatchState:
    """The live state a policy decides on (read-only for the policy).

    Attributes
    ----------
    now_ms : the current time.
    pending_batch, pending_arrival_ms : (P,) arrays, pending queries oldest first.
    busy_until_ms : (N,) estimated time each instance finishes the work it already has
        (``<= now_ms`` means idle).
    free_slots : (N,) how many more queries each instance could start right now.
    queue_len : (N,) queries waiting in each instance's local queue.
    available : (N,) bool, False for instances taken out of rotation.
    """

    now_ms: float
    pending_batch: np.ndarray
    pending_arrival_ms: np.ndarray
    busy_until_ms: np.ndarray
    free_slots: np.ndarray
    queue_len: np.ndarray
    available: np.ndarray


@runtime_checkable
class Policy(Protocol):
    """A query-distribution policy.

    ``prepare`` is called once at the start of every run (simulated or live) and may
    precompute tables from the context; ``decide`` returns ``(pending index, instance
    index)`` pairs, each pending index at most once, only to available instances. Queries
    left unassigned stay pending until the next decision point.
    """

    name: str

    def prepare(self, ctx: PolicyContext) -> None: ...

    def decide(self, state: DispatchState) -> Sequence[tuple[int, int]]: ...


class FCFSPolicy:
    """First come, first served: the oldest pending query goes to any idle instance.

    Idle instances are taken in pool order.
    """

    name = "fcfs"

    def prepare(self, ctx: PolicyContext) -> None:
        self._ctx = ctx

    def decide(self, state: DispatchState) -> list[tuple[int, int]]:
        idle = np.flatnonzero((state.free_slots > 0) & (state.queue_len == 0) & state.available)
        out = []
        for k in range(min(len(idle), len(state.pending_batch))):
            out.append((k, int(idle[k])))
        return out

    def __repr__(self) -> str:
        return "FCFSPolicy()"


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
    ) -> None:
        if not isinstance(policy, Policy):
            raise SimulationError(f"policy must implement prepare() and decide(), got {type(policy).__name__}")
        if not instance_types:
            raise SimulationError("a dispatcher needs at least one instance")
        if not (qos_ms > 0):
            raise SimulationError(f"qos_ms must be positive, got {qos_ms!r}")
        if not (0 < percentile <= 100):
            raise SimulationError(f"percentile must be in (0, 100], got {percentile!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise SimulationError(f"concurrency must be a positive integer, got {concurrency!r}")
        types = tuple(instance_types)
        for t in set(types):
            if t not in profile.series:
                raise KairosError(
                    f"instance type {t!r} has no latency profile; the profile covers {', '.join(profile.instance_types)}"
                )
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
        )
        self.policy = policy
        policy.prepare(self.ctx)
        n = len(types)
        self._mean_tables = {t: (profile.batch_sizes(t), profile.quantile_table(t, "mean")) for t in names}
        self._pending_id: list[int] = []
        self._pending_batch: list[int] = []
        self._pending_arrival: list[float] = []
        self._info: dict[int, tuple[int, float]] = {}
        self.queues: list[deque[int]] = [deque() for _ in range(n)]
        self.running: list[dict[int, float]] = [{} for _ in range(n)]  # qid -> estimated end
        self._queued_ms = np.zeros(n)
        self.available = np.ones(n, dtype=bool)

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
        self.running[instance].pop(query_id, None)
        batch, arrival = self._info[query_id]
        k = int(np.searchsorted(np.asarray(self._pending_arrival), arrival, side="right"))
        self._pending_id.insert(k, query_id)
        self._pending_batch.insert(k, batch)
        self._pending_arrival.insert(k, arrival)

    def finish(self, query_id: int, now_ms: float) -> int:
        """A query completed; returns the instance that served it."""
        for i, run in enumerate(self.running):
            if query_id in run:
                del run[query_id]
                self._info.pop(query_id, None)
                return i
        raise SimulationError(f"query {query_id} is not running")

    def finish_on(self, instance: int, query_id: int) -> None:
        """Like :meth:`finish` when the instance is known (O(1))."""
        del self.running[instance][query_id]
        self._info.pop(query_id, None)

    def set_available(self, instance: int, available: bool) -> list[int]:
        """Take an instance out of rotation (returns its locally queued query ids, now
        pending again) or put it back."""
        self.available[instance] = available
        back: list[int] = []
        if not available:
            while self.queues[instance]:
                qid = self.queues[instance].pop()
                self._queued_ms[instance] -= self._estimate(instance, self._info[qid][0])
                back.append(qid)
            self._queued_ms[instance] = 0.0
            for qid in reversed(back):
                self.requeue(qid, instance)
        return back

    # ------------------------------------------------------------------ decisions
    @property
    def n_pending(self) -> int:
        return len(self._pending_id)

    @property
    def n_active(self) -> int:
        """Queries submitted and not finished (pending, queued or running)."""
        return len(self._info)

    def state(self, now_ms: float) -> DispatchState:
        n = len(self.queues)
        busy = np.full(n, now_ms)
        free = np.zeros(n, dtype=np.intp)
        qlen = np.zeros(n, dtype=np.intp)
        conc = self.ctx.concurrency
        for i in range(n):
            run = self.running[i]
            end = max(run.values()) if run else now_ms
            busy[i] = max(end, now_ms) + self._queued_ms[i]
            free[i] = conc - len(run)
            qlen[i] = len(self.queues[i])
        return DispatchState(
            now_ms=now_ms,
            pending_batch=np.asarray(self._pending_batch, dtype=np.int64),
            pending_arrival_ms=np.asarray(self._pending_arrival, dtype=float),
            busy_until_ms=busy,
            free_slots=free,
            queue_len=qlen,
            available=self.available.copy(),
        )

    def dispatch(self, now_ms: float) -> list[tuple[int, int]]:
        """Ask the policy, then return ``(query id, instance)`` pairs to start now."""
        if self._pending_id:
            state = self.state(now_ms)
            if np.any(state.available):
                self._apply(self.policy.decide(state), now_ms)
        return self._start_ready(now_ms)

    # ------------------------------------------------------------------ internals
    def _estimate(self, instance: int, batch: int) -> float:
        b, m = self._mean_tables[self.ctx.instance_types[instance]]
        return float(np.interp(batch, b, m, right=m[-1] * batch / b[-1]))

    def _apply(self, assignments: Sequence[tuple[int, int]], now_ms: float) -> None:
        if not assignments:
            return
        n = len(self.queues)
        taken: set[int] = set()
        for k, i in assignments:
            k, i = int(k), int(i)
            if not (0 <= k < len(self._pending_id)) or k in taken:
                raise SimulationError(f"policy {self.policy.name!r} assigned pending query {k} twice or out of range")
            if not (0 <= i < n) or not self.available[i]:
                raise SimulationError(f"policy {self.policy.name!r} assigned a query to unavailable instance {i}")
            taken.add(k)
            qid = self._pending_id[k]
            self.queues[i].append(qid)
            self._queued_ms[i] += self._estimate(i, self._pending_batch[k])
        keep = [k for k in range(len(self._pending_id)) if k not in taken]
        self._pending_id = [self._pending_id[k] for k in keep]
        self._pending_batch = [self._pending_batch[k] for k in keep]
        self._pending_arrival = [self._pending_arrival[k] for k in keep]

    def _start_ready(self, now_ms: float) -> list[tuple[int, int]]:
        out = []
        conc = self.ctx.concurrency
        for i, q in enumerate(self.queues):
            run = self.running[i]
            while q and len(run) < conc:
                qid = q.popleft()
                est = self._estimate(i, self._info[qid][0])
                self._queued_ms[i] = max(0.0, self._queued_ms[i] - est)
                start = max(now_ms, max(run.values()) if run and conc == 1 else now_ms)
                run[qid] = start + est
                out.append((qid, i))
        return out
