"""Every script in examples/ runs to completion as a new user would run it."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
TIMEOUT_S = 240
#: USD/h of the paper's instance types (the examples' catalog), for pricing pools by hand
PRICE = {"g4dn": 0.526, "c5n": 0.432, "r5n": 0.149, "t3": 0.1664}
PRICE.update({f"{k}.{size}": v for k, size, v in [("g4dn", "xlarge", 0.526), ("c5n", "2xlarge", 0.432),
                                                  ("r5n", "large", 0.149), ("t3", "xlarge", 0.1664)]})


def _cost(counts: dict[str, int]) -> float:
    return round(sum(PRICE[t] * n for t, n in counts.items()), 3)


def _mix(text: str) -> dict[str, int]:
    """``"1 x g4dn.xlarge + 13 x r5n.large"`` or ``"2 g4dn + 9 r5n"`` -> counts."""
    return {t: int(n) for n, t in re.findall(r"(\d+) (?:x )?([a-z0-9]+(?:\.[0-9a-z]+)?)", text)}


def check_compare_policies(out: str) -> None:
    """The planned pool's printed cost is its counts at the catalog's prices."""
    counts, cost = re.search(r"plan: (\{.*?\}), \$([\d.]+)/h", out).groups()
    assert _cost(ast.literal_eval(counts)) == float(cost) <= 2.5


def check_drive_endpoints(out: str) -> None:
    """Every query of the live run was served by one of the pool's instances, and the pool's
    printed cost is its counts at the catalog's prices."""
    served = ast.literal_eval(re.search(r"served per instance \(live\): (\{.*\})", out).group(1))
    n_live = int(re.search(r"RunResult\(live, \w+, rate=[\d.]+ qps, (\d+) queries", out).group(1))
    assert sum(served.values()) == n_live
    mix, cost = re.search(r"Pool\((.*?), \$([\d.]+)/h\)", out).groups()
    assert _cost(_mix(mix)) == float(cost)


def check_embed_in_aiohttp_service(out: str) -> None:
    """The service's /stats count exactly the requests it answered with 200."""
    stats = ast.literal_eval(re.search(r"served per instance (\{.*\})", out).group(1))
    assert sum(stats.values()) == out.count("-> 200:") > 0


def check_plan_from_csv(out: str) -> None:
    """The plan's printed cost is its counts at the prices; the printed ratio is the two
    printed predictions divided."""
    mix, cost, pred = re.search(r"Plan\((.*?), \$([\d.]+)/h, predicted ([\d.]+) qps", out).groups()
    assert _cost(_mix(mix)) == float(cost)
    homog = float(re.search(r"best homogeneous pool: .*predicted ([\d.]+) qps", out).group(1))
    ratio = float(re.search(r"planned / homogeneous \(predicted\): ([\d.]+)x", out).group(1))
    assert ratio == pytest.approx(float(pred) / homog, abs=0.006)


def check_plan_paper_setting(out: str) -> None:
    """Each model's row: the planner's mix costs what it prints, within the $2.5/h budget."""
    rows = re.findall(r"^(ncf|rm2|wnd|mtwnd|dien) +\d+ms +(.+?) +([\d.]+) +[\d.]+ +[\d.]+ ", out, re.M)
    assert [r[0] for r in rows] == ["ncf", "rm2", "wnd", "mtwnd", "dien"]
    assert all(_cost(_mix(mix)) == float(cost) <= 2.5 for _, mix, cost in rows)


def check_deploy_on_ray(out: str) -> None:
    """Every query is counted once in the routed share per type."""
    total = int(re.search(r"^(\d+) queries at [\d.]+ qps, all answered", out, re.M).group(1))
    per_type = [int(n) for n in re.findall(r"^  \S+ +(\d+) +[\d.]+%  \(\d+ replicas\)", out, re.M)]
    assert per_type and sum(per_type) == total


CHECKS = {name[len("check_"):] + ".py": f for name, f in dict(globals()).items() if name.startswith("check_")}


def test_there_are_examples():
    assert EXAMPLES, "examples/ holds no scripts"
    missing = sorted({p.name for p in EXAMPLES} - set(CHECKS))
    assert not missing, f"give every example a check of its printed result: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path):
    env = {**os.environ, "MPLBACKEND": "Agg", "KAIROS_EXAMPLE_FAST": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=TIMEOUT_S, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script.name} did not finish within {TIMEOUT_S} s; output so far:\n{exc.stdout}\n{exc.stderr}")
    if proc.returncode != 0:
        pytest.fail(f"{script.name} exited with {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    CHECKS[script.name](proc.stdout)
