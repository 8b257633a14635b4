"""Baselines: exhaustive enumeration, the best homogeneous pool, the paper's allocator."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos_sdk import (
    ArgumentTypeError,
    Catalog,
    InfeasibleError,
    Planner,
    PlanningError,
    Pool,
    Profile,
    Workload,
)
from kairos_sdk.baselines import (
    BaselineResult,
    enumerate_configs,
    exhaustive,
    homogeneous_best,
    paper_bound,
    paper_figures,
    paper_upper_bound,
    synthetic_setting,
)

from .conftest import MODELS, PAPER_CAPS, PAPER_PRICES, QOS_MS

ORDER = ["g4dn.xlarge", "c5n.2xlarge", "r5n.large", "t3.xlarge"]
# The artifact's picks at 2.5 USD/h and their bounds (from its own allocator_profile.json).
PAPER_PICKS = {
    "ncf": ({"g4dn.xlarge": 1, "r5n.large": 13}, 7180.6),
    "rm2": ({"g4dn.xlarge": 1, "r5n.large": 13}, 144.21),
    "wnd": ({"g4dn.xlarge": 1, "r5n.large": 13}, 1555.9),
    "mtwnd": ({"g4dn.xlarge": 2, "r5n.large": 9}, 1061.3),
    "dien": ({"g4dn.xlarge": 2, "r5n.large": 9}, 733.0),
}


@pytest.fixture(scope="module")
def small_planner() -> Planner:
    cat = Catalog.from_prices(PAPER_PRICES, caps={"g4dn.xlarge": 2, "c5n.2xlarge": 2, "r5n.large": 5, "t3.xlarge": 3})
    return Planner(Profile.builtin("wnd"), cat, Workload.deeprecsys(), qos_ms=25)


# ------------------------------------------------------------------------------ enumeration
def test_enumerate_configs_within_budget_and_caps():
    cat = Catalog.from_prices(PAPER_PRICES, caps=PAPER_CAPS)
    configs = enumerate_configs(cat, 2.5)
    assert len(configs) == len({tuple(sorted(c.items())) for c in configs})
    for c in configs:
        assert sum(PAPER_PRICES[t] * n for t, n in c.items()) <= 2.5 + 1e-9
        assert all(0 <= n <= PAPER_CAPS[t] for t, n in c.items())
        assert any(c.values())
    # the artifact's own count: 331 configurations with at least one GPU
    assert sum(1 for c in configs if c["g4dn.xlarge"] >= 1) == 331


def test_enumerate_configs_refuses_large_searches():
    cat = Catalog.from_prices({f"t{k}": 0.1 for k in range(8)}, caps={f"t{k}": 20 for k in range(8)})
    with pytest.raises(PlanningError, match="exhaustive search is for small catalogs"):
        enumerate_configs(cat, 10.0, max_configs=1000)


def test_exhaustive_equals_planner(small_planner):
    for budget in (0.8, 1.6, 2.5):
        ex = exhaustive(small_planner, budget)
        plan = small_planner.plan(budget=budget)
        assert plan.predicted_qps == pytest.approx(ex.score, rel=1e-6)
        assert ex.plan is not None and ex.plan.predicted_qps == pytest.approx(ex.score)
        scores = [s for *_, s in ex.ranking]
        assert scores == sorted(scores, reverse=True)
        assert ex.n_evaluated == len(enumerate_configs(small_planner.catalog, budget))


def test_exhaustive_with_a_custom_score(small_planner):
    seen = []

    def score(counts):
        seen.append(counts)
        return -sum(counts.values())  # fewest instances wins

    ex = exhaustive(small_planner, 1.0, score=score)
    assert sum(ex.counts.values()) == 1
    assert len(seen) == ex.n_evaluated


def test_exhaustive_size_limit(small_planner):
    with pytest.raises(PlanningError, match="max_configs"):
        exhaustive(small_planner, 2.5, max_configs=10)


def test_exhaustive_bad_budget(small_planner):
    with pytest.raises(PlanningError, match="budget"):
        exhaustive(small_planner, -1)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 5000), n_types=st.integers(2, 4), cap=st.integers(1, 3), budget=st.floats(0.3, 2.5))
def test_exhaustive_and_milp_agree_on_synthetic_catalogs(seed, n_types, cap, budget):
    prof, cat = synthetic_setting(n_types, seed=seed, cap=cap, batches=np.array([10, 50, 100, 200, 500, 1000]))
    wl = Workload.from_distribution({10: 0.3, 50: 0.3, 100: 0.2, 200: 0.15, 500: 0.04, 1000: 0.01})
    planner = Planner(prof, cat, wl, qos_ms=350)
    if budget < min(it.cost_per_hour for it in cat.values()):
        return
    ex = exhaustive(planner, budget)
    assert planner.plan(budget=budget, strict=False).predicted_qps == pytest.approx(ex.score, rel=1e-6, abs=1e-9)


# ------------------------------------------------------------------------------ homogeneous
def test_homogeneous_best_on_rm2():
    cat = Catalog.from_prices(PAPER_PRICES, caps=PAPER_CAPS)
    planner = Planner(Profile.builtin("rm2"), cat, Workload.deeprecsys(), qos_ms=350)
    hb = homogeneous_best(planner, 2.5)
    assert hb.counts == {"g4dn.xlarge": 4}
    assert hb.method == "homogeneous_best"
    assert hb.n_evaluated == 4  # one pool per type, as large as budget and cap allow
    assert {tuple(c) for c, *_ in hb.ranking} == {("g4dn.xlarge",), ("c5n.2xlarge",), ("r5n.large",), ("t3.xlarge",)}
    assert planner.plan(budget=2.5).predicted_qps > hb.score


def test_homogeneous_best_with_score_and_caps():
    cat = Catalog.from_prices(PAPER_PRICES, caps={**PAPER_CAPS, "r5n.large": 2})
    planner = Planner(Profile.builtin("rm2"), cat, Workload.deeprecsys(), qos_ms=350)
    hb = homogeneous_best(planner, 2.5, score=lambda c: float(sum(c.values())))
    assert hb.counts == {"t3.xlarge": 15}  # most instances: 15 t3 (r5n capped at 2)
    assert hb.score == 15.0


def test_homogeneous_best_budget_too_small():
    cat = Catalog.from_prices(PAPER_PRICES)
    planner = Planner(Profile.builtin("rm2"), cat, Workload.deeprecsys(), qos_ms=350)
    with pytest.raises(InfeasibleError, match="raise the budget"):
        homogeneous_best(planner, 0.1)


def test_baseline_result_value_object(small_planner):
    res = homogeneous_best(small_planner, 2.5)
    assert isinstance(res, BaselineResult)
    assert isinstance(res.pool(), Pool) and res.pool().counts == res.counts
    json.dumps(res.to_dict())
    assert res.method in repr(res) and "<table>" in res._repr_html_()


# ------------------------------------------------------------------------------ the paper's allocator
def _two_branch(figures, counts):
    """The artifact's computation, branch by branch (reference for the closed form)."""
    gpu = next(t for t, f in figures.items() if "vio_batch" not in f)
    G = figures[gpu]["qps"]
    ng = counts.get(gpu, 0)
    present = [t for t in figures if t != gpu and counts.get(t, 0) > 0]
    if not present:
        return ng * G
    b = max(figures[t]["vio_batch"] for t in present)
    s = max(figures[t]["small_ratio"] for t in present)
    tr = max(figures[t]["time_ratio"] for t in present)
    C = sum(counts[t] * figures[t]["all_batch"][str(b)] for t in present)
    L = G * (1 - s) / (1 - tr)
    lam_c = C / s
    need = lam_c - C
    if need >= ng * L:
        return ng * L / (1 - s)
    u = need / (ng * L)
    return lam_c + ng * G * (1 - u)


