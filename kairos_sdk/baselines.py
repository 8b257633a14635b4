"""Baselines for honest comparisons with the :class:`~kairos_sdk.planner.Planner`.

* :func:`homogeneous_best` — the best single-type pool within the budget.
* :func:`paper_upper_bound` — the KAIROS paper's own allocator (HPDC'23): its closed-form
  throughput upper bound for one GPU type plus CPU helpers, ranking every configuration
  within the budget.
* :func:`exhaustive` — every configuration within budget and caps, each scored by a given
  function (by default the planner's own routing LP, so it checks the MILP).
* :func:`synthetic_setting` — random catalogs with synthetic profiles, for tests and
  benchmarks.
"""

from __future__ import annotations

import html
import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import instance_of, non_negative_int, positive_float, positive_int, probability
from .errors import InfeasibleError, PlanningError
from .planner import Plan, Planner
from .pool import Catalog, Pool
from .profile import Profile
from .workload import Workload

__all__ = [
    "BaselineResult",
    "enumerate_configs",
    "exhaustive",
    "homogeneous_best",
    "paper_bound",
    "paper_figures",
    "paper_upper_bound",
    "synthetic_setting",
]


def synthetic_setting(
    n_types: int,
    *,
    seed: int = 0,
    cap: int | None = 20,
    batches: np.ndarray | None = None,
    gpu_share: float = 0.25,
) -> tuple[Profile, Catalog]:
    """A random catalog of ``n_types`` instance types and a matching synthetic profile.

    GPU-like types have a large fixed cost and a flat slope, CPU-like types the opposite;
    prices grow with speed. Latencies are in the scale of the rm2 model (QoS 350 ms serves
    every batch 10..1000 on the GPU-like types).

    Examples
    --------
    >>> profile, catalog = synthetic_setting(3, seed=1)
    >>> len(catalog), profile.instance_types == catalog.names
    (3, True)
    """
    n_types = positive_int(n_types, "n_types", error=PlanningError)
    if cap is not None:
        cap = non_negative_int(cap, "cap", error=PlanningError)
    gpu_share = probability(gpu_share, "gpu_share", error=PlanningError)
    rng = np.random.default_rng(seed)
    b = np.arange(10, 1001, 10) if batches is None else np.asarray(batches)
    levels = np.array([0.0, 0.5, 0.9, 0.99, 1.0])
    tables, prices = {}, {}
    n_gpu = max(1, int(round(gpu_share * n_types)))
    for k in range(n_types):
        gpu = k < n_gpu
        if gpu:
            a, s = rng.uniform(10, 25), rng.uniform(0.18, 0.3)
            price = rng.uniform(0.4, 0.9) * (0.25 / s) ** 0.7
        else:
            a, s = rng.uniform(1, 5), rng.uniform(0.3, 0.9)
            price = rng.uniform(0.08, 0.2) * (0.5 / s) ** 1.2
        mean = a + s * b
        spread = rng.uniform(0.03, 0.12)
        mult = 1.0 + spread * np.array([-1.0, -0.1, 0.6, 1.2, 1.6])
        name = f"{'gpu' if gpu else 'cpu'}{k:02d}"
        tables[name] = {"batch": b, "levels": levels, "values": np.outer(mean, mult), "mean_ms": mean}
        prices[name] = round(float(price), 4)
    caps = None if cap is None else {n: cap for n in prices}
    return Profile.from_quantiles(tables, model="synthetic"), Catalog.from_prices(prices, caps=caps)


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False, repr=False)
class BaselineResult:
    """The configuration a baseline picks, its score and the ranking behind it.

    Attributes
    ----------
    method : ``"homogeneous_best"``, ``"paper_upper_bound"`` or ``"exhaustive"``.
    counts : ``{type: count}`` of the pick (zero counts omitted).
    cost_per_hour : USD per hour of the pick.
    score : the pick's score (qps; for the paper's allocator its upper bound).
    ranking : every configuration evaluated, best first: ``(counts, cost_per_hour, score)``.
    seconds : wall time of the search.
    catalog : for :meth:`pool`.
    plan : the planner's view of the pick (routing, predicted qps) when a planner was given.
    """

    method: str
    counts: dict[str, int]
    cost_per_hour: float
    score: float
    ranking: tuple[tuple[dict[str, int], float, float], ...]
    seconds: float
    catalog: Catalog | None = None
    plan: Plan | None = None

    @property
    def n_evaluated(self) -> int:
        return len(self.ranking)

    def pool(self) -> Pool:
        """The picked :class:`~kairos_sdk.pool.Pool`."""
        return Pool.from_counts(self.counts, self.catalog)

    def describe(self) -> str:
        return " + ".join(f"{n} x {t}" for t, n in self.counts.items()) or "nothing"

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "counts": dict(self.counts),
            "cost_per_hour": self.cost_per_hour,
            "score": self.score,
            "n_evaluated": self.n_evaluated,
            "seconds": self.seconds,
        }

    def __repr__(self) -> str:
        return (
            f"BaselineResult({self.method}: {self.describe()}, ${self.cost_per_hour:.3f}/h, "
            f"score {self.score:.4g}, {self.n_evaluated} configurations in {self.seconds * 1000:.0f} ms)"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(_describe(c))}</td><td>{cost:.3f}</td><td>{s:.4g}</td></tr>"
            for c, cost, s in self.ranking[:10]
        )
        return (
            f"<table><caption>{html.escape(repr(self))}</caption><tr><th>configuration</th>"
            f"<th>USD/hour</th><th>score</th></tr>{rows}</table>"
        )


