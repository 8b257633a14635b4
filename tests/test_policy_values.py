"""Each policy's name and repr as the user reads them (in run results, the CLI and the
registry), checked against the literal values, not only their type."""

from __future__ import annotations

import pytest

from kairos_sdk import Profile, Workload, simulate
from kairos_sdk.distribute import (
    FCFSPolicy,
    KairosPolicy,
    LeastWorkPolicy,
    PaperPolicy,
    Policy,
    RoundRobinPolicy,
    policy_from_name,
    policy_names,
)

CASES = [
    (FCFSPolicy, "fcfs", "FCFSPolicy()"),
    (RoundRobinPolicy, "round-robin", "RoundRobinPolicy()"),
    (LeastWorkPolicy, "least-work", "LeastWorkPolicy()"),
    (PaperPolicy, "paper", "PaperPolicy(window=2N, safeguard=2%)"),
    (KairosPolicy, "kairos", "KairosPolicy(feasible_q=0.9, laxity_weight=0.5, weighting='lp', method='assignment')"),
    (lambda: KairosPolicy(method="networkx"), "kairos-networkx",
     "KairosPolicy(feasible_q=0.9, laxity_weight=0.5, weighting='lp', method='networkx')"),
    (lambda: KairosPolicy(shed=True), "kairos-shed",
     "KairosPolicy(feasible_q=0.9, laxity_weight=0.5, weighting='lp', method='assignment', shed=True)"),
]


@pytest.mark.parametrize(("make", "name", "text"), CASES, ids=[c[1] for c in CASES])
def test_policy_conforms_to_protocol_with_its_documented_name_and_repr(make, name, text):
    pol = make()
    assert isinstance(pol, Policy)
    assert pol.name == name and repr(pol) == text
    # the name is what a run reports
    r = simulate({"g4dn.xlarge": 1, "r5n.large": 1}, Profile.builtin("rm2"), Workload.fixed(100), pol,
                 rate=5.0, qos_ms=350, n_queries=20, seed=0)
    assert r.policy == name


@pytest.mark.parametrize("name", policy_names())
def test_a_registered_policy_reports_the_name_it_was_built_from(name):
    """Every registered name round-trips: a result's ``policy`` rebuilds its policy."""
    assert policy_from_name(name).name == name
