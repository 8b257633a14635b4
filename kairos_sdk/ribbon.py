"""Exploration-based pool selection after Ribbon (Li et al., "RIBBON: Cost-Effective and
QoS-Aware Deep Learning Model Inference using a Diverse Pool of Cloud Computing
Instances", SC 2021), as an honest baseline that pays for its exploration.

Ribbon searches the instance-count space with Bayesian optimization: each candidate pool
is *tried* — run at the target load, and its QoS-satisfaction rate measured — and a
Gaussian-process model of the trials proposes the next one by expected improvement.
Written from the paper and the authors' public search code (their objective, acquisition,
pruning and FCFS serving), not copied from it:

* **objective** (to maximize): a pool meeting QoS at the target rate scores
  ``1/2 + 1/2 * (1 - cost / max cost)`` (cheaper is better); one missing it scores
  ``1/2 * attainment / target`` (closer is better), so any feasible pool beats any
  infeasible one;
* **acquisition**: expected improvement (``xi = 0.1``) over the Gaussian process of the
  ``bayesian-optimization`` package (Matérn 5/2 kernel, normalized targets — the library
  and settings Ribbon used), evaluated on every candidate pool still in play;
* **pruning**: a pool that meets QoS rules out every pricier pool; one that misses rules
  out every pool it dominates (no more instances of any type);
* **serving**: first come, first served onto the first free instance
  (:class:`~kairos_sdk.distribute.FCFSPolicy`), as Ribbon's simulator does;
* **trials**: a fixed-rate run at the target rate (Ribbon runs 25,000 queries at a fixed
  inter-arrival time), here sized to measure the tail with confidence
  (:func:`trial_queries`).

Ribbon's own question is "the cheapest pool that meets QoS at this load"
(:func:`ribbon_search`). A budget-holder asks "the most load this budget serves":
:func:`ribbon_max_throughput` answers it the way a Ribbon user would, by bisecting the
target load and running a Ribbon search at each, every search restricted to pools within
the budget (so no proposal is ever over budget) and stopping at its first feasible pool.

The search needs the optional ``bayesian-optimization`` package
(``pip install 'kairos-sdk[baselines]'``); it is imported only when a search runs.

Examples
--------
>>> from kairos_sdk import Catalog, Profile, Workload
>>> from kairos_sdk.ribbon import ribbon_search
>>> cat = Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149},
...                           caps={"g4dn.xlarge": 3, "r5n.large": 6})
>>> res = ribbon_search(Profile.builtin("rm2"), cat, Workload.deeprecsys(), qos_ms=350,
...                     target_qps=20, budget=2.0, max_trials=8, seed=0)
>>> res.n_trials <= 8 and all(t.cost_per_hour <= 2.0 for t in res.trials)
True
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from .errors import KairosError, PlanningError
from .pool import Catalog, Pool
from .profile import Profile
from .simulate import _highest_passing_rate, simulate
from .workload import Workload

__all__ = [
    "RibbonResult",
    "RibbonTrial",
    "ribbon_max_throughput",
    "ribbon_search",
    "trial_queries",
]

#: ``evaluate(counts, rate_qps, n_queries, seed) -> attainment`` (share of queries within QoS).
TrialFn = Callable[[dict[str, int], float, int, int], float]


def trial_queries(percentile: float = 99.0, *, half_width: float = 0.002, confidence: float = 0.95) -> int:
    """Queries a trial must run so that its tail measurement is trustworthy.

    The share of queries within QoS over ``n`` queries is a binomial proportion; at the
    target share ``q = percentile / 100`` its normal-approximation confidence interval is
    ``q ± z * sqrt(q (1 - q) / n)``. The trial runs the smallest ``n`` that makes that
    half-width at most ``half_width``: equivalently, the measured p99 lies between the true
    ``q - half_width`` and ``q + half_width`` quantiles with probability ``confidence``.

    Examples
    --------
    >>> trial_queries(99, half_width=0.002)   # p99 pinned between the true p98.8 and p99.2
    9508
    """
    if not (0 < percentile < 100):
        raise PlanningError(f"percentile must be in (0, 100), got {percentile!r}")
    if not (0 < half_width < 1) or not (0 < confidence < 1):
        raise PlanningError(f"half_width and confidence must be in (0, 1), got {half_width!r}, {confidence!r}")
    q = percentile / 100.0
    z = float(norm.ppf(0.5 + confidence / 2.0))
    return int(math.ceil(z * z * q * (1.0 - q) / (half_width * half_width)))


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class RibbonTrial:
    """One pool tried at one target rate.

    Attributes
    ----------
    counts : the pool, ``{type: count}`` (zero counts omitted).
    cost_per_hour : its price, USD per hour.
    rate_qps : the target rate it ran at.
    attainment : share of the trial's queries that met ``qos_ms``.
    meets_qos : attainment reached the target percentile.
    objective : Ribbon's score of the trial (see the module docstring).
    n_queries : queries the trial ran.
    hours : how long the trial would occupy the pool (setup plus ``n_queries / rate``).
    usd : what the trial costs at catalog prices (``hours * cost_per_hour``).
    qos_misses : queries of the trial that missed ``qos_ms`` (served late to real users).
    run : False when the result was inferred from an earlier trial (a pool that failed at
        a lower rate fails here too; one that met a higher rate meets this one): free.
    """

    counts: dict[str, int]
    cost_per_hour: float
    rate_qps: float
    attainment: float
    meets_qos: bool
    objective: float
    n_queries: int
    hours: float
    usd: float
    qos_misses: int
    run: bool = True


@dataclass(frozen=True, eq=False, repr=False)
class RibbonResult:
    """What a Ribbon search found and what its exploration cost.

    Attributes
    ----------
    counts : the pool chosen (the cheapest that met QoS; for
        :func:`ribbon_max_throughput`, the one found at the highest feasible rate);
        empty when none was found.
    cost_per_hour : its price.
    rate_qps : the target rate it met (0 when none).
    found : a feasible pool was found.
    trials : every trial, in order (inferred ones included, with ``run=False``).
    stop_reason : ``"first feasible"``, ``"exhausted"``, ``"max_trials"`` or ``"patience"``
        (for :func:`ribbon_max_throughput`: ``"bracketed"``).
    n_searches : Ribbon searches run (one per target rate tried).
    seconds : wall time of the search (simulated trials included).
    catalog : for :meth:`pool`.
    """

    counts: dict[str, int]
    cost_per_hour: float
    rate_qps: float
    found: bool
    trials: tuple[RibbonTrial, ...]
    stop_reason: str
    n_searches: int = 1
    seconds: float = 0.0
    catalog: Catalog | None = field(default=None, repr=False)

    @property
    def run_trials(self) -> tuple[RibbonTrial, ...]:
        """The trials that really ran (and so cost time and money)."""
        return tuple(t for t in self.trials if t.run)

    @property
    def n_trials(self) -> int:
        """Trials that really ran."""
        return len(self.run_trials)

    @property
    def exploration_hours(self) -> float:
        """Pool-hours of all trials run (trials run one after another)."""
        return float(sum(t.hours for t in self.run_trials))

    @property
    def exploration_usd(self) -> float:
        """USD of all trials run, at catalog prices."""
        return float(sum(t.usd for t in self.run_trials))

    @property
    def exploration_qos_misses(self) -> int:
        """Late queries served during trials of pools that could not meet the target."""
        return int(sum(t.qos_misses for t in self.run_trials if not t.meets_qos))

    def pool(self) -> Pool:
        """The chosen :class:`~kairos_sdk.pool.Pool`."""
        if not self.counts:
            raise PlanningError("the Ribbon search found no pool meeting QoS; raise the budget or lower the load")
        return Pool.from_counts(self.counts, self.catalog)

    def describe(self) -> str:
        return " + ".join(f"{n} x {t}" for t, n in self.counts.items()) or "nothing"

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts), "cost_per_hour": self.cost_per_hour, "rate_qps": self.rate_qps,
            "found": self.found, "n_trials": self.n_trials, "n_searches": self.n_searches,
            "exploration_hours": self.exploration_hours, "exploration_usd": self.exploration_usd,
            "exploration_qos_misses": self.exploration_qos_misses, "stop_reason": self.stop_reason,
            "trials": [dict(t.__dict__) for t in self.trials],
        }

    def __repr__(self) -> str:
        return (f"RibbonResult({self.describe()}, ${self.cost_per_hour:.3f}/h at {self.rate_qps:.4g} qps, "
                f"{self.n_trials} trials in {self.n_searches} search(es), exploration "
                f"{self.exploration_hours:.2f} h / ${self.exploration_usd:.2f} / {self.exploration_qos_misses} late "
                f"queries, {self.stop_reason})")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(_describe(t.counts))}</td><td>{t.cost_per_hour:.3f}</td><td>{t.rate_qps:.4g}</td>"
            f"<td>{t.attainment:.2%}</td><td>{'yes' if t.meets_qos else 'no'}</td></tr>"
            for t in self.run_trials
        )
        return (f"<table><caption>{html.escape(repr(self))}</caption><tr><th>pool</th><th>USD/hour</th>"
                f"<th>rate</th><th>within QoS</th><th>meets</th></tr>{rows}</table>")


def _describe(counts: Mapping[str, int]) -> str:
    return " + ".join(f"{n} x {t}" for t, n in counts.items() if n) or "nothing"


# ---------------------------------------------------------------------------- the search
def _bayes_opt() -> Any:
    try:
        import bayes_opt
    except ImportError:
        raise KairosError(
            "the Ribbon baseline needs the optional 'bayesian-optimization' package: "
            "pip install 'kairos-sdk[baselines]'"
        ) from None
    return bayes_opt


def _simulated_trial(profile: Profile, workload: Workload, qos_ms: float, percentile: float,
                     policy: Any) -> TrialFn:
    from .distribute import FCFSPolicy

    def run(counts: dict[str, int], rate: float, n: int, seed: int) -> float:
        pol = FCFSPolicy() if policy is None else policy
        res = simulate(Pool.from_counts(counts), profile, workload, pol, rate=rate, qos_ms=qos_ms,
                       n_queries=n, percentile=percentile, seed=seed)
        return res.qos_attainment

    return run


class _Space:
    """The candidate pools within budget and caps, as an integer matrix."""

    def __init__(self, catalog: Catalog, names: Sequence[str], budget: float, max_configs: int) -> None:
        from .baselines import enumerate_configs

        self.names = list(names)
        configs = enumerate_configs(catalog, budget, names=self.names, max_configs=max_configs)
        self.x = np.array([[c[t] for t in self.names] for c in configs], dtype=np.int64).reshape(-1, len(self.names))
        price = np.array([catalog[t].cost_per_hour for t in self.names])
        self.cost = self.x @ price
        self.max_cost = float(budget)

    def counts(self, i: int) -> dict[str, int]:
        return {t: int(n) for t, n in zip(self.names, self.x[i]) if n}

    def index(self, counts: Mapping[str, int]) -> int | None:
        row = np.array([int(counts.get(t, 0)) for t in self.names])
        hit = np.flatnonzero((self.x == row).all(axis=1))
        return int(hit[0]) if len(hit) else None


def _objective(meets: bool, attainment: float, cost: float, max_cost: float, q: float) -> float:
    if meets:
        return 0.5 + 0.5 * (1.0 - cost / max_cost)
    return 0.5 * min(attainment / q, 1.0 - 1e-9)


def _check_args(qos_ms: Any, target_qps: Any, budget: Any, percentile: Any, max_trials: Any) -> None:
    named = [("qos_ms", qos_ms), ("budget", budget)] + ([("target_qps", target_qps)] if target_qps is not None else [])
    for name, v in named:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v) or v <= 0:
            raise PlanningError(f"{name} must be a positive number, got {v!r}")
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not (0 < percentile < 100):
        raise PlanningError(f"percentile must be in (0, 100), got {percentile!r}")
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise PlanningError(f"max_trials must be a positive integer, got {max_trials!r}")


def ribbon_search(
    profile: Profile,
    catalog: Catalog,
    workload: Workload,
    *,
    qos_ms: float,
    target_qps: float,
    budget: float,
    percentile: float = 99.0,
    policy: Any = None,
    max_trials: int = 30,
    init_points: int = 2,
    patience: int | None = None,
    stop_at_first: bool = False,
    xi: float = 0.1,
    seed: int = 0,
    n_queries: int | None = None,
    setup_s: float = 60.0,
    evaluate: TrialFn | None = None,
    known: Sequence[RibbonTrial] = (),
    max_configs: int = 50_000,
) -> RibbonResult:
    """Ribbon's search: the cheapest pool within ``budget`` that meets QoS at ``target_qps``.

    Parameters
    ----------
    profile, workload : what the simulated trials run (ignored when ``evaluate`` is given).
    catalog : the instance types searched over, their prices and caps (the types the
        profile covers; restrict the catalog to search fewer).
    qos_ms, percentile : the target: ``percentile`` % of queries within ``qos_ms``.
    target_qps : the load every trial runs at.
    budget : USD per hour; only pools within it (and the caps) are ever proposed.
    policy : how a trial pool is served; default FCFS, as Ribbon serves it.
    max_trials : trials run at most (stop condition).
    init_points : random trials before the model proposes (Ribbon: 2).
    patience : also stop after this many trials without a cheaper feasible pool, once one
        is found (default: never).
    stop_at_first : stop at the first feasible pool (what a budget-holder needs).
    xi : exploration margin of expected improvement.
    seed : seeds the random initial trials, the Gaussian process and the simulated trials.
    n_queries : queries per trial; default :func:`trial_queries` of ``percentile``.
    setup_s : seconds charged per trial on top of the measurement (default 60: the
        minimum billed per launched instance under per-second billing; booting and loading
        a model take longer).
    evaluate : ``evaluate(counts, rate_qps, n_queries, seed) -> attainment`` to run trials
        another way (e.g. live); default: :func:`~kairos_sdk.simulate` of the pool.
    known : earlier trials (e.g. at other rates) whose verdict carries over: a pool that
        failed at a rate at most ``target_qps`` fails here, one that met a rate at least
        ``target_qps`` meets it. They are registered without being run.
    max_configs : refuse (``PlanningError``) when more pools lie within the budget.

    Returns
    -------
    RibbonResult

    Examples
    --------
    >>> from kairos_sdk import Catalog, Profile, Workload
    >>> cat = Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149}, caps={"g4dn.xlarge": 3})
    >>> res = ribbon_search(Profile.builtin("rm2"), cat, Workload.deeprecsys(), qos_ms=350,
    ...                     target_qps=15, budget=1.5, max_trials=10)
    >>> res.found, res.cost_per_hour <= 1.5
    (True, True)
    """
    t0 = time.perf_counter()
    _check_args(qos_ms, target_qps, budget, percentile, max_trials)
    bo = _bayes_opt()
    names = [t for t in catalog.names if t in profile.instance_types] if evaluate is None else list(catalog.names)
    if not names:
        raise PlanningError("no catalog type has a latency profile; restrict the catalog to the profile's types")
    space = _Space(catalog, names, float(budget), max_configs)
    n_trial = int(n_queries) if n_queries is not None else trial_queries(percentile)
    run_trial = evaluate or _simulated_trial(profile, workload, float(qos_ms), float(percentile), policy)
    rng = np.random.default_rng(seed)
    search = _Search(space, bo, xi, seed, percentile / 100.0, n_trial, float(target_qps), setup_s)
    if search.register_known(known, target_qps, stop_at_first):
        return _search_result(space, search.best, target_qps, search.trials, "first feasible", t0, catalog)
    reason = search.run(run_trial, rng, max_trials=max_trials, init_points=init_points, stop_at_first=stop_at_first,
                        patience=patience, seed=seed)
    return _search_result(space, search.best, target_qps, search.trials, reason, t0, catalog)


class _Search:
    """One search's state: the pools still alive, the Gaussian process, the trials so far and
    the cheapest feasible pool (``best``, with ``since_best`` trials without a cheaper one)."""

    def __init__(self, space: _Space, bo: Any, xi: float, seed: int, q: float, n_trial: int, rate: float,
                 setup_s: float) -> None:
        self.space, self.q, self.n_trial, self.rate, self.setup_s = space, q, n_trial, rate, setup_s
        self.alive = np.ones(len(space.x), dtype=bool)
        self.optimizer = bo.BayesianOptimization(
            f=None, pbounds={f"n{k}": (0.0, float(max(space.x[:, k].max(initial=0), 1))) for k in range(len(space.names))},
            acquisition_function=bo.acquisition.ExpectedImprovement(xi=xi), random_state=seed, verbose=0,
            allow_duplicate_points=True,
        )
        self.trials: list[RibbonTrial] = []
        self.best: int | None = None
        self.since_best = 0

    def record(self, i: int, attainment: float, run: bool) -> RibbonTrial:
        """Register pool ``i``'s verdict with the model, then prune as Ribbon does."""
        space, q, n_trial = self.space, self.q, self.n_trial
        meets = attainment >= q - 1e-12
        cost = float(space.cost[i])
        obj = _objective(meets, attainment, cost, space.max_cost, q)
        hours = (self.setup_s + n_trial / self.rate) / 3600.0 if run else 0.0
        tr = RibbonTrial(space.counts(i), cost, self.rate, float(attainment), bool(meets), obj,
                         n_trial if run else 0, hours, hours * cost,
                         int(round((1.0 - attainment) * n_trial)) if run else 0, run)
        self.trials.append(tr)
        self.optimizer.register(params={f"n{k}": float(v) for k, v in enumerate(space.x[i])}, target=obj)
        # Ribbon's pruning
        self.alive[i] = False
        if meets:
            self.alive[space.cost > space.cost[i] + 1e-9] = False
            if self.best is None or cost < space.cost[self.best] - 1e-9:
                self.best, self.since_best = i, 0
            else:
                self.since_best += 1
        else:
            self.alive[(space.x <= space.x[i]).all(axis=1)] = False
            if self.best is not None:
                self.since_best += 1
        return tr

    def register_known(self, known: Sequence[RibbonTrial], target_qps: float, stop_at_first: bool) -> bool:
        """Record the earlier verdicts that carry over to ``target_qps``, free; True to stop."""
        for k in known:
            i = self.space.index(k.counts)
            if i is None or not self.alive[i]:
                continue
            if (not k.meets_qos and k.rate_qps <= target_qps) or (k.meets_qos and k.rate_qps >= target_qps):
                self.record(i, k.attainment, run=False)
                if stop_at_first and k.meets_qos:
                    return True
        return False

    def propose(self, cand: np.ndarray, rng: np.random.Generator, init_points: int) -> int:
        """The next pool to try: at random at first, then the highest expected improvement."""
        optimizer = self.optimizer
        if sum(t.run for t in self.trials) < init_points or len(optimizer.space) < 2:
            return int(rng.choice(cand))
        params = [{f"n{k}": float(v) for k, v in enumerate(self.space.x[c])} for c in cand]
        mean, std = optimizer.predict(params, return_std=True)
        acq = optimizer.acquisition_function
        acq.y_max = float(np.max(optimizer.space.target))
        ei = acq.base_acq(np.asarray(mean, dtype=float), np.maximum(np.asarray(std, dtype=float), 1e-12))
        return int(cand[int(np.argmax(ei))])

    def run(self, run_trial: TrialFn, rng: np.random.Generator, *, max_trials: int, init_points: int,
            stop_at_first: bool, patience: int | None, seed: int) -> str:
        """Run trials until a stop condition holds; returns the stop reason."""
        while sum(t.run for t in self.trials) < max_trials:
            cand = np.flatnonzero(self.alive)
            if not len(cand):
                return "exhausted"
            i = self.propose(cand, rng, init_points)
            attainment = float(run_trial(self.space.counts(i), self.rate, self.n_trial, seed + len(self.trials)))
            tr = self.record(i, attainment, run=True)
            if stop_at_first and tr.meets_qos:
                return "first feasible"
            if patience is not None and self.best is not None and self.since_best >= patience:
                return "patience"
        return "max_trials"