def _describe(counts: Mapping[str, int]) -> str:
    return " + ".join(f"{n} x {t}" for t, n in counts.items() if n) or "nothing"


def _check_budget(budget: Any) -> float:
    return positive_float(budget, "budget", unit="USD per hour", error=PlanningError)


def _limits(catalog: Catalog, names: Sequence[str], budget: float) -> list[int]:
    out = []
    for t in names:
        it = catalog[t]
        n = int(math.floor(budget / it.cost_per_hour + 1e-9))
        out.append(n if it.cap is None else min(n, it.cap))
    return out


# ---------------------------------------------------------------------------- exhaustive
def enumerate_configs(catalog: Catalog, budget: float, *, names: Sequence[str] | None = None,
                      max_configs: int = 50_000) -> list[dict[str, int]]:
    """Every count vector within ``budget`` and the caps (at least one instance), in
    lexicographic order of ``names`` (default: the catalog's order).

    Raises :class:`PlanningError` when there are more than ``max_configs``.

    Examples
    --------
    >>> from kairos_sdk import Catalog
    >>> cat = Catalog.from_prices({"a": 1.0, "b": 0.5}, caps={"a": 1})
    >>> enumerate_configs(cat, 1.0)
    [{'a': 0, 'b': 1}, {'a': 0, 'b': 2}, {'a': 1, 'b': 0}]
    """
    instance_of(catalog, "catalog", Catalog)
    budget = _check_budget(budget)
    max_configs = positive_int(max_configs, "max_configs", error=PlanningError)
    names = list(catalog.names if names is None else names)
    if not names:
        raise PlanningError("the catalog is empty; add instance types with prices")
    price = [catalog[t].cost_per_hour for t in names]
    lim = _limits(catalog, names, budget)
    out: list[dict[str, int]] = []
    cur = [0] * len(names)

    def rec(k: int, spent: float) -> None:
        if k == len(names):
            if any(cur):
                if len(out) >= max_configs:
                    raise PlanningError(
                        f"more than {max_configs} configurations lie within ${budget:g}/h and the caps; "
                        f"exhaustive search is for small catalogs: lower the budget or the caps, or use "
                        f"Planner.plan (raise max_configs to insist)"
                    )
                out.append(dict(zip(names, cur)))
            return
        for n in range(lim[k] + 1):
            c = spent + n * price[k]
            if c > budget + 1e-9:
                break
            cur[k] = n
            rec(k + 1, c)
        cur[k] = 0

    rec(0, 0.0)
    return out


def exhaustive(
    planner: Planner,
    budget: float,
    *,
    score: Callable[[dict[str, int]], float] | None = None,
    max_configs: int = 20_000,
) -> BaselineResult:
    """Score every configuration within ``budget`` and the caps; the best one wins.

    Parameters
    ----------
    planner : supplies the catalog and, unless ``score`` is given, the scoring model: the
        planner's own routing LP at fixed counts (:meth:`Planner.predicted_qps`), so the
        result is the exact optimum of the same model the MILP solves.
    budget : USD per hour.
    score : ``score(counts) -> qps`` instead (e.g. simulated allowable throughput).
    max_configs : refuse (with :class:`PlanningError`) when more configurations qualify.

    Ties keep enumeration order, then lower cost wins.

    Examples
    --------
    >>> from kairos_sdk import Catalog, Planner, Profile, Workload
    >>> planner = Planner(Profile.builtin("rm2"), Catalog.from_prices(
    ...     {"g4dn.xlarge": 0.526, "r5n.large": 0.149}, caps={"g4dn.xlarge": 2, "r5n.large": 6}),
    ...     Workload.deeprecsys(), qos_ms=350)
    >>> ex = exhaustive(planner, 1.5)
    >>> ex.counts == planner.plan(budget=1.5).counts
    True
    """
    t0 = time.perf_counter()
    instance_of(planner, "planner", Planner)
    budget = _check_budget(budget)
    cat = planner.catalog
    configs = enumerate_configs(cat, budget, max_configs=max_configs)
    if score is None:
        scored = [(c, planner.predicted_qps(c)) for c in configs]
    else:
        scored = [(c, float(score(dict(c)))) for c in configs]
    ranking = _rank(scored, cat)
    return _result("exhaustive", ranking, t0, cat, planner)


