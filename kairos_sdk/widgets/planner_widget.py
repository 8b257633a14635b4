"""The :class:`PlannerWidget`: budget, QoS and percentile sliders over a planner, with the
plan, the frontier plot and a Simulate button."""

from __future__ import annotations

import asyncio
import html
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import defaults
from .._checks import instance_of, non_negative_float, positive_float, positive_int
from ..baselines import homogeneous_best
from ..distribute import KairosPolicy
from ..errors import ArgumentError, KairosError
from ..planner import Planner
from ..simulate import allowable_throughput
from .common import _ipywidgets, _new_figure, _png, _schedule

__all__ = ["PlannerWidget"]


_BUDGET_STEP = 0.05  # USD/hour between two positions of the budget slider


def _check_planners(planner: Any) -> dict[str, Planner]:
    """``{name: Planner}`` from a planner (named by its profile's model) or such a mapping."""
    hint = " (or a dict {name: Planner} to choose between)"
    if isinstance(planner, Planner):
        return {planner.profile.model or "profile": planner}
    instance_of(planner, "planner", (Planner, Mapping), hint=hint)
    if not planner:
        raise ArgumentError(f"planner must be a Planner{hint}, got an empty {type(planner).__name__}")
    return {str(k): instance_of(v, f"planner[{k!r}]", Planner) for k, v in planner.items()}


def _check_budgets(budgets: Sequence[float] | None, budget: float | None) -> tuple[list[float] | None, float | None]:
    """The frontier's budgets and the starting budget, checked (USD per hour)."""
    if budgets is not None:
        budgets = [positive_float(b, f"budgets[{k}]", unit="USD per hour") for k, b in enumerate(budgets)]
        if not budgets:
            raise ArgumentError("budgets must list at least one budget (USD per hour), got none")
    if budget is not None:
        budget = positive_float(budget, "budget", unit="USD per hour")
    return budgets, budget


