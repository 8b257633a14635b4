"""The event-loop helpers: ``sleep_until`` never wakes early, on asyncio's loop and on
uvloop, and the client's open-loop pacing sends no query before its arrival."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from kairos_sdk import Pool, Profile, Workload
from kairos_sdk._loop import SPIN_S, loop_factory, pace_in_thread, run, sleep_until
from kairos_sdk.client import KairosClient, OpenInferenceProtocol
from kairos_sdk.endpoints import serve_pool


def _loops():
    loops = [("asyncio", None)]
    try:
        import uvloop as _uv
    except ImportError:
        return loops
    return loops + [("uvloop", _uv.new_event_loop)]


@pytest.mark.parametrize("name,factory", _loops(), ids=[n for n, _ in _loops()])
@pytest.mark.parametrize("spin_s", [0.0, SPIN_S])
def test_sleep_until_never_wakes_early(name, factory, spin_s):
    async def main():
        late = []
        for k in range(40):
            target = time.perf_counter() + 0.0003 * (k % 7)  # some in the past or due at once
            await sleep_until(target, spin_s)
            late.append(time.perf_counter() - target)
        return np.array(late)

    with asyncio.Runner(loop_factory=factory) as runner:
        late = runner.run(main())
    assert (late >= 0).all()


def test_sleep_until_keeps_the_loop_serving_while_it_yields():
    """Other tasks keep running during the yielding phase (here the whole wait)."""
    async def main():
        ticks = 0

        async def other():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.ensure_future(other())
        await sleep_until(time.perf_counter() + 0.2, spin_s=1.0)
        task.cancel()
        return ticks

    assert asyncio.run(main()) > 1


@pytest.mark.parametrize("name,factory", _loops(), ids=[n for n, _ in _loops()])
def test_pace_in_thread_calls_in_order_never_early(name, factory):
    async def main():
        t0 = time.perf_counter() + 0.01
        dues = t0 + np.sort(np.random.default_rng(0).uniform(0, 0.05, 60))
        dues[5] = dues[4]  # two due at once
        seen = []
        await pace_in_thread(dues, lambda k: seen.append((k, time.perf_counter())))
        return dues, seen

    with asyncio.Runner(loop_factory=factory) as runner:
        dues, seen = runner.run(main())
    assert [k for k, _ in seen] == list(range(len(dues)))
    assert all(t >= dues[k] for k, t in seen)


def test_pace_in_thread_stops_at_the_first_error():
    calls = []

    def call(k):
        calls.append(k)
        if k == 2:
            raise ValueError("boom")

    async def main():
        await pace_in_thread(time.perf_counter() + np.linspace(0, 0.03, 10), call)

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(main())
    time.sleep(0.05)
    assert calls == [0, 1, 2]


def test_loop_factory_honours_the_opt_out(monkeypatch):
    monkeypatch.setenv("KAIROS_EVENT_LOOP", "asyncio")
    assert loop_factory() is None


def test_client_sends_no_query_before_its_arrival():
    """Open loop: every query's pending time (arrival to send) is non-negative and the
    run's latencies count from the scheduled arrivals."""
    prof = Profile.builtin("ncf")

    async def main():
        async with serve_pool(Pool.from_counts({"g4dn.xlarge": 2}), prof, model="ncf", seed=3) as live, \
                KairosClient(live, protocol=OpenInferenceProtocol("ncf"), profile=prof, qos_ms=50) as client:
            return await client.run(Workload.deeprecsys(), rate=200, n_queries=120, seed=4, progress=False)

    r = run(main())
    split = r.breakdown()
    assert r.n_failed == 0
    assert (split["pending_ms"] >= 0).all()
    assert np.allclose(sum(split.values()), r.latencies_ms)


@pytest.mark.parametrize("freeze", [True, False])
def test_a_run_freezes_the_heap_while_it_runs_and_only_then(freeze, monkeypatch):
    import gc

    prof = Profile.builtin("ncf")
    during = []
    monkeypatch.setattr(KairosClient, "freeze_heap", freeze)

    async def main():
        async with serve_pool(Pool.from_counts({"g4dn.xlarge": 1}), prof, model="ncf", seed=3) as live, \
                KairosClient(live, protocol=OpenInferenceProtocol("ncf"), profile=prof, qos_ms=50) as client:
            runs = [client.run(Workload.deeprecsys(), rate=300, n_queries=n, seed=n, progress=False,
                               on_result=lambda _r: during.append(gc.get_freeze_count())) for n in (20, 60)]
            return await asyncio.gather(*runs)  # two overlapping runs: frozen until the last ends

    before = gc.get_freeze_count()
    results = run(main())
    assert all(r.n_failed == 0 for r in results)
    assert len(during) == 80
    assert all((c > 0) == freeze for c in during)
    assert gc.get_freeze_count() == before


def test_an_unknown_schedule_mode_is_a_clear_error(monkeypatch):
    from kairos_sdk.errors import ArgumentError

    prof = Profile.builtin("ncf")
    monkeypatch.setattr(KairosClient, "schedule_mode", "busy-wait")

    async def main():
        async with serve_pool(Pool.from_counts({"g4dn.xlarge": 1}), prof, model="ncf", seed=3) as live, \
                KairosClient(live, protocol=OpenInferenceProtocol("ncf"), profile=prof, qos_ms=50) as client:
            await client.run(Workload.deeprecsys(), rate=100, n_queries=5, seed=1, progress=False)

    with pytest.raises(ArgumentError, match="schedule_mode"):
        run(main())
