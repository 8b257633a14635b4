"""Runtime query distribution: the :class:`Policy` protocol, the :class:`Dispatcher` and
the built-in policies.

One policy, two clocks: the simulator and the live client both drive a :class:`Dispatcher`,
which keeps the pending queue and each instance's estimated state and asks the policy, at
every decision point, which pending query goes to which instance. Nothing here does I/O or
knows what time it is; callers pass ``now_ms``. Policies see profile-based *estimates*
only, never the true service times.

Decision points are arrivals and completions. Each assignment ``(pending index, instance
index)`` puts the query on that instance's local FIFO queue; an instance starts the head of
its queue whenever it has a free slot (``concurrency`` queries in flight at most). Policies
that only assign to idle instances (free slot, empty queue) start every assigned query at
once; they say so with the class attribute ``assigns_to_idle_only = True`` and the
dispatcher then skips asking them while no instance is idle. A policy may also give a
query up unserved by assigning it to :data:`SHED` (load shedding: ``KairosPolicy(shed=True)``
does so for queries that can no longer meet QoS); the dispatcher drops it from the queue
and hands its id to the caller through :meth:`Dispatcher.take_shed`, which reports it as
failed — a shed query is never silently lost.

Layout
------
:mod:`~kairos_sdk.distribute.base` (the protocol and its value types),
:mod:`~kairos_sdk.distribute.dispatcher`, :mod:`~kairos_sdk.distribute.estimates` (profile
lookups), :mod:`~kairos_sdk.distribute.matching` (exact min-cost matching solvers),
:mod:`~kairos_sdk.distribute.schedule` (Moore–Hodgson), one module per policy
(:mod:`~kairos_sdk.distribute.kairos` a package, one module per step) and
:mod:`~kairos_sdk.distribute.registry` (policies by name).

Policies
--------
:class:`KairosPolicy`
    min-cost matching of pending queries to idle instances (networkx min-cost flow, or an
    exact assignment fast path); the default.
:class:`PaperPolicy`
    the KAIROS paper's distributor exactly as published (baseline).
:class:`FCFSPolicy`, :class:`RoundRobinPolicy`, :class:`LeastWorkPolicy`
    simple baselines.
:class:`DeepRecSchedPolicy`, :class:`ClockworkPolicy`
    schemes from the literature (DeepRecSched, ISCA'20; Clockwork, OSDI'20), for comparisons.

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

from .base import SHED, DispatchState, Policy, PolicyContext
from .clockwork import ClockworkPolicy
from .deeprecsched import DeepRecSchedPolicy, ThresholdClimber
from .dispatcher import Dispatcher
from .fcfs import FCFSPolicy
from .kairos import KairosPolicy
from .least_work import LeastWorkPolicy
from .matching import min_cost_assignment
from .paper import PaperPolicy
from .registry import policy_from_name, policy_names, register_policy
from .round_robin import RoundRobinPolicy

__all__ = [
    "ClockworkPolicy",
    "DeepRecSchedPolicy",
    "DispatchState",
    "Dispatcher",
    "FCFSPolicy",
    "KairosPolicy",
    "LeastWorkPolicy",
    "PaperPolicy",
    "Policy",
    "PolicyContext",
    "RoundRobinPolicy",
    "SHED",
    "ThresholdClimber",
    "min_cost_assignment",
    "policy_from_name",
    "policy_names",
    "register_policy",
]
