"""Jupyter widgets: :class:`PlannerWidget` and :class:`RunDashboard`.

``ipywidgets`` and ``matplotlib`` are imported here only, when a widget is built; importing
``kairos_sdk`` never imports them. Plots are rendered with matplotlib's Agg backend into an
``ipywidgets.Image``, so they show the same in JupyterLab, classic notebooks and VS Code, and
the widgets can be built and driven headlessly (tests do so).

Examples
--------
>>> import kairos_sdk as ks
>>> from kairos_sdk.widgets import PlannerWidget
>>> planner = ks.Planner(ks.Profile.builtin("rm2"), ks.defaults.default_catalog(),
...                      ks.Workload.deeprecsys(), qos_ms=350)
>>> w = PlannerWidget(planner, debounce_s=0)
>>> w.budget.value = 1.5
>>> w.plan.cost_per_hour <= 1.5
True
"""

from __future__ import annotations

import asyncio
import html
import io
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ._checks import instance_of, non_negative_float, positive_float, positive_int
from ._checks import percentile as check_percentile
from .errors import ArgumentError, KairosError

__all__ = ["PlannerWidget", "RunDashboard"]


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - ipywidgets is a dependency
        raise KairosError("the widgets need ipywidgets: pip install ipywidgets") from None
    return ipywidgets


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return buf.getvalue()


def _new_figure(w: float = 6.0, h: float = 3.4):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def _schedule(delay_s: float, fn: Callable[[], None], handle: Any) -> Any:
    """Run ``fn`` after ``delay_s`` on the running event loop (the kernel's), cancelling the
    previous ``handle``; run it at once when there is no loop or no delay."""
    if handle is not None:
        handle.cancel()
    if delay_s <= 0:
        fn()
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            loop = None
        if loop is None or not loop.is_running():
            fn()
            return None
    return loop.call_later(delay_s, fn)


# ============================================================================ PlannerWidget
_BUDGET_STEP = 0.05  # USD/hour between two positions of the budget slider


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
        from . import defaults
        from .planner import Planner

        hint = " (or a dict {name: Planner} to choose between)"
        if isinstance(planner, Planner):
            planners = {getattr(planner.profile, "model", None) or "profile": planner}
        else:
            instance_of(planner, "planner", (Planner, Mapping), hint=hint)
            if not planner:
                raise ArgumentError(f"planner must be a Planner{hint}, got an empty {type(planner).__name__}")
            planners = {str(k): instance_of(v, f"planner[{k!r}]", Planner) for k, v in planner.items()}
        if budgets is not None:
            budgets = [positive_float(b, f"budgets[{k}]", unit="USD per hour") for k, b in enumerate(budgets)]
            if not budgets:
                raise ArgumentError("budgets must list at least one budget (USD per hour), got none")
        if budget is not None:
            budget = positive_float(budget, "budget", unit="USD per hour")
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
        self._muted = False
        for wdg in (self.budget, self.qos, self.percentile):
            wdg.observe(self._on_change, names="value")
        self.selector.observe(self._on_model, names="value")
        self.simulate_button.on_click(lambda _b: self.simulate())
        controls = W.VBox([self.selector, self.budget, self.qos, self.percentile,
                           W.HBox([self.simulate_button, self.status])])
        self.widget = W.VBox([W.HBox([controls, self.table]), self.frontier_plot, self.sim_result])
        self.refresh()

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
        from .planner import Planner

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
        from .baselines import homogeneous_best

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
        from .baselines import homogeneous_best
        from .distribute import KairosPolicy
        from .simulate import allowable_throughput

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


