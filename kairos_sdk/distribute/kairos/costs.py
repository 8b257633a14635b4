"""Step 1 of :class:`KairosPolicy`: the cost of serving a pending query on an instance type.

Static figures per batch size (a :class:`QueryRow`: estimates, regret, which types serve the
batch size in time, the set-aside cost) are computed once per batch size and also kept, as
named arrays, in a :class:`CostTable` for the vectorized path. :class:`CostModel` prices a
query at a decision point from them and from the time it has left: scalar
(:meth:`CostModel.pair_costs`) or vectorized (:meth:`CostModel.matrix`), the same
floating-point operations in the same order, so the same numbers.

Costs are integer microseconds, so that every solver sees identical numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..base import PolicyContext
from ..estimates import Estimates
from ..matching import FORBIDDEN

__all__ = ["CostModel", "CostTable", "QueryRow", "window_rows"]

#: Microseconds per millisecond: costs are computed in ms and rounded to whole µs.
US_PER_MS = 1000.0

#: Base cost (µs) of a hopeless query on a type able to serve it: above the cost of any
#: other pair, so the matching gives it only an instance no other query takes.
SET_ASIDE_US = 1e9

#: Batch sizes the :class:`CostTable` holds at first (it doubles when full).
_TABLE_SIZE = 128


@dataclass(frozen=True, slots=True)
class QueryRow:
    """Static figures of one batch size; the tuples are indexed by type (context order)."""

    mean_ms: tuple[float, ...]    # mean latency per type
    q_ms: tuple[float, ...]       # latency at ``feasible_q`` per type
    regret_ms: tuple[float, ...]  # weighted time less the least over the capable types
    best_mean_ms: float           # least mean over the pool's types: later than this is hopeless
    capable: frozenset[int]       # types serving the batch size within QoS at the run's percentile
    exclusive: int                # the only capable type, else -1
    row_id: int                   # the batch size's column in the CostTable
    aside_us: tuple[float, ...]   # set-aside cost per type (FORBIDDEN where not capable)


class TableRows(NamedTuple):
    """:class:`CostTable` columns of some pending queries, each (types, queries)."""

    mean_ms: np.ndarray
    q_ms: np.ndarray
    regret_ms: np.ndarray
    capable: np.ndarray       # 1.0 where capable, else 0.0
    best_mean_ms: np.ndarray  # the same on every type row
    aside_us: np.ndarray


class CostTable:
    """:class:`QueryRow` figures as arrays ``(field, type, batch size)``, so that the
    figures of many pending queries are gathered in one ``take``."""

    def __init__(self, n_types: int) -> None:
        self._tab = np.zeros((len(TableRows._fields), n_types, _TABLE_SIZE))
        self.n_rows = 0

    def add(self, mean: tuple[float, ...], qv: tuple[float, ...], regret: tuple[float, ...],
            capable: list[float], best_mean: float, aside: list[float]) -> int:
        """Store one batch size's figures; returns its row id."""
        rid = self.n_rows
        if rid >= self._tab.shape[2]:
            grown = np.zeros(self._tab.shape[:2] + (2 * self._tab.shape[2],))
            grown[:, :, :rid] = self._tab[:, :, :rid]
            self._tab = grown
        self._tab[:, :, rid] = TableRows(mean, qv, regret, capable, [best_mean] * len(mean), aside)
        self.n_rows += 1
        return rid

    def take(self, ids: np.ndarray) -> TableRows:
        return TableRows(*self._tab.take(ids, axis=2))


