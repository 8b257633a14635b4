"""The one exception tree of kairos_sdk.

Every error a user can see is a :class:`KairosError`. Where a builtin exception
fits, the subclass also derives from it, so ``except ValueError`` keeps working::

    KairosError
    ├── ProfileError(ValueError)        bad latency data or an unknown instance type/batch
    ├── WorkloadError(ValueError)       bad batch-size distribution or arrival settings
    ├── CatalogError(ValueError)        bad prices, caps or instance-type names
    ├── PlanningError                   the planner could not run as asked
    │   └── InfeasibleError             no pool satisfies budget, caps and QoS
    ├── SimulationError(ValueError)     bad simulator arguments
    ├── ShedError                       a query was given up: it could no longer meet QoS
    ├── EndpointError(ConnectionError)  an endpoint is down, refused or failed
    │   └── EndpointTimeout(TimeoutError)
    └── ProtocolError                   an endpoint answered something malformed

Messages say which field was wrong and what to change.

Examples
--------
>>> from kairos_sdk.errors import ProfileError, KairosError
>>> issubclass(ProfileError, (KairosError, ValueError))
True
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "EndpointError",
    "EndpointTimeout",
    "InfeasibleError",
    "KairosError",
    "PlanningError",
    "ProfileError",
    "ProtocolError",
    "ShedError",
    "SimulationError",
    "WorkloadError",
]


class KairosError(Exception):
    """Base class of every error raised by kairos_sdk."""


class ProfileError(KairosError, ValueError):
    """Latency data is malformed, or a lookup falls outside what was measured."""


class WorkloadError(KairosError, ValueError):
    """A workload (batch-size mix, trace or arrival process) is malformed."""


class CatalogError(KairosError, ValueError):
    """A catalog or pool is malformed: bad price, cap or instance-type name."""


class PlanningError(KairosError):
    """The planner could not run with the given inputs."""


class InfeasibleError(PlanningError):
    """No pool meets the budget, caps and QoS target together."""


class SimulationError(KairosError, ValueError):
    """The simulator was given arguments it cannot run with."""


class ShedError(KairosError):
    """A policy that sheds load (``KairosPolicy(shed=True)``) gave the query up unserved,
    because it could no longer finish within the QoS target anywhere."""


class EndpointError(KairosError, ConnectionError):
    """An inference endpoint is unreachable, refused the request or failed."""

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class EndpointTimeout(EndpointError, TimeoutError):
    """An inference endpoint did not answer within the timeout."""


class ProtocolError(KairosError):
    """An endpoint answered, but not in the shape the protocol requires."""

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
