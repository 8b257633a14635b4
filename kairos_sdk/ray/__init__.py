"""A plan deployed as one heterogeneous Ray Serve application, routed by KAIROS.

The optional ``[ray]`` extra (``pip install "kairos-sdk[ray]"``). Nothing in the core, the
client or the CLI's plain commands imports this package; :func:`to_ray_cluster` (pure) works
without Ray, the rest needs ``ray[serve]``.

* :class:`KairosRequestRouter` — a Ray Serve request router that sends each request to a
  replica with the same policy object the simulator and :class:`~kairos_sdk.client.KairosClient`
  use (:class:`~kairos_sdk.distribute.KairosPolicy` by default).
* :func:`build_app` / :func:`deploy` — a :class:`~kairos_sdk.Plan` as one Serve application:
  one replica per planned instance, each on a node of its type, behind that router.
* :class:`ReplayModel` — a Serve deployment that answers after the profile's latency for its
  node's type (the Ray twin of :class:`~kairos_sdk.endpoints.ReplayEndpoint`).
* :func:`to_ray_cluster` — the plan as a Ray cluster-launcher config and a KubeRay
  ``RayCluster``.

Examples
--------
>>> from kairos_sdk.ray import to_ray_cluster
>>> cfg = to_ray_cluster({"g4dn.xlarge": 1, "r5n.large": 3})
>>> cfg.launcher["available_node_types"]["r5n-large"]["min_workers"]
3
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .cluster import INSTANCE_TYPE_LABEL, SLOT_RESOURCE, RayClusterConfig, to_ray_cluster

__all__ = [
    "INSTANCE_TYPE_LABEL",
    "KairosRequestRouter",
    "RayClusterConfig",
    "ReplayModel",
    "SLOT_RESOURCE",
    "build_app",
    "deploy",
    "infer",
    "router_config",
    "to_ray_cluster",
]

# the names that need Ray, loaded on first use so that ``import kairos_sdk.ray`` and
# :func:`to_ray_cluster` work without it
_LAZY = {
    "KairosRequestRouter": "router",
    "router_config": "router",
    "ReplayModel": "model",
    "build_app": "app",
    "deploy": "app",
    "infer": "app",
}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'kairos_sdk.ray' has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{mod}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