class PlannerWidget:
    """Interactive planning: budget, QoS and percentile sliders, plan table, frontier plot and
    a Simulate button.

    Parameters
    ----------
    planner : a :class:`~kairos_sdk.Planner`, or ``{name: Planner}`` to choose between several
        models or profiles with a selector.
    budgets : budgets (USD/hour) of the throughput-vs-cost frontier; default 8 points up to
        twice the starting budget.
    budget : starting budget, USD/hour (default: the paper's 2.5), rounded down to the
        slider's steps of $0.05.
    debounce_s : wait this long after the last slider move before re-planning (0: at once).
    sim_queries : queries per simulated trial behind the Simulate button.

    Plans and frontiers are cached per (model, budget, QoS, percentile), so moving a slider
    back is instant. Display it by leaving it last in a cell, or ``display(w)``.
    """

    def __init__(
        self,
        planner: Any,
        *,
        budgets: Sequence[float] | None = None,
        budget: float | None = None,
        debounce_s: float = 0.3,
        sim_queries: int = 5_000,
    ) -> None:
        planners = _check_planners(planner)
        budgets, budget = _check_budgets(budgets, budget)
        W = _ipywidgets()
        self.planners: dict[str, Any] = planners
        self.debounce_s = non_negative_float(debounce_s, "debounce_s", unit="seconds")
        self.sim_queries = positive_int(sim_queries, "sim_queries")
        first = next(iter(planners.values()))
        b0 = float(budget if budget is not None else defaults.PAPER_BUDGET_PER_HOUR)
        cheapest = min(t.cost_per_hour for t in first.catalog.values())
        self._budgets = tuple(budgets) if budgets is not None else tuple(
            np.round(np.linspace(max(cheapest, b0 / 5), 2 * b0, 8), 3))
        self._plans: dict[tuple, Any] = {}
        self._frontiers: dict[tuple, Any] = {}
        self._pending: set[tuple] = set()
        self._planners: dict[tuple, Any] = {}
        self._handle: Any = None
        self.plan: Any = None
        self.error: str | None = None
        self.last_simulation: dict[str, float] | None = None
        self._build_controls(W, first, b0, cheapest)
        self._muted = False
        for wdg in (self.budget, self.qos, self.percentile):
            wdg.observe(self._on_change, names="value")
        self.selector.observe(self._on_model, names="value")
        self.simulate_button.on_click(lambda _b: self.simulate())
        controls = W.VBox([self.selector, self.budget, self.qos, self.percentile,
                           W.HBox([self.simulate_button, self.status])])
        self.widget = W.VBox([W.HBox([controls, self.table]), self.frontier_plot, self.sim_result])
        self.refresh()

    def _build_controls(self, W: Any, first: Any, b0: float, cheapest: float) -> None:
        """The selector, the three sliders (starting at ``first``'s targets and budget ``b0``),
        the Simulate button and the output panes."""
        planners = self.planners
        self.selector = W.Dropdown(options=list(planners), value=next(iter(planners)),
                                   description="model", layout=W.Layout(display="" if len(planners) > 1 else "none"))
        # A browser's slider snaps its value to min + k * step and sends the snapped value back:
        # with min at the cheapest price ($0.149) a budget of 2.5 became 2.499 on display and
        # every position read "1.50" while planning 1.499. So min, max and start sit on the grid.
        step = _BUDGET_STEP
        b_min = round(math.ceil(cheapest / step - 1e-9) * step, 2)
        b0 = max(round(math.floor(b0 / step + 1e-9) * step, 2), b_min)
        b_max = round(math.ceil(max(max(self._budgets) * 1.5, b0) / step - 1e-9) * step, 2)
        self.budget = W.FloatSlider(value=b0, min=b_min, max=b_max,
                                    step=step, description="budget $/h", continuous_update=True,
                                    readout_format=".2f", style={"description_width": "90px"})
        qos0 = float(first.qos_ms)
        self.qos = W.FloatLogSlider(value=qos0, base=10, min=math.log10(qos0) - 1, max=math.log10(qos0) + 1,
                                    step=0.02, description="QoS ms", continuous_update=True,
                                    readout_format=".3g", style={"description_width": "90px"})
        self.percentile = W.FloatSlider(value=float(first.percentile), min=90.0, max=99.9, step=0.1,
                                        description="percentile", continuous_update=True, readout_format=".1f",
                                        style={"description_width": "90px"})
        self.simulate_button = W.Button(description="Simulate", icon="play",
                                        tooltip="simulated allowable throughput of this plan and of the best homogeneous pool")
        self.status = W.HTML()
        self.table = W.HTML()
        self.sim_result = W.HTML("<i>Press Simulate to compare the plan with the best homogeneous pool.</i>")
        self.frontier_plot = W.Image(format="png", layout=W.Layout(max_width="620px"))

    # ------------------------------------------------------------------ state
    def _key(self) -> tuple:
        return (self.selector.value, round(float(self.qos.value), 6), round(float(self.percentile.value), 3))

    def current_planner(self):
        """The planner for the selected model at the slider's QoS and percentile."""
        key = self._key()
        p = self._planners.get(key)
        if p is None:
            base = self.planners[key[0]]
            if math.isclose(base.qos_ms, key[1]) and math.isclose(base.percentile, key[2]):
                p = base
            else:
                p = self._new_planner(base, key)
            self._planners[key] = p
        return p

    @staticmethod
    def _new_planner(base, key: tuple):
        return Planner(base.profile, base.catalog, base.workload, qos_ms=key[1], percentile=key[2],
                       headroom=base.headroom, max_classes=base.max_classes)

    def _on_model(self, _change: Any) -> None:
        """A new model: its planner's QoS target and percentile become the slider values."""
        base = self.planners[self.selector.value]
        self._muted = True
        try:
            q = float(base.qos_ms)
            lo, hi = math.log10(q) - 1, math.log10(q) + 1
            # widen first so that value and range never clash, then narrow
            self.qos.min, self.qos.max = min(self.qos.min, lo), max(self.qos.max, hi)
            self.qos.value = q
            self.qos.max, self.qos.min = hi, lo
            self.percentile.value = float(base.percentile)
        finally:
            self._muted = False
        self._on_change(None)

    def _on_change(self, _change: Any) -> None:
        if self._muted:
            return
        self.status.value = "<i>planning…</i>"
        self._handle = _schedule(self.debounce_s, self.refresh, self._handle)

    def refresh(self) -> None:
        """Re-plan for the current slider values (cached) and redraw."""
        self._handle = None
        key = self._key()
        budget = round(float(self.budget.value), 4)
        t0 = time.perf_counter()
        try:
            planner = self.current_planner()
            pkey = (*key, budget)
            if pkey not in self._plans:
                self._plans[pkey] = planner.plan(budget=budget)
            self.plan = self._plans[pkey]
            self._ensure_frontier(key)
            self.error = None
        except KairosError as exc:
            self.plan, self.error = None, str(exc)
        dt = time.perf_counter() - t0
        if self.error:
            self.table.value = f"<p style='color:#b00'><b>No plan:</b> {html.escape(self.error)}</p>"
            self.status.value = ""
        else:
            self.table.value = self.plan._repr_html_()
            self.status.value = f"<small>planned in {dt * 1000:.0f} ms</small>"
        self.sim_result.value = "<i>Press Simulate to compare the plan with the best homogeneous pool.</i>"
        self.last_simulation = None
        self._draw()

    def _ensure_frontier(self, key: tuple) -> None:
        """Compute the frontier for ``key`` once: in a worker thread (with a planner of its own,
        so no solver state is shared) when the kernel's loop runs, else right here."""
        if key in self._frontiers or key in self._pending:
            return
        planner = self._new_planner(self.planners[key[0]], key)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._frontiers[key] = self._frontier(planner)
            return
        self._pending.add(key)
        fut = loop.run_in_executor(None, self._frontier, planner)

        def done(f: Any, key: tuple = key) -> None:
            self._pending.discard(key)
            if not f.cancelled() and f.exception() is None:
                self._frontiers[key] = f.result()
            if key == self._key():
                self._draw()

        fut.add_done_callback(done)

    def _frontier(self, planner) -> dict[str, list[float]]:
        het_c, het_q, hom_c, hom_q = [], [], [], []
        for b in self._budgets:
            try:
                p = planner.plan(budget=float(b))
                if getattr(p, "feasible", True):
                    het_c.append(p.cost_per_hour)
                    het_q.append(p.predicted_qps)
            except KairosError:
                pass
            try:
                h = homogeneous_best(planner, budget=float(b))
                if h.score > 0:
                    hom_c.append(h.cost_per_hour)
                    hom_q.append(h.score)
            except KairosError:
                pass
        return {"het_cost": het_c, "het_qps": het_q, "hom_cost": hom_c, "hom_qps": hom_q}

    def _draw(self) -> None:
        fig = _new_figure()
        ax = fig.add_subplot()
        fr = self._frontiers.get(self._key())
        if fr:
            ax.plot(fr["het_cost"], fr["het_qps"], "o-", color="C0", label="planned (heterogeneous)")
            ax.plot(fr["hom_cost"], fr["hom_qps"], "s--", color="C1", label="best homogeneous")
        if self.plan is not None:
            ax.plot([self.plan.cost_per_hour], [self.plan.predicted_qps], "*", ms=16, color="C3",
                    label=f"current plan: {self.plan.predicted_qps:.0f} qps")
        ax.axvline(float(self.budget.value), color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("cost (USD/hour)")
        ax.set_ylabel("predicted throughput (qps)")
        ax.set_title(f"{self.selector.value}: p{self.percentile.value:g} ≤ {self.qos.value:.3g} ms")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
        self.frontier_plot.value = _png(fig)

    # ------------------------------------------------------------------ simulate
    def simulate(self) -> dict[str, float] | None:
        """Simulated allowable throughput of the current plan and of the best homogeneous pool
        at the same budget (both under ``KairosPolicy``); shown under the plot and returned.

        In a running kernel the simulation runs in a worker thread so the notebook stays
        responsive; the result appears when it is done (and this returns ``None``).
        """
        if self.plan is None:
            self.sim_result.value = "<i>Nothing to simulate: no plan for these settings.</i>"
            return None
        planner, plan, budget = self.current_planner(), self.plan, float(self.budget.value)
        self.sim_result.value = "<i>simulating…</i>"
        self.simulate_button.disabled = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            return self._show_simulation(self._run_simulation(planner, plan, budget))
        fut = loop.run_in_executor(None, self._run_simulation, planner, plan, budget)
        fut.add_done_callback(lambda f: self._show_simulation(f.result() if not f.cancelled() else None))
        return None

    def _run_simulation(self, planner, plan, budget: float) -> dict[str, Any]:
        try:
            common = dict(qos_ms=planner.qos_ms, percentile=planner.percentile, seed=0, n_seeds=1,
                          n_queries=self.sim_queries)
            het = float(allowable_throughput(plan.pool(), planner.profile, planner.workload,
                                             policy=KairosPolicy(), start_qps=max(plan.predicted_qps, 1e-3), **common))
            homo = homogeneous_best(planner, budget=budget)
            hom = float(allowable_throughput(homo.pool(), planner.profile, planner.workload,
                                             policy=KairosPolicy(), start_qps=max(homo.score, 1e-3), **common))
        except KairosError as exc:
            return {"error": str(exc)}
        return {"plan": plan, "homo": homo, "planned_qps": het, "homogeneous_qps": hom}

    def _show_simulation(self, out: dict[str, Any] | None) -> dict[str, float] | None:
        self.simulate_button.disabled = False
        if out is None:
            self.sim_result.value = "<i>simulation cancelled</i>"
            return None
        if "error" in out:
            self.sim_result.value = f"<p style='color:#b00'>{html.escape(out['error'])}</p>"
            return None
        het, hom, plan, homo = out["planned_qps"], out["homogeneous_qps"], out["plan"], out["homo"]
        ratio = het / hom if hom > 0 else float("inf")
        self.last_simulation = {"planned_qps": het, "homogeneous_qps": hom, "ratio": ratio}
        self.sim_result.value = (
            "<table><tr><th></th><th>pool</th><th>USD/h</th><th>predicted qps</th>"
            "<th>simulated allowable qps</th></tr>"
            f"<tr><td>planned</td><td>{html.escape(plan.describe())}</td><td>{plan.cost_per_hour:.3f}</td>"
            f"<td>{plan.predicted_qps:.1f}</td><td><b>{het:.1f}</b></td></tr>"
            f"<tr><td>best homogeneous</td><td>{html.escape(homo.describe())}</td><td>{homo.cost_per_hour:.3f}</td>"
            f"<td>{homo.score:.1f}</td><td>{hom:.1f}</td></tr></table>"
            f"<p>planned / homogeneous (simulated, KairosPolicy for both): <b>{ratio:.2f}x</b></p>"
        )
        return self.last_simulation

    # ------------------------------------------------------------------ display
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        plan = f"{self.plan.pool().describe()}" if self.plan is not None else f"no plan ({self.error})"
        return (f"PlannerWidget(model={self.selector.value!r}, budget={self.budget.value:g}, "
                f"qos_ms={self.qos.value:g}, percentile={self.percentile.value:g}: {plan})")
