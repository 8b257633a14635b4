"""Step 3 of :class:`KairosPolicy`: the min-cost matching of the considered pending queries
to the idle instances, with exact shortcuts for the common cases (one query, one idle
instance, many idle instances of few types)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..matching import FORBIDDEN, grouped_lsa_pairs, lsa_pairs, min_cost_assignment
from .costs import CostModel
from .set_aside import SetAside

__all__ = ["Decision", "cost_matrix", "match"]

#: Up to this many cells (considered queries x idle instances) a cost matrix is built one
#: row at a time in Python; above, with numpy (cheaper per cell, dearer to start). Above it
#: too, the exact assignment solves one column per type present rather than per instance.
SCALAR_CELLS = 64


@dataclass(frozen=True)
class Decision:
    """One decision point as the matching sees it."""

    now_ms: float
    batches: list[int]         # of every pending query, oldest first
    arrivals: list[float]      # as the costs see them (a query set aside early reads as late)
    rows: list[int]            # the pending indices considered (ascending)
    cols: list[int]            # the idle instances (pool order)
    ctypes: list[int]          # the type of each idle instance
    aside: SetAside            # what the schedule gave up
    free_slots: np.ndarray | None = None  # (N,) with concurrency > 1, else None


def cost_matrix(costs: CostModel, d: Decision) -> np.ndarray:
    """The cost matrix over ``d.rows`` x ``d.cols`` (``inf`` = forbidden); a rescued query
    may go only to the idle types that still serve it in time."""
    if len(d.rows) * len(d.cols) <= SCALAR_CELLS:
        m = [costs.pair_costs(d.batches[i], d.arrivals[i], d.now_ms, d.ctypes) for i in d.rows]
        cost = np.array(m, dtype=float).reshape(len(d.rows), len(d.cols))
    else:
        cost = costs.matrix(d.batches, d.arrivals, d.rows, d.ctypes, d.now_ms)
    if d.aside.rescued:
        pos = {k: r for r, k in enumerate(d.rows)}
        for k, by_type in d.aside.rescued.items():
            cost[pos[k]] = [by_type.get(u, FORBIDDEN) for u in d.ctypes]
    return cost


def match(costs: CostModel, d: Decision, method: str) -> list[tuple[int, int]]:
    """``(pending index, instance)`` pairs of a maximum-cardinality min-cost matching."""
    if d.free_slots is None and method == "assignment" and not d.aside.rescued:
        if len(d.batches) == 1 or len(d.cols) == 1:
            return _one_row_or_column(costs, d)
        if len(d.rows) * len(d.cols) > SCALAR_CELLS:
            return _by_type(costs, d)
    cost = cost_matrix(costs, d)
    if d.free_slots is None and method == "assignment":
        pairs = lsa_pairs(cost)
    else:
        cap = d.free_slots[d.cols] if d.free_slots is not None else None
        pairs = min_cost_assignment(cost, cap, method=method)
    return [(d.rows[i], d.cols[j]) for i, j in pairs]


def _one_row_or_column(costs: CostModel, d: Decision) -> list[tuple[int, int]]:
    """Exact closed forms of the assignment for one query or one idle instance: the first
    least-cost allowed pair (what :func:`min_cost_assignment` returns)."""
    best, bi, bj = FORBIDDEN, -1, -1
    if len(d.batches) == 1:
        c = costs.pair_costs(d.batches[0], d.arrivals[0], d.now_ms, d.ctypes)
        for j, v in enumerate(c):
            if v < best:
                best, bi, bj = v, 0, j
    else:
        ct = d.ctypes[:1]
        for i in d.rows:
            v = costs.pair_costs(d.batches[i], d.arrivals[i], d.now_ms, ct)[0]
            if v < best:
                best, bi, bj = v, i, 0
    return [(bi, d.cols[bj])] if bi >= 0 else []


def _by_type(costs: CostModel, d: Decision) -> list[tuple[int, int]]:
    """Idle instances of one type have identical columns: the grouped assignment on one
    column per type present."""
    ctypes = d.ctypes
    types = sorted(set(ctypes))
    tc = costs.matrix(d.batches, d.arrivals, d.rows, types, d.now_ms)
    if types[-1] >= len(types):  # not 0..k-1: number the types present
        pos = {t: k for k, t in enumerate(types)}
        ctypes = [pos[t] for t in ctypes]
    return [(d.rows[i], d.cols[j]) for i, j in grouped_lsa_pairs(tc, ctypes)]
