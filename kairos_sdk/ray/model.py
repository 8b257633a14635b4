"""``ReplayModel``: a Ray Serve deployment that answers after the profile's latency for the
instance type of the node it runs on (the Ray twin of the SDK's replay endpoints).

Examples
--------
>>> from kairos_sdk.ray import ReplayModel        # doctest: +SKIP
>>> app = ReplayModel.bind(Profile.builtin("rm2").to_dict(), time_scale=0.1)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import KairosError
from ..profile import Profile
from ._require import require_ray

require_ray()

import ray  # noqa: E402
from ray import serve  # noqa: E402

from .cluster import INSTANCE_TYPE_LABEL  # noqa: E402

__all__ = ["ReplayModel", "instance_type_here"]


def instance_type_here() -> str | None:
    """The instance type of the node this code runs on: its :data:`INSTANCE_TYPE_LABEL`
    label, else the ``KAIROS_INSTANCE_TYPE`` environment variable, else None."""
    try:
        labels = ray.get_runtime_context().get_node_labels() or {}
    except Exception:
        labels = {}
    t = labels.get(INSTANCE_TYPE_LABEL)
    if isinstance(t, (list, tuple)):
        t = t[0] if t else None
    return t or os.environ.get("KAIROS_INSTANCE_TYPE") or None


def _batch(inputs: Any, batch_size: Any) -> int:
    if batch_size is not None:
        return int(batch_size)
    shape = getattr(inputs, "shape", None)
    if shape:
        return int(shape[0])
    try:
        return max(len(inputs), 1)
    except TypeError:
        return 1


@serve.deployment(max_ongoing_requests=1)
class ReplayModel:
    """Answers each request after a latency drawn from the profile for this node's type.

    Parameters
    ----------
    profile : ``Profile.to_dict()`` (or its JSON, or a built-in model name).
    time_scale : wall-clock time per profile time (``0.1`` answers ten times faster; give
        the router the same scaled profile, see :func:`~kairos_sdk.ray.build_app`).
    seed : seed of the latency draws (per replica).
    instance_type : the type, when the node carries no :data:`INSTANCE_TYPE_LABEL`.

    A call ``handle.remote(inputs, batch_size=b)`` returns ``{"instance_type", "batch_size",
    "service_ms", "replica"}``; ``service_ms`` is the profile time drawn (unscaled).
    ``record_routing_stats`` reports ``{"instance_type", "served"}`` to the routers.
    """

    def __init__(self, profile: Mapping[str, Any] | str, *, time_scale: float = 1.0, seed: int | None = None,
                 instance_type: str | None = None) -> None:
        if isinstance(profile, str) and not profile.lstrip().startswith("{"):
            self._profile = Profile.builtin(profile)
        else:
            self._profile = Profile.from_json(profile if isinstance(profile, str) else json.dumps(dict(profile)))
        self.instance_type = instance_type or instance_type_here()
        if self.instance_type not in self._profile.series:
            raise KairosError(
                f"ReplayModel runs on a node of type {self.instance_type!r}, which the profile does not cover "
                f"({', '.join(self._profile.instance_types)}); label the node {INSTANCE_TYPE_LABEL}=<type>"
            )
        if not (time_scale > 0):
            raise KairosError(f"time_scale must be positive, got {time_scale!r}")
        self._scale = float(time_scale)
        self._rng = np.random.default_rng(seed)
        self.served = 0
        try:
            self._replica = serve.get_replica_context().replica_id.unique_id
        except Exception:
            self._replica = "?"

    async def __call__(self, inputs: Any = None, *, batch_size: int | None = None) -> dict[str, Any]:
        b = _batch(inputs, batch_size)
        ms = float(self._profile.latency(self.instance_type, b, q=float(self._rng.random()), extrapolate=True))
        await asyncio.sleep(ms * self._scale / 1000.0)
        self.served += 1
        return {"instance_type": self.instance_type, "batch_size": b, "service_ms": ms, "replica": self._replica}

    def record_routing_stats(self) -> dict[str, Any]:
        return {"instance_type": self.instance_type, "served": self.served}
