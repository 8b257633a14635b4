"""The price of an instance's time per type, for :class:`KairosPolicy`'s regret term: the
shadow price of that type's time in the pool's fluid LP (the planner's routing LP), or its
relative speed."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...planner import capacity_prices, fluid_model
from ..base import PolicyContext
from ..estimates import speed_weights

__all__ = ["batch_mix", "lp_weights", "type_weights"]

#: Least LP weight of a type: one whose time the LP leaves unpriced (dual 0: it has spare
#: capacity at the optimum) still costs a little, so it is not used for free.
MIN_LP_WEIGHT = 0.05


def type_weights(ctx: PolicyContext, *, weighting: str, feasible_q: float, workload: Any = None,
                 factors: dict[str, float] | None = None) -> np.ndarray:
    """Weight per type (``ctx.type_names`` order): LP shadow prices with ``weighting="lp"``
    when a batch-size mix is known (``workload``, else the context's workload, else its
    plan's routing) and the LP solves, speed weights otherwise; times ``factors``."""
    w = speed_weights(ctx)
    mix = batch_mix(workload if workload is not None else ctx.workload, ctx.plan)
    if weighting == "lp" and mix is not None:
        lp = lp_weights(ctx, mix[0], mix[1], feasible_q)
        if lp is not None:
            w = lp
    if factors:
        w = np.array([w[k] * factors.get(t, 1.0) for k, t in enumerate(ctx.type_names)])
    return np.asarray(w, dtype=float)


def lp_weights(ctx: PolicyContext, batches: np.ndarray, probs: np.ndarray, q: float) -> np.ndarray | None:
    """Shadow price of one ms on each type from the pool's fluid LP: maximize the total rate
    with every batch size routed to types that serve it within QoS at quantile ``q`` (a batch
    size none serves in time may go anywhere) and each type busy at most 100%. Returns the
    capacity duals scaled to a maximum of 1 (floored at :data:`MIN_LP_WEIGHT`), or None when
    the LP cannot be solved."""
    names = ctx.type_names
    counts = np.bincount(ctx.type_index, minlength=len(names)).astype(float)
    mean = np.array([ctx.profile.latency(t, batches, q="mean", extrapolate=True) for t in names])  # (T, B)
    ok = np.array([ctx.profile.latency(t, batches, q=q, extrapolate=True) <= ctx.qos_ms for t in names])
    ok[:, ~ok.any(axis=0)] = True  # nobody serves them in time: let any type take them
    duals = capacity_prices(fluid_model(names, probs, mean, ok), counts)
    if duals is None or not np.all(np.isfinite(duals)) or duals.max() <= 0:
        return None
    return np.maximum(duals / duals.max(), MIN_LP_WEIGHT)


def batch_mix(workload: Any, plan: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Batch sizes and their probabilities from a workload, else from a plan's routing
    (``{type: {batch: rate}}`` summed over types), else None."""
    if workload is not None:
        return np.asarray(workload.batch_sizes), np.asarray(workload.probs, dtype=float)
    routing = getattr(plan, "routing", None)
    if isinstance(routing, dict) and routing:
        tot: dict[int, float] = {}
        for by_batch in routing.values():
            for b, r in dict(by_batch).items():
                tot[int(b)] = tot.get(int(b), 0.0) + float(r)
        if tot and sum(tot.values()) > 0:
            bs = np.array(sorted(tot))
            pr = np.array([tot[b] for b in bs])
            return bs, pr / pr.sum()
    return None
