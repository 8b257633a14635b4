"""The matching solvers and the Moore–Hodgson schedule on their own: the exact assignment
and the grouped assignment against the networkx min-cost flow, and the schedule against brute
force."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos_sdk import SimulationError
from kairos_sdk.distribute import min_cost_assignment
from kairos_sdk.distribute.matching import grouped_lsa_pairs
from kairos_sdk.distribute.schedule import doomed


# ---------------------------------------------------------------------------- matching
def _total(cost: np.ndarray, pairs) -> float:
    return float(sum(cost[i, j] for i, j in pairs))


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(1, 9),
    n=st.integers(1, 7),
    seed=st.integers(0, 2**31 - 1),
    forbid=st.floats(0.0, 0.7),
    multi=st.booleans(),
)
def test_fast_path_equals_networkx_min_cost_flow(p, n, seed, forbid, multi):
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 50, size=(p, n)).astype(float)
    cost[rng.random((p, n)) < forbid] = np.inf
    cap = rng.integers(0, 3, size=n) if multi else None
    a = min_cost_assignment(cost, cap, method="assignment")
    b = min_cost_assignment(cost, cap, method="networkx")
    assert len(a) == len(b), "both must find a maximum matching"
    assert _total(cost, a) == _total(cost, b)
    for pairs in (a, b):
        rows = [i for i, _ in pairs]
        assert len(rows) == len(set(rows))
        assert all(np.isfinite(cost[i, j]) for i, j in pairs)
        c = np.bincount([j for _, j in pairs], minlength=n)
        assert np.all(c <= (np.ones(n) if cap is None else cap))


@settings(max_examples=200, deadline=None)
@given(
    p=st.integers(1, 12),
    n=st.integers(1, 9),
    ng=st.integers(1, 4),
    hi=st.sampled_from([3, 50]),
    seed=st.integers(0, 2**31 - 1),
    forbid=st.floats(0.0, 0.8),
    prune_from=st.sampled_from([1, 16]),
    transposed=st.booleans(),
)
def test_grouped_fast_path_equals_networkx_min_cost_flow(p, n, ng, hi, seed, forbid, prune_from, transposed):
    """Columns in groups of identical ones (idle instances of one type): the reduced
    assignment finds a matching as large and as cheap as the min-cost flow on all columns."""
    rng = np.random.default_rng(seed)
    tc = rng.integers(0, hi, size=(p, ng)).astype(float)
    tc[rng.random((p, ng)) < forbid] = np.inf
    groups = rng.integers(0, ng, size=n).tolist()
    if transposed:  # the layout KairosPolicy passes
        tc = np.ascontiguousarray(tc.T).T
    cost = tc[:, groups]
    a = grouped_lsa_pairs(tc, groups, prune_from=prune_from)
    b = min_cost_assignment(cost, method="networkx")
    assert len(a) == len(b), "both must find a maximum matching"
    assert _total(cost, a) == _total(cost, b)
    assert a == sorted(a)
    assert len({i for i, _ in a}) == len(a) and len({j for _, j in a}) == len(a)
    assert all(np.isfinite(cost[i, j]) for i, j in a)


def test_min_cost_assignment_rejects_bad_input():
    with pytest.raises(SimulationError, match="2-d"):
        min_cost_assignment(np.zeros(3))
    with pytest.raises(SimulationError, match="capacity"):
        min_cost_assignment(np.zeros((2, 2)), capacity=[1])
    with pytest.raises(SimulationError, match="method"):
        min_cost_assignment(np.zeros((2, 2)), method="magic")
    assert min_cost_assignment(np.full((2, 2), np.inf)) == []



# ---------------------------------------------------------------------------- Moore–Hodgson
def _on_time(jobs, free):
    """Every job meets its deadline when run in deadline order on the machine that frees first."""
    free = list(free)
    for d, p, _ in sorted(jobs):
        j = free.index(min(free))
        free[j] += p
        if free[j] > d:
            return False
    return True


@settings(max_examples=150, deadline=None)
@given(jobs=st.lists(st.tuples(st.integers(1, 30), st.integers(1, 9)), min_size=0, max_size=7),
       start=st.integers(0, 5))
def test_doomed_keeps_the_most_jobs_on_time_on_one_machine(jobs, start):
    """Moore-Hodgson on one machine: the kept jobs all meet their deadlines and no larger
    subset could (brute force over every subset)."""
    js = [(float(d), float(p), k) for k, (d, p) in enumerate(jobs)]
    gone = doomed(js, [float(start)])
    kept = [j for j in js if j[2] not in gone]
    assert len(set(gone)) == len(gone) and set(gone) <= {k for *_, k in js}
    assert _on_time(kept, [float(start)])
    best = max((r for r in range(len(js) + 1) for c in combinations(js, r) if _on_time(c, [float(start)])), default=0)
    assert len(kept) == best


@settings(max_examples=150, deadline=None)
@given(jobs=st.lists(st.tuples(st.integers(1, 30), st.integers(1, 9), st.booleans()), min_size=0, max_size=10),
       free=st.lists(st.integers(0, 8), min_size=1, max_size=3))
def test_doomed_leaves_a_schedule_that_meets_every_deadline(jobs, free):
    """On any number of machines, with or without preferred jobs to give up first: the
    kept jobs all meet their deadlines, nothing is given up when all fit, and a job not
    preferred is given up only while no preferred one is kept before it."""
    js = [(float(d), float(p), k) for k, (d, p, _) in enumerate(jobs)]
    prefer = {k for k, (*_, pref) in enumerate(jobs) if pref}
    fr = [float(f) for f in free]
    for pf in ((), prefer):
        gone = doomed(js, fr, prefer=pf)
        assert len(gone) == len(set(gone))
        assert _on_time([j for j in js if j[2] not in gone], fr)
        if _on_time(js, fr):
            assert gone == []
