"""A plan as a Ray cluster: the cluster-launcher config and the KubeRay ``RayCluster``.

Pure (no Ray import): one worker node type per planned instance type, with exactly the
planned count (``min = max = count``), the provider's instance type, one
:data:`SLOT_RESOURCE` (each node hosts one replica of the deployment) and the
:data:`INSTANCE_TYPE_LABEL` node label naming its type (a replica reads it to learn where it
runs). :meth:`RayClusterConfig.validate` checks the launcher config against Ray's own schema
when Ray is installed.

Examples
--------
>>> from kairos_sdk.ray import to_ray_cluster
>>> cfg = to_ray_cluster({"g4dn.xlarge": 1, "r5n.large": 13}, cluster_name="rm2")
>>> sorted(cfg.launcher["available_node_types"])
['g4dn-xlarge', 'head', 'r5n-large']
>>> [(g["groupName"], g["replicas"]) for g in cfg.kuberay["spec"]["workerGroupSpecs"]]
[('g4dn-xlarge', 1), ('r5n-large', 13)]
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import CatalogError

__all__ = ["INSTANCE_TYPE_LABEL", "SLOT_RESOURCE", "RayClusterConfig", "to_ray_cluster"]

#: Node label whose value is the node's instance type (``r5n.large``); replicas read it.
INSTANCE_TYPE_LABEL = "kairos.io/instance-type"
#: Custom resource every planned node carries once and every replica asks for once, so that
#: each planned instance hosts exactly one replica (and the head node none).
SLOT_RESOURCE = "kairos_slot"


class RayConfigError(CatalogError):
    """A cluster config cannot be made from these arguments (a malformed pool), or Ray's
    schema rejects it. A :class:`~kairos_sdk.errors.CatalogError`, so also a ``ValueError``."""


def _counts(plan: Any) -> dict[str, int]:
    counts = getattr(plan, "counts", plan)
    if not isinstance(counts, Mapping) or not counts:
        raise RayConfigError(f"plan must be a Plan or a non-empty {{type: count}} mapping, got {plan!r}")
    out: dict[str, int] = {}
    for t, n in counts.items():
        if not isinstance(t, str) or not t:
            raise RayConfigError(f"instance type names must be non-empty strings, got {t!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise RayConfigError(f"the count of {t} must be a non-negative integer, got {n!r}")
        if n:
            out[t] = n
    if not out:
        raise RayConfigError("the plan rents nothing: every count is zero")
    return dict(sorted(out.items()))


def node_type_name(instance_type: str) -> str:
    """A DNS-1123 name for an instance type (``g4dn.xlarge`` → ``g4dn-xlarge``), usable as a
    launcher node type and a KubeRay group name."""
    name = re.sub(r"[^a-z0-9-]+", "-", instance_type.lower()).strip("-")
    if not name:
        raise RayConfigError(f"instance type {instance_type!r} has no letters or digits to name a node group")
    return name[:63]


@dataclass(frozen=True)
class RayClusterConfig:
    """The Ray cluster of a plan, in both forms.

    Attributes
    ----------
    counts : ``{instance type: nodes}`` (the plan's counts).
    launcher : the Ray cluster-launcher config (``ray up`` reads it as YAML).
    kuberay : a KubeRay ``RayCluster`` manifest (``kubectl apply -f`` reads it as YAML).
    """

    counts: dict[str, int]
    launcher: dict[str, Any]
    kuberay: dict[str, Any]

    def launcher_yaml(self) -> str:
        """The launcher config as YAML."""
        return _yaml(self.launcher)

    def kuberay_yaml(self) -> str:
        """The KubeRay manifest as YAML."""
        return _yaml(self.kuberay)

    def validate(self) -> RayClusterConfig:
        """Check the launcher config against Ray's own schema (``ray/autoscaler/ray-schema.json``
        of the installed Ray); return ``self`` or raise :class:`RayConfigError`."""
        try:
            import jsonschema
            import ray.autoscaler
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RayConfigError(f"validating needs Ray: pip install 'kairos-sdk[ray]' ({exc})") from None
        from pathlib import Path

        schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
        try:
            jsonschema.validate(self.launcher, schema)
        except jsonschema.ValidationError as exc:
            raise RayConfigError(f"Ray's cluster schema rejects the launcher config: {exc.message}") from None
        return self

    def __repr__(self) -> str:
        nodes = ", ".join(f"{n} x {t}" for t, n in self.counts.items())
        return f"RayClusterConfig({self.launcher['cluster_name']!r}: head + {nodes})"


def to_ray_cluster(
    plan: Any,
    *,
    cluster_name: str = "kairos",
    provider: Mapping[str, Any] | None = None,
    head_instance_type: str = "m5.large",
    image: str | None = None,
    ray_version: str | None = None,
    namespace: str | None = None,
) -> RayClusterConfig:
    """The Ray cluster that has exactly the planned nodes.

    Parameters
    ----------
    plan : a :class:`~kairos_sdk.Plan` or ``{instance type: count}``.
    cluster_name : launcher ``cluster_name`` and KubeRay ``metadata.name``.
    provider : the launcher's ``provider`` section (default AWS ``us-east-1``; the node
        configs name ``InstanceType``, the AWS key).
    head_instance_type : the head node's instance type (it hosts the Serve controller and
        proxy, no replica).
    image : container image for KubeRay (default ``rayproject/ray:<ray_version>``).
    ray_version : KubeRay ``rayVersion`` (default: the installed Ray, else ``2.55.1``).
    namespace : optional KubeRay ``metadata.namespace``.

    Returns
    -------
    RayClusterConfig with ``launcher`` and ``kuberay`` dicts (and their YAML).

    Examples
    --------
    >>> cfg = to_ray_cluster({"r5n.large": 3})
    >>> cfg.launcher["available_node_types"]["r5n-large"]["resources"]
    {'kairos_slot': 1}
    >>> cfg.kuberay["spec"]["workerGroupSpecs"][0]["rayStartParams"]["labels"]
    'kairos.io/instance-type=r5n.large'
    """
    counts = _counts(plan)
    if not isinstance(cluster_name, str) or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", cluster_name):
        raise RayConfigError(f"cluster_name must be a lowercase DNS name such as 'kairos-rm2', got {cluster_name!r}")
    if ray_version is None:
        ray_version = _installed_ray_version()
    image = image or f"rayproject/ray:{ray_version}"
    names = {t: node_type_name(t) for t in counts}
    if len(set(names.values())) != len(names) or "head" in names.values():
        raise RayConfigError(f"instance types {sorted(counts)} do not map to distinct node group names")
    launcher = _launcher(counts, names, cluster_name, provider, head_instance_type)
    kuberay = _kuberay(counts, names, cluster_name, head_instance_type, image, ray_version, namespace)
    return RayClusterConfig(counts=counts, launcher=launcher, kuberay=kuberay)


def _installed_ray_version() -> str:
    """The installed Ray's version, else a known release."""
    try:
        from importlib.metadata import version

        return version("ray")
    except Exception:  # not installed: a known release
        return "2.55.1"


