"""KairosPolicy's cost terms against hand computations: the regret (type weighting) changes
a decision and is right to, each cost is the documented formula of the profile's figures,
and the speed weights are the documented ratio."""

from __future__ import annotations

import numpy as np
import pytest

from kairos_sdk import Profile, Workload
from kairos_sdk.distribute import Dispatcher, DispatchState, KairosPolicy

GPU, CPU = "g4dn.xlarge", "r5n.large"
QOS = 350.0
NOW = 10_000.0


@pytest.fixture(scope="module")
def rm2() -> Profile:
    return Profile.builtin("rm2")


def _mean(prof: Profile, t: str, b: int) -> float:
    return float(prof.latency(t, b, q="mean", extrapolate=True))


def _q(prof: Profile, t: str, b: int, q: float) -> float:
    return float(prof.latency(t, b, q=q, extrapolate=True))


def _state(batches, rooms, busy_until, idle) -> DispatchState:
    """Pending queries (oldest first) with ``rooms`` ms left before QoS; ``idle`` marks the
    instances with a free slot."""
    n = len(busy_until)
    return DispatchState(
        now_ms=NOW, pending_batch=list(batches), pending_arrival_ms=[NOW - (QOS - r) for r in rooms],
        busy_until_ms=np.array(busy_until, dtype=float), free_slots=np.array(idle, dtype=int),
        queue_len=np.zeros(n, dtype=int), available=np.ones(n, dtype=bool))


def _hits_when_gpu_takes_first(prof, first, other, rooms, cpu_free_ms, q) -> int:
    """Tiny brute force of one GPU and one CPU: the GPU starts ``first`` now; ``other`` then
    goes to whichever instance finishes it sooner (the CPU frees at ``cpu_free_ms``), if that
    type serves its batch size in time at all. Latencies at quantile ``q``. Hits counted."""
    batch, room = dict(zip(("a", "b"), BATCHES)), dict(zip(("a", "b"), rooms))
    gpu_done = _q(prof, GPU, batch[first], q)
    hits = int(gpu_done <= room[first])
    on_gpu = gpu_done + _q(prof, GPU, batch[other], q)
    on_cpu = cpu_free_ms + _q(prof, CPU, batch[other], q) if _q(prof, CPU, batch[other], 0.99) <= QOS else np.inf
    return hits + int(min(on_gpu, on_cpu) <= room[other])


#: Query "a": a small batch both types serve in time, 82.2 ms left; query "b": batch 1000,
#: which only the GPU serves within 350 ms (the r5n takes ~405 ms), 263 ms left.
BATCHES = (10, 1000)
ROOMS = (82.2, 263.0)
CPU_FREE_MS = 20.0  # the r5n is busy for 20 more ms


def test_cost_weighting_keeps_the_gpu_for_the_batch_only_it_serves_in_time(rm2):
    """One idle GPU, a busy r5n, two pending queries. The laxity and shortest-job terms alone
    prefer the small query on the GPU (cheaper by 0.84 ms); its regret there (1.65 ms: GPU
    time is dearer than r5n time, by the LP prices) tips the choice to batch 1000. That is right: the
    GPU is the only type serving batch 1000 in time and has just enough room for it now,
    while the small query waits 20 ms for the r5n and still makes it. A brute force of both
    choices at the mean, p90 and p99 latencies counts 2 hits for the weighted choice, 1 for
    the other (batch 1000 started after the small query finishes at ~266 ms > 263 ms)."""
    pol = KairosPolicy()
    Dispatcher(pol, [GPU, CPU], rm2, qos_ms=QOS, workload=Workload.deeprecsys())  # prepares pol
    state = _state(BATCHES, ROOMS, busy_until=[NOW, NOW + CPU_FREE_MS], idle=[1, 0])
    assert [tuple(map(int, p)) for p in pol.decide(state)] == [(1, 0)]  # batch 1000 -> the GPU

    # the two costs on the GPU by hand: regret + 0.5 x (room - p90 latency) + 0.15 x mean
    w = pol.type_weights
    assert w[GPU] == 1.0 and 0.6 < w[CPU] < 0.7  # (their values: tests/test_distribute.py, dense LP)
    regret_small = w[GPU] * _mean(rm2, GPU, 10) - min(w[GPU] * _mean(rm2, GPU, 10), w[CPU] * _mean(rm2, CPU, 10))
    lax = [0.5 * (r - _q(rm2, GPU, b, 0.9)) + 0.15 * _mean(rm2, GPU, b) for b, r in zip(BATCHES, ROOMS)]
    assert lax[0] < lax[1] < lax[0] + regret_small, "unweighted the small query would win the GPU"
    cost, rows, cols = pol.cost_matrix(state)
    assert (rows, cols) == ([0, 1], [0])
    assert cost[:, 0].tolist() == [round(1000 * (regret_small + lax[0])), round(1000 * lax[1])]

    # the weighted choice is right: an independent brute force of both choices
    for q in ("mean", 0.9, 0.99):
        big_first = _hits_when_gpu_takes_first(rm2, "b", "a", ROOMS, CPU_FREE_MS, q)
        small_first = _hits_when_gpu_takes_first(rm2, "a", "b", ROOMS, CPU_FREE_MS, q)
        assert (big_first, small_first) == (2, 1), q


