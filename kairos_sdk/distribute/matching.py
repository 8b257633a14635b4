"""Matching solvers: maximum-cardinality, minimum-cost matching of pending queries (rows) to
instances (columns), exactly, three ways.

* :func:`min_cost_assignment` — the public entry point: ``method="assignment"`` (a rectangular
  :func:`scipy.optimize.linear_sum_assignment`, closed forms for one row or one column) or
  ``method="networkx"`` (:func:`mcf_networkx`, a min-cost flow);
* :func:`lsa_pairs` — the assignment on unit-capacity columns with forbidden pairs;
* :func:`grouped_lsa_pairs` — the same when columns come in groups of identical ones (idle
  instances of one type), solved as a smaller assignment.

``inf`` (:data:`FORBIDDEN`) in a cost matrix forbids the pair.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._checks import one_of
from ..errors import SimulationError

__all__ = ["FORBIDDEN", "METHODS", "grouped_lsa_pairs", "lsa_pairs", "mcf_networkx", "min_cost_assignment"]

#: The ways :func:`min_cost_assignment` solves a matching (the same optimum either way).
METHODS = ("assignment", "networkx")

#: Cost of a forbidden (query, instance) pair.
FORBIDDEN = np.inf

#: :func:`grouped_lsa_pairs` prunes rows from this many columns on (on fewer columns the
#: pruning takes longer than it saves).
PRUNE_FROM_COLUMNS = 16


def _big_m(span: float, max_pairs: int) -> float:
    """A cost above any feasible total of a matching of at most ``max_pairs`` pairs whose
    costs lie in ``[-span, span]``: pricing forbidden pairs at it makes the assignment first
    maximize the number of allowed pairs, then minimize their cost."""
    return (span + 1.0) * (max_pairs + 1) * 4.0


def min_cost_assignment(
    cost: np.ndarray,
    capacity: Sequence[int] | np.ndarray | None = None,
    *,
    method: str = "assignment",
) -> list[tuple[int, int]]:
    """Maximum-cardinality, minimum-cost matching of rows (queries) to columns (instances).

    ``cost[i, j]`` is the cost of serving row ``i`` on column ``j``; ``inf`` forbids the
    pair. Column ``j`` takes at most ``capacity[j]`` rows (default 1), a row at most one
    column. Among the matchings of the largest possible size, one of least total cost is
    returned as ``(row, column)`` pairs sorted by row.

    ``method="networkx"`` solves it as a min-cost flow (source → rows → columns → sink,
    :func:`networkx.max_flow_min_cost`; costs are rounded to integers first, so pass
    integer-valued costs for an exact comparison); ``method="assignment"`` is the exact
    fast path: rectangular :func:`scipy.optimize.linear_sum_assignment` on the columns
    expanded by capacity, forbidden pairs priced above any feasible total and dropped
    afterwards, with closed forms for one row or one column.

    Examples
    --------
    >>> import numpy as np
    >>> from kairos_sdk.distribute import min_cost_assignment
    >>> c = np.array([[1.0, 5.0], [2.0, np.inf], [4.0, 3.0]])
    >>> min_cost_assignment(c)
    [(0, 0), (2, 1)]
    >>> min_cost_assignment(c, method="networkx")
    [(0, 0), (2, 1)]
    """
    one_of(method, "method", METHODS, error=SimulationError)
    cost = np.asarray(cost, dtype=float)
    if cost.ndim != 2:
        raise SimulationError(f"cost must be a 2-d matrix, got shape {cost.shape}")
    p, n = cost.shape
    cap = np.ones(n, dtype=np.intp) if capacity is None else np.asarray(capacity, dtype=np.intp)
    if cap.shape != (n,) or np.any(cap < 0):
        raise SimulationError("capacity must hold one non-negative integer per column")
    if p == 0 or n == 0 or cap.sum() == 0:
        return []
    if method == "networkx":
        return mcf_networkx(cost, cap)
    if not np.isfinite(cost).any():
        return []
    if n == 1 or p == 1:
        return _one_row_or_column(cost, cap)
    if np.all(cap == 1):
        return lsa_pairs(cost)
    cols = np.repeat(np.arange(n), cap)
    return [(i, int(cols[j])) for i, j in lsa_pairs(cost[:, cols])]


def _one_row_or_column(cost: np.ndarray, cap: np.ndarray) -> list[tuple[int, int]]:
    """Closed forms of the assignment for one column (its ``cap`` cheapest allowed rows)
    or one row (its cheapest allowed column with room)."""
    if cost.shape[1] == 1 and cap[0] >= 1:
        col = cost[:, 0]
        k = int(cap[0])
        if k == 1:
            i = int(np.argmin(col))
            return [(i, 0)] if np.isfinite(col[i]) else []
        order = np.argsort(col, kind="stable")[:k]
        return sorted((int(i), 0) for i in order if np.isfinite(col[i]))
    row = np.where(cap > 0, cost[0], np.inf)
    j = int(np.argmin(row))
    return [(0, j)] if np.isfinite(row[j]) else []


def lsa_pairs(m: np.ndarray) -> list[tuple[int, int]]:
    """Max-cardinality min-cost matching on unit-capacity columns with ``inf`` forbidden:
    forbidden pairs get a cost above any feasible total, so the rectangular assignment
    first maximizes the number of allowed pairs, then minimizes their cost."""
    fin = np.isfinite(m)
    if fin.all():
        r, c = linear_sum_assignment(m)
        return list(zip(r.tolist(), c.tolist()))
    span = max(float(np.max(m, where=fin, initial=0.0)), -float(np.min(m, where=fin, initial=0.0)))
    big = _big_m(span, min(m.shape))
    r, c = linear_sum_assignment(np.where(fin, m, big))
    keep = fin[r, c]
    return list(zip(r[keep].tolist(), c[keep].tolist()))


def grouped_lsa_pairs(tc: np.ndarray, groups: list[int], *, prune_from: int = PRUNE_FROM_COLUMNS) -> list[tuple[int, int]]:
    """:func:`lsa_pairs` on ``tc[:, groups]`` for columns that come in groups of identical
    ones (column ``j`` costs ``tc[:, groups[j]]``), solved as a smaller assignment: a
    maximum-cardinality matching of the same total cost, as pairs sorted by row. ``tc`` is
    (rows, groups), ``inf`` = forbidden; the transpose of a C-contiguous array is fastest.
    Two exact reductions, on the big-M matrix of :func:`lsa_pairs`:

    * **rows that cannot matter are dropped** (when ``n = len(groups) >= prune_from``). A
      matching has at most ``n`` pairs. If row ``r`` is matched in group ``g`` and ``n``
      other rows cost no more there, one of them is unmatched and can take ``r``'s column
      at no extra cost; so some optimal matching uses only ``n`` cheapest rows per group.
    * **the largest group is left implicit.** With ``q >= n`` rows left and ``q - n`` dummy
      columns (the unmatched rows, priced ``big``) added, every row takes one column and a
      group of ``k`` columns exactly ``k`` rows. The rows outside the columns of the other
      groups are then those of the largest group ``h``: less each row's cost on ``h`` (a
      constant in total), only the assignment to the other ``q - k_h`` columns is solved.
    """
    n, p = len(groups), tc.shape[0]
    if n == 0 or p == 0:
        return []
    g = tc.T  # (groups, rows)
    ng = g.shape[0]
    fin = np.isfinite(g)
    vals = g[fin]
    if not vals.size:
        return []
    span = float(np.abs(vals).max())
    big = _big_m(span, min(p, n))
    m = np.full((ng + 1, p), big)  # (groups + dummy, rows), big-M
    np.copyto(m[:ng], g, where=fin)
    keep = _rows_that_matter(m[:ng], n) if p > n >= prune_from else None
    if keep is not None:
        m = m.take(keep, axis=1)
    q = m.shape[1]
    kl = range(q) if keep is None else keep.tolist()
    if q < n:  # fewer rows than columns: a plain assignment
        sub = m[groups]
        c, r = linear_sum_assignment(sub)
        ok = sub[c, r] < big
        return sorted(zip([kl[i] for i in r[ok].tolist()], c[ok].tolist()))
    cnt = [groups.count(t) for t in range(ng)] + [q - n]
    h = cnt.index(max(cnt))
    gext = groups + [ng] * (q - n)  # group of every column, dummies last
    cols, hcols = [], []
    for j, t in enumerate(gext):
        (hcols if t == h else cols).append(j)
    jr, ir = linear_sum_assignment(m.take([gext[j] for j in cols], axis=0) - m[h])
    col_of = [-1] * q
    for j, i in zip(jr.tolist(), ir.tolist()):
        col_of[i] = cols[j]
    hcols = iter(hcols)  # for the rows left over
    ml = m.tolist()
    out = []
    for i, j in enumerate(col_of):
        if j < 0:
            if h == ng:
                continue
            j = next(hcols)
        if j < n and ml[gext[j]][i] < big:
            out.append((kl[i], j))
    return out


def _rows_that_matter(g: np.ndarray, n: int) -> np.ndarray | None:
    """The rows among the ``n`` cheapest of some group of ``g`` (groups, rows), or None
    when that is every row."""
    use = np.zeros(g.shape[1], dtype=bool)
    use[np.argpartition(g, n - 1, axis=1)[:, :n]] = True
    keep = np.flatnonzero(use)
    return keep if len(keep) < g.shape[1] else None


def mcf_networkx(cost: np.ndarray, cap: np.ndarray) -> list[tuple[int, int]]:
    """The matching as a min-cost flow: source → rows (capacity 1) → columns (capacity
    ``cap``) → sink, with ``cost`` rounded to integer edge weights."""
    import networkx as nx  # here, not at the top: importing networkx takes ~0.2 s


    p, n = cost.shape
    g = nx.DiGraph()
    g.add_node("s")
    g.add_node("t")
    for i in range(p):
        g.add_edge("s", ("q", i), capacity=1, weight=0)
    for j in range(n):
        if cap[j] > 0:
            g.add_edge(("i", j), "t", capacity=int(cap[j]), weight=0)
    ii, jj = np.nonzero(np.isfinite(cost))
    for i, j in zip(ii.tolist(), jj.tolist()):
        if cap[j] > 0:
            g.add_edge(("q", i), ("i", j), capacity=1, weight=int(round(cost[i, j])))
    flow = nx.max_flow_min_cost(g, "s", "t")
    out = []
    for i in range(p):
        for node, f in flow[("q", i)].items():
            if f > 0:
                out.append((i, node[1]))
    return sorted(out)
