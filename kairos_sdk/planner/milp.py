"""The planner's mixed-integer program, built once per mode with cvxpy and re-solved by
HiGHS through parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import PlanningError
from .model import _Model

# HiGHS settings measured fastest on this model (benchmarks/planner_speed.py): the sub-MIP
# heuristics and restarts cost more than they save on these small, LP-heavy MILPs.
_HIGHS_OPTIONS: dict[str, Any] = {"mip_heuristic_effort": 0.0, "mip_allow_restart": False}


def _cvxpy():
    """The cvxpy module, imported on first use: it takes seconds to import and only planning
    needs it (importing ``kairos_sdk`` does not)."""
    import cvxpy

    return cvxpy


class _MILP:
    """The :class:`~kairos_sdk.planner.Planner`'s MILP: built per mode, solved per call."""

    def _problem(self, mode: str):
        """The problem of ``mode`` (``"max_qps"`` or ``"min_cost"``), built on first use:
        ``(problem, n, lam, params)`` with the ``cvxpy.Parameter`` s a solve sets by name."""
        if mode in self._problems:
            return self._problems[mode]
        cp = _cvxpy()
        m = self._model
        T, K, E = m.n_types, m.n_classes, len(m.pairs_t)
        n = cp.Variable(T, integer=True, name="n")
        x = cp.Variable(E, nonneg=True, name="x")
        lam = cp.Variable(nonneg=True, name="lam")
        nmax = cp.Parameter(T, nonneg=True, name="nmax")
        A_class = sp.csr_matrix((np.ones(E), (m.pairs_k, np.arange(E))), shape=(K, E))
        A_cap = sp.csr_matrix((m.coef[m.pairs_t, m.pairs_k], (m.pairs_t, np.arange(E))), shape=(T, E))
        droppable = _droppable(m)
        served = A_class @ x
        cons = [n >= 0, n <= nmax]
        params: dict[str, Any] = {"nmax": nmax}
        cand = np.flatnonzero(m.eligible.any(axis=0) & droppable) if m.eps > 0 else np.array([], dtype=int)
        y = None
        dom = _dominance(m, droppable)
        if m.reserve.any() or len(cand) or dom:
            y = cp.Variable(T, boolean=True, name="y")  # y_i = [n_i >= 1]
            cons += [n >= y, n <= cp.multiply(nmax, y)]
        cons += [A_cap @ x <= (n - cp.multiply(m.reserve, y) if m.reserve.any() else n)]
        if m.eps > 0:
            cons += _unserved_constraints(m, served, lam, y, droppable, cand, params)
        else:
            cons += [served == m.prob * lam]
        cons += _dominance_cuts(m, n, y, dom)
        obj, goal = _objective(m, mode, n, lam, params)
        prob = cp.Problem(obj, cons + goal)
        self._problems[mode] = (prob, n, lam, params)
        return self._problems[mode]

    def _solve(self, mode: str, values: Mapping[str, float | np.ndarray]) -> tuple[np.ndarray | None, str, float]:
        cp = _cvxpy()
        prob, n, lam, params = self._problem(mode)
        for k, v in values.items():
            if k in params:
                params[k].value = v
        opts: dict[str, Any] = {"mip_rel_gap": self.mip_rel_gap, "mip_abs_gap": 0.0, **_HIGHS_OPTIONS}
        if self.time_limit_s is not None:
            opts["time_limit"] = float(self.time_limit_s)
        try:
            prob.solve(solver=cp.HIGHS, **opts)
        except cp.error.SolverError as exc:
            raise PlanningError(f"the MILP solver failed ({exc}); try a larger time_limit_s or fewer types") from None
        stats = prob.solver_stats
        secs = float(stats.solve_time) if stats is not None and stats.solve_time is not None else float("nan")
        status = prob.status
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            return None, "infeasible", secs
        if n.value is None:
            raise PlanningError(f"the MILP solver returned status {status!r} without a solution; try a larger time_limit_s")
        return np.round(n.value).astype(int).clip(min=0), "optimal" if status == cp.OPTIMAL else str(status), secs


