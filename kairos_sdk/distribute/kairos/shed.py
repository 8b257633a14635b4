"""Step 4 of :class:`KairosPolicy` (``shed=True`` only): give up the considered queries that
no type of the pool finishes within QoS any more, even at its mean latency. They miss QoS
either way; shed, they no longer occupy an instance when the next queries arrive. (A query the
schedule set aside early but that is not hopeless yet stays pending: the costs keep it off
every instance meanwhile, and a later decision may find it room again.)"""

from __future__ import annotations

from ..base import SHED, DispatchState
from .costs import CostModel, window_rows

__all__ = ["shed_hopeless"]


def shed_hopeless(costs: CostModel, state: DispatchState, window: int | None) -> list[tuple[int, int]]:
    """``(pending index, SHED)`` for every considered query that is hopeless now."""
    batches, arrivals = state.pending_lists()
    now, hopeless = state.now_ms, costs.hopeless
    return [(k, SHED) for k in window_rows(len(batches), window) if hopeless(batches[k], arrivals[k], now)]
