"""``kairos demo``'s search for the throughput at QoS: the rates it tries and the figure it reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kairos_sdk.cli.demo import ANCHOR, RUNS_PER_POOL, STEP, Knee

from .test_cli import run_cli


@dataclass
class FakeRun:
    """What the search reads of a RunResult."""

    rate_qps: float
    meets_qos: bool
    n_failed: int = 0
    n_queries: int = 200


def search(knee_qps: float, simulated: float, noise=lambda r, k: False) -> Knee:
    """Run the search against a pool whose true knee is ``knee_qps``; ``noise(rate, k)`` flips run k."""
    kn = Knee("pool", object(), simulated, simulated)
    for k in range(RUNS_PER_POOL):
        r = kn.next_rate()
        kn.runs.append(FakeRun(r, (r <= knee_qps) != noise(r, k)))
    return kn


@given(st.floats(10, 300), st.floats(0.5, 1.6))
def test_a_clean_search_brackets_the_knee(simulated, ratio):
    knee = simulated * ratio
    kn = search(knee, simulated)
    lo, hi = kn.bracket()
    assert kn.runs[0].rate_qps == pytest.approx(ANCHOR * simulated)
    if lo is not None:
        assert lo.rate_qps <= knee
    if hi is not None:
        assert hi.rate_qps > knee
    if ANCHOR * simulated <= knee < simulated * STEP ** 2:
        # a knee between the anchor and two steps above the simulated rate is bracketed to 7.3%
        # (the anchor..simulated bracket bisected three times, or a STEP bracket once or more)
        assert lo is not None and hi is not None
        assert hi.rate_qps / lo.rate_qps <= max(1 / ANCHOR, STEP) ** (1 / 8) + 1e-9 or \
            hi.rate_qps / lo.rate_qps <= STEP ** 0.5 + 1e-9
    assert not kn.noisy


@given(st.floats(20, 300), st.floats(0.5, 1.6), st.sets(st.integers(0, RUNS_PER_POOL - 1)))
def test_the_figure_is_never_above_a_rate_that_missed(simulated, ratio, flipped):
    knee = simulated * ratio  # runs in `flipped` come out the wrong way by chance
    kn = search(knee, simulated, noise=lambda r, k: k in flipped)
    lo, hi = kn.bracket()
    missed = [r.rate_qps for r in kn.runs if not r.meets_qos]
    if lo is not None:
        assert lo.meets_qos and all(lo.rate_qps < m for m in missed)
    assert (hi is None) == (not missed) and (hi is None or hi.rate_qps == min(missed))
    assert all(r.meets_qos and r.rate_qps > hi.rate_qps for r in kn.noisy)


def test_bracket_ignores_met_runs_above_the_lowest_miss():
    kn = Knee("p", object(), 100, 100)
    kn.runs = [FakeRun(60, True), FakeRun(95, False), FakeRun(110, True), FakeRun(80, True)]
    lo, hi = kn.bracket()
    assert (lo.rate_qps, hi.rate_qps) == (80, 95)
    assert [r.rate_qps for r in kn.noisy] == [110]
    assert "between 80.0 and 95.0" in kn.sureness() and "1 run(s) met QoS above a miss" in kn.sureness()
    assert "at most 2 late" in kn.sureness()  # 200 queries at 99%


def test_failed_queries_count_as_a_miss():
    kn = Knee("p", object(), 100, 100)
    kn.runs = [FakeRun(60, True), FakeRun(100, True, n_failed=1)]
    lo, hi = kn.bracket()
    assert lo.rate_qps == 60 and hi.rate_qps == 100


@pytest.mark.slow
def test_demo_short(tmp_path: Path, capsys):
    rc, out, _ = run_cli(capsys, "demo", "--duration", "10", "--out", str(tmp_path), "--no-progress")
    assert rc == 0
    runs = [ln for ln in out.splitlines() if " offered " in ln and "measured" in ln]
    assert len(runs) == 2 * RUNS_PER_POOL
    assert sum("heterogeneous" in ln for ln in runs) == RUNS_PER_POOL
    sure = [ln for ln in out.splitlines() if ln.strip().startswith(("heterogeneous:", "homogeneous:"))]
    assert len(sure) == 2 and all("queries per run" in ln for ln in sure)
    assert (tmp_path / "kairos_demo_rm2.png").stat().st_size > 10_000
