"""Exploration-free instance-mix planning: a mixed-integer program solved by HiGHS via cvxpy.

The :class:`Planner` picks how many instances of each type to rent so that the pool
sustains the highest query rate within a budget (:meth:`Planner.plan` with ``budget=``), or
the cheapest pool that sustains a rate (``target_qps=``), under a tail-latency target. It
never tries a pool online: it solves one MILP over the whole catalog.

Model (see ``docs/planner.md`` for the full derivation):

* **Batch classes** ``b`` come from the workload's batch-size pmf (every support point is
  a class up to ``max_classes``; beyond that, adjacent points with the same eligibility are
  merged conservatively).
* **Eligibility**: type ``i`` may serve class ``b`` only if its service time at the QoS
  percentile fits the target, ``latency(i, b, q=percentile/100) <= qos_ms``.
* **Variables**: integer counts ``n_i``; continuous routed rates ``x_ib >= 0`` (qps) on
  eligible pairs; the total rate ``lam``; an unserved rate ``u_b`` allowed only for classes
  no *rented* type can serve, at most ``(100 - percentile)%`` of the queries in total.
* **Capacity with headroom**: ``sum_b x_ib * mean_ms_ib / (1000 * rho_ib) <= n_i``, where
  ``rho_ib`` (see :class:`Headroom`) leaves room for queueing: the less slack between the
  QoS target and the service time, the more room is kept.
* **Budget** ``sum_i price_i n_i <= budget``; caps ``n_i <= cap_i``.

Examples
--------
>>> from kairos_sdk import Catalog, Planner, Profile, Workload
>>> profile = Profile.builtin("rm2")
>>> catalog = Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149},
...                               caps={"g4dn.xlarge": 5, "r5n.large": 17})
>>> planner = Planner(profile, catalog, Workload.deeprecsys(), qos_ms=350)
>>> plan = planner.plan(budget=2.5)
>>> plan.counts
{'g4dn.xlarge': 1, 'r5n.large': 13}
>>> plan.cost_per_hour <= 2.5
True
"""

from __future__ import annotations

