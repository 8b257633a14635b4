""":func:`measure_profile`: measure a latency :class:`~kairos_sdk.Profile` from live endpoints.

Examples
--------
>>> import asyncio
>>> from kairos_sdk import Pool, Profile
>>> from kairos_sdk.client import OpenInferenceProtocol, measure_profile
>>> from kairos_sdk.endpoints import serve_pool
>>> async def main():
...     truth = Profile.builtin("rm2")
...     pool = Pool.from_counts({"g4dn.xlarge": 1, "t3.xlarge": 1})
...     async with serve_pool(pool, truth, model="rm2", time_scale=0.01) as live:
...         urls = {i.type: i.endpoint for i in live}
...         return await measure_profile(urls, [10, 100], repeats=3, protocol=OpenInferenceProtocol("rm2"),
...                                      time_scale=0.01, progress=False)
>>> measured = asyncio.run(main())
>>> measured.instance_types, measured.batch_sizes("t3.xlarge").tolist()
(('g4dn.xlarge', 't3.xlarge'), [10, 100])
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from .._checks import non_negative_int, positive_int
from .._progress import progress_bar
from ..errors import ArgumentError
from ..overhead import Overhead
from ..pool import Instance, Pool
from ..profile import Profile
from .core import KairosClient
from .protocols import InferenceProtocol

__all__ = ["measure_profile"]


async def measure_profile(
    endpoints_by_type: Mapping[str, str | Sequence[str]],
    batch_sizes: Sequence[int],
    repeats: int = 10,
    *,
    protocol: InferenceProtocol,
    warmup: int = 1,
    progress: bool | None = None,
    time_scale: float = 1.0,
    split_overhead: bool = True,
    **client_options: Any,
) -> Profile:
    """Measure each instance type's latency at each batch size through the client.

    Every endpoint serves one request at a time (no queueing in the measurement); the
    ``repeats`` requests of a type are spread over that type's endpoints, which are measured
    in parallel. Batch sizes are interleaved so slow drift does not bias one size.

    When every endpoint reports its compute time (a ``Server-Timing`` header with a
    ``service`` or ``compute`` entry, as the replay endpoints send), the profile holds that
    compute time and carries the rest of each round trip as its per-query
    :class:`~kairos_sdk.overhead.Overhead` (``profile.overhead``), which the planner, the
    simulator and the policies add back. Otherwise (or with ``split_overhead=False``) the
    latency recorded is the client-side round trip, HTTP included — what a query sees —
    and the profile carries no separate overhead.

    Parameters
    ----------
    endpoints_by_type : ``{instance type: URL or [URLs]}``.
    batch_sizes : batch sizes to measure (synthetic inputs of the protocol's shape).
    repeats : measurements per (type, batch size).
    protocol : how to talk to the endpoints.
    warmup : unrecorded requests per endpoint first (at the largest batch size).
    progress : tqdm progress bar (default: when stderr is a terminal or in Jupyter).
    time_scale : as for :class:`KairosClient` (replay endpoints run faster than real time).
    split_overhead : split each round trip into the server's compute and the overhead when
        the server reports its compute (default), else record round trips.
    client_options : passed to :class:`KairosClient` (``token``: a string or an ``Auth``,
        ``timeout_s`` (seconds or a ``Timeouts``), ``concurrency``, ``retry``, ...).

    Returns
    -------
    Profile
        ready for the :class:`~kairos_sdk.planner.Planner` (model name from the protocol).
    """
    instances, sizes, repeats, warmup = _check_profiling_args(endpoints_by_type, batch_sizes, repeats, warmup)
    pool = Pool(instances)

    work = _deal_work(instances, sizes, repeats)
    total = sum(len(w) for w in work) + warmup * len(instances)
    records: list[dict[str, Any]] = []
    timings: list[tuple[float, float, float] | None] = []
    bar = progress_bar(total, progress=progress, desc="profiling", unit="q")

    async with KairosClient(pool, protocol=protocol, time_scale=time_scale, **client_options) as client:

        async def measure(k: int) -> None:
            inst = instances[k]
            for _ in range(warmup):
                await client._send_pinned(k, client._body_for_batch(sizes[-1]))
                if bar is not None:
                    bar.update(1)
            for b in work[k]:
                _, ms, timing = await client._send_pinned(k, client._body_for_batch(b))
                records.append({"instance": inst.type, "batch": b, "latency_ms": ms})
                timings.append(timing)
                if bar is not None:
                    bar.update(1)

        try:
            await asyncio.gather(*(measure(k) for k in range(len(instances))))
        finally:
            if bar is not None:
                bar.close()
    desc = ", ".join(f"{t} x{n}" for t, n in pool.counts.items())
    source = f"measured live ({desc}; {repeats} repeats)"
    if not split_overhead or any(t is None for t in timings):
        return Profile.from_records(records, model=protocol.model, source=source)
    return _split_profile(records, timings, protocol.model, source)


def _split_profile(records: list[dict[str, Any]], timings: list[tuple[float, float, float]], model: str | None,
                   source: str) -> Profile:
    """The profile of the server's reported compute times, carrying as its overhead the rest
    of each round trip (wire, HTTP framing, server queue, client CPU)."""
    wire = [max(r["latency_ms"] - compute, 0.0) for r, (_, compute, _) in zip(records, timings)]
    compute_records = [{**r, "latency_ms": compute} for r, (_, compute, _) in zip(records, timings)]
    prof = Profile.from_records(compute_records, model=model, source=source + ", server-reported compute")
    return prof.with_overhead(Overhead.from_samples(wire, source=f"measured live ({len(wire)} round trips)"))


def _check_profiling_args(endpoints_by_type: Any, batch_sizes: Any, repeats: Any,
                          warmup: Any) -> tuple[list[Instance], list[int], int, int]:
    """The instances to measure (one per URL), the sorted distinct batch sizes, repeats and warmup."""
    if not isinstance(endpoints_by_type, Mapping) or not endpoints_by_type:
        raise ArgumentError("endpoints_by_type must be a non-empty {instance type: URL or [URLs]}")
    instances = []
    for t, urls in endpoints_by_type.items():
        url_list = [urls] if isinstance(urls, str) else list(urls)
        if not url_list:
            raise ArgumentError(f"instance type {t!r} has no endpoint URL")
        instances.extend(Instance(f"{t}-{k}", str(t), u) for k, u in enumerate(url_list))
    try:
        sizes = sorted({int(b) for b in batch_sizes})
    except (TypeError, ValueError):
        raise ArgumentError(f"batch_sizes must be positive integers, got {batch_sizes!r}") from None
    if not sizes or sizes[0] < 1:
        raise ArgumentError(f"batch_sizes must be a non-empty list of positive integers, got {batch_sizes!r}")
    return instances, sizes, positive_int(repeats, "repeats"), non_negative_int(warmup, "warmup")


def _deal_work(instances: list[Instance], sizes: list[int], repeats: int) -> list[list[int]]:
    """Batch sizes to send per endpoint: the repeats of each type dealt round-robin over its
    endpoints, batch sizes interleaved."""
    work: list[list[int]] = [[] for _ in instances]
    for t in dict.fromkeys(i.type for i in instances):
        idx = [k for k, i in enumerate(instances) if i.type == t]
        j = 0
        for _ in range(repeats):
            for b in sizes:
                work[idx[j % len(idx)]].append(b)
                j += 1
    return work
