"""What every policy shares: the :class:`Policy` protocol, the :class:`PolicyContext` it is
prepared with, the :class:`DispatchState` it decides on, and :data:`SHED`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from ..profile import Profile

__all__ = ["SHED", "DispatchState", "Policy", "PolicyContext"]

#: Instance index a policy assigns a query to in order to give it up unserved (shed it).
SHED = -1

_T = TypeVar("_T")


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
    workload : the :class:`~kairos_sdk.Workload` expected, when known (its batch-size mix
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
    workload: Any = None


class DispatchState:
    """The live state a policy decides on (read-only for the policy, valid during
    ``decide`` only: the dispatcher reuses its buffers).

    The array attributes are built on first access, so a policy that reads only what it
    needs (or the list views ``pending_lists()`` and ``idle_list``) pays only for that.
    A policy that derives something from the state more than once per decision keeps it
    with :meth:`cached`.

    Attributes
    ----------
    now_ms : the current time.
    pending_batch, pending_arrival_ms : (P,) arrays, pending queries oldest first.
    busy_until_ms : (N,) estimated time each instance finishes the work it already has
        (``<= now_ms`` means idle).
    free_slots : (N,) how many more queries each instance could start right now.
    queue_len : (N,) queries waiting in each instance's local queue.
    available : (N,) bool, False for instances taken out of rotation.
    idle : indices of the instances with a free slot, an empty queue and in rotation, in
        pool order (computed from the fields above when not given).

    Examples
    --------
    >>> import numpy as np
    >>> from kairos_sdk.distribute import DispatchState
    >>> s = DispatchState(now_ms=0.0, pending_batch=[10, 20], pending_arrival_ms=[0.0, 0.0],
    ...                   busy_until_ms=np.zeros(2), free_slots=np.array([1, 0]),
    ...                   queue_len=np.zeros(2, dtype=int), available=np.ones(2, dtype=bool))
    >>> s.n_pending, s.idle_list
    (2, [0])
    >>> s.cached("twice", lambda: 2 * s.n_pending)
    4
    """

    def __init__(self, now_ms: float, pending_batch: Any, pending_arrival_ms: Any, busy_until_ms: Any,
                 free_slots: Any, queue_len: Any, available: Any, idle: Any = None) -> None:
        self.now_ms = now_ms
        self._pb = pending_batch
        self._pa = pending_arrival_ms
        self._busy = busy_until_ms
        self._free = free_slots
        self._qlen = queue_len
        self._avail = available
        self._idle = idle
        self._cache: dict[str, Any] = {}

    def _arr(self, key: str, raw: Any, dtype: Any) -> np.ndarray:
        hit = self._cache.get(key)
        if hit is None:
            hit = np.asarray(raw() if callable(raw) else raw, dtype=dtype)
            self._cache[key] = hit
        return hit

    def cached(self, key: str, build: Callable[[], _T]) -> _T:
        """``build()`` the first time ``key`` is asked for during this decision, the same
        object afterwards (a policy's per-decision memo; keys are the policy's own)."""
        key = "policy:" + key
        hit = self._cache.get(key)
        if hit is None:
            hit = build()
            self._cache[key] = hit
        return hit

    @property
    def n_pending(self) -> int:
        return len(self._pb)

    def pending_lists(self) -> tuple[list[int], list[float]]:
        """``(batches, arrivals_ms)`` of the pending queries as Python lists (oldest first)."""
        pb, pa = self._pb, self._pa
        return (pb if isinstance(pb, list) else np.asarray(pb).tolist(),
                pa if isinstance(pa, list) else np.asarray(pa).tolist())

    @property
    def pending_batch(self) -> np.ndarray:
        return self._arr("pb", self._pb, np.int64)

    @property
    def pending_arrival_ms(self) -> np.ndarray:
        return self._arr("pa", self._pa, float)

    @property
    def busy_until_ms(self) -> np.ndarray:
        return self._arr("busy", self._busy, float)

    @property
    def free_slots(self) -> np.ndarray:
        return self._arr("free", self._free, np.intp)

    @property
    def queue_len(self) -> np.ndarray:
        return self._arr("qlen", self._qlen, np.intp)

    @property
    def available(self) -> np.ndarray:
        return self._arr("avail", self._avail, bool)

    @property
    def idle(self) -> np.ndarray:
        hit = self._cache.get("idle")
        if hit is None:
            if self._idle is None:
                hit = np.flatnonzero((self.free_slots > 0) & (self.queue_len == 0) & self.available)
            else:
                hit = np.asarray(self._idle() if callable(self._idle) else self._idle, dtype=np.intp)
            self._cache["idle"] = hit
        return hit

    @property
    def idle_list(self) -> list[int]:
        """Idle instance indices as a Python list, in pool order."""
        if self._idle is not None and "idle" not in self._cache:
            v = self._idle() if callable(self._idle) else self._idle
            return list(v) if not isinstance(v, np.ndarray) else v.tolist()
        return self.idle.tolist()

    def __repr__(self) -> str:
        return f"DispatchState(now_ms={self.now_ms:g}, {self.n_pending} pending, idle={self.idle_list})"


@runtime_checkable
class Policy(Protocol):
    """A query-distribution policy.

    ``prepare`` is called once at the start of every run (simulated or live) and may
    precompute tables from the context; ``decide`` returns ``(pending index, instance
    index)`` pairs, each pending index at most once, only to available instances, or to
    :data:`SHED` to give the query up. Queries left unassigned stay pending until the next
    decision point.
    """

    name: str

    def prepare(self, ctx: PolicyContext) -> None: ...

    def decide(self, state: DispatchState) -> Sequence[tuple[int, int]]: ...
