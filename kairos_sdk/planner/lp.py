"""The fixed-count routing LP: the highest rate a pool sustains, its routing and the
shadow price of each type's capacity (shared with the distribution policy's weights)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ..errors import PlanningError
from .model import _Model

__all__ = ["capacity_prices", "fluid_model", "route"]


@dataclass(frozen=True, eq=False)
class _RoutingLP:
    """The fixed-count routing LP of a model and pool: variables ``x`` (one per eligible
    pair of a rented type), ``u`` (one per batch class no rented type serves) and ``lam``."""

    c: np.ndarray
    A_ub: sp.csr_matrix  # one capacity row per rented type, then the unserved-share row
    b_ub: np.ndarray
    A_eq: sp.csr_matrix  # one row per class: sum_i x_ib + u_b - p_b lam = 0
    pt: np.ndarray       # (E,) type of each x
    pk: np.ndarray       # (E,) class of each x
    drop: np.ndarray     # (D,) class of each u
    on_idx: np.ndarray   # rented types, in the order of the capacity rows


def _routing_lp(model: _Model, counts: np.ndarray) -> _RoutingLP:
    T, K = model.n_types, model.n_classes
    on = counts > 0
    keep = on[model.pairs_t]
    pt, pk = model.pairs_t[keep], model.pairs_k[keep]
    covered = np.zeros(K, dtype=bool)
    covered[pk] = True
    drop = np.flatnonzero(~covered)
    E, D = len(pt), len(drop)
    nv = E + D + 1
    # equality: sum_i x_ib + u_b - p_b lam = 0
    rows = np.concatenate([pk, drop, np.arange(K)])
    cols = np.concatenate([np.arange(E), E + np.arange(D), np.full(K, nv - 1)])
    vals = np.concatenate([np.ones(E), np.ones(D), -model.prob])
    A_eq = sp.csr_matrix((vals, (rows, cols)), shape=(K, nv))
    # capacity per type (only rented ones) and the unserved share
    on_idx = np.flatnonzero(on)
    remap = -np.ones(T, dtype=int)
    remap[on_idx] = np.arange(len(on_idx))
    r2 = np.concatenate([remap[pt], np.full(D, len(on_idx)), [len(on_idx)]])
    c2 = np.concatenate([np.arange(E), E + np.arange(D), [nv - 1]])
    v2 = np.concatenate([model.coef[pt, pk], np.ones(D), [-model.eps]])
    A_ub = sp.csr_matrix((v2, (r2, c2)), shape=(len(on_idx) + 1, nv))
    b_ub = np.concatenate([np.maximum(counts[on_idx] - model.reserve[on_idx], 0.0), [0.0]])
    c = np.zeros(nv)
    c[-1] = -1.0
    return _RoutingLP(c, A_ub, b_ub, A_eq, pt, pk, drop, on_idx)


def route(model: _Model, counts: np.ndarray, *, tidy: bool = False) -> tuple[float, np.ndarray, np.ndarray, str]:
    """Fixed-count routing LP: the highest total rate the counts sustain.

    With ``tidy``, among the routings reaching that rate pick one that minimizes the
    price-weighted busy time (cheap instances take what they can, dear ones keep slack), so
    the reported routing does not depend on which optimal vertex the solver lands on.

    Returns ``(lam, x (T, K), u (K,), status)``.
    """
    T, K = model.n_types, model.n_classes
    counts = np.asarray(counts, dtype=float)
    x_full = np.zeros((T, K))
    u_full = np.zeros(K)
    if not (counts > 0).any():
        return 0.0, x_full, u_full, "empty"
    lp = _routing_lp(model, counts)
    E, D, nv = len(lp.pt), len(lp.drop), len(lp.c)
    res = linprog(lp.c, A_ub=lp.A_ub, b_ub=lp.b_ub, A_eq=lp.A_eq, b_eq=np.zeros(K), bounds=(0, None), method="highs")
    if res.status != 0 or res.x is None:  # pragma: no cover - the LP is always feasible (all zero)
        raise PlanningError(f"routing LP failed: {res.message}")
    lam = float(res.x[-1])
    if tidy and lam > 0:
        c2 = np.zeros(nv)
        c2[:E] = model.coef[lp.pt, lp.pk] * model.price[lp.pt]
        bounds = [(0, None)] * (nv - 1) + [(lam * (1 - 1e-9), None)]
        res2 = linprog(c2, A_ub=lp.A_ub, b_ub=lp.b_ub, A_eq=lp.A_eq, b_eq=np.zeros(K), bounds=bounds, method="highs")
        if res2.status == 0 and res2.x is not None:
            res = res2  # same rate to 1e-9; lam stays the exact optimum
    x_full[lp.pt, lp.pk] = res.x[:E]
    u_full[lp.drop] = res.x[E:E + D]
    return lam, x_full, u_full, "optimal"


def fluid_model(types: Sequence[str], probs: np.ndarray, mean_ms: np.ndarray, eligible: np.ndarray) -> _Model:
    """The fluid model of one batch class per batch size: every instance may be busy all
    the time (no headroom, no reserve) and every query must be served (``eps = 0``).

    ``mean_ms`` and ``eligible`` are ``(T, K)`` (type, batch size); every batch size needs
    an eligible type. Used with :func:`capacity_prices` by the distribution policy, so the
    planner and the policy solve one routing LP.
    """
    mean_ms = np.asarray(mean_ms, dtype=float)
    eligible = np.asarray(eligible, dtype=bool)
    T, K = mean_ms.shape
    pt, pk = np.nonzero(eligible)
    probs = np.asarray(probs, dtype=float)
    return _Model(
        types=tuple(types), price=np.zeros(T), cap=np.full(T, np.inf), lo=np.arange(K), hi=np.arange(K),
        prob=probs, eligible=eligible, mean_ms=mean_ms, tail_ms=mean_ms,
        coef=np.where(eligible, mean_ms / 1000.0, np.inf), eps=0.0, reserve=np.zeros(T), pairs_t=pt, pairs_k=pk,
    )


def capacity_prices(model: _Model, counts: np.ndarray) -> np.ndarray | None:
    """Shadow price of one more instance of each type in the routing LP of ``model`` with
    ``counts`` (queries per second per instance; 0 for types not rented), or None when the
    LP cannot be solved."""
    counts = np.asarray(counts, dtype=float)
    if not (counts > 0).any():
        return None
    lp = _routing_lp(model, counts)
    try:
        res = linprog(lp.c, A_ub=lp.A_ub, b_ub=lp.b_ub, A_eq=lp.A_eq, b_eq=np.zeros(model.n_classes),
                      bounds=(0, None), method="highs")
    except (ValueError, np.linalg.LinAlgError):
        return None
    if res.status != 0 or res.ineqlin is None:
        return None
    prices = np.zeros(model.n_types)
    prices[lp.on_idx] = -np.asarray(res.ineqlin.marginals, dtype=float)[: len(lp.on_idx)]
    return prices
