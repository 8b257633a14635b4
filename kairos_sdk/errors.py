"""The one exception tree of kairos_sdk.

Every error a user can see is a :class:`KairosError`. Where a builtin exception
fits, the subclass also derives from it, so ``except ValueError`` catches every bad
value and ``except TypeError`` every argument of the wrong type::

    KairosError
    ├── ArgumentError(ValueError)       an argument's value is wrong (named, with the value)
    │   ├── ProfileError                bad latency data or an unknown instance type/batch
    │   ├── WorkloadError               bad batch-size distribution or arrival settings
    │   ├── CatalogError                bad prices, caps or instance-type names
    │   ├── PlanningError               the planner cannot run with these inputs
    │   │   └── InfeasibleError         no pool satisfies budget, caps and QoS
    │   ├── SimulationError             bad simulator arguments
    │   └── UsageError                  a bad command line (the CLI exits with status 2)
    ├── ArgumentTypeError(TypeError)    an argument of the wrong type (a str for a number, ...)
    ├── ShedError                       a query was given up: it could no longer meet QoS
    ├── OverloadedError                 the client's queue was full (``Limits.max_pending``)
    ├── DeadlineError(TimeoutError)     a query waited past its deadline (``Timeouts.deadline_s``)
    ├── EndpointError(ConnectionError)  an endpoint is down, refused or failed
    │   └── EndpointTimeout(TimeoutError)
    └── ProtocolError                   an endpoint answered something malformed

A bad value raises the subclass of :class:`ArgumentError` of the area it belongs to
(``Planner(..., qos_ms=-1)`` raises :class:`PlanningError`), or :class:`ArgumentError`
itself where no area fits (the replay endpoints, the widgets, the client's settings).
Messages say which argument was wrong, what it was, and what to change.

Examples
--------
>>> from kairos_sdk.errors import ArgumentError, ProfileError, KairosError
>>> issubclass(ProfileError, (ArgumentError, KairosError, ValueError))
True
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "ArgumentTypeError",
    "CatalogError",
    "DeadlineError",
    "EndpointError",
    "EndpointTimeout",
    "InfeasibleError",
    "KairosError",
    "OverloadedError",
    "PlanningError",
    "ProfileError",
    "ProtocolError",
    "ShedError",
    "SimulationError",
    "UsageError",
    "WorkloadError",
]


class KairosError(Exception):
    """Base class of every error raised by kairos_sdk."""


class ArgumentError(KairosError, ValueError):
    """An argument has a value the SDK cannot work with; the message names it and the value."""


class ArgumentTypeError(KairosError, TypeError):
    """An argument has the wrong type (a string where a number is due, a dict for a Profile)."""


class ProfileError(ArgumentError):
    """Latency data is malformed, or a lookup falls outside what was measured."""


class WorkloadError(ArgumentError):
    """A workload (batch-size mix, trace or arrival process) is malformed."""


class CatalogError(ArgumentError):
    """A catalog or pool is malformed: bad price, cap or instance-type name."""


class PlanningError(ArgumentError):
    """The planner could not run with the given inputs."""


class InfeasibleError(PlanningError):
    """No pool meets the budget, caps and QoS target together."""


class SimulationError(ArgumentError):
    """The simulator was given arguments it cannot run with."""


class UsageError(ArgumentError):
    """A command-line argument is wrong (``kairos`` prints the message and exits with status 2)."""


class ShedError(KairosError):
    """A policy that sheds load (``KairosPolicy(shed=True)``) gave the query up unserved,
    because it could no longer finish within the QoS target anywhere."""


class OverloadedError(KairosError):
    """The client refused a query at once: ``Limits.max_pending`` queries were already
    waiting (bounded queueing instead of unbounded latency)."""


class DeadlineError(KairosError, TimeoutError):
    """A query was not sent within ``Timeouts.deadline_s`` of its submission."""


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
