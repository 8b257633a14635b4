"""Widgets built and driven headlessly: slider changes re-plan, the button simulates, the
dashboard follows a live run."""

from __future__ import annotations

import sys

import pytest

import kairos_sdk as ks
from kairos_sdk.defaults import default_catalog

pytest.importorskip("ipywidgets")

from kairos_sdk.widgets import PlannerWidget, RunDashboard  # noqa: E402


@pytest.fixture(scope="module")
def planner():
    return ks.Planner(ks.Profile.builtin("rm2"), default_catalog(), ks.Workload.deeprecsys(), qos_ms=350)


@pytest.fixture(scope="module")
def widget(planner):
    return PlannerWidget(planner, debounce_s=0, sim_queries=2000)


def test_importing_the_package_does_not_import_ipywidgets():
    import subprocess

    code = "import sys, kairos_sdk; print('ipywidgets' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_initial_plan_is_the_paper_setting(widget):
    assert widget.plan is not None and widget.plan.cost_per_hour <= 2.5
    assert "g4dn.xlarge" in widget.table.value
    assert widget.frontier_plot.value[:4] == b"\x89PNG"


def test_budget_slider_replans(widget):
    widget.budget.value = 1.5
    assert widget.plan.cost_per_hour <= 1.5
    small = widget.plan.predicted_qps
    widget.budget.value = 2.5
    assert widget.plan.predicted_qps > small
    assert "predicted" in widget.table.value


def test_qos_and_percentile_sliders_replan(widget):
    widget.qos.value = 200
    assert widget.plan is None and "out of reach" in widget.error
    assert "No plan" in widget.table.value
    widget.percentile.value = 95
    assert widget.plan is not None and widget.plan.qos_ms == pytest.approx(200, rel=0.01)
    assert widget.plan.percentile == pytest.approx(95)
    widget.qos.value = 350
    widget.percentile.value = 99


def test_plans_are_cached(widget):
    widget.budget.value = 2.0
    first = widget.plan
    widget.budget.value = 2.5
    widget.budget.value = 2.0
    assert widget.plan is first


def test_simulate_button_compares_with_homogeneous(widget):
    widget.budget.value = 2.5
    widget.simulate_button.click()
    sim = widget.last_simulation
    assert sim is not None and sim["planned_qps"] > sim["homogeneous_qps"] > 0
    assert "best homogeneous" in widget.sim_result.value
    widget.budget.value = 2.4  # a new plan clears the old comparison
    assert widget.last_simulation is None


def test_model_selector(planner):
    other = ks.Planner(ks.Profile.builtin("wnd"), default_catalog(), ks.Workload.deeprecsys(), qos_ms=25)
    w = PlannerWidget({"rm2": planner, "wnd": other}, debounce_s=0, budgets=[1.0, 2.5])
    assert w.selector.layout.display != "none"
    rm2 = w.plan
    w.selector.value = "wnd"
    assert w.plan is not rm2 and w.current_planner().qos_ms == 25


def test_single_planner_hides_selector(widget):
    assert widget.selector.layout.display == "none"


def test_bad_planner_argument(planner):
    with pytest.raises(ks.ArgumentTypeError, match="planner must be a kairos_sdk.Planner or .*Mapping.*got str"):
        PlannerWidget("rm2")
    with pytest.raises(ks.ArgumentTypeError, match=r"planner\['rm2'\] must be a kairos_sdk.Planner, got str"):
        PlannerWidget({"rm2": "planner"})
    with pytest.raises(ks.ArgumentError, match="planner must be a Planner .*got an empty dict"):
        PlannerWidget({})
    with pytest.raises(ks.ArgumentError, match=r"budgets\[1\] must be a positive number \(USD per hour\), got -1"):
        PlannerWidget(planner, budgets=[1.0, -1])
    with pytest.raises(ks.ArgumentTypeError, match="budget must be a number, got '2'"):
        PlannerWidget(planner, budget="2")
    with pytest.raises(ks.ArgumentError, match="sim_queries must be a positive integer, got 0"):
        PlannerWidget(planner, sim_queries=0)


def test_debounce_defers_in_a_running_loop(planner):
    import asyncio

    w = PlannerWidget(planner, debounce_s=0.05, budgets=[2.5])

    async def move():
        w.budget.value = 1.2
        assert w.plan.cost_per_hour > 1.2  # not re-planned yet: debounced
        w.budget.value = 1.3
        await asyncio.sleep(0.5)
        return w.plan

    plan = asyncio.run(move())
    assert plan.cost_per_hour <= 1.3 and plan.budget_per_hour == pytest.approx(1.3)


# ---------------------------------------------------------------------------- RunDashboard
def test_dashboard_counts_by_hand():
    d = RunDashboard(qos_ms=100, percentile=90, redraw_s=0)
    for ms in [10.0] * 8 + [200.0]:
        d.record(ms)
    d.record(None, failed=True)
    assert d.completed == 9 and d.failed == 1
    assert d.qos_attainment == pytest.approx(0.8)
    assert "80.00%" in d.counters.value
    assert d.plot.value[:4] == b"\x89PNG"


def test_dashboard_rejects_bad_arguments():
    with pytest.raises(ks.ArgumentError, match=r"qos_ms must be a positive number \(milliseconds\), got -1"):
        RunDashboard(qos_ms=-1)
    with pytest.raises(ks.ArgumentTypeError, match="qos_ms must be a number, got '350'"):
        RunDashboard(qos_ms="350")
    with pytest.raises(ks.ArgumentError, match="percentile is in percent, got 0.99: did you mean 99"):
        RunDashboard(qos_ms=350, percentile=0.99)
    with pytest.raises(ks.ArgumentError, match="redraw_s must be a non-negative number .*got -1"):
        RunDashboard(qos_ms=350, redraw_s=-1)


async def test_dashboard_follows_a_live_run():
    from kairos_sdk.client import KairosClient, OpenInferenceProtocol
    from kairos_sdk.endpoints import serve_pool

    prof = ks.Profile.builtin("rm2")
    pool = ks.Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2}, default_catalog())
    dash = RunDashboard(qos_ms=350, redraw_s=0.05)
    async with serve_pool(pool, prof, model="rm2", time_scale=0.1) as live, KairosClient(
        live, protocol=OpenInferenceProtocol("rm2"), profile=prof, qos_ms=350, time_scale=0.1
    ) as client:
        result = await dash.run(client, ks.Workload.deeprecsys(), rate=20, n_queries=60)
    assert result.n_queries == 60
    assert dash.completed + dash.failed == 60
    assert len(dash.rate_trace) >= 1  # polled while the run went
    assert dash.n_streamed == 60  # every reply arrived through client.run(on_result=...)
    assert dash.qos_attainment == pytest.approx(result.qos_attainment)
    assert dash.progress.value == 60


def test_frontier_is_computed_off_the_loop(planner):
    import asyncio

    w = PlannerWidget(planner, debounce_s=0, budgets=[1.5, 2.5])

    async def move():
        w.qos.value = 300  # a new QoS: a new frontier, computed in a worker thread
        key = w._key()
        assert key in w._pending and key not in w._frontiers
        assert w.plan is not None and w.plan.qos_ms == pytest.approx(300, rel=0.01)  # the plan is there at once
        for _ in range(600):
            if key not in w._pending:
                break
            await asyncio.sleep(0.05)
        return key

    key = asyncio.run(move())
    assert key in w._frontiers and len(w._frontiers[key]["het_qps"]) == 2
