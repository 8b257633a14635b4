"""Profile.updated: observed service times folded in per batch size."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos_sdk import Profile, ProfileError


def _prof() -> Profile:
    return Profile.from_dict({"cpu": {10: [1.0, 2.0, 3.0], 20: [2.0, 4.0, 6.0], 30: [3.0, 6.0, 9.0]},
                              "gpu": {10: [5.0, 5.0, 5.0], 30: [6.0, 6.0, 6.0]}})


def test_alpha_one_jumps_to_the_observed_mean_where_there_are_enough_samples():
    p = _prof()
    obs = np.array([2.5] * 20 + [3.5] * 20)  # mean 3.0 at batch 10
    q = p.updated({"cpu": (np.full(40, 10), obs)}, alpha=1.0, min_samples=30)
    assert float(q.latency("cpu", 10, q="mean")) == pytest.approx(3.0)
    # the quantile row keeps its shape: every level scaled by 3.0 / 2.0
    assert float(q.latency("cpu", 10, q=1.0)) == pytest.approx(3.0 * 1.5)
    # batch sizes without samples take the pooled ratio (the only observed one here)
    assert float(q.latency("cpu", 30, q="mean")) == pytest.approx(6.0 * 1.5)
    assert q.latency("gpu", 10, q="mean") == p.latency("gpu", 10, q="mean")


def test_too_few_samples_change_nothing():
    p = _prof()
    q = p.updated({"cpu": (np.full(5, 10), np.full(5, 9.0))}, min_samples=30)
    assert q is p


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 2.0), st.floats(0.05, 1.0), st.integers(1, 6))
def test_repeated_updates_close_the_gap_geometrically(ratio, alpha, rounds):
    p = _prof()
    truth = 4.0 * ratio  # observed mean at batch 20
    q = p
    for _ in range(rounds):
        q = q.updated({"cpu": (np.full(50, 20), np.full(50, truth))}, alpha=alpha, min_samples=10)
    gap = float(q.latency("cpu", 20, q="mean")) - truth
    assert gap == pytest.approx((4.0 - truth) * (1.0 - alpha) ** rounds, abs=1e-9)


def test_observed_batches_count_toward_the_nearest_measured_batch():
    p = _prof()
    q = p.updated({"cpu": (np.array([19, 21] * 15), np.full(30, 8.0))}, alpha=1.0, min_samples=30)
    assert float(q.latency("cpu", 20, q="mean")) == pytest.approx(8.0, rel=0.01)


def test_accepts_an_object_with_a_service_mapping():
    class Obs:
        service = {"gpu": (np.full(30, 10), np.full(30, 6.0))}

    q = _prof().updated(Obs(), alpha=1.0, min_samples=30)
    assert float(q.latency("gpu", 10, q="mean")) == pytest.approx(6.0)


@pytest.mark.parametrize("obs, kw", [
    ({"tpu": ([10], [1.0])}, {}),
    ({"cpu": ([10, 20], [1.0])}, {}),
    ({"cpu": ([10], [1.0])}, {"alpha": 0.0}),
    ({"cpu": ([10], [1.0])}, {"alpha": 1.5}),
    ({"cpu": "nope"}, {}),
])
def test_bad_observations_raise_profile_error(obs, kw):
    with pytest.raises(ProfileError):
        _prof().updated(obs, min_samples=1, **kw)