@settings(max_examples=60, deadline=None)
@given(
    G=st.floats(1, 1000), q1=st.floats(1, 500), q2=st.floats(1, 500),
    s1=st.floats(0.5, 0.99), s2=st.floats(0.5, 0.99), t1=st.floats(0.3, 0.98), t2=st.floats(0.3, 0.98),
    ng=st.integers(1, 5), n1=st.integers(0, 10), n2=st.integers(0, 10),
)
def test_paper_bound_closed_form_equals_the_two_branches(G, q1, q2, s1, s2, t1, t2, ng, n1, n2):
    # the paper's figures keep time_ratio below small_ratio (a small query is cheaper than average)
    t1, t2 = min(t1, s1 - 0.01), min(t2, s2 - 0.01)
    figures = {
        "gpu": {"qps": G},
        "a": {"qps": q1, "vio_batch": 500, "small_ratio": s1, "time_ratio": t1, "all_batch": {"500": q1, "300": q1 * 1.1}},
        "b": {"qps": q2, "vio_batch": 300, "small_ratio": s2, "time_ratio": t2, "all_batch": {"300": q2, "500": q2 * 0.9}},
    }
    counts = {"gpu": ng, "a": n1, "b": n2}
    assert paper_bound(figures, counts) == pytest.approx(_two_branch(figures, counts), rel=1e-9)