# ============================================================================ RunDashboard
class RunDashboard:
    """Live counters and a latency plot for a run of :meth:`KairosClient.run`.

    Start the run through the dashboard (``await dash.run(client, workload, rate=...)``): it
    calls ``client.run(..., on_result=dash.on_result)``, so every reply lands on the counters
    and the latency plot as it arrives, and every ``redraw_s`` seconds it also polls the client
    (in flight, instances in rotation). When the run ends it shows the exact figures of the
    :class:`~kairos_sdk.RunResult`. :meth:`record` feeds it by hand.

    Parameters
    ----------
    qos_ms : the latency target drawn on the plot (and used for the attainment counter).
    percentile : the share of queries that must meet it, in %.
    redraw_s : seconds between counter refreshes (and polls of the client).
    plot_every_s : seconds between plot redraws while the run goes (a redraw takes tens of
        milliseconds of CPU in the event loop the run shares).
    title : shown above the counters.

    Examples
    --------
    >>> from kairos_sdk.widgets import RunDashboard
    >>> dash = RunDashboard(qos_ms=350)
    >>> for ms in (120.0, 200.0, 400.0):
    ...     dash.record(ms)
    >>> dash.completed, round(dash.qos_attainment, 3)
    (3, 0.667)
    """

    def __init__(self, qos_ms: float, *, percentile: float = 99.0, redraw_s: float = 0.5,
                 plot_every_s: float = 2.0, title: str = "live run") -> None:
        self.qos_ms = positive_float(qos_ms, "qos_ms", unit="milliseconds")
        self.percentile = check_percentile(percentile)
        self.redraw_s = non_negative_float(redraw_s, "redraw_s", unit="seconds")
        self.plot_every_s = non_negative_float(plot_every_s, "plot_every_s", unit="seconds")
        self.title = instance_of(title, "title", str)
        W = _ipywidgets()
        self.counters = W.HTML()
        self.progress = W.IntProgress(value=0, min=0, max=1, description="queries",
                                      layout=W.Layout(width="420px"))
        self.plot = W.Image(format="png", layout=W.Layout(max_width="620px"))
        self.widget = W.VBox([W.HTML(f"<b>{html.escape(title)}</b>"), self.progress, self.counters, self.plot])
        self.result: Any = None
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self, n_queries: int | None = None) -> None:
        """Clear everything for a new run of ``n_queries`` (when known)."""
        self.n_expected = n_queries
        self.t_done: list[float] = []
        self.latencies_ms: list[float] = []
        self.failed = 0
        self.served_polled = 0
        self.in_flight = 0
        self.in_rotation = ""
        self.t0 = time.perf_counter()
        self.rate_trace: list[tuple[float, float]] = []  # (seconds, completed so far)
        self.n_streamed = 0  # replies received through on_result
        self._served0 = 0
        self._last_draw = 0.0
        self._last_render = 0.0
        self.result = None
        self._render()
        self._draw()

    @property
    def completed(self) -> int:
        """Queries answered so far."""
        return max(len(self.latencies_ms), self.served_polled)

    @property
    def qos_attainment(self) -> float:
        """Share of finished queries within ``qos_ms`` (failed ones count as misses)."""
        n = len(self.latencies_ms) + self.failed
        return float(np.sum(np.asarray(self.latencies_ms) <= self.qos_ms) / n) if n and self.latencies_ms else float("nan")

    @property
    def values(self) -> dict[str, float]:
        """The counters as numbers."""
        lat = np.asarray(self.latencies_ms)
        elapsed = time.perf_counter() - self.t0
        return {
            "completed": self.completed,
            "failed": self.failed,
            "in_flight": self.in_flight,
            "throughput_qps": self._throughput(),
            "p_ms": float(np.quantile(lat, self.percentile / 100)) if lat.size else float("nan"),
            "qos_attainment": self.qos_attainment,
            "elapsed_s": elapsed,
        }

    def _throughput(self) -> float:
        if self.result is not None:
            return float(self.result.throughput_qps)
        if len(self.rate_trace) >= 2:
            (t1, c1), (t2, c2) = self.rate_trace[max(0, len(self.rate_trace) - 5)], self.rate_trace[-1]
            return (c2 - c1) / (t2 - t1) if t2 > t1 else 0.0
        return 0.0

    # ------------------------------------------------------------------ feeding
    def record(self, latency_ms: float | None, *, failed: bool = False) -> None:
        """Record one finished query (``failed=True`` or ``latency_ms=None`` for a failure)."""
        t = time.perf_counter() - self.t0
        if failed or latency_ms is None or not math.isfinite(latency_ms):
            self.failed += 1
        else:
            self.t_done.append(t)
            self.latencies_ms.append(float(latency_ms))
        self._maybe_redraw()

    def on_result(self, item: Any) -> None:
        """Per-query hook for ``client.run(on_result=...)``: takes a ``Reply`` or
        ``QueryFailed`` (anything with ``ok`` and ``latency_ms``)."""
        self.n_streamed += 1
        ok = getattr(item, "ok", True)
        self.record(getattr(item, "latency_ms", None), failed=not ok)

    def poll(self, client: Any) -> None:
        """Read the client's counters (served, failed attempts, in flight, in rotation)."""
        try:
            stats = client.stats()
            self.served_polled = int(sum(v.get("served", 0) for v in stats.values())) - self._served0
            self.in_flight = int(getattr(client, "n_outstanding", 0))
            avail = getattr(client, "available", {})
            self.in_rotation = f"{sum(bool(v) for v in avail.values())}/{len(avail)}" if avail else ""
        except Exception:  # a dashboard must never break the run it shows
            return
        self.rate_trace.append((time.perf_counter() - self.t0, float(self.completed)))
        self._maybe_redraw()

    async def run(self, client: Any, workload: Any, **run_kwargs: Any):
        """``await client.run(workload, **run_kwargs)`` while updating the dashboard; returns
        the :class:`~kairos_sdk.RunResult`."""
        import inspect

        n = run_kwargs.get("n_queries")
        if n is None and run_kwargs.get("duration_s") and run_kwargs.get("rate"):
            n = int(run_kwargs["rate"] * run_kwargs["duration_s"])
        self.reset(n)
        try:
            self._served0 = int(sum(v.get("served", 0) for v in client.stats().values()))
        except Exception:
            self._served0 = 0
        params = inspect.signature(client.run).parameters
        if "on_result" in params:
            run_kwargs.setdefault("on_result", self.on_result)
        if "progress" in params:
            run_kwargs.setdefault("progress", False)
        task = asyncio.ensure_future(client.run(workload, **run_kwargs))
        try:
            while not task.done():
                self.poll(client)
                await asyncio.wait({task}, timeout=self.redraw_s)
        except asyncio.CancelledError:
            task.cancel()
            raise
        result = task.result()
        self.finish(result)
        return result

    def finish(self, result: Any = None) -> None:
        """Final redraw; with a ``RunResult``, take its exact figures."""
        if result is not None:
            self.result = result
            lat = np.asarray(result.latencies_ms, dtype=float)
            ok = np.isfinite(lat)
            self.latencies_ms = lat[ok].tolist()
            done_s = (np.asarray(result.arrival_ms, dtype=float) + np.nan_to_num(lat)) / 1000.0
            self.t_done = done_s[ok].tolist()
            self.failed = int((~ok).sum())
            self.served_polled = int(ok.sum())
            self.in_flight = 0
            self.n_expected = int(lat.size)
        self._render(final=True)
        self._draw()

    # ------------------------------------------------------------------ view
    def _maybe_redraw(self) -> None:
        now = time.perf_counter()
        if now - self._last_render < self.redraw_s:
            return
        self._last_render = now
        self._render()
        # the plot costs tens of ms of CPU in the event loop the run shares: draw it rarely
        if self.latencies_ms and now - self._last_draw >= self.plot_every_s:
            self._draw()

    def _render(self, final: bool = False) -> None:
        v = self.values
        att = v["qos_attainment"]
        ok = (not math.isnan(att)) and att >= self.percentile / 100 - 1e-12
        color = "#070" if ok else "#b00"
        n = self.completed + self.failed
        self.progress.max = max(self.n_expected or n or 1, n, 1)
        self.progress.value = min(n, self.progress.max)
        att_s = "–" if math.isnan(att) else f"{att:.2%}"
        p_s = "–" if math.isnan(v["p_ms"]) else f"{v['p_ms']:.1f} ms"
        rot = f"<td>in rotation</td><td><b>{self.in_rotation}</b></td>" if self.in_rotation else ""
        self.counters.value = (
            f"<table><tr><td>completed</td><td><b>{self.completed}</b></td>"
            f"<td>failed</td><td><b>{self.failed}</b></td>"
            f"<td>in flight</td><td><b>{self.in_flight}</b></td>{rot}</tr>"
            f"<tr><td>throughput</td><td><b>{v['throughput_qps']:.1f}</b> qps</td>"
            f"<td>p{self.percentile:g}</td><td><b>{p_s}</b></td>"
            f"<td>within {self.qos_ms:g} ms</td><td style='color:{color}'><b>{att_s}</b></td>"
            f"<td>{'done in' if final else 'elapsed'}</td><td>{v['elapsed_s']:.1f} s</td></tr></table>"
        )

    def _draw(self) -> None:
        self._last_draw = time.perf_counter()
        fig = _new_figure(6.0, 3.0)
        ax = fig.add_subplot()
        if self.latencies_ms:
            ax.plot(self.t_done, self.latencies_ms, ".", ms=2, alpha=0.5, color="C0", label="query latency")
        elif self.rate_trace:
            ax.text(0.5, 0.5, f"{self.completed} queries answered…\nlatencies appear when the run ends",
                    ha="center", va="center", transform=ax.transAxes, color="0.4")
        ax.axhline(self.qos_ms, color="C3", ls="--", lw=1, label=f"QoS {self.qos_ms:g} ms")
        ax.set_xlabel("time since start (s)")
        ax.set_ylabel("latency (ms)")
        ax.set_title(self.title)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
        self.plot.value = _png(fig)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        att = self.qos_attainment
        return (f"RunDashboard({self.completed} completed, {self.failed} failed, QoS attainment "
                f"{'n/a' if math.isnan(att) else f'{att:.2%}'} within {self.qos_ms:g} ms)")