# ---------------------------------------------------------------------------- the costs by hand
def _hand_costs(prof, types, names, w, batches, rooms, cols, *, q_run=0.99):
    """KairosPolicy's documented pair cost (µs, ``inf`` forbidden) with ``set_aside="late"``:
    capable = p99 latency within QoS (else every type); safe pair = p90 within the room on a
    capable type: regret + 0.5 (room - p90) + 0.15 mean; risky = mean within the room: 1000 +
    regret; hopeless (room below every type's mean): 1e9 + weighted mean on capable types."""
    out = np.full((len(batches), len(cols)), np.inf)
    for i, (b, room) in enumerate(zip(batches, rooms)):
        mean = {t: _mean(prof, t, b) for t in names}
        cap = [t for t in names if _q(prof, t, b, q_run) <= QOS] or list(names)
        best = min(w[t] * mean[t] for t in cap)
        for j, inst in enumerate(cols):
            t = types[inst]
            regret = max(w[t] * mean[t] - best, 0.0)
            q90 = _q(prof, t, b, 0.9)
            if room < min(mean.values()):
                out[i, j] = round(1e9 + 1000 * w[t] * mean[t]) if t in cap else np.inf
            elif t in cap and q90 <= room:
                out[i, j] = round(1000 * (regret + 0.5 * (room - q90) + 0.15 * mean[t]))
            elif t in cap and mean[t] <= room:
                out[i, j] = round(1000 * (1000.0 + regret))
            # else: forbidden
    return out


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("n_pending", [3, 40])  # the scalar path and the vectorized one
def test_kairos_costs_are_the_documented_formula(seed, n_pending, rm2):
    """Every cell of the cost matrix the matching solves (both solvers get this matrix, so
    their agreement does not test it) equals the documented formula evaluated by hand from
    the profile and the weights."""
    rng = np.random.default_rng(seed)
    types = list(rng.choice(rm2.instance_types, size=int(rng.integers(2, 8))))
    pol = KairosPolicy(set_aside="late")
    d = Dispatcher(pol, types, rm2, qos_ms=QOS, workload=Workload.deeprecsys())
    batches = rng.choice([1, 10, 100, 200, 300, 500, 700, 900, 1000], size=n_pending).tolist()
    rooms = np.sort(rng.uniform(-50, QOS, size=n_pending)).tolist()  # oldest first
    state = _state(batches, rooms, busy_until=[NOW] * len(types), idle=[1] * len(types))
    cost, rows, cols = pol.cost_matrix(state)
    assert rows == list(range(n_pending)) and cols == list(range(len(types)))
    expect = _hand_costs(rm2, types, d.ctx.type_names, pol.type_weights, batches, rooms, cols)
    np.testing.assert_array_equal(cost, expect)


# ---------------------------------------------------------------------------- speed weights
@pytest.mark.parametrize("model", ["rm2", "wnd", "dien"])
def test_speed_weights_are_the_fastest_latency_at_the_largest_common_batch_over_each(model):
    """Without a workload (or with ``weighting="speed"``) a type's weight is the fastest
    type's mean latency at the largest batch size every type measured, over its own; the
    ``weights`` factors multiply it."""
    prof = Profile.builtin(model)
    names = sorted(prof.instance_types)
    ref = min(max(prof.batch_sizes(t)) for t in names)
    lat = {t: _mean(prof, t, ref) for t in names}
    expect = {t: min(lat.values()) / lat[t] for t in names}
    assert sorted(expect.values())[0] < 0.9  # the types differ: the ratio is not all ones
    for pol, wl in ((KairosPolicy(), None), (KairosPolicy(weighting="speed"), Workload.deeprecsys())):
        Dispatcher(pol, names, prof, qos_ms=QOS, workload=wl)
        assert pol.type_weights == pytest.approx(expect, rel=1e-12)
    scaled = KairosPolicy(weighting="speed", weights={names[0]: 3.0})
    Dispatcher(scaled, names, prof, qos_ms=QOS)
    assert scaled.type_weights == pytest.approx({**expect, names[0]: 3.0 * expect[names[0]]}, rel=1e-12)


def test_speed_weights_compare_at_the_largest_batch_every_type_measured():
    """A type measured up to batch 100 and one up to 1000: the weights compare both at 100
    (by hand: gpu 2 ms, cpu 8 ms there → 1 and 2/8), not at 1000 where the cpu is extrapolated."""
    prof = Profile.from_dict({"cpu": {10: [1.0], 100: [8.0]}, "gpu": {10: [1.0], 100: [2.0], 1000: [40.0]}})
    pol = KairosPolicy(weighting="speed")
    Dispatcher(pol, ["cpu", "gpu"], prof, qos_ms=QOS)
    assert pol.type_weights == pytest.approx({"cpu": 0.25, "gpu": 1.0}, rel=1e-12)
