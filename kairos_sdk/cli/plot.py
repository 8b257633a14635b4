"""The latency-vs-load figure ``kairos demo`` and ``kairos run --rates ... --plot`` draw."""

from __future__ import annotations

import math
from pathlib import Path


def load_plot(curves, *, qos_ms: float, percentile: float, title: str, path: str | Path) -> Path:
    """Two panels: measured tail latency and QoS attainment against offered load.

    ``curves`` is a list of ``(label, runs)`` with ``runs`` the :class:`RunResult` s of one
    pool at several rates (any order; drawn sorted by rate). Filled markers met QoS.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(11, 4.2))
    ax, ax2 = fig.subplots(1, 2)
    for k, (label, runs) in enumerate(curves):
        runs = sorted(runs, key=lambda r: r.rate_qps)
        color = f"C{k}"
        x = [r.rate_qps for r in runs]
        ax.plot(x, [r.latency_quantile(percentile / 100) for r in runs], "-", color=color, label=label)
        ax2.plot(x, [100 * r.qos_attainment for r in runs], "-", color=color)
        for r in runs:
            mfc = color if r.meets_qos else "white"
            ax.plot([r.rate_qps], [r.latency_quantile(percentile / 100)], "o", color=color, mfc=mfc)
            ax2.plot([r.rate_qps], [100 * r.qos_attainment], "o", color=color, mfc=mfc)
    ax.axhline(qos_ms, color="C3", ls="--", lw=1, label=f"QoS {qos_ms:g} ms")
    ax.set_yscale("log")
    # plain numbers on the log axis (200, 350, 1000), not 2×10³
    lo, hi = ax.get_ylim()
    ax.yaxis.set_major_locator(FixedLocator(_log_ticks(lo, hi, qos_ms)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylim(lo, hi)
    ax.set_xlabel("offered load (queries/s)")
    ax.set_ylabel(f"measured p{percentile:g} latency (ms)")
    ax.set_title("tail latency vs load (filled: QoS met)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax2.axhline(percentile, color="C3", ls=":", lw=1, label=f"target: {percentile:g}% within {qos_ms:g} ms")
    ax2.set_xlabel("offered load (queries/s)")
    ax2.set_ylabel(f"% of queries within {qos_ms:g} ms")
    ax2.set_title("QoS attainment vs load", fontsize=10)
    ax2.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(handles + h2, labels + l2, loc="lower center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, -0.12))
    fig.suptitle(title, fontsize=11)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _log_ticks(lo: float, hi: float, qos_ms: float) -> list[float]:
    """1-2-3-5 steps per decade within ``[lo, hi]``, plus the QoS target; thinned to 1-2-5,
    then 1 per decade, when there would be too many to read."""
    lo, hi = max(lo, 1e-9), max(hi, 2e-9)
    for mults in ((1, 2, 3, 5), (1, 2, 5), (1,)):
        ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                 for m in mults]
        ticks = [t for t in ticks if lo <= t <= hi and abs(math.log10(t / qos_ms)) > 0.08]
        if len(ticks) <= 8:
            break
    return sorted([*ticks, qos_ms] if lo <= qos_ms <= hi else ticks)
