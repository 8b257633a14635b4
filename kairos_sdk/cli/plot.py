"""The latency-vs-load figure ``kairos demo`` and ``kairos run --rates ... --plot`` draw."""

from __future__ import annotations

from pathlib import Path


def load_plot(curves, *, qos_ms: float, percentile: float, title: str, path: str | Path) -> Path:
    """Two panels: measured tail latency and QoS attainment against offered load.

    ``curves`` is a list of ``(label, runs)`` with ``runs`` the :class:`RunResult` s of one
    pool at several rates (any order; drawn sorted by rate). Filled markers met QoS.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

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
    # plain numbers on the log axis (350, 1000, 2000), not 2×10³
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
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