def window_rows(n: int, window: int | None) -> list[int]:
    """The pending indices considered out of ``n``: all, or the ``window // 2`` oldest and
    the rest of the window youngest."""
    if window is None or n <= window:
        return list(range(n))
    return list(range(window // 2)) + list(range(n - (window - window // 2), n))


class CostModel:
    """Prices (query, type) pairs for :class:`KairosPolicy` (see its docstring for the
    terms: feasibility, regret, laxity, set aside).

    Parameters
    ----------
    ctx : the run's context.
    weights : price of one ms per type (context order).
    feasible_q, laxity_weight, short_job_weight, risky_cost, shed : the policy's settings.
    """

    def __init__(self, ctx: PolicyContext, weights: list[float], *, feasible_q: float, laxity_weight: float,
                 short_job_weight: float, risky_cost: float | None, shed: bool) -> None:
        self.qos_ms = ctx.qos_ms
        self.weights = weights
        self.laxity_weight = laxity_weight
        self.short_job_weight = short_job_weight
        self.risky_cost = risky_cost
        self.shed = shed
        self._est = Estimates(ctx, q=feasible_q)
        # "able to serve a batch size in time" uses the run's own percentile, as the planner's
        # eligibility does: a type whose tail misses QoS at that batch size would spend the
        # few misses the target allows (a t3 at p90 but not at p99, say)
        self._tail = Estimates(ctx, q=min(ctx.percentile / 100.0, 1.0))
        self.present = sorted(set(ctx.type_index.tolist()))
        self.table = CostTable(len(ctx.type_names))
        self._rows: dict[int, QueryRow] = {}
        self._rid: dict[int, int] = {}  # batch -> its row id in the table
        #: batch -> the only type able to serve it in time, else -1 (batches seen so far)
        self.exclusive_of: dict[int, int] = {}

    def row(self, batch: int) -> QueryRow:
        """The static figures of ``batch`` (computed once)."""
        hit = self._rows.get(batch)
        if hit is None:
            hit = self._new_row(batch)
            self._rows[batch] = hit
            self._rid[batch] = hit.row_id
            self.exclusive_of[batch] = hit.exclusive
        return hit

    def _new_row(self, batch: int) -> QueryRow:
        mean, qv = self._est.row(batch)
        tail = self._tail.row(batch).q_ms
        w, types = self.weights, range(len(mean))
        cap = [t for t in self.present if tail[t] <= self.qos_ms] or self.present
        best_w = min(w[t] * mean[t] for t in cap)
        regret = tuple(max(w[t] * mean[t] - best_w, 0.0) for t in types)
        best_mean = min(mean[t] for t in self.present)
        # on the capable types only: a hopeless query is served only by otherwise idle
        # instances of the types able to serve the batch size in time
        aside = [float(round(SET_ASIDE_US + US_PER_MS * w[t] * mean[t])) if t in cap else FORBIDDEN for t in types]
        rid = self.table.add(mean, qv, regret, [1.0 if t in cap else 0.0 for t in types], best_mean, aside)
        return QueryRow(mean, qv, regret, best_mean, frozenset(cap), cap[0] if len(cap) == 1 else -1, rid,
                        tuple(aside))

    def hopeless(self, batch: int, arrival_ms: float, now_ms: float) -> bool:
        """No type of the pool finishes the query within QoS even at its mean latency."""
        return self.qos_ms - (now_ms - arrival_ms) < self.row(batch).best_mean_ms

    def pair_costs(self, batch: int, arrival: float, now: float, ctypes: list[int]) -> list[float]:
        """Cost (µs) of one query on each of the given column types (``inf`` = not allowed)."""
        r = self._rows.get(batch) or self.row(batch)
        room = self.qos_ms - (now - arrival)
        if room < r.best_mean_ms:  # hopeless: set aside, only for otherwise idle instances (or shed)
            return [FORBIDDEN] * len(ctypes) if self.shed else [r.aside_us[t] for t in ctypes]
        lw, sw, risky = self.laxity_weight, self.short_job_weight, self.risky_cost
        mean, qv, regret, cap = r.mean_ms, r.q_ms, r.regret_ms, r.capable
        out = []
        for t in ctypes:
            q = qv[t]
            if q <= room and t in cap:
                out.append(float(round(US_PER_MS * (regret[t] + lw * (room - q) + sw * mean[t]))))
            elif risky is not None and mean[t] <= room and t in cap:
                out.append(float(round(US_PER_MS * (risky + regret[t]))))
            else:
                out.append(FORBIDDEN)
        return out

    def matrix(self, batches: list[int], arrivals: list[float], rows: list[int], ctypes: list[int],
               now: float) -> np.ndarray:
        """:meth:`pair_costs` of the queries ``rows`` (ascending pending indices) on the
        column types ``ctypes``, vectorized; computed type-major, returned transposed."""
        if not rows or not ctypes:
            return np.full((len(rows), len(ctypes)), FORBIDDEN)
        if len(rows) < len(batches):
            batches, arrivals = [batches[i] for i in rows], [arrivals[i] for i in rows]
        try:
            ids = np.fromiter(map(self._rid.__getitem__, batches), np.intp, len(batches))
        except KeyError:
            ids = np.fromiter([self.row(b).row_id for b in batches], np.intp, len(batches))
        tab = self.table.take(ids)
        mean, qv, regret, capm = tab.mean_ms, tab.q_ms, tab.regret_ms, tab.capable > 0.5
        room = self.qos_ms - (now - np.array(arrivals, dtype=float))  # (P,), broadcast over (T, P)
        safe = (qv <= room) & capm
        out = np.round(US_PER_MS * (regret + self.laxity_weight * (room - qv) + self.short_job_weight * mean))
        if self.risky_cost is not None:
            risky = (mean <= room) & capm
            out = np.where(safe, out, np.where(risky, np.round(US_PER_MS * (self.risky_cost + regret)), FORBIDDEN))
        else:
            out = np.where(safe, out, FORBIDDEN)
        # hopeless: the set-aside costs, or out of the matching when they are shed
        np.copyto(out, FORBIDDEN if self.shed else tab.aside_us, where=room < tab.best_mean_ms[0])
        return out[ctypes].T
