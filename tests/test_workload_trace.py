"""RateTrace and Workload.arrivals_over: arrivals follow the trace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos_sdk import RateTrace, Workload, WorkloadError


def _bin_check(trace: RateTrace, seed: int, n_bins: int = 20) -> None:
    _, t_ms = Workload.deeprecsys().arrivals_over(trace, np.random.default_rng(seed))
    edges = np.linspace(0.0, trace.duration_s, n_bins + 1)
    got = np.histogram(t_ms / 1000.0, bins=edges)[0]
    # expected counts by the trapezoid rule on a fine grid (independent of the code's exact integral)
    fine = np.linspace(0.0, trace.duration_s, 200_001)
    r = np.interp(fine, trace.times_s, trace.rates_qps)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (r[1:] + r[:-1]) * np.diff(fine))])
    want = np.diff(np.interp(edges, fine, cum))
    z = (got - want) / np.sqrt(np.maximum(want, 1.0))
    assert np.all(np.abs(z) < 5.0), (got, want)


@pytest.mark.parametrize("trace", [
    RateTrace.step(20.0, 200.0, at_s=30.0, duration_s=60.0),
    RateTrace.spike(50.0, 3.0, at_s=20.0, length_s=10.0, duration_s=60.0),
    RateTrace.diurnal(100.0, period_s=120.0, step_s=1.0, bursts=[(30.0, 10.0, 1.5)]),
    RateTrace.from_table([(0, 0.0), (30, 300.0), (60, 10.0)]),
    RateTrace.from_function(lambda t: 50.0 + 40.0 * np.sin(t / 5.0), 60.0, step_s=0.5),
])
def test_arrivals_follow_the_trace(trace):
    _bin_check(trace, seed=3)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 300.0), min_size=2, max_size=8), st.integers(0, 2**31))
def test_arrival_counts_match_a_random_table(rates, seed):
    if max(rates) <= 1.0:
        rates = [r + 5.0 for r in rates]
    times = np.linspace(0.0, 10.0 * (len(rates) - 1), len(rates))
    trace = RateTrace(times, rates)
    b, t_ms = Workload.deeprecsys().arrivals_over(trace, np.random.default_rng(seed))
    assert b.shape == t_ms.shape
    assert np.all(np.diff(t_ms) >= 0) and (t_ms.size == 0 or (t_ms[0] >= 0 and t_ms[-1] <= trace.duration_s * 1000.0 + 1e-6))
    # no arrival where the rate is zero on both ends of a segment
    for i in range(len(rates) - 1):
        if rates[i] == 0.0 and rates[i + 1] == 0.0:
            inside = (t_ms > times[i] * 1000.0 + 1e-6) & (t_ms < times[i + 1] * 1000.0 - 1e-6)
            assert not inside.any()
    _bin_check(trace, seed, n_bins=len(rates) - 1)


def test_shapes_and_compression():
    day = RateTrace.diurnal(100.0, bursts=[(11 * 3600.0, 600.0, 1.5)])
    assert day.rate_qps(4 * 3600.0) == pytest.approx(25.0)
    assert day.rate_qps(16 * 3600.0) == pytest.approx(100.0)
    t = 11 * 3600.0 + 300.0
    base = 25.0 + 75.0 * 0.5 * (1.0 - np.cos(2.0 * np.pi * (t - 4 * 3600.0) / 86_400.0))
    assert day.rate_qps(t) == pytest.approx(1.5 * base, rel=1e-3)
    assert day.rate_qps(11 * 3600.0 + 601.0) < 1.1 * base  # the burst is over
    short = day.compressed(24.0)
    assert short.duration_s == pytest.approx(3600.0)
    assert short.rate_qps(16 * 150.0) == pytest.approx(100.0)
    assert short.mean_qps == pytest.approx(day.mean_qps)


def test_existing_arrivals_unchanged():
    w = Workload.deeprecsys()
    b1, t1 = w.arrivals(100, 10.0, np.random.default_rng(0))
    b2, t2 = w.sample(100, rate=10.0, rng=np.random.default_rng(0))
    assert np.array_equal(b1, b2) and np.array_equal(t1, t2)


@pytest.mark.parametrize("bad", [
    lambda: RateTrace([1.0, 2.0], [1.0, 1.0]),
    lambda: RateTrace([0.0, 1.0], [-1.0, 1.0]),
    lambda: RateTrace([0.0, 1.0], [0.0, 0.0]),
    lambda: RateTrace.from_table([(0, 1.0)]),
    lambda: RateTrace.step(1.0, 2.0, at_s=5.0, duration_s=3.0),
    lambda: RateTrace.diurnal(100.0, bursts=[(86_000.0, 1000.0, 1.5)]),
    lambda: RateTrace.from_function(3.0, 10.0),
])
def test_bad_traces_raise_workload_error(bad):
    with pytest.raises(WorkloadError):
        bad()
