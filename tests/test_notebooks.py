"""Every notebook in notebooks/ executes top to bottom without an error, in a Jupyter kernel.

The kernel is the ``python3`` kernel spec; when it is missing (a fresh virtualenv before
``python -m ipykernel install --sys-prefix``), jupyter_client falls back to the native kernel
of the running interpreter, so the notebooks always run in this virtualenv.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 180


def _text(nb, source_ends: str) -> str:
    """The text output (printed or the value's repr) of the code cell whose source ends so."""
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.rstrip().endswith(source_ends)]
    assert len(cells) == 1, f"no single cell ends with {source_ends!r}"
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cells[0].outputs)


#: USD/h of the paper's instance types (the notebooks' catalog), for pricing plans by hand
PRICE = {"g4dn.xlarge": 0.526, "c5n.2xlarge": 0.432, "r5n.large": 0.149, "t3.xlarge": 0.1664}


def check_01_plan_a_pool(nb) -> None:
    """The plan shown costs its counts at the catalog's prices."""
    mix, cost = re.search(r"Plan\((.*?), \$([\d.]+)/h", _text(nb, "plan = planner.plan(budget=2.5)\nplan")).groups()
    counts = {t: int(n) for n, t in re.findall(r"(\d+) x ([\w.]+)", mix)}
    assert round(sum(PRICE[t] * n for t, n in counts.items()), 3) == float(cost) <= 2.5


def check_02_compare_policies(nb) -> None:
    """The batch-range table covers each of the 5,000 simulated queries once."""
    table = _text(nb, "for r in runs.values()))")
    assert sum(int(n) for n in re.findall(r"n= *(\d+)", table)) == 5000


def check_03_drive_live_endpoints(nb) -> None:
    """Every query of the live run is counted once by type."""
    n_live = int(re.search(r"RunResult\(live, \w+, rate=[\d.]+ qps, (\d+) queries", _text(nb, "\nlive")).group(1))
    counts = ast.literal_eval(re.match(r"\((\{.*?\})", _text(nb, 'client.stats()["g4dn.xlarge-0"]')).group(1))
    assert n_live > 0 and sum(counts.values()) == n_live


def check_04_autopilot(nb) -> None:
    """The printed cost ratio is the two printed daily costs divided."""
    text = _text(nb, 'print(f"autopilot / static cost: {auto.cost_usd / static.cost_usd:.2f}")')
    static, auto = (float(re.search(rf"^{n} +USD/day +([\d.]+)", text, re.M).group(1)) for n in ("static", "autopilot"))
    ratio = float(re.search(r"autopilot / static cost: ([\d.]+)", text).group(1))
    assert ratio == pytest.approx(auto / static, abs=0.006)


CHECKS = {name[len("check_"):] + ".ipynb": f for name, f in dict(globals()).items() if name.startswith("check_")}


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebooks"
    missing = sorted({p.name for p in NOTEBOOKS} - set(CHECKS))
    assert not missing, f"give every notebook a check of its outputs: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_has_no_outputs(path: Path):
    """Notebooks are committed without outputs (they are produced by running them)."""
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; strip them before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=TIMEOUT_S, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{str(exc)[-4000:]}")
    CHECKS[path.name](nb)
