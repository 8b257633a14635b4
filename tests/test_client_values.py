"""measure_profile against replay endpoints whose latencies are known exactly: what it
measures is the replayed latency (in profile milliseconds) under the right type and batch
size, plus HTTP time, never less."""

from __future__ import annotations

from kairos_sdk import Pool, Profile
from kairos_sdk.client import OpenInferenceProtocol, measure_profile
from kairos_sdk.endpoints import serve_pool

#: one sample per series: the replay endpoints sleep exactly this long (times the time scale)
REPLAYED = {"a": {10: 30.0, 100: 120.0}, "b": {10: 60.0, 100: 240.0}}
SCALE = 0.5


async def test_measure_profile_measures_the_replayed_latencies():
    prof = Profile.from_dict({t: {b: [ms] for b, ms in by.items()} for t, by in REPLAYED.items()})
    async with serve_pool(Pool.from_counts({"a": 1, "b": 1}), prof, model="m", time_scale=SCALE) as live:
        urls = {inst.type: inst.endpoint for inst in live}
        measured = await measure_profile(urls, [10, 100], repeats=3, protocol=OpenInferenceProtocol("m"),
                                         time_scale=SCALE, progress=False)
    assert measured.instance_types == ("a", "b")
    for t, by in REPLAYED.items():
        assert measured.batch_sizes(t).tolist() == [10, 100]
        for b, ms in by.items():
            fastest = float(measured.latency(t, b, q=0.0))
            # never below the replayed time (the endpoint aims up to 2 real ms early, to
            # make up for the event loop waking a sleeper late: 4 profile ms at this scale)
            assert fastest >= ms - 2.0 / SCALE - 0.5, (t, b, fastest, ms)
    # the slow type's batch 100 (240 ms) is measured above the fast type's (120 ms)
    assert float(measured.latency("b", 100, q=0.5)) > float(measured.latency("a", 100, q=0.5))