def _rank(scored, cat: Catalog):
    rows = []
    for c, s in scored:
        cost = sum(cat[t].cost_per_hour * n for t, n in c.items())
        rows.append(({t: n for t, n in c.items() if n}, float(cost), float(s)))
    # best score first; ties: cheaper first, then enumeration order (stable sort)
    rows.sort(key=lambda r: (-round(r[2], 9), round(r[1], 9)))
    return tuple(rows)


def _result(method: str, ranking, t0: float, cat: Catalog, planner: Planner | None) -> BaselineResult:
    if not ranking:
        raise InfeasibleError(f"{method}: no configuration fits the budget and caps; raise the budget")
    best = ranking[0]
    plan = planner.evaluate(best[0]) if planner is not None and best[0] else None
    return BaselineResult(method, dict(best[0]), best[1], best[2], ranking, time.perf_counter() - t0, cat, plan)


# ---------------------------------------------------------------------------- homogeneous
def homogeneous_best(
    planner: Planner,
    budget: float,
    *,
    score: Callable[[dict[str, int]], float] | None = None,
) -> BaselineResult:
    """The best single-type pool within ``budget``: for every type, as many instances as
    budget and cap allow, scored by ``score(counts)`` (default: the planner's throughput
    model, :meth:`Planner.predicted_qps`). Scores are assumed not to fall as instances are
    added, so only the largest affordable pool of each type is scored.

    Examples
    --------
    >>> from kairos_sdk import Catalog, Planner, Profile, Workload
    >>> planner = Planner(Profile.builtin("rm2"), Catalog.from_prices(
    ...     {"g4dn.xlarge": 0.526, "r5n.large": 0.149}, caps={"g4dn.xlarge": 5, "r5n.large": 17}),
    ...     Workload.deeprecsys(), qos_ms=350)
    >>> homogeneous_best(planner, 2.5).counts
    {'g4dn.xlarge': 4}
    """
    t0 = time.perf_counter()
    instance_of(planner, "planner", Planner)
    budget = _check_budget(budget)
    cat = planner.catalog
    lim = _limits(cat, cat.names, budget)
    configs = [{t: n} for t, n in zip(cat.names, lim) if n > 0]
    if not configs:
        cheapest = min(cat.values(), key=lambda it: it.cost_per_hour)
        raise InfeasibleError(
            f"budget ${budget:g}/h affords no instance within the caps (cheapest: {cheapest.name} at "
            f"${cheapest.cost_per_hour:g}/h); raise the budget or the caps"
        )
    fn = planner.predicted_qps if score is None else score
    scored = [(c, float(fn(dict(c)))) for c in configs]
    return _result("homogeneous_best", _rank(scored, cat), t0, cat, planner)


