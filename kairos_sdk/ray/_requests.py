"""What :class:`~kairos_sdk.ray.KairosRequestRouter` reads from Ray Serve's objects: a
request's batch size, a policy by name, a node's instance-type label.

Pure helpers (no Ray import at module level), kept apart so that the router module holds
only the router.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> batch_of(NS(args=[], kwargs={"batch_size": 180}))
180
"""

from __future__ import annotations

from typing import Any

from ..distribute import FCFSPolicy, KairosPolicy, LeastWorkPolicy, RoundRobinPolicy
from ..errors import KairosError
from .cluster import INSTANCE_TYPE_LABEL

__all__ = ["batch_of", "policy_named", "node_label"]


def policy_named(name: str) -> Any:
    """The policy called ``name``: the distribute registry when it has one, else the
    built-in names.

    Examples
    --------
    >>> policy_named("kairos").name
    'kairos'
    """
    try:
        from ..distribute import policy_from_name  # type: ignore[attr-defined]
    except ImportError:
        policy_from_name = None
    if policy_from_name is not None:
        return policy_from_name(name)
    known = {"kairos": KairosPolicy, "fcfs": FCFSPolicy, "least-work": LeastWorkPolicy,
             "round-robin": RoundRobinPolicy}
    if name not in known:
        raise KairosError(f"unknown policy {name!r}; choose one of {', '.join(sorted(known))}")
    return known[name]()


def batch_of(pending_request: Any, default: int = 1) -> int:
    """The batch size of a pending Ray Serve request: its ``batch_size`` keyword, else the
    length of its first positional argument, else ``default``.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> batch_of(NS(args=[], kwargs={"batch_size": 180}))
    180
    >>> batch_of(NS(args=[[0.0] * 12], kwargs={}))
    12
    >>> batch_of(NS(args=[object()], kwargs={}), default=1)
    1
    """
    kwargs = getattr(pending_request, "kwargs", None) or {}
    b = kwargs.get("batch_size")
    if b is None:
        args = getattr(pending_request, "args", None) or ()
        if args:
            first = args[0]
            shape = getattr(first, "shape", None)
            if shape:
                b = shape[0]
            else:
                try:
                    b = len(first)
                except TypeError:
                    b = None
    try:
        b = int(b) if b is not None else int(default)
    except (TypeError, ValueError):
        b = int(default)
    return max(b, 1)


def node_label(node_id: str) -> str | None:
    """The instance-type label of a Ray node (one GCS lookup); None when unknown."""
    try:
        import ray

        for node in ray.nodes():
            if node.get("NodeID") == node_id:
                return (node.get("Labels") or {}).get(INSTANCE_TYPE_LABEL)
    except Exception:
        return None
    return None
