"""A plan as a Ray cluster (pure: runs without Ray), and the core never importing Ray."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kairos_sdk import KairosError
from kairos_sdk.ray import INSTANCE_TYPE_LABEL, SLOT_RESOURCE, to_ray_cluster

COUNTS = {"g4dn.xlarge": 1, "r5n.large": 13}


def test_core_client_and_cli_import_without_ray():
    code = ("import sys, kairos_sdk, kairos_sdk.client, kairos_sdk.cli, kairos_sdk.scaleout, kairos_sdk.ray;"
            "kairos_sdk.ray.to_ray_cluster({'r5n.large': 1});"
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_launcher_has_one_worker_type_per_instance_type_with_the_planned_count():
    cfg = to_ray_cluster(COUNTS, cluster_name="rm2-pool")
    nodes = cfg.launcher["available_node_types"]
    workers = {k: v for k, v in nodes.items() if k != cfg.launcher["head_node_type"]}
    assert len(workers) == len(COUNTS)
    seen = {}
    for spec in workers.values():
        t = spec["node_config"]["InstanceType"]
        assert spec["min_workers"] == spec["max_workers"] == COUNTS[t]
        assert spec["resources"] == {SLOT_RESOURCE: 1}  # one replica per instance
        assert spec["labels"] == {INSTANCE_TYPE_LABEL: t}
        seen[t] = spec["min_workers"]
    assert seen == COUNTS
    assert cfg.launcher["max_workers"] == sum(COUNTS.values())
    assert SLOT_RESOURCE not in nodes["head"]["resources"]  # no replica on the head


def test_kuberay_groups_match_the_plan():
    cfg = to_ray_cluster(COUNTS, namespace="serving")
    assert cfg.kuberay["kind"] == "RayCluster" and cfg.kuberay["metadata"]["namespace"] == "serving"
    groups = cfg.kuberay["spec"]["workerGroupSpecs"]
    by_type = {g["template"]["spec"]["nodeSelector"]["node.kubernetes.io/instance-type"]: g for g in groups}
    assert set(by_type) == set(COUNTS)
    for t, g in by_type.items():
        assert g["replicas"] == g["minReplicas"] == g["maxReplicas"] == COUNTS[t]
        assert g["rayStartParams"]["labels"] == f"{INSTANCE_TYPE_LABEL}={t}"
        assert json.loads(json.loads(g["rayStartParams"]["resources"])) == {SLOT_RESOURCE: 1}


def test_yaml_round_trips():
    yaml = pytest.importorskip("yaml")
    cfg = to_ray_cluster(COUNTS)
    assert yaml.safe_load(cfg.launcher_yaml()) == cfg.launcher
    assert yaml.safe_load(cfg.kuberay_yaml()) == cfg.kuberay


def test_ray_schema_accepts_the_launcher_config_and_rejects_a_broken_one():
    pytest.importorskip("ray.autoscaler")
    cfg = to_ray_cluster(COUNTS)
    assert cfg.validate() is cfg
    broken = to_ray_cluster(COUNTS)
    broken.launcher["available_node_types"]["r5n-large"]["resources"] = {SLOT_RESOURCE: "one"}
    with pytest.raises(KairosError, match="schema"):
        broken.validate()


def test_a_plan_object_works_like_its_counts():
    from kairos_sdk import Catalog, Planner, Profile, Workload

    prof = Profile.builtin("rm2")
    plan = Planner(prof, Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149}), Workload.deeprecsys(),
                   qos_ms=350).plan(budget=1.0)
    assert to_ray_cluster(plan).counts == {t: n for t, n in plan.counts.items() if n}


@pytest.mark.parametrize("bad,match", [
    ({}, "non-empty"), ({"r5n.large": 0}, "rents nothing"), ({"r5n.large": -1}, "non-negative"),
    ({"r5n.large": 1.5}, "non-negative"), ("r5n.large", "mapping"),
])
def test_bad_plans_are_clear_errors(bad, match):
    with pytest.raises(KairosError, match=match):
        to_ray_cluster(bad)


def test_bad_cluster_name_is_a_clear_error():
    with pytest.raises(ValueError, match="cluster_name"):
        to_ray_cluster(COUNTS, cluster_name="My Cluster")


def _cli(argv: list[str]) -> int:
    import argparse

    from kairos_sdk.ray.cli import add_ray_parser

    ap = argparse.ArgumentParser(prog="kairos")
    add_ray_parser(ap.add_subparsers(dest="command"))
    args = ap.parse_args(argv)
    return args.func(args)


def test_cli_config_prints_the_cluster_of_the_pool(capsys):
    assert _cli(["ray", "config", "--pool", "g4dn.xlarge=1,r5n.large=3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["available_node_types"]["r5n-large"]["min_workers"] == 3
    assert _cli(["ray", "config", "--pool", "g4dn.xlarge=2", "--kuberay", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [g["replicas"] for g in doc["spec"]["workerGroupSpecs"]] == [2]


def test_cli_config_plans_from_the_budget(capsys):
    assert _cli(["ray", "config", "--budget", "1.0", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    cost = sum({"g4dn-xlarge": 0.526, "r5n-large": 0.149, "c5n-2xlarge": 0.432, "t3-xlarge": 0.1664}[k] * v["min_workers"]
               for k, v in doc["available_node_types"].items() if k != "head")
    assert 0 < cost <= 1.0


def test_cli_bad_input_is_one_line_and_status_2(capsys):
    assert _cli(["ray", "config", "--budget", "0.01"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kairos ray:") and "budget" in err and "Traceback" not in err