def _unserved_constraints(m: _Model, served, lam, y, droppable: np.ndarray, cand: np.ndarray,
                          params: dict[str, Any]) -> list:
    """Queries left unserved: ``u_b`` per class, at most ``eps`` of the rate in total, only on
    classes that may go unserved (``droppable``) and, for the candidates ``cand``, only when
    no rented type is eligible for them (adds the ``bigm`` parameter to ``params``)."""
    cp = _cvxpy()
    K, T = m.n_classes, m.n_types
    u = cp.Variable(K, nonneg=True, name="u")
    cons = [served + u == m.prob * lam, cp.sum(u) <= m.eps * lam]
    covered = m.eligible.any(axis=0)
    never = np.flatnonzero(covered & ~droppable)
    if len(never):
        cons += [u[never] == 0]
    if len(cand):
        # u_b may be positive only if no rented type is eligible for b:
        # u_b <= p_b * M * z_b, z_b + y_i <= 1 for eligible (i, b), y_i = [n_i >= 1]
        sel = np.flatnonzero(np.isin(m.pairs_k, cand))
        zpos = -np.ones(K, dtype=int)
        zpos[cand] = np.arange(len(cand))
        z = cp.Variable(len(cand), nonneg=True, name="z")
        bigm = cp.Parameter(nonneg=True, name="bigm")
        params["bigm"] = bigm
        S = len(sel)
        Z = sp.csr_matrix((np.ones(S), (np.arange(S), zpos[m.pairs_k[sel]])), shape=(S, len(cand)))
        Y = sp.csr_matrix((np.ones(S), (np.arange(S), m.pairs_t[sel])), shape=(S, T))
        cons += [
            u[cand] <= bigm * cp.multiply(m.prob[cand], z),
            z <= 1,
            Z @ z + Y @ y <= 1,
        ]
    return cons


def _dominance_cuts(m: _Model, n, y, dom: list[tuple[int, int]]) -> list:
    """Dominance: when type j is at least as good as type i in every respect, some optimum
    rents i only once j is at its cap (n_j >= cap_j * y_i); uncapped j means i is never
    needed. These cuts remove symmetric and dominated branches."""
    cons = []
    for i, j in dom:
        if np.isfinite(m.cap[j]):
            cons.append(n[j] >= m.cap[j] * y[i])
        else:
            cons.append(n[i] == 0)
    return cons


def _objective(m: _Model, mode: str, n, lam, params: dict[str, Any]) -> tuple[Any, list]:
    """The objective of ``mode`` and its constraint: the highest rate within the ``budget``
    parameter, or the cheapest pool at the ``target`` rate (the parameter goes in ``params``)."""
    cp = _cvxpy()
    if mode == "max_qps":
        budget = cp.Parameter(nonneg=True, name="budget")
        params["budget"] = budget
        return cp.Maximize(lam), [m.price @ n <= budget]
    target = cp.Parameter(nonneg=True, name="target")
    params["target"] = target
    return cp.Minimize(m.price @ n), [lam == target]


def _droppable(m: _Model) -> np.ndarray:
    """Classes that can be left unserved in some pool with a positive rate.

    If class ``b`` is unserved, no rented type is eligible for it, so every class whose
    eligible set is a subset of ``b``'s is unserved too; when those together exceed the
    allowed share, no pool with a positive rate leaves ``b`` out.
    """
    el = m.eligible
    K = m.n_classes
    out = np.zeros(K, dtype=bool)
    if m.eps <= 0:
        return out
    for b in range(K):
        sub = ~np.any(el & ~el[:, [b]], axis=0)  # classes b' with E_b' subset of E_b
        out[b] = m.prob[sub].sum() <= m.eps + 1e-12
    return out


def _dominance(m: _Model, droppable: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``: type ``j`` dominates type ``i`` — no dearer, eligible for every batch
    class ``i`` is (and for the same classes that may go unserved), no slower on any of
    them, and keeps no reserve. Swapping an ``i`` instance for a ``j`` one then never lowers
    the rate nor raises the cost; ties between identical types are broken by index so the
    relation is a strict order and all cuts hold together in some optimal solution."""
    out = []
    T = m.n_types
    cand = droppable & m.eligible.any(axis=0) if m.eps > 0 else np.zeros(m.n_classes, dtype=bool)
    for i in range(T):
        for j in range(T):
            if i == j or m.reserve[j] > 0 or m.price[j] > m.price[i] * (1 + 1e-12):
                continue
            ei, ej = m.eligible[i], m.eligible[j]
            if np.any(ei & ~ej) or np.any((ei ^ ej) & cand):
                continue
            if np.any(m.coef[j, ei] > m.coef[i, ei] * (1 + 1e-12)):
                continue
            strictly = (m.price[j] < m.price[i] or np.any(ej & ~ei) or np.any(m.coef[j, ei] < m.coef[i, ei])
                        or m.reserve[j] < m.reserve[i] or m.cap[j] > m.cap[i])
            if not strictly and j > i:
                continue  # identical types (or j no better): keep one direction only
            if not strictly and m.cap[j] < m.cap[i]:
                continue
            out.append((i, j))
    return out
