from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos_sdk import ArgumentTypeError, Workload, WorkloadError


def _generate_like_the_paper(n: int, rng: np.random.Generator) -> np.ndarray:
    """An independent generator written from the data README's description."""
    r = rng.integers(1, 100, size=n)
    ln = rng.lognormal(5.1, 0.2, size=n)
    out = np.where(
        r <= 8,
        rng.integers(1, 100, size=n),
        np.where(r <= 30, rng.integers(200, 600, size=n), np.where(r <= 35, rng.integers(600, 1000, size=n), 0)),
    ).astype(float)
    repl = rng.integers(190, 200, size=n)
    lnc = np.where((ln >= 100) & (ln <= 200), ln, repl)
    out = np.where(r > 35, lnc, out)
    return (np.ceil(out / 10) * 10).astype(int)


def test_deeprecsys_class_probabilities_match_documented_mix():
    w = Workload.deeprecsys()
    assert w.probs.sum() == pytest.approx(1.0)
    # class 1 (uniform 1-99) rounds to 10..100 and nothing else lands there
    assert w.probability(hi=100) == pytest.approx(8 / 99, abs=1e-12)
    # class 3 (uniform 600-999): 601..999 round to 610..1000; 600 itself lands with class 2
    assert w.probability(610, 1000) == pytest.approx(5 / 99 * 399 / 400, abs=1e-12)
    # classes 2 and 4 together fill 110..600 except class 3's exact-600 draws
    assert w.probability(110, 600) == pytest.approx((22 + 64) / 99 + 5 / 99 / 400, abs=1e-12)


def test_deeprecsys_sampling_matches_an_independent_generator():
    rng = np.random.default_rng(7)
    n = 200_000
    ours = Workload.deeprecsys().sample_batches(n, rng)
    ref = _generate_like_the_paper(n, np.random.default_rng(8))
    for lo, hi in [(10, 100), (110, 190), (200, 200), (210, 600), (610, 1000)]:
        p_ours = np.mean((ours >= lo) & (ours <= hi))
        p_ref = np.mean((ref >= lo) & (ref <= hi))
        se = np.sqrt(p_ref * (1 - p_ref) / n) * np.sqrt(2)
        assert abs(p_ours - p_ref) < 4 * se + 1e-9, (lo, hi, p_ours, p_ref)
    assert ours.mean() == pytest.approx(ref.mean(), rel=0.01)


def test_sample_poisson_arrivals(rng):
    w = Workload.deeprecsys()
    b, t = w.sample(50_000, rate=200.0, rng=rng)
    gaps = np.diff(np.concatenate([[0.0], t]))
    assert gaps.mean() == pytest.approx(5.0, rel=0.02)
    assert gaps.std() == pytest.approx(5.0, rel=0.03)  # exponential: std == mean
    assert set(np.unique(b)) <= set(w.batch_sizes.tolist())


def test_seeded_sampling_reproduces():
    w = Workload.deeprecsys()
    a = w.sample(100, rate=10.0, rng=np.random.default_rng(3))
    b = w.sample(100, rate=10.0, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_fixed_and_from_trace():
    assert Workload.fixed(100).mean_batch == 100
    w = Workload.from_trace([10, 20, 20, 30])
    np.testing.assert_allclose(w.probs, [0.25, 0.5, 0.25])
    timed = Workload.from_trace([10, 20, 30], timestamps=[0.0, 1.0, 3.0])
    b, t = timed.sample(6, rate=2.0, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(b, [10, 20, 30, 10, 20, 30])
    # gaps 1 s, 2 s, mean-filled 1.5 s scaled to a mean gap of 500 ms
    np.testing.assert_allclose(np.diff(np.concatenate([[0], t]))[:3], [1000 / 3, 2000 / 3, 500.0])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: Workload(np.array([10, 10]), np.array([0.5, 0.5])), "strictly increasing"),
        (lambda: Workload(np.array([0]), np.array([1.0])), "positive integers"),
        (lambda: Workload(np.array([10]), np.array([-1.0])), "non-negative"),
        (lambda: Workload(np.array([10, 20]), np.array([1.0])), "equal length"),
        (lambda: Workload.from_trace([]), "empty"),
        (lambda: Workload.from_trace([10, -2]), "trace entry 1"),
        (lambda: Workload.from_trace([10, 20], timestamps=[1.0]), "timestamps for 2"),
        (lambda: Workload.from_trace([10, 20], timestamps=[2.0, 1.0]), "non-decreasing"),
        (lambda: Workload.deeprecsys().sample(10, rate=0, rng=np.random.default_rng(0)), "rate must be a positive"),
        (lambda: Workload.deeprecsys().sample(0, rate=1.0, rng=np.random.default_rng(0)), "n must be a positive"),
        (lambda: Workload.deeprecsys(round_to=0), "round_to"),
        (lambda: Workload.from_distribution({}), "empty"),
    ],
)
def test_validation(call, match):
    with pytest.raises(WorkloadError, match=match):
        call()


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator.*got int"):
        Workload.deeprecsys().sample(10, rate=1.0, rng=1)
    with pytest.raises(TypeError, match="round_to must be an integer, got '10'"):
        Workload.deeprecsys(round_to="10")
    with pytest.raises(TypeError, match="probs_by_batch must be a .*Mapping.*got list"):
        Workload.from_distribution([10, 20])


def test_repr():
    assert repr(Workload.deeprecsys()) == (
        "Workload('deeprecsys', batch 10..1000 over 100 sizes, mean 243.6, Poisson arrivals)"
    )
    assert "p50=" in Workload.deeprecsys()._repr_html_()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rate=st.floats(0.01, 1e5), n=st.integers(1, 300),
       timed=st.booleans())
def test_arrivals_are_the_same_queries_at_every_rate(seed, rate, n, timed):
    """Common random numbers: the same generator state gives the same batch sizes at any
    rate, and arrival times that are the 1000-qps draws (1 ms mean gap) scaled to the rate."""
    w = Workload.from_trace([10, 20, 30], timestamps=[0.0, 1.0, 3.0]) if timed else Workload.deeprecsys()
    b, t = w.arrivals(n, rate, np.random.default_rng(seed))
    b_unit, t_unit = w.arrivals(n, 1000.0, np.random.default_rng(seed))
    np.testing.assert_array_equal(b, b_unit)
    np.testing.assert_array_equal(t, t_unit * (1000.0 / rate))
    assert b.dtype == np.int64 and t.shape == (n,) and np.all(np.diff(t) >= 0) and t[0] > 0
    # the older spelling draws the very same queries
    b_old, t_old = w.sample(n, rate=rate, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(b_old, b)
    np.testing.assert_array_equal(t_old, t)


@pytest.mark.parametrize("rate", [0, -1.0, float("nan"), float("inf")])
def test_arrivals_rejects_a_bad_rate(rate):
    with pytest.raises(WorkloadError, match="rate_qps must be a positive"):
        Workload.deeprecsys().arrivals(5, rate, np.random.default_rng(0))


@pytest.mark.parametrize("rate", [True, "5", None])
def test_arrivals_rejects_a_rate_of_the_wrong_type(rate):
    with pytest.raises(ArgumentTypeError, match="rate_qps must be a number"):
        Workload.deeprecsys().arrivals(5, rate, np.random.default_rng(0))
    with pytest.raises(ArgumentTypeError, match="rate must be a number"):
        Workload.deeprecsys().sample(5, rate=rate, rng=np.random.default_rng(0))
