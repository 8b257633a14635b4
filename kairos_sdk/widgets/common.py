"""What both widgets share: ipywidgets imported on demand, figures rendered to PNG, and
debounced calls on the kernel's event loop."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

from ..errors import KairosError


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