@pytest.mark.shared_data
def test_paper_allocator_picks_with_the_authors_figures(kairos_data):
    figures = json.loads((kairos_data / "allocator_profile.json").read_text())
    cat = Catalog.from_prices(PAPER_PRICES, caps=PAPER_CAPS)
    for model in MODELS:
        res = paper_upper_bound(figures[model], cat, 2.5)
        counts, ub = PAPER_PICKS[model]
        assert res.counts == counts, model
        assert res.score == pytest.approx(ub, abs=0.1)
        assert res.n_evaluated == 331
        assert res.method == "paper_upper_bound"


@pytest.mark.shared_data
@pytest.mark.parametrize("model", MODELS)
def test_paper_figures_from_the_profile_reproduce_the_picks(kairos_data, shared_profile, model):
    shipped = json.loads((kairos_data / "allocator_profile.json").read_text())[model]
    f = paper_figures(shared_profile(model), Workload.deeprecsys(), QOS_MS[model], gpu="g4dn.xlarge", types=ORDER)
    assert list(f) == ORDER
    assert f["g4dn.xlarge"]["qps"] == pytest.approx(shipped["g4dn.xlarge"]["qps"], rel=0.02)
    for t in ("c5n.2xlarge", "r5n.large"):
        assert f[t]["small_ratio"] == pytest.approx(shipped[t]["small_ratio"], abs=0.005)
        assert f[t]["time_ratio"] == pytest.approx(shipped[t]["time_ratio"], abs=0.01)
        if model != "ncf":  # the artifact's ncf figures do not fully match its released data
            assert f[t]["vio_batch"] == shipped[t]["vio_batch"]
            assert f[t]["qps"] == pytest.approx(shipped[t]["qps"], rel=0.015)
    cat = Catalog.from_prices(PAPER_PRICES, caps=PAPER_CAPS)
    assert paper_upper_bound(f, cat, 2.5).counts == PAPER_PICKS[model][0]


def test_paper_allocator_on_builtin_profile_ties_and_order():
    f = paper_figures(Profile.builtin("mtwnd"), Workload.deeprecsys(), 25, types=ORDER)
    assert list(f)[0] == "g4dn.xlarge"  # default GPU: fastest at the largest batch
    res = paper_upper_bound(f, Catalog.from_prices(PAPER_PRICES, caps=PAPER_CAPS), 2.5)
    assert res.counts == {"g4dn.xlarge": 2, "r5n.large": 9}
    assert all(c.get("g4dn.xlarge", 0) >= 1 for c, *_ in res.ranking)  # the paper never goes CPU-only
    ubs = [ub for *_, ub in res.ranking]
    assert ubs == sorted(ubs, reverse=True)


@pytest.mark.parametrize(
    "figures, match",
    [
        ({}, "non-empty"),
        ({"a": {"qps": 1.0}, "b": {"qps": 2.0}}, "exactly one GPU"),
        ({"a": {"qps": 1.0, "vio_batch": 10, "small_ratio": 0.5, "time_ratio": 0.4, "all_batch": {}}}, "exactly one GPU"),
        ({"g": {"qps": 1.0}, "c": {"qps": 1.0, "vio_batch": 10}}, "lack small_ratio"),
        ({"g": {}}, "lack 'qps'"),
    ],
)
def test_paper_allocator_bad_figures(figures, match):
    cat = Catalog.from_prices({"g": 1.0, "a": 1.0, "b": 1.0, "c": 1.0})
    with pytest.raises(PlanningError, match=match):
        paper_upper_bound(figures, cat, 2.5)