def _launcher(counts: dict[str, int], names: dict[str, str], cluster_name: str,
              provider: Mapping[str, Any] | None, head_instance_type: str) -> dict[str, Any]:
    """The cluster-launcher config: a head node and one fixed-size node type per instance type."""
    node_types: dict[str, Any] = {
        "head": {"node_config": {"InstanceType": head_instance_type}, "resources": {},
                 "min_workers": 0, "max_workers": 0},
    }
    for t, n in counts.items():
        node_types[names[t]] = {
            "node_config": {"InstanceType": t},
            "min_workers": n,
            "max_workers": n,
            "resources": {SLOT_RESOURCE: 1},
            "labels": {INSTANCE_TYPE_LABEL: t},
        }
    return {
        "cluster_name": cluster_name,
        "max_workers": sum(counts.values()),
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 60,
        "provider": dict(provider) if provider is not None else {"type": "aws", "region": "us-east-1"},
        "auth": {"ssh_user": "ubuntu"},
        "head_node_type": "head",
        "available_node_types": node_types,
        "setup_commands": ["pip install 'kairos-sdk[ray]'"],
    }


def _worker_group(t: str, n: int, group: str, image: str) -> dict[str, Any]:
    """One KubeRay worker group: ``n`` pods of instance type ``t``, one slot each."""
    return {
        "groupName": group,
        "replicas": n,
        "minReplicas": n,
        "maxReplicas": n,
        "rayStartParams": {
            "resources": json.dumps(json.dumps({SLOT_RESOURCE: 1})),
            "labels": f"{INSTANCE_TYPE_LABEL}={t}",
        },
        "template": {"spec": {
            "nodeSelector": {"node.kubernetes.io/instance-type": t},
            "containers": [{"name": "ray-worker", "image": image}],
        }},
    }


def _kuberay(counts: dict[str, int], names: dict[str, str], cluster_name: str, head_instance_type: str,
             image: str, ray_version: str, namespace: str | None) -> dict[str, Any]:
    """The KubeRay ``RayCluster`` manifest: a head group and one worker group per instance type."""
    metadata: dict[str, Any] = {"name": cluster_name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": metadata,
        "spec": {
            "rayVersion": ray_version,
            "headGroupSpec": {
                "rayStartParams": {"dashboard-host": "0.0.0.0"},
                "template": {"spec": {
                    "nodeSelector": {"node.kubernetes.io/instance-type": head_instance_type},
                    "containers": [{"name": "ray-head", "image": image}],
                }},
            },
            "workerGroupSpecs": [_worker_group(t, n, names[t], image) for t, n in counts.items()],
        },
    }


def _yaml(doc: Any) -> str:
    try:
        import yaml
    except ImportError:  # JSON is YAML too
        return json.dumps(doc, indent=2) + "\n"
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
