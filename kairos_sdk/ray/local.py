"""A local Ray cluster whose nodes stand for instance types (tests, demos, benchmarks).

``ray.cluster_utils.Cluster`` starts one raylet per node on this machine; each node here
carries the :data:`~kairos_sdk.ray.INSTANCE_TYPE_LABEL` label of the type it stands for and
as many :data:`~kairos_sdk.ray.SLOT_RESOURCE` as replicas of that type it hosts. Nothing is
rented: the "instances" are processes of this machine, so only a time-scaled
:class:`~kairos_sdk.ray.ReplayModel` makes sense on it.

Examples
--------
>>> from kairos_sdk.ray.local import local_cluster            # doctest: +SKIP
>>> with local_cluster({"g4dn.xlarge": 1, "r5n.large": 3}):   # doctest: +SKIP
...     handle = deploy(plan, profile, ReplayModel, qos_ms=350)
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ..errors import KairosError
from ._require import require_ray

require_ray()

import ray  # noqa: E402
from ray import serve  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from .cluster import INSTANCE_TYPE_LABEL, SLOT_RESOURCE, _counts  # noqa: E402

__all__ = ["local_cluster"]

# jsonschema imports rfc3987_syntax when it is installed, which builds a parser at import
# time: seconds of CPU in every Ray helper process. On a loaded machine the raylet's fixed
# 15 s wait for its dashboard agent then runs out and the node never starts. The local
# cluster's processes see a stub that makes that optional import fail (jsonschema then
# skips only its "iri" format check).
_STUB = 'raise ImportError("rfc3987_syntax is hidden from this local Ray cluster (slow import)")\n'


@contextmanager
def local_cluster(
    slots: Mapping[str, int],
    *,
    cpus_per_node: float = 1.0,
    head_cpus: float = 1.0,
    attempts: int = 2,
    hide_slow_imports: bool = True,
) -> Iterator[Cluster]:
    """Start a head node plus one node per instance type, connect, start Serve; stop all
    on exit.

    Parameters
    ----------
    slots : ``{instance type: replicas}`` — the node of each type gets that many slots.
    cpus_per_node, head_cpus : logical CPUs each node advertises (replicas reserve
        fractions of them; this machine's cores are shared by all nodes anyway).
    attempts : start-ups tried (a raylet may miss its start-up deadline on a busy machine).
    hide_slow_imports : hide ``rfc3987_syntax`` from the cluster's processes (see above).
    """
    counts = _counts(slots)
    if ray.is_initialized():
        raise KairosError("Ray is already initialized in this process; shut it down before starting a local cluster")
    old_path = os.environ.get("PYTHONPATH")
    stub_dir = None
    if hide_slow_imports:
        stub_dir = tempfile.mkdtemp(prefix="kairos-ray-")
        (Path(stub_dir) / "rfc3987_syntax.py").write_text(_STUB)
        os.environ["PYTHONPATH"] = os.pathsep.join([stub_dir] + ([old_path] if old_path else []))
    cluster = None
    try:
        last: Exception | None = None
        for _ in range(max(int(attempts), 1)):
            try:
                cluster = Cluster(initialize_head=True,
                                  head_node_args={"num_cpus": head_cpus, "include_dashboard": False})
                for t, n in counts.items():
                    cluster.add_node(num_cpus=cpus_per_node, resources={SLOT_RESOURCE: n},
                                     labels={INSTANCE_TYPE_LABEL: t})
                break
            except Exception as exc:  # a node missed its start-up deadline: start over
                last = exc
                if cluster is not None:
                    cluster.shutdown()
                    cluster = None
                time.sleep(1.0)
        if cluster is None:
            raise KairosError(f"the local Ray cluster did not start ({last})")
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        serve.start(proxy_location="Disabled")
        yield cluster
    finally:
        if stub_dir is not None:
            if old_path is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = old_path
        try:
            if ray.is_initialized():
                serve.shutdown()
                ray.shutdown()
        finally:
            if cluster is not None:
                cluster.shutdown()
