"""kairos_sdk — serve a model on a heterogeneous pool of cloud instances at the highest
throughput a cost budget allows while the tail latency stays under target.

Plan the instance mix without online exploration (:class:`Planner`), distribute every query
at runtime to the instance where it costs least (:mod:`kairos_sdk.distribute`), try it
offline in a discrete-event simulator (:func:`simulate`), drive real endpoints with an
async client (:mod:`kairos_sdk.client`) and re-plan online as load and latencies drift
(:class:`Autopilot`, tried on a changing pool with :func:`simulate_dynamic`).

Examples
--------
>>> import kairos_sdk as ks
>>> profile = ks.Profile.builtin("rm2")
>>> profile.instance_types
('c5n.2xlarge', 'g4dn.xlarge', 'r5n.large', 't3.xlarge')
"""

from __future__ import annotations

from . import defaults as defaults  # the paper's catalog, budget and QoS targets (ks.defaults)
from ._version import __version__
from .adapt import Autopilot
from .distribute import FCFSPolicy, KairosPolicy, LeastWorkPolicy, PaperPolicy, RoundRobinPolicy
from .dynamic import simulate_dynamic
from .errors import (
    ArgumentError,
    ArgumentTypeError,
    CatalogError,
    DeadlineError,
    EndpointError,
    EndpointTimeout,
    InfeasibleError,
    KairosError,
    OverloadedError,
    PlanningError,
    ProfileError,
    ProtocolError,
    ShedError,
    SimulationError,
    UsageError,
    WorkloadError,
)
from .overhead import Overhead
from .planner import Headroom, Plan, Planner
from .pool import Catalog, Instance, InstanceType, Pool
from .profile import Profile
from .results import DynamicResult, RunResult, ThroughputResult
from .simulate import allowable_throughput, simulate
from .workload import RateTrace, Workload

__all__ = [
    "ArgumentError",
    "ArgumentTypeError",
    "Autopilot",
    "Catalog",
    "CatalogError",
    "DeadlineError",
    "DynamicResult",
    "EndpointError",
    "EndpointTimeout",
    "FCFSPolicy",
    "Headroom",
    "InfeasibleError",
    "Instance",
    "InstanceType",
    "KairosError",
    "KairosPolicy",
    "LeastWorkPolicy",
    "Overhead",
    "OverloadedError",
    "PaperPolicy",
    "Plan",
    "Planner",
    "PlanningError",
    "Pool",
    "Profile",
    "ProfileError",
    "ProtocolError",
    "RateTrace",
    "RoundRobinPolicy",
    "RunResult",
    "ShedError",
    "SimulationError",
    "ThroughputResult",
    "UsageError",
    "Workload",
    "WorkloadError",
    "__version__",
    "allowable_throughput",
    "simulate",
    "simulate_dynamic",
]
