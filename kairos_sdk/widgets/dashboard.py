"""The :class:`RunDashboard`: live counters and a latency plot for a load run."""

from __future__ import annotations

import asyncio
import html
import inspect
import math
import time
from typing import Any

import numpy as np

from .._checks import instance_of, non_negative_float, positive_float
from .._checks import percentile as check_percentile
from .common import _ipywidgets, _new_figure, _png

__all__ = ["RunDashboard"]


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