def test_paper_allocator_missing_all_batch_entry():
    f = {
        "g": {"qps": 10.0},
        "a": {"qps": 5.0, "vio_batch": 500, "small_ratio": 0.9, "time_ratio": 0.8, "all_batch": {"500": 5.0}},
        "b": {"qps": 5.0, "vio_batch": 300, "small_ratio": 0.8, "time_ratio": 0.7, "all_batch": {"300": 5.0}},
    }
    with pytest.raises(PlanningError, match=r"all_batch\['500'\].*paper_figures"):
        paper_bound(f, {"g": 1, "a": 1, "b": 1})


def test_paper_allocator_budget_and_catalog_errors():
    f = paper_figures(Profile.builtin("rm2"), Workload.deeprecsys(), 350, gpu="g4dn.xlarge", types=ORDER)
    cat = Catalog.from_prices(PAPER_PRICES, caps=PAPER_CAPS)
    with pytest.raises(InfeasibleError, match="at least one g4dn.xlarge"):
        paper_upper_bound(f, cat, 0.5)
    with pytest.raises(PlanningError, match="no price for"):
        paper_upper_bound(f, cat.restrict(["g4dn.xlarge", "r5n.large"]), 2.5)
    with pytest.raises(PlanningError, match="gpu"):
        paper_figures(Profile.builtin("rm2"), Workload.deeprecsys(), 350, gpu="p3")
    with pytest.raises(PlanningError, match="qos_ms"):
        paper_figures(Profile.builtin("rm2"), Workload.deeprecsys(), 0)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda p: exhaustive(p, -1.0), PlanningError, "budget must be a positive number.*got -1.0"),
        (lambda p: exhaustive(p, "2.5"), ArgumentTypeError, "budget must be a number, got '2.5'"),
        (lambda p: exhaustive({"a": 1}, 2.5), ArgumentTypeError, "planner must be a kairos_sdk.Planner, got dict"),
        (lambda p: homogeneous_best(p, float("nan")), PlanningError, "budget must be a positive number.*got nan"),
        (lambda p: enumerate_configs(p.catalog, 2.5, max_configs=0), PlanningError, "max_configs must be a positive integer, got 0"),
        (lambda p: enumerate_configs({"a": 1.0}, 2.5), ArgumentTypeError, "catalog must be a kairos_sdk.Catalog, got dict"),
        (lambda p: paper_figures(p.profile, p.workload, "350"), ArgumentTypeError, "qos_ms must be a number, got '350'"),
        (lambda p: paper_figures("rm2", p.workload, 350), ArgumentTypeError, "profile must be a kairos_sdk.Profile, got str"),
        (lambda p: paper_bound([1], {}), ArgumentTypeError, "figures must be a .*Mapping.*got list"),
        (lambda p: paper_bound({"g": {"qps": 1.0}}, {"g": -1}), PlanningError, "count of 'g' must be a non-negative integer, got -1"),
        (lambda p: paper_upper_bound({"g": {"qps": 1.0}}, p.catalog, 0), PlanningError, "budget must be a positive number.*got 0"),
        (lambda p: synthetic_setting(0), PlanningError, "n_types must be a positive integer, got 0"),
        (lambda p: synthetic_setting(3, gpu_share=1.5), PlanningError, "gpu_share must be a probability in .*got 1.5"),
    ],
)
def test_bad_arguments_name_the_argument_and_the_value(call, error, match):
    planner = Planner(Profile.builtin("rm2"), Catalog.from_prices(PAPER_PRICES, caps=PAPER_CAPS),
                      Workload.deeprecsys(), qos_ms=350)
    with pytest.raises(error, match=match):
        call(planner)


def test_synthetic_setting_is_seeded():
    p1, c1 = synthetic_setting(5, seed=3)
    p2, c2 = synthetic_setting(5, seed=3)
    assert c1 == c2 and all(math.isclose(float(p1.latency(t, 500)), float(p2.latency(t, 500))) for t in c1)
    assert all(it.cap == 20 for it in c1.values())
