"""The KAIROS paper's query distributor, exactly as its artifact implements it (a baseline)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._checks import non_negative_float, positive_int, probability
from ..errors import SimulationError
from .base import DispatchState, PolicyContext
from .estimates import Estimates, speed_weights

__all__ = ["PaperPolicy"]


class PaperPolicy:
    """The KAIROS paper's query distributor exactly as its artifact implements it.

    At every decision point with at least one free instance: rows are the ``2N`` oldest
    pending queries, columns **all** ``N`` instances (busy ones included). The cost of
    query ``i`` on instance ``j`` is ``skew_j * (t_left_j + e_ij)``, with ``e_ij`` the
    profile's mean latency rounded to whole ms, ``t_left_j`` the estimated remaining busy
    time and ``skew_j`` the heterogeneity coefficient (fastest type's mean latency at the
    largest batch over type ``j``'s, rounded to 2 decimals); if the query is not yet late
    and the pair would miss QoS the cost is 1000, if it meets QoS by less than 2% of the
    target it is 500. ``scipy.optimize.linear_sum_assignment`` solves it; a query matched
    to a busy instance stays pending (this is how the paper waits for a faster instance).

    Deviations (documented): the artifact takes the *first listed* instance's type as the
    skew reference (its configs list the GPU first); here the fastest type at the largest
    batch is used, which is the same for the paper's pools.

    Examples
    --------
    >>> from kairos_sdk.distribute import PaperPolicy
    >>> PaperPolicy()
    PaperPolicy(window=2N, safeguard=2%)
    """

    name = "paper"
    assigns_to_idle_only = True

    def __init__(self, *, safeguard: float = 0.02, penalty_close: float = 500.0, penalty_miss: float = 1000.0,
                 window_factor: int = 2) -> None:
        self.safeguard = probability(safeguard, "safeguard", error=SimulationError)
        self.penalty_close = non_negative_float(penalty_close, "penalty_close", error=SimulationError)
        self.penalty_miss = non_negative_float(penalty_miss, "penalty_miss", error=SimulationError)
        self.window_factor = positive_int(window_factor, "window_factor", error=SimulationError)

    def prepare(self, ctx: PolicyContext) -> None:
        self._ctx = ctx
        self._est = Estimates(ctx, round_ms=True)
        self._skew = speed_weights(ctx, round_to=2)[ctx.type_index]
        self._tix = ctx.type_index
        self._n = len(ctx.instance_types)
        self._qos = ctx.qos_ms
        self._rows: dict[int, np.ndarray] = {}
        self._ok = np.zeros(self._n, dtype=bool)

    def _row(self, batch: int) -> np.ndarray:
        hit = self._rows.get(batch)
        if hit is None:
            hit = np.asarray(self._est.row(batch).mean_ms)[self._tix]
            self._rows[batch] = hit
        return hit

    def cost_matrix(self, state: DispatchState) -> np.ndarray:
        """The paper's ``(rows, N)`` cost matrix at this decision point."""
        now = state.now_ms
        batches, arrivals = state.pending_lists()
        p = min(len(batches), self.window_factor * self._n)
        e = np.array([self._row(b) for b in batches[:p]])  # (p, N) rounded ms
        t_left = np.maximum(state.busy_until_ms - now, 0.0)
        t_qos = self._qos - (now - np.asarray(arrivals[:p]))
        t_qos = np.where(t_qos > 0, t_qos, 0.0)[:, None]
        done = t_left[None, :] + e
        cost = self._skew[None, :] * done
        resi = t_qos - done
        live = t_qos > 0
        return np.where(live & (resi < 0), self.penalty_miss,
                        np.where(live & (resi - self.safeguard * self._qos < 0), self.penalty_close, cost))

    def decide(self, state: DispatchState) -> list[tuple[int, int]]:
        free = state.idle_list
        if not free or state.n_pending == 0:
            return []
        rows, cols = linear_sum_assignment(self.cost_matrix(state))
        ok = self._ok
        ok[:] = False
        ok[free] = True
        return [(i, j) for i, j in zip(rows.tolist(), cols.tolist()) if ok[j]]

    def __repr__(self) -> str:
        return f"PaperPolicy(window={self.window_factor}N, safeguard={self.safeguard:.0%})"