# ---------------------------------------------------------------------------- the paper's allocator
def paper_figures(profile: Profile, workload: Workload, qos_ms: float, *, gpu: str | None = None,
                  types: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """The per-type figures the KAIROS allocator reads (``allocator_profile.json`` layout),
    computed from a profile the way the authors computed theirs.

    With ``s_i(b)`` the mean service time of batch ``b`` on type ``i`` and ``p`` the
    workload's batch-size pmf: the GPU's ``qps = 1000 / E[s_gpu]``; for each CPU type
    ``vio_batch`` is the first batch whose mean service time exceeds ``qos_ms`` (the
    largest batch if none does), ``small_ratio = P(b <= vio_batch)``, ``time_ratio`` the
    share of the GPU's expected service time spent on those batches, ``qps`` and
    ``all_batch[v] = 1000 / E[s_cpu | b <= v]`` for its own and every other CPU's
    ``vio_batch``. On the public KAIROS data (largest sample per series dropped) this
    reproduces the shipped figures to within about 1% except for t3/ncf.

    Parameters
    ----------
    gpu : the base type; default: the type with the lowest mean latency at the largest batch.
    types : the types to include, GPU first (default: the profile's types).

    Examples
    --------
    >>> from kairos_sdk import Profile, Workload
    >>> f = paper_figures(Profile.builtin("rm2"), Workload.deeprecsys(), 350, gpu="g4dn.xlarge")
    >>> f["r5n.large"]["vio_batch"], round(f["g4dn.xlarge"]["qps"], 1)
    (870, 15.0)
    """
    instance_of(profile, "profile", Profile)
    instance_of(workload, "workload", Workload)
    qos_ms = positive_float(qos_ms, "qos_ms", unit="milliseconds", error=PlanningError)
    names = list(profile.instance_types if types is None else types)
    b, p = workload.batch_sizes, workload.probs
    mean = {}
    for t in names:
        grid = profile.batch_sizes(t)
        mean[t] = np.asarray(profile.latency(t, np.clip(b, grid[0], grid[-1]), q="mean"), dtype=float)
    if gpu is None:
        gpu = min(names, key=lambda t: mean[t][-1])
    if gpu not in names:
        raise PlanningError(f"gpu {gpu!r} is not among the types {', '.join(names)}")
    sg = mean[gpu]
    out: dict[str, dict[str, Any]] = {gpu: {"qps": float(1000.0 / (p @ sg))}}
    cpus = [t for t in names if t != gpu]
    vio = {}
    for t in cpus:
        bad = np.flatnonzero(mean[t] > qos_ms)
        vio[t] = int(b[bad[0]]) if len(bad) else int(b[-1])
    for t in cpus:
        small = b <= vio[t]

        def cap(v: int, t: str = t) -> float:
            m = b <= v
            return float(1000.0 / ((p[m] @ mean[t][m]) / p[m].sum()))

        out[t] = {
            "qps": cap(vio[t]),
            "small_ratio": float(p[small].sum()),
            "vio_batch": vio[t],
            "time_ratio": float((p[small] @ sg[small]) / (p @ sg)),
            "all_batch": {str(v): cap(v) for v in dict.fromkeys([vio[t], *vio.values()])},
        }
    return out


def paper_bound(figures: Mapping[str, Mapping[str, Any]], counts: Mapping[str, int]) -> float:
    """The KAIROS allocator's throughput upper bound of one configuration.

    One GPU type (the entry without ``vio_batch``) plus CPU helpers: with ``b*``, ``s``,
    ``t`` the largest ``vio_batch``, ``small_ratio`` and ``time_ratio`` among the CPU types
    present and ``C = sum_k n_k all_batch_k[b*]``, the bound is
    ``min(n_g G + C t / s, n_g G / (1 - t))`` (``n_g G`` without CPUs) — the artifact's
    two-branch computation in closed form.

    Examples
    --------
    >>> f = {"gpu": {"qps": 15.04}, "cpu": {"qps": 10.39, "small_ratio": 0.984, "vio_batch": 870,
    ...      "time_ratio": 0.941, "all_batch": {"870": 10.39}}}
    >>> round(paper_bound(f, {"gpu": 1, "cpu": 13}), 2)
    144.21
    """
    gpu, cpus = _split(figures)
    instance_of(counts, "counts", Mapping, hint=" {type name: count}")
    counts = {t: non_negative_int(n, f"count of {t!r}", error=PlanningError) for t, n in counts.items()}
    ng = counts.get(gpu, 0)
    G = float(figures[gpu]["qps"])
    present = [t for t in cpus if counts.get(t, 0) > 0]
    if not present:
        return ng * G
    bstar = max(int(figures[t]["vio_batch"]) for t in present)
    s = max(float(figures[t]["small_ratio"]) for t in present)
    tr = max(float(figures[t]["time_ratio"]) for t in present)
    C = 0.0
    for t in present:
        ab = figures[t].get("all_batch", {})
        key = str(bstar)
        if key not in ab:
            raise PlanningError(
                f"figures for {t} lack all_batch[{key!r}] (its capacity on batches up to {bstar}); "
                f"compute the figures with paper_figures(...)"
            )
        C += counts[t] * float(ab[key])
    gpu_bound = ng * G / (1.0 - tr) if tr < 1 else math.inf
    return float(min(ng * G + C * tr / s, gpu_bound))


def _split(figures: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[str]]:
    instance_of(figures, "figures", Mapping, hint=" {type name: {...}}")
    if not figures:
        raise PlanningError("figures must be a non-empty {type: {...}} mapping (allocator_profile.json layout)")
    gpus = [t for t, f in figures.items() if "vio_batch" not in f]
    if len(gpus) != 1:
        raise PlanningError(
            f"the paper's allocator needs exactly one GPU (base) type: one entry without vio_batch; got {gpus or 'none'}"
        )
    for t, f in figures.items():
        if "qps" not in f:
            raise PlanningError(f"figures for {t} lack 'qps'")
        if t != gpus[0]:
            missing = [k for k in ("small_ratio", "vio_batch", "time_ratio", "all_batch") if k not in f]
            if missing:
                raise PlanningError(f"figures for {t} lack {', '.join(missing)}")
    return gpus[0], [t for t in figures if t != gpus[0]]


def paper_upper_bound(
    figures: Mapping[str, Mapping[str, Any]],
    catalog: Catalog,
    budget: float,
) -> BaselineResult:
    """The KAIROS paper's allocator: rank every configuration within budget by its bound.

    Faithful to the public artifact (``kairos_resource_allocator.py``): the GPU type plus
    the CPU types in ``figures`` order, every count vector from 0 to each cap (or what
    the budget allows when uncapped) in lexicographic order with the GPU outermost, kept
    when its cost is within budget and it has at least one GPU; ranked by
    :func:`paper_bound`, highest first, ties in enumeration order (cost is no tie-breaker).

    Parameters
    ----------
    figures : per-type figures: a model's entry of the shared ``allocator_profile.json``
        (the authors' own numbers) or :func:`paper_figures` of a profile.
    catalog : prices and caps of those types.
    budget : USD per hour.

    Examples
    --------
    >>> import json, os
    >>> from kairos_sdk import Catalog, Profile, Workload
    >>> cat = Catalog.from_prices({"g4dn.xlarge": 0.526, "c5n.2xlarge": 0.432, "r5n.large": 0.149,
    ...     "t3.xlarge": 0.1664}, caps={"g4dn.xlarge": 5, "c5n.2xlarge": 6, "r5n.large": 17, "t3.xlarge": 15})
    >>> f = paper_figures(Profile.builtin("rm2"), Workload.deeprecsys(), 350, gpu="g4dn.xlarge",
    ...                   types=["g4dn.xlarge", "c5n.2xlarge", "r5n.large", "t3.xlarge"])
    >>> paper_upper_bound(f, cat, 2.5).counts
    {'g4dn.xlarge': 1, 'r5n.large': 13}
    """
    t0 = time.perf_counter()
    instance_of(catalog, "catalog", Catalog)
    budget = _check_budget(budget)
    gpu, cpus = _split(figures)
    order = [gpu, *cpus]
    missing = [t for t in order if t not in catalog.names]
    if missing:
        raise PlanningError(f"the catalog has no price for {', '.join(missing)}")
    price = [catalog[t].cost_per_hour for t in order]
    lim = []
    for t in order:
        cap = catalog[t].cap
        lim.append(cap if cap is not None else int(math.floor(budget / catalog[t].cost_per_hour + 1e-9)))
    rows = []
    for n in itertools.product(*[range(c + 1) for c in lim]):
        cost = 0.0
        for pr, k in zip(price, n):
            cost += pr * k
        if cost > budget or n[0] == 0:
            continue
        counts = dict(zip(order, n))
        rows.append(({t: k for t, k in counts.items() if k}, float(cost), paper_bound(figures, counts)))
    rows.sort(key=lambda r: -r[2])  # stable: ties keep enumeration order, as the artifact
    if not rows:
        raise InfeasibleError(
            f"no configuration with at least one {gpu} fits ${budget:g}/h; raise the budget to at least "
            f"${catalog[gpu].cost_per_hour:g}/h"
        )
    best = rows[0]
    return BaselineResult("paper_upper_bound", dict(best[0]), best[1], best[2], tuple(rows),
                          time.perf_counter() - t0, catalog, None)


# ---------------------------------------------------------------------------- Ribbon (SC'21)
# Exploration-based pool selection (Bayesian optimization over trial runs) lives in its own
# module, kairos_sdk.ribbon; re-exported here beside the other pool-selection baselines.
from .ribbon import RibbonResult, RibbonTrial, ribbon_max_throughput, ribbon_search, trial_queries  # noqa: E402

__all__ += ["RibbonResult", "RibbonTrial", "ribbon_max_throughput", "ribbon_search", "trial_queries"]