import html
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ._checks import (
    finite_float,
    instance_of,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from ._checks import percentile as check_percentile
from .errors import InfeasibleError, PlanningError
from .overhead import latency_with_overhead
from .pool import Catalog, Pool
from .profile import Profile
from .workload import Workload

__all__ = ["Headroom", "Plan", "Planner", "silence_solver_banner"]

# HiGHS settings measured fastest on this model (benchmarks/planner_speed.py): the sub-MIP
# heuristics and restarts cost more than they save on these small, LP-heavy MILPs.
_HIGHS_OPTIONS: dict[str, Any] = {"mip_heuristic_effort": 0.0, "mip_allow_restart": False}


_BANNER_SILENCED = False


def silence_solver_banner() -> None:
    """Keep the HiGHS solver's one-time copyright banner off standard output (opt-in).

    HiGHS prints a two-line banner on file descriptor 1 when the first solver of a process
    is created, before any solver option can switch it off (cvxpy passes ``output_flag`` and
    ``log_to_console`` only to an instance that already exists, and the planner's solves are
    otherwise silent). This creates that first instance with descriptor 1 pointed at
    ``/dev/null`` for the instant it takes. Redirecting a descriptor touches the whole process
    (output another thread writes in that instant is lost), so the library never does it on
    its own: a program whose standard output must stay clean (the CLI's ``--json``) calls
    this once at start-up. Later calls do nothing.

    Examples
    --------
    >>> from kairos_sdk.planner import silence_solver_banner
    >>> silence_solver_banner()
    """
    global _BANNER_SILENCED
    if _BANNER_SILENCED:
        return
    _BANNER_SILENCED = True
    try:
        import highspy

        sys.stdout.flush()
        saved = os.dup(1)
    except Exception:  # no solver, or no real stdout (some notebook frontends): leave it be
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


# ---------------------------------------------------------------------------- headroom
@dataclass(frozen=True)
class Headroom:
    """How much of an instance's time the planner may fill, leaving room for queueing.

    Capacity of ``n_i`` rented instances of type ``i``:
    ``sum_b x_ib * mean_ms_ib / (1000 * rho_ib) <= n_i - reserve * [n_i >= 1]``.

    * a **reserve** ``R_i`` (in instances) per rented type, for the batch classes only
      type ``i`` can serve within QoS (its *exclusive* classes, share ``f_i`` of queries):
      ``R_i = reserve * E[mean_ms / slack_ms | exclusive] * max(0, ln(f_i / eps))``, from the
      M/M/c waiting-time tail ``P(W > t) ~ exp(-(c - load) t / E[S])``: keeping the miss
      rate of those queries below ``eps / f_i`` (``eps = 1 - percentile/100``, the misses the
      target allows) needs ``c - load >= E[S]/slack * ln(f_i / eps)`` spare instances. A
      fixed reserve weighs most on a lone instance, as queueing does. Queries other types
      can also serve wait for whichever frees first, so they need no reserve.
    * ``rho_ib = clip(1 - kappa * mean_ms_ib / slack_ms_ib, rho_min, rho_max)`` with
      ``slack_ms_ib = qos_ms - latency(i, b, q=percentile/100)``: an optional per-pair
      utilization limit from the exponential waiting-time tail of a multi-server queue (off
      by default: ``kappa = 0``).

    The defaults (``rho_max = 0.9``, ``reserve = 0.275``) were fitted to the allowable
    throughput the discrete-event simulator measures with ``KairosPolicy`` on the KAIROS
    data (``benchmarks/planner_calibration.py``, ``docs/planner.md``).
    ``Headroom.constant(1.0)`` is the fluid bound (every instance busy all the time).

    Examples
    --------
    >>> h = Headroom(kappa=0.1)
    >>> [round(float(r), 3) for r in h.rho(np.array([250.0, 40.0]), np.array([300.0, 45.0]), 350.0)]
    [0.5, 0.9]
    >>> float(Headroom.constant(0.8).rho(np.array([5.0]), np.array([6.0]), 10.0)[0])
    0.8
    """

    kappa: float = 0.0
    rho_min: float = 0.3
    rho_max: float = 0.9
    reserve: float = 0.275

    def __post_init__(self) -> None:
        for name in ("kappa", "rho_min", "rho_max", "reserve"):
            object.__setattr__(self, name, finite_float(getattr(self, name), f"Headroom.{name}", error=PlanningError))
        non_negative_float(self.kappa, "Headroom.kappa", error=PlanningError)
        non_negative_float(self.reserve, "Headroom.reserve", error=PlanningError)
        if not (0 < self.rho_min <= self.rho_max <= 1):
            raise PlanningError(
                f"Headroom needs 0 < rho_min <= rho_max <= 1, got rho_min={self.rho_min!r}, rho_max={self.rho_max!r}"
            )

    @classmethod
    def constant(cls, rho: float) -> Headroom:
        """The same utilization limit ``rho`` for every pair (``1.0``: the fluid bound)."""
        if not 0 < finite_float(rho, "headroom", error=PlanningError) <= 1:
            raise PlanningError(f"headroom must be a utilization in (0, 1], got {rho!r}")
        return cls(kappa=0.0, rho_min=float(rho), rho_max=float(rho), reserve=0.0)

    def rho(self, mean_ms: np.ndarray, tail_ms: np.ndarray, qos_ms: float) -> np.ndarray:
        """Utilization limit for each pair (``nan`` where the tail misses the target)."""
        slack = qos_ms - np.asarray(tail_ms, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = 1.0 - self.kappa * np.asarray(mean_ms, dtype=float) / slack
        r = np.where(slack > 0, np.clip(np.nan_to_num(r, nan=self.rho_min, neginf=self.rho_min), self.rho_min, self.rho_max), np.nan)
        return r

    def reserves(self, mean_ms: np.ndarray, tail_ms: np.ndarray, eligible: np.ndarray,
                 prob: np.ndarray, qos_ms: float, eps: float) -> np.ndarray:
        """Instances kept free per rented type, shape ``(T,)`` (at most 0.9 of one)."""
        T = eligible.shape[0]
        out = np.zeros(T)
        if self.reserve == 0:
            return out
        excl = eligible & (eligible.sum(axis=0) == 1)[None, :]
        for i in range(T):
            k = excl[i]
            if not k.any():
                continue
            f = float(prob[k].sum())
            ratio = float(prob[k] @ (mean_ms[i, k] / np.maximum(qos_ms - tail_ms[i, k], 1e-9)) / f)
            out[i] = min(0.9, self.reserve * ratio * max(0.0, math.log(f / max(eps, 1e-3))))
        return out

    def describe(self) -> str:
        if self.kappa == 0 and self.reserve == 0:
            return "fluid bound (rho = 1)" if self.rho_max == 1 else f"constant rho = {self.rho_max:g}"
        rho = f"rho = {self.rho_max:g}" if self.kappa == 0 else (
            f"rho = clip(1 - {self.kappa:g} * mean / slack, {self.rho_min:g}, {self.rho_max:g})")
        return f"{rho}, reserve {self.reserve:g} x E[mean/slack] x ln(share/eps) on exclusive batches"


def _as_headroom(h: Headroom | float | str | None) -> Headroom:
    if h is None or (isinstance(h, str) and h == "auto"):
        return Headroom()
    if isinstance(h, Headroom):
        return h
    if isinstance(h, str):
        raise PlanningError(f"headroom must be 'auto', a Headroom or a utilization in (0, 1], got {h!r}")
    return Headroom.constant(h)


# ---------------------------------------------------------------------------- the model
@dataclass(frozen=True, eq=False)
class _Model:
    """Arrays shared by the MILP and the fixed-count routing LP (so both optimize one model)."""

    types: tuple[str, ...]          # usable types (cap > 0 and at least one eligible class)
    price: np.ndarray               # (T,)
    cap: np.ndarray                 # (T,) float, inf when uncapped
    lo: np.ndarray                  # (K,) smallest batch of each class
    hi: np.ndarray                  # (K,) largest batch of each class (its label)
    prob: np.ndarray                # (K,)
    eligible: np.ndarray            # (T, K) bool
    mean_ms: np.ndarray             # (T, K) mean service ms (inf when not measured)
    tail_ms: np.ndarray             # (T, K) service ms at the QoS percentile
    coef: np.ndarray                # (T, K) busy seconds charged per query (mean / rho / 1000)
    eps: float                      # share of queries that may go unserved
    reserve: np.ndarray             # (T,) instances kept free per rented type
    pairs_t: np.ndarray             # (E,) type index of each eligible pair
    pairs_k: np.ndarray             # (E,) class index of each eligible pair

    @property
    def n_types(self) -> int:
        return len(self.types)

    @property
    def n_classes(self) -> int:
        return len(self.prob)

    def with_headroom(self, headroom: Headroom, qos_ms: float) -> _Model:
        coef = _coef(self.mean_ms, self.tail_ms, self.eligible, headroom, qos_ms)
        res = headroom.reserves(self.mean_ms, self.tail_ms, self.eligible, self.prob, qos_ms, self.eps)
        return _Model(**{**self.__dict__, "coef": coef, "reserve": res})


def _plus_overhead(profile: Any, names: Sequence[str], sizes: np.ndarray, mean_ms: np.ndarray, tail_ms: np.ndarray,
                   q: float) -> np.ndarray:
    """The per-query overhead in eligibility (the one place the planner reads it): the tail
    latency a query sees is the quantile ``q`` of service time plus the profile's overhead
    (:func:`~kairos_sdk.overhead.latency_with_overhead`), so a type is eligible for a batch
    size only when that fits ``qos_ms``; the capacity uses the mean service time plus the
    mean overhead (the caller adds it). A zero overhead returns ``tail_ms`` untouched (the
    plan is bit-identical)."""
    if profile.overhead.is_zero:
        return tail_ms
    out = tail_ms.copy()
    for k, t in enumerate(names):
        grid = profile.batch_sizes(t)
        b = np.minimum(np.maximum(sizes, grid[0]), grid[-1]).astype(float)
        seen = np.isfinite(tail_ms[k])
        out[k, seen] = latency_with_overhead(profile, t, b[seen], q)
    return out


def _coef(mean_ms, tail_ms, eligible, headroom: Headroom, qos_ms: float) -> np.ndarray:
    rho = headroom.rho(mean_ms, tail_ms, qos_ms)
    with np.errstate(invalid="ignore"):
        c = np.where(eligible, mean_ms / (1000.0 * np.where(eligible, rho, 1.0)), np.inf)
    return c


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


# ---------------------------------------------------------------------------- Plan
@dataclass(frozen=True, eq=False, repr=False)
class Plan:
    """A planned pool: counts per instance type, its cost and its predicted throughput.

    Attributes
    ----------
    counts : ``{type: count}``, zero counts omitted.
    cost_per_hour : USD per hour of the pool.
    predicted_qps : the highest Poisson rate the planner expects the pool to sustain under
        the QoS target (capacity with headroom for queueing).
    fluid_qps : the same pool's fluid bound (every instance busy 100% of the time).
    routing : ``{type: {batch: rate_qps}}`` at ``predicted_qps``: which batch classes each
        type serves and at what rate (a merged class is labelled by its largest batch).
    utilization : ``{type: busy share}`` per instance of that type at ``predicted_qps``.
    unserved_share : share of queries no rented type can serve within QoS.
    status : ``"optimal"`` or ``"infeasible"`` (solver answer).
    solve_seconds : MILP solver time; ``total_seconds``: wall time of the whole call.
    objective : ``"max_qps"``, ``"min_cost"`` or ``"fixed"`` (an evaluated pool).
    budget_per_hour, target_qps : what was asked (``None`` when not given).
    """

    counts: dict[str, int]
    cost_per_hour: float
    predicted_qps: float
    fluid_qps: float
    routing: dict[str, dict[int, float]]
    utilization: dict[str, float]
    unserved_share: float
    status: str
    solve_seconds: float
    total_seconds: float
    objective: str
    qos_ms: float
    percentile: float
    budget_per_hour: float | None = None
    target_qps: float | None = None
    catalog: Catalog | None = None
    headroom: str = ""
    _explain: dict = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "optimal" and bool(self.counts)

    def pool(self) -> Pool:
        """The planned :class:`~kairos_sdk.pool.Pool` (``Pool.from_counts(counts, catalog)``)."""
        if not self.counts:
            raise InfeasibleError(f"this plan is {self.status}: it rents nothing, so there is no pool")
        return Pool.from_counts(self.counts, self.catalog)

    def raise_for_status(self) -> Plan:
        """Return ``self`` when a pool was found, else raise :class:`InfeasibleError`."""
        if not self.ok:
            raise InfeasibleError(self._explain.get("reason", f"no pool found (status {self.status})"))
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the catalog's prices and caps and the units of each figure."""
        return {
            "counts": dict(self.counts),
            "cost_per_hour": self.cost_per_hour,
            "predicted_qps": self.predicted_qps,
            "fluid_qps": self.fluid_qps,
            "routing": {t: {str(b): r for b, r in d.items()} for t, d in self.routing.items()},
            "utilization": dict(self.utilization),
            "unserved_share": self.unserved_share,
            "status": self.status,
            "solve_seconds": self.solve_seconds,
            "total_seconds": self.total_seconds,
            "objective": self.objective,
            "qos_ms": self.qos_ms,
            "percentile": self.percentile,
            "budget_per_hour": self.budget_per_hour,
            "target_qps": self.target_qps,
            "headroom": self.headroom,
            "prices": {t: it.cost_per_hour for t, it in self.catalog.items()} if self.catalog is not None else {},
            "caps": {t: it.cap for t, it in self.catalog.items()} if self.catalog is not None else {},
            "units": {"cost_per_hour": "USD/hour", "predicted_qps": "queries/second", "qos_ms": "ms",
                      "percentile": "%", "routing": "queries/second per type and batch class",
                      "solve_seconds": "s"},
        }

    def describe(self) -> str:
        return " + ".join(f"{n} x {t}" for t, n in self.counts.items()) or "nothing"

    def __repr__(self) -> str:
        return (
            f"Plan({self.describe()}, ${self.cost_per_hour:.3f}/h, predicted {self.predicted_qps:.4g} qps"
            f" (fluid {self.fluid_qps:.4g}), {self.status}, {self.total_seconds * 1000:.0f} ms)"
        )

    def _repr_html_(self) -> str:
        rows = []
        for t, n in self.counts.items():
            rng = ", ".join(self._explain.get("ranges", {}).get(t, []))
            rate = sum(self.routing.get(t, {}).values())
            rows.append(
                f"<tr><td>{html.escape(t)}</td><td>{n}</td><td>{html.escape(rng)}</td>"
                f"<td>{rate:.4g}</td><td>{self.utilization.get(t, 0.0):.0%}</td></tr>"
            )
        cap = html.escape(
            f"{self.describe()} — ${self.cost_per_hour:.3f}/h, predicted {self.predicted_qps:.4g} qps "
            f"(fluid bound {self.fluid_qps:.4g}) at p{self.percentile:g} ≤ {self.qos_ms:g} ms"
        )
        return (
            f"<table><caption>{cap}</caption><tr><th>instance type</th><th>count</th><th>batch sizes served</th>"
            f"<th>rate qps</th><th>utilization</th></tr>{''.join(rows)}</table>"
        )

    def explain(self) -> str:
        """Why these types: the batch range each serves, and what binds (budget, caps or QoS)."""
        e = self._explain
        if not e:
            return repr(self)
        lines = [repr(self)]
        if not self.ok:
            lines.append(e.get("reason", ""))
            return "\n".join(lines)
        lines.append("Why these types:")
        for t, n in self.counts.items():
            rate = sum(self.routing.get(t, {}).values())
            rng = ", ".join(e["ranges"].get(t, [])) or "nothing"
            lines.append(
                f"  {n} x {t} (${e['price'][t]:g}/h each): serves batches {rng}; {rate:.4g} qps, "
                f"{self.utilization.get(t, 0.0):.0%} busy; serves up to batch {e['max_batch'].get(t, 0)} within "
                f"{self.qos_ms:g} ms at p{self.percentile:g}"
            )
        for t, why in e.get("unused", {}).items():
            lines.append(f"  0 x {t}: {why}")
        lines.append("What binds:")
        lines.extend(f"  {s}" for s in e.get("binding", []))
        if e.get("marginal") is not None:
            lines.append("One more instance (routing re-optimized, same headroom):")
            lines.extend(f"  {s}" for s in e["marginal"]())
        return "\n".join(lines)


# ---------------------------------------------------------------------------- Planner
class Planner:
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

    # ------------------------------------------------------------------ model building
    def _build_model(self) -> _Model:
        names = [n for n in self.catalog.names if self.catalog[n].cap != 0]
        if not names:
            raise PlanningError(
                "every cap in the catalog is 0, so no instance may be rented; raise a cap "
                "(catalog.with_caps({...})) or remove it (None means uncapped)"
            )
        q = self.percentile / 100.0
        eps = max(0.0, 1.0 - q)
        sizes = self.workload.batch_sizes
        probs = self.workload.probs
        mean = np.empty((len(names), len(sizes)))
        tail = np.empty((len(names), len(sizes)))
        for k, t in enumerate(names):
            mean[k], tail[k] = self._lookup(t, sizes, q)
        tail = _plus_overhead(self.profile, names, sizes, mean, tail, q)
        mean = mean if self.profile.overhead.is_zero else mean + self.profile.overhead.mean_ms
        elig_pts = tail <= self.qos_ms
        lo, hi, prob, groups = _classes(sizes, probs, elig_pts, self.max_classes)
        # per class: eligible iff every member point is; tail = worst member; mean = pmf-weighted
        T, K = len(names), len(prob)
        eligible = np.ones((T, K), dtype=bool)
        mean_c = np.empty((T, K))
        tail_c = np.empty((T, K))
        for j, g in enumerate(groups):
            w = probs[g] / probs[g].sum()
            eligible[:, j] = elig_pts[:, g].all(axis=1)
            tail_c[:, j] = tail[:, g].max(axis=1)
            with np.errstate(invalid="ignore"):
                mean_c[:, j] = np.where(np.isfinite(mean[:, g]).all(axis=1), mean[:, g] @ w, np.inf)
        self._all_types = tuple(names)
        self._all_tail = tail_c
        self._all_eligible = eligible
        self._class_lo, self._class_hi, self._class_prob = lo, hi, prob
        # QoS check: mass no type can serve
        orphan = ~eligible.any(axis=0)
        if prob[orphan].sum() > eps + 1e-12:
            raise InfeasibleError(self._qos_message(orphan, eps))
        useful = eligible.any(axis=1)
        types = tuple(n for n, u in zip(names, useful) if u)
        sel = np.flatnonzero(useful)
        eligible = eligible[sel]
        pt, pk = np.nonzero(eligible)
        price = np.array([self.catalog[t].cost_per_hour for t in types])
        cap = np.array([np.inf if self.catalog[t].cap is None else float(self.catalog[t].cap) for t in types])
        return _Model(
            types=types, price=price, cap=cap, lo=lo, hi=hi, prob=prob, eligible=eligible,
            mean_ms=mean_c[sel], tail_ms=tail_c[sel],
            coef=_coef(mean_c[sel], tail_c[sel], eligible, self.headroom, self.qos_ms),
            eps=eps, pairs_t=pt, pairs_k=pk,
            reserve=self.headroom.reserves(mean_c[sel], tail_c[sel], eligible, prob, self.qos_ms, eps),
        )

    def _lookup(self, t: str, sizes: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean and tail service ms per batch size; sizes below the measured range use the
        smallest measured batch, sizes above it are unknown (never eligible)."""
        grid = self.profile.batch_sizes(t)
        b = np.maximum(sizes, grid[0]).astype(float)
        above = b > grid[-1]
        bb = np.minimum(b, grid[-1])
        mean = np.asarray(self.profile.latency(t, bb, q="mean"), dtype=float)
        tail = np.asarray(self.profile.latency(t, bb, q=q), dtype=float)
        mean[above] = np.inf
        tail[above] = np.inf
        return mean, tail

    def _qos_message(self, orphan: np.ndarray, eps: float) -> str:
        orphan = np.flatnonzero(orphan) if orphan.dtype == bool else np.asarray(orphan)
        hi, prob = self._class_hi[orphan], self._class_prob[orphan]
        best = self._all_tail[:, orphan].min(axis=0)
        who = [self._all_types[i] for i in self._all_tail[:, orphan].argmin(axis=0)]
        # runs of adjacent classes, each shown by the largest batch of its first and last class
        runs: list[list[int]] = []
        for k, h in zip(orphan.tolist(), hi.tolist()):
            if runs and k == runs[-1][2] + 1:
                runs[-1][1:] = [int(h), k]
            else:
                runs.append([int(h), int(h), k])
        ranges = _ranges([(a, b) for a, b, _ in runs])
        k0, k1 = 0, len(best) - 1
        best_txt = f"best p{self.percentile:g} latency {best[k0]:.4g} ms ({who[k0]}) at batch {int(hi[k0])}"
        if k1 != k0:
            best_txt += f", {best[k1]:.4g} ms ({who[k1]}) at batch {int(hi[k1])}"
        return (
            f"QoS {self.qos_ms:g} ms at p{self.percentile:g} is out of reach: no instance type serves batch sizes "
            f"{ranges} ({prob.sum():.2%} of queries, more than the {eps:.2%} the percentile allows) within it; "
            f"{best_txt}. Raise qos_ms, lower the percentile, add a faster instance type, or drop those "
            f"batch sizes from the workload (Workload.restrict)."
        )

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

    # ------------------------------------------------------------------ cvxpy problems
    def _problem(self, mode: str):
        if mode in self._problems:
            return self._problems[mode]
        import cvxpy as cp

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
            u = cp.Variable(K, nonneg=True, name="u")
            cons += [served + u == m.prob * lam, cp.sum(u) <= m.eps * lam]
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
        else:
            cons += [served == m.prob * lam]
        # Dominance: when type j is at least as good as type i in every respect, some optimum
        # rents i only once j is at its cap (n_j >= cap_j * y_i); uncapped j means i is never
        # needed. These cuts remove symmetric and dominated branches.
        for i, j in dom:
            if np.isfinite(m.cap[j]):
                cons.append(n[j] >= m.cap[j] * y[i])
            else:
                cons.append(n[i] == 0)
        if mode == "max_qps":
            budget = cp.Parameter(nonneg=True, name="budget")
            params["budget"] = budget
            cons += [m.price @ n <= budget]
            obj = cp.Maximize(lam)
        else:
            target = cp.Parameter(nonneg=True, name="target")
            params["target"] = target
            cons += [lam == target]
            obj = cp.Minimize(m.price @ n)
        prob = cp.Problem(obj, cons)
        self._problems[mode] = (prob, n, lam, params)
        return self._problems[mode]

    def _solve(self, mode: str, values: Mapping[str, float | np.ndarray]) -> tuple[np.ndarray | None, str, float]:
        import cvxpy as cp

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

    def _empty(self, *, status: str, reason: str, t0: float, objective: str,
               budget: float | None = None, target_qps: float | None = None) -> Plan:
        return Plan(
            counts={}, cost_per_hour=0.0, predicted_qps=0.0, fluid_qps=0.0, routing={}, utilization={},
            unserved_share=0.0, status=status, solve_seconds=0.0, total_seconds=time.perf_counter() - t0,
            objective=objective, qos_ms=self.qos_ms, percentile=self.percentile, budget_per_hour=budget,
            target_qps=target_qps, catalog=self.catalog, headroom=self.headroom.describe(),
            _explain={"reason": reason},
        )

    def _finish(self, counts, status, secs, t0, objective, *, budget=None, target_qps=None, strict=True) -> Plan:
        m = self._model
        if counts is None or not counts.any():
            if objective == "max_qps":
                name, price = self._cheapest()
                reason = (
                    f"within ${budget:g}/h no pool serves at least {self.percentile:g}% of the queries within "
                    f"{self.qos_ms:g} ms: the affordable types each miss the target on too many batch sizes; "
                    f"raise the budget (types able to serve the large batches cost more) or the QoS target"
                )
            else:
                reason = f"no pool within the caps sustains {target_qps:g} qps; lower target_qps or raise the caps"
            if strict:
                raise InfeasibleError(reason)
            return self._empty(status="infeasible", reason=reason, t0=t0, objective=objective,
                               budget=budget, target_qps=target_qps)
        counts = counts.astype(float)
        lam, x, u, _ = route(m, counts)
        if objective == "max_qps" and lam <= 1e-12:
            return self._finish(None, "infeasible", secs, t0, objective, budget=budget, strict=strict)
        # Drop surplus instances: the same routing fits in fewer of them (same rate, lower cost).
        busy = (x * np.where(np.isfinite(m.coef), m.coef, 0.0)).sum(axis=1)
        counts = np.minimum(counts, np.where(busy > 1e-9, np.ceil(busy + m.reserve - 1e-7), 0.0))
        return self._make_plan(counts, status, secs, t0, objective, budget=budget, target_qps=target_qps)

    def _make_plan(self, vec, status, secs, t0, objective, *, budget=None, target_qps=None, model=None) -> Plan:
        m = self._model if model is None else model
        lam, x, u, _ = route(m, vec, tidy=True)
        fluid = route(self._fluid(), vec)[0]
        on = np.flatnonzero(vec > 0)
        counts = {m.types[i]: int(vec[i]) for i in on}
        mean = np.where(np.isfinite(m.mean_ms), m.mean_ms, 0.0)
        routing, util = {}, {}
        for i in on:
            served = np.flatnonzero(x[i] > 1e-9 * max(lam, 1.0))
            routing[m.types[i]] = {int(m.hi[k]): float(x[i, k]) for k in served}
            util[m.types[i]] = float((x[i] * mean[i]).sum() / 1000.0 / vec[i])
        plan = Plan(
            counts=counts,
            cost_per_hour=float(m.price @ vec),
            predicted_qps=float(lam) + 0.0,  # + 0.0: an LP optimum of -0.0 reads as 0.0
            fluid_qps=float(fluid) + 0.0,
            routing=routing,
            utilization=util,
            unserved_share=float(u.sum() / lam) if lam > 0 else 0.0,
            status=status,
            solve_seconds=secs,
            total_seconds=time.perf_counter() - t0,
            objective=objective,
            qos_ms=self.qos_ms,
            percentile=self.percentile,
            budget_per_hour=budget,
            target_qps=target_qps,
            catalog=self.catalog,
            headroom=self.headroom.describe() if model is None else "custom",
            _explain={},
        )
        plan._explain.update(self._explain_data(vec, x, lam, m, budget, compute_marginal=True))
        return plan

    def _explain_data(self, vec, x, lam, m: _Model, budget, compute_marginal: bool) -> dict:
        price = {t: float(p) for t, p in zip(m.types, m.price)}
        max_batch = {}
        for i, t in enumerate(m.types):
            el = np.flatnonzero(m.eligible[i])
            # largest batch below which every class is eligible
            bad = np.flatnonzero(~m.eligible[i])
            first_bad = bad[0] if len(bad) else m.n_classes
            max_batch[t] = int(m.hi[first_bad - 1]) if first_bad > 0 else (int(m.hi[el[0]]) if len(el) else 0)
        ranges = {}
        for i in np.flatnonzero(vec > 0):
            tot = m.prob * lam
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(tot > 0, x[i] / tot, 0.0)
            ranges[m.types[i]] = _served_ranges(m.lo, m.hi, share)
        binding = []
        cost = float(m.price @ vec)
        if budget is not None:
            left = budget - cost
            afford = [t for i, t in enumerate(m.types) if m.price[i] <= left + 1e-9 and vec[i] < m.cap[i]]
            if not afford:
                binding.append(
                    f"budget: ${left:.3f}/h of ${budget:g}/h left, too little for one more instance of any type "
                    f"below its cap -> the budget binds"
                )
            else:
                binding.append(f"budget: ${left:.3f}/h left; one more {', '.join(afford)} would fit but adds nothing")
        at_cap = [f"{t} ({int(vec[i])}/{int(m.cap[i])})" for i, t in enumerate(m.types) if np.isfinite(m.cap[i]) and vec[i] >= m.cap[i]]
        binding.append("caps: " + (", ".join(at_cap) + " at its cap" if at_cap else "no type is at its cap"))
        for t in m.types:
            if max_batch[t] < int(m.hi[-1]):
                binding.append(
                    f"QoS: {t} serves only batches up to {max_batch[t]} within {self.qos_ms:g} ms at p{self.percentile:g}"
                    f" ({self.workload.probability(hi=max_batch[t]):.1%} of queries)"
                )
        unused = {}
        for i, t in enumerate(m.types):
            if vec[i] == 0:
                unused[t] = (
                    f"${price[t]:g}/h, serves batches up to {max_batch[t]} within QoS; "
                    f"{_per_dollar(m, i):.4g} qps per $/h alone on its eligible batch sizes"
                )
        for t in self._all_types:
            if t not in m.types:
                unused[t] = f"cannot serve any batch size of the workload within {self.qos_ms:g} ms at p{self.percentile:g}"
        for t in self.catalog.names:
            if t not in self._all_types:
                unused[t] = "cap 0"
        def marginal() -> list[str]:
            out = []
            for i, t in enumerate(m.types):
                if vec[i] >= m.cap[i]:
                    continue
                v2 = vec.copy()
                v2[i] += 1
                gain = route(m, v2)[0] - lam
                over = budget is not None and cost + m.price[i] > budget + 1e-9
                out.append(f"+1 {t}: +{gain:.4g} qps for +${price[t]:g}/h" + (" (over budget)" if over else ""))
            return out

        return {"price": price, "max_batch": max_batch, "ranges": ranges, "binding": binding,
                "unused": unused, "marginal": marginal if compute_marginal and lam > 0 else None}


# ---------------------------------------------------------------------------- helpers
def _per_dollar(m: _Model, i: int) -> float:
    el = m.eligible[i]
    p = m.prob[el] / m.prob[el].sum()
    return float(1.0 / (p @ m.coef[i, el]) / m.price[i])


def _classes(sizes: np.ndarray, probs: np.ndarray, elig: np.ndarray, max_classes: int):
    """Batch classes: every support point when there are at most ``max_classes``; otherwise
    runs of adjacent points with identical eligibility, each split into equal-mass groups."""
    K = len(sizes)
    if max_classes >= K:
        groups = [np.array([k]) for k in range(K)]
    else:
        sig = [elig[:, k].tobytes() for k in range(K)]
        runs, start = [], 0
        for k in range(1, K + 1):
            if k == K or sig[k] != sig[start]:
                runs.append(np.arange(start, k))
                start = k
        if len(runs) >= max_classes:
            # more eligibility changes than classes: equal-mass chunks (eligibility is the AND)
            edges = np.searchsorted(np.cumsum(probs), np.linspace(0, 1, max_classes + 1)[1:-1], side="right")
            groups = [g for g in np.split(np.arange(K), np.unique(edges)) if len(g)]
        else:
            mass = np.array([probs[r].sum() for r in runs])
            extra = max_classes - len(runs)
            share = np.floor(extra * mass / mass.sum()).astype(int)
            groups = []
            for r, s in zip(runs, share):
                parts = min(len(r), 1 + int(s))
                if parts == 1:
                    groups.append(r)
                    continue
                cum = np.cumsum(probs[r]) / probs[r].sum()
                cut = np.unique(np.searchsorted(cum, np.linspace(0, 1, parts + 1)[1:-1], side="right"))
                groups.extend(g for g in np.split(r, cut) if len(g))
    lo = np.array([sizes[g[0]] for g in groups])
    hi = np.array([sizes[g[-1]] for g in groups])
    prob = np.array([probs[g].sum() for g in groups])
    return lo, hi, prob, groups


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


def _ranges(pairs: Sequence[Sequence[int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in pairs)


def _served_ranges(lo: np.ndarray, hi: np.ndarray, share: np.ndarray) -> list[str]:
    """Contiguous runs of classes a type serves: ``"10-190"`` (all of it) or ``"200-870 (62%)"``."""
    out = []
    k, K = 0, len(share)
    while k < K:
        if share[k] <= 1e-6:
            k += 1
            continue
        full = share[k] >= 1 - 1e-6
        j = k
        while j + 1 < K and share[j + 1] > 1e-6 and (share[j + 1] >= 1 - 1e-6) == full:
            j += 1
        txt = f"{int(lo[k])}" if lo[k] == hi[j] else f"{int(lo[k])}-{int(hi[j])}"
        if not full:
            txt += f" ({share[k:j + 1].mean():.0%} of it)"
        out.append(txt)
        k = j + 1
    return out
