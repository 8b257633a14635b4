"""What :class:`~kairos_sdk.ray.KairosRequestRouter` reads from Ray Serve's objects: a
request's batch size and a node's instance-type label.

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

from .cluster import INSTANCE_TYPE_LABEL

__all__ = ["batch_of", "node_label"]


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