def _search_result(space: _Space, best: int | None, rate: float, trials: list[RibbonTrial], reason: str,
                   t0: float, catalog: Catalog) -> RibbonResult:
    if best is None:
        return RibbonResult({}, 0.0, 0.0, False, tuple(trials), reason, 1, time.perf_counter() - t0, catalog)
    return RibbonResult(space.counts(best), float(space.cost[best]), float(rate), True, tuple(trials), reason, 1,
                        time.perf_counter() - t0, catalog)


def ribbon_max_throughput(
    profile: Profile,
    catalog: Catalog,
    workload: Workload,
    *,
    qos_ms: float,
    budget: float,
    percentile: float = 99.0,
    rel_tol: float = 0.03,
    start_qps: float | None = None,
    max_trials: int = 20,
    seed: int = 0,
    **search: Any,
) -> RibbonResult:
    """The highest load a Ribbon user finds a pool for within ``budget``.

    Ribbon answers "the cheapest pool for this load"; a budget-holder bisects the load:
    a Ribbon search (:func:`ribbon_search` with ``stop_at_first=True``, at most
    ``max_trials`` trials, pools within ``budget`` only) at each target rate, doubling or
    halving from ``start_qps`` until a feasible and an infeasible rate bracket the answer,
    then geometric bisection until they are within ``rel_tol``. Verdicts carry over
    between rates (a pool failing at some rate fails at every higher one; one meeting a
    rate meets every lower one), so those pools are not run again. Every trial of every
    search is in ``trials``; exploration is charged over all of them.

    Parameters
    ----------
    start_qps : first target rate; default: half the profile-based capacity of the best
        single-type pool the budget buys.
    rel_tol : relative width of the final bracket.
    max_trials : trials per search.
    search : further :func:`ribbon_search` arguments (``policy``, ``n_queries``,
        ``setup_s``, ``evaluate``, ``xi``, ``init_points``).

    Returns
    -------
    RibbonResult whose ``rate_qps`` is the highest feasible target rate and ``counts`` the
    pool found there; ``n_searches`` counts the Ribbon searches run.

    Examples
    --------
    >>> from kairos_sdk import Catalog, Profile, Workload
    >>> cat = Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149}, caps={"g4dn.xlarge": 3})
    >>> res = ribbon_max_throughput(Profile.builtin("rm2"), cat, Workload.deeprecsys(), qos_ms=350,
    ...                             budget=1.5, max_trials=6, rel_tol=0.1, n_queries=2000)
    >>> res.found and res.rate_qps > 0 and res.cost_per_hour <= 1.5
    True
    """
    t0 = time.perf_counter()
    _check_args(qos_ms, None, budget, percentile, max_trials)
    if not (0 < rel_tol < 1):
        raise PlanningError(f"rel_tol must be in (0, 1), got {rel_tol!r}")
    if start_qps is None:
        start_qps = 0.5 * _best_homogeneous_capacity(profile, catalog, workload, float(budget))
    trials: list[RibbonTrial] = []
    found: dict[float, RibbonResult] = {}
    n_searches = 0

    def feasible(rate: float) -> bool:
        nonlocal n_searches
        n_searches += 1
        res = ribbon_search(profile, catalog, workload, qos_ms=qos_ms, target_qps=rate, budget=budget,
                            percentile=percentile, max_trials=max_trials, stop_at_first=True,
                            seed=seed + 1000 * n_searches, known=tuple(trials), **search)
        trials.extend(res.trials)
        if res.found:
            found[rate] = res
        return res.found

    lo = _highest_passing_rate(feasible, float(start_qps), passed=False, warm=False, rel_tol=rel_tol)
    secs = time.perf_counter() - t0
    if lo <= 0:
        return RibbonResult({}, 0.0, 0.0, False, tuple(trials), "bracketed", n_searches, secs, catalog)
    res = found[lo]
    return RibbonResult(dict(res.counts), res.cost_per_hour, lo, True, tuple(trials), "bracketed", n_searches,
                        secs, catalog)


def _best_homogeneous_capacity(profile: Profile, catalog: Catalog, workload: Workload, budget: float) -> float:
    best = 0.0
    for t in catalog.names:
        if t not in profile.instance_types:
            continue
        it = catalog[t]
        n = int(math.floor(budget / it.cost_per_hour + 1e-9))
        if it.cap is not None:
            n = min(n, it.cap)
        mean = float(np.dot(workload.probs, profile.latency(t, workload.batch_sizes, q="mean", extrapolate=True)))
        best = max(best, n * 1000.0 / max(mean, 1e-9))
    if best <= 0:
        raise PlanningError(f"budget ${budget:g}/h affords no instance of a profiled type; raise the budget")
    return best
