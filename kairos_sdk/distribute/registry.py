"""Policies by name, for the CLI, the benchmarks and configuration files.

:func:`policy_from_name` builds a policy from its name; :func:`policy_names` lists the names
(in the order the CLI shows them); :func:`register_policy` adds a name (a module with a policy
of its own registers it when imported).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._checks import instance_of
from ..errors import ArgumentTypeError, SimulationError
from .base import Policy
from .clockwork import ClockworkPolicy
from .deeprecsched import DeepRecSchedPolicy
from .fcfs import FCFSPolicy
from .kairos import KairosPolicy
from .least_work import LeastWorkPolicy
from .paper import PaperPolicy
from .round_robin import RoundRobinPolicy

__all__ = ["policy_from_name", "policy_names", "register_policy"]

_REGISTRY: dict[str, Callable[..., Policy]] = {}


def register_policy(name: str, factory: Callable[..., Policy]) -> None:
    """Make ``policy_from_name(name, **kwargs)`` return ``factory(**kwargs)``.

    A name registered again is replaced. For example, a module defining a policy of its own
    ends with::

        register_policy("kairos-speed", lambda **kw: KairosPolicy(weighting="speed", **kw))

    after which ``policy_from_name("kairos-speed")`` builds it and the CLI offers it.
    """
    if not instance_of(name, "name", str, hint=" (the policy's name)"):
        raise SimulationError(f"a policy name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ArgumentTypeError(f"the factory of policy {name!r} must be callable, got {factory!r}")
    _REGISTRY[name] = factory


def policy_names() -> tuple[str, ...]:
    """The registered policy names, built-in ones first.

    Examples
    --------
    >>> from kairos_sdk.distribute import policy_names
    >>> policy_names()[:6]
    ('kairos', 'kairos-shed', 'fcfs', 'round-robin', 'least-work', 'paper')
    """
    return tuple(_REGISTRY)


def policy_from_name(name: str, **kwargs: Any) -> Policy:
    """A new policy of the registered ``name``, built with ``kwargs``.

    Raises :class:`~kairos_sdk.errors.SimulationError` (a ``ValueError``) listing the known
    names when ``name`` is not registered.

    Examples
    --------
    >>> from kairos_sdk.distribute import policy_from_name
    >>> policy_from_name("kairos-shed")
    KairosPolicy(feasible_q=0.9, laxity_weight=0.5, weighting='lp', method='assignment', shed=True)
    >>> policy_from_name("paper", window_factor=3)
    PaperPolicy(window=3N, safeguard=2%)
    """
    factory = _REGISTRY.get(instance_of(name, "name", str, hint=" (a policy's name)"))
    if factory is None:
        raise SimulationError(f"unknown policy {name!r}; known policies: {', '.join(_REGISTRY)}")
    return factory(**kwargs)


def _kairos_shed(**kwargs: Any) -> KairosPolicy:
    """``KairosPolicy`` giving up the queries it could only serve late."""
    return KairosPolicy(**{"shed": True, **kwargs})


for _name, _factory in (
    ("kairos", KairosPolicy),
    ("kairos-shed", _kairos_shed),
    ("fcfs", FCFSPolicy),
    ("round-robin", RoundRobinPolicy),
    ("least-work", LeastWorkPolicy),
    ("paper", PaperPolicy),
    ("deeprecsched", DeepRecSchedPolicy),
    ("clockwork", ClockworkPolicy),
):
    register_policy(_name, _factory)
