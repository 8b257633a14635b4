"""The :class:`Planner`: its settings, the public verbs and the counts they take."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .._checks import (
    instance_of,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from .._checks import percentile as check_percentile
from ..errors import InfeasibleError, PlanningError
from ..pool import Catalog
from ..profile import Profile
from ..workload import Workload
from .headroom import Headroom, _as_headroom
from .lp import route
from .milp import _MILP
from .model import _Model, _ModelBuilding
from .plan import Plan, _PlanMaking

__all__ = ["Planner"]


# ---------------------------------------------------------------------------- Planner
class Planner(_ModelBuilding, _MILP, _PlanMaking):
    """Choose an instance mix from a catalog without trying pools online.

    Parameters
    ----------
    profile : latency profile of the model on (at least) the catalog's types.
    catalog : prices and caps; every type must be in the profile
        (use ``catalog.restrict(profile.instance_types)``).
    workload : batch-size distribution of the queries.
    qos_ms : latency target in ms (queueing + service).
    percentile : share (in %) of queries that must meet ``qos_ms``; the rest,
        ``100 - percentile`` %, may go to no type at all when no rented type serves them
        within the target.
    headroom : ``"auto"`` (the calibrated :class:`Headroom`), a :class:`Headroom`, or a
        constant utilization in (0, 1] (``1.0`` gives the fluid bound).
    max_classes : most batch classes in the model; a workload with more support points is
        merged into at most this many classes (see ``docs/planner.md``).
    mip_rel_gap : relative optimality gap passed to HiGHS (default 1e-7: exact in practice).
    time_limit_s : solver time limit per solve.

    Examples
    --------
    >>> from kairos_sdk import Catalog, Planner, Profile, Workload
    >>> planner = Planner(Profile.builtin("rm2"), Catalog.from_prices({"g4dn.xlarge": 0.526}),
    ...                   Workload.deeprecsys(), qos_ms=350)
    >>> planner.plan(budget=1.1).counts
    {'g4dn.xlarge': 2}
    >>> planner.plan(target_qps=20).counts
    {'g4dn.xlarge': 2}
    """

    def __init__(
        self,
        profile: Profile,
        catalog: Catalog,
        workload: Workload,
        qos_ms: float,
        percentile: float = 99,
        *,
        headroom: Headroom | float | str | None = "auto",
        max_classes: int = 256,
        mip_rel_gap: float = 1e-7,
        time_limit_s: float | None = 60.0,
    ) -> None:
        instance_of(profile, "profile", Profile)
        instance_of(catalog, "catalog", Catalog)
        instance_of(workload, "workload", Workload)
        qos_ms = positive_float(qos_ms, "qos_ms", unit="milliseconds", error=PlanningError)
        percentile = check_percentile(percentile, error=PlanningError)
        max_classes = positive_int(max_classes, "max_classes", error=PlanningError)
        mip_rel_gap = non_negative_float(mip_rel_gap, "mip_rel_gap", error=PlanningError)
        if time_limit_s is not None:
            time_limit_s = positive_float(time_limit_s, "time_limit_s", unit="seconds", error=PlanningError)
        if len(catalog) == 0:
            raise PlanningError("the catalog is empty; add instance types with prices (Catalog.from_prices)")
        missing = [n for n in catalog.names if n not in profile.instance_types]
        if missing:
            raise PlanningError(
                f"the profile has no latency data for {', '.join(missing)}; measure them or plan over "
                f"catalog.restrict({list(profile.instance_types)!r})"
            )
        self.profile = profile
        self.catalog = catalog
        self.workload = workload
        self.qos_ms = qos_ms
        self.percentile = percentile
        self.headroom = _as_headroom(headroom)
        self.max_classes = max_classes
        self.mip_rel_gap = mip_rel_gap
        self.time_limit_s = time_limit_s
        self._problems: dict[str, Any] = {}
        self._fluid_model: _Model | None = None
        self._model = self._build_model()

    @property
    def batch_classes(self) -> list[tuple[int, int, float]]:
        """``(smallest batch, largest batch, probability)`` of every batch class."""
        return [(int(a), int(b), float(p)) for a, b, p in zip(self._class_lo, self._class_hi, self._class_prob)]

    @property
    def instance_types(self) -> tuple[str, ...]:
        """Types the model may rent (cap > 0 and at least one batch class within QoS)."""
        return self._model.types

    def _cheapest(self) -> tuple[str, float]:
        m = self._model
        k = int(np.argmin(m.price))
        return m.types[k], float(m.price[k])

    def _nmax_budget(self, budget: float) -> np.ndarray:
        m = self._model
        return np.minimum(m.cap, np.floor(budget / m.price + 1e-9))

    # ------------------------------------------------------------------ public verbs
    def plan(self, budget: float | None = None, *, target_qps: float | None = None, strict: bool = True) -> Plan:
        """Plan a pool: the highest rate within ``budget``, or the cheapest pool for ``target_qps``.

        Parameters
        ----------
        budget : USD per hour; maximize the sustainable rate within it (and the caps).
        target_qps : instead, minimize the cost of a pool that sustains this rate.
        strict : raise :class:`InfeasibleError` when no pool qualifies (default); with
            ``False`` return a :class:`Plan` whose ``status`` is ``"infeasible"``.
        """
        t0 = time.perf_counter()
        if (budget is None) == (target_qps is None):
            raise PlanningError("give exactly one of budget= (USD/hour) or target_qps= (queries/second)")
        if budget is not None:
            budget = positive_float(budget, "budget", unit="USD per hour", error=PlanningError)
            name, price = self._cheapest()
            if budget + 1e-12 < price:
                raise InfeasibleError(
                    f"budget ${budget:g}/h is below the cheapest usable instance type ({name} at ${price:g}/h); "
                    f"raise the budget to at least ${price:g}/h"
                )
            nmax = self._nmax_budget(budget)
            m = self._model
            cmin = np.array([m.coef[i][m.eligible[i]].min() for i in range(m.n_types)])
            # an upper bound on the rate: the served share (1 - eps) fits in the capacity of
            # what the budget buys, at best all of the type with most capacity per dollar
            cap_bound = min(float(np.sum(nmax / cmin)), budget * float(np.max(1.0 / (m.price * cmin))))
            bigm = 1.01 * cap_bound / max(1.0 - m.eps, 1e-9)
            counts, status, secs = self._solve("max_qps", {"budget": budget, "nmax": nmax, "bigm": bigm})
            return self._finish(counts, status, secs, t0, "max_qps", budget=budget, strict=strict)
        target_qps = positive_float(target_qps, "target_qps", unit="queries per second", error=PlanningError)
        m = self._model
        cmax = np.array([m.coef[i][m.eligible[i]].max() for i in range(m.n_types)])
        nmax = np.minimum(m.cap, np.ceil(target_qps * cmax) + 1)
        top, *_ = route(m, nmax)
        if top + 1e-9 * max(1.0, target_qps) < target_qps:
            reason = (
                f"target {target_qps:g} qps is out of reach: with every type at its cap the planner predicts "
                f"at most {top:.4g} qps; lower target_qps or raise the caps"
            )
            if strict:
                raise InfeasibleError(reason)
            return self._empty(status="infeasible", reason=reason, t0=t0, objective="min_cost", target_qps=target_qps)
        # lam == target here, and u_b <= p_b * lam, so the big-M only needs to reach the target
        counts, status, secs = self._solve("min_cost", {"target": target_qps, "nmax": nmax, "bigm": 1.01 * target_qps})
        return self._finish(counts, status, secs, t0, "min_cost", target_qps=target_qps, strict=strict)

    def frontier(self, budgets: Iterable[float], *, strict: bool = False) -> list[Plan]:
        """One :meth:`plan` per budget (the MILP is built once and re-solved with new parameters).

        Budgets below the cheapest type give an ``"infeasible"`` plan unless ``strict``.
        """
        out = []
        for b in budgets:
            try:
                out.append(self.plan(budget=b, strict=strict))
            except InfeasibleError as exc:
                if strict:
                    raise
                out.append(self._empty(status="infeasible", reason=str(exc), t0=time.perf_counter(),
                                       objective="max_qps", budget=float(b)))
        return out

    def evaluate(self, counts: Mapping[str, int], *, headroom: Headroom | float | str | None = None) -> Plan:
        """The planner's view of a given pool: predicted rate, routing and utilization.

        ``headroom`` overrides the planner's (``1.0``: fluid bound).

        Examples
        --------
        >>> from kairos_sdk import Catalog, Planner, Profile, Workload
        >>> planner = Planner(Profile.builtin("rm2"), Catalog.from_prices({"g4dn.xlarge": 0.526}),
        ...                   Workload.deeprecsys(), qos_ms=350)
        >>> p = planner.evaluate({"g4dn.xlarge": 2})
        >>> p.predicted_qps < p.fluid_qps
        True
        """
        t0 = time.perf_counter()
        vec = self._counts_vec(counts)
        model = self._model if headroom is None else self._model.with_headroom(_as_headroom(headroom), self.qos_ms)
        return self._make_plan(vec, "optimal", 0.0, t0, "fixed", model=model)

    def predicted_qps(self, counts: Mapping[str, int] | np.ndarray) -> float:
        """Highest rate the planner's model gives a pool (the score :func:`exhaustive` uses)."""
        vec = counts if isinstance(counts, np.ndarray) else self._counts_vec(counts)
        return float(route(self._model, vec)[0]) + 0.0

    def fluid_bound(self, counts: Mapping[str, int]) -> float:
        """LP maximum of the total rate of a given pool when every instance may be busy 100%
        of the time, a type takes only batch classes whose service time at the percentile fits
        the QoS target, and up to ``100 - percentile`` % of queries (those no rented type can
        serve) are left out.

        Examples
        --------
        >>> from kairos_sdk import Catalog, Planner, Profile, Workload
        >>> planner = Planner(Profile.builtin("rm2"), Catalog.from_prices({"g4dn.xlarge": 0.526}),
        ...                   Workload.deeprecsys(), qos_ms=350)
        >>> round(planner.fluid_bound({"g4dn.xlarge": 1}), 1)
        15.0
        """
        return route(self._fluid(), self._counts_vec(counts))[0]

    def _fluid(self) -> _Model:
        if self._fluid_model is None:
            self._fluid_model = self._model.with_headroom(Headroom.constant(1.0), self.qos_ms)
        return self._fluid_model

    # ------------------------------------------------------------------ helpers
    def _counts_vec(self, counts: Mapping[str, int]) -> np.ndarray:
        instance_of(counts, "counts", Mapping, hint=" {type name: count}")
        vec = np.zeros(self._model.n_types)
        idx = {t: k for k, t in enumerate(self._model.types)}
        for t, c in counts.items():
            c = non_negative_int(c, f"count of {t!r}", error=PlanningError)
            if t not in self.catalog.names:
                raise PlanningError(f"{t!r} is not in the catalog; known: {', '.join(self.catalog.names)}")
            if t in idx:
                vec[idx[t]] = c
            elif c > 0 and t not in self._all_types:
                raise PlanningError(f"{t!r} has cap 0 in the catalog; it cannot be rented")
        return vec
