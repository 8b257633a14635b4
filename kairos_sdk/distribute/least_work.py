"""Least work: each new query joins the local queue where its estimated finish is earliest."""

from __future__ import annotations

import numpy as np

from .base import DispatchState, PolicyContext
from .estimates import Estimates

__all__ = ["LeastWorkPolicy"]


class LeastWorkPolicy:
    """Earliest estimated finish: each new query (oldest first) joins the local queue of
    the instance where it would finish soonest by the profile's mean estimates, counting
    the work already there.

    Examples
    --------
    >>> from kairos_sdk.distribute import LeastWorkPolicy
    >>> LeastWorkPolicy()
    LeastWorkPolicy()
    """

    name = "least-work"
    assigns_to_idle_only = False

    def prepare(self, ctx: PolicyContext) -> None:
        self._est = Estimates(ctx)
        self._tix = ctx.type_index

    def decide(self, state: DispatchState) -> list[tuple[int, int]]:
        if not state.available.any():
            return []
        busy = np.maximum(state.busy_until_ms, state.now_ms)
        busy = np.where(state.available, busy, np.inf)
        out = []
        for k, b in enumerate(state.pending_batch.tolist()):
            e = np.asarray(self._est.row(int(b)).mean_ms)[self._tix]
            fin = busy + e
            j = int(np.argmin(fin))
            busy[j] = fin[j]
            out.append((k, j))
        return out

    def __repr__(self) -> str:
        return "LeastWorkPolicy()"
