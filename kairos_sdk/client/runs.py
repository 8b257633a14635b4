"""Load runs, the client's side: draw a run's queries, send each at its arrival time, and
record how every one ended in a :class:`~kairos_sdk.results.RunResult`.

The queries are drawn by :meth:`Workload.arrivals <kairos_sdk.Workload.arrivals>`, the very
function :func:`~kairos_sdk.simulate` draws with, so a live run and a simulation with the same
seed see the same batch sizes at the same arrival times.

Internal: :class:`_Runs` is a mixin of :class:`~kairos_sdk.client.KairosClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._checks import instance_of, positive_float, positive_int
from .._loop import SPIN_S, pace_in_thread, sleep_until
from .._progress import progress_bar
from ..errors import ArgumentError, ArgumentTypeError
from ..overhead import PARTS
from ..results import RunResult
from ..workload import Workload
from .replies import QueryFailed, Reply, _Query
from .transport import display_url

__all__: list[str] = []

log = logging.getLogger("kairos_sdk.client")


def draw_queries(workload: Workload, rate: float, *, n_queries: int | None, duration_s: float | None,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Batch sizes and arrival times (ms) of a run: ``n_queries`` queries, or every query
    arriving within ``duration_s``, drawn by ``workload.arrivals`` at ``rate``."""
    if n_queries is not None:
        return workload.arrivals(int(n_queries), rate, rng)
    assert duration_s is not None
    end_ms = duration_s * 1000.0
    n_est = int(rate * duration_s * 1.2 + 10 * math.sqrt(rate * duration_s) + 10)
    batches, arrivals = workload.arrivals(n_est, rate, rng)
    while arrivals[-1] <= end_ms:  # rarely: more arrived in time than expected
        b2, a2 = workload.arrivals(n_est, rate, rng)
        batches, arrivals = np.concatenate([batches, b2]), np.concatenate([arrivals, a2 + arrivals[-1]])
    keep = arrivals <= end_ms
    return batches[keep], arrivals[keep]


class _RunRecord:
    """How each query of one run ended, filled in as their futures resolve."""

    def __init__(self, arrivals_ms: np.ndarray, loop: asyncio.AbstractEventLoop, bar: Any,
                 on_result: Callable[[Reply | QueryFailed], Any] | None) -> None:
        n = int(arrivals_ms.size)
        self.arrivals_ms = arrivals_ms
        self.latencies_ms = np.full(n, np.nan)
        self.instance = np.full(n, -1, dtype=np.int64)
        self.attempts = np.zeros(n, dtype=np.int64)
        self.end_ms = np.full(n, np.nan)
        self.failures: list[tuple[int, str]] = []
        self.queries: list[_Query] = []
        self.remaining = n
        self.all_done = loop.create_future()
        self.bar = bar
        self.on_result = on_result
        self.t_start = 0.0

    def ended(self, k: int, fut: asyncio.Future, now: float) -> None:
        """Query ``k``'s future resolved (or was cancelled) at client time ``now``."""
        if fut.cancelled():
            self.failures.append((k, "cancelled: the query's future was cancelled"))
            self.end_ms[k] = now - self.t_start
        else:
            res = fut.result()
            self.attempts[k] = res.attempts
            if isinstance(res, Reply):
                self.latencies_ms[k] = res.latency_ms
                self.instance[k] = res.instance
            else:
                self.failures.append((k, f"{res.kind}: {res.reason}"))
            self.end_ms[k] = self.arrivals_ms[k] + res.latency_ms
            if self.bar is not None:
                self.bar.update(1)
            self._tell(res)
        self.remaining -= 1
        if self.remaining == 0 and not self.all_done.done():
            self.all_done.set_result(None)

    def _tell(self, res: Reply | QueryFailed) -> None:
        if self.on_result is not None:
            try:
                self.on_result(res)
            except Exception:
                log.exception("on_result callback failed on query %d", res.query_id)

    @property
    def finish_ms(self) -> float:
        return float(np.nanmax(self.end_ms)) if self.end_ms.size else 0.0


class _Runs:
    """``run``'s loop: pace the arrivals, wait for every query, build the RunResult."""

    #: how the open-loop pacing wakes up for each arrival: ``"thread"`` (default: a pacing
    #: thread's timed waits, precise to tens of µs, handed to the loop), ``"spin"`` (the loop's
    #: timer until ``schedule_spin_s`` before the arrival, then yield to the loop until due) or
    #: ``"timer"`` (the loop's timer only, which wakes up to a millisecond late: epoll rounds
    #: its timeout up to whole ms). A late wake-up counts as latency in an open-loop run;
    #: ``benchmarks/replay_timer.py`` measures the three side by side.
    schedule_mode: str = "thread"
    schedule_spin_s: float = SPIN_S
    #: freeze the objects that exist when a run starts out of the garbage collector's reach
    #: for the run (``gc.freeze()``, undone by ``gc.unfreeze()`` when the last run ends): a
    #: full collection then scans only what the run creates. Without it a full collection of
    #: a process with numpy, aiohttp and the planner loaded stopped the loop for 69 ms in a
    #: 213 qps mtwnd run, late queries against a 25 ms target (p99 58 ms; measured with
    #: ``gc.callbacks``). Set False to leave the collector alone.
    freeze_heap: bool = True

    async def _run_arrivals(self, batches: np.ndarray, arrivals_ms: np.ndarray, *, rate: float, progress: bool | None,
                            on_result: Callable[[Reply | QueryFailed], Any] | None = None) -> RunResult:
        assert self._loop is not None
        bar = progress_bar(int(batches.size), progress=progress, desc=f"live {self._policy_name()} @ {rate:g} qps", unit="q")
        rec = _RunRecord(arrivals_ms, self._loop, bar, on_result)
        busy0 = self._busy_real_s.copy()
        wall0 = time.perf_counter()
        try:
            with _heap_frozen(self.freeze_heap):
                await self._submit_on_schedule(batches, rec)
                await rec.all_done
        except asyncio.CancelledError:
            for q in rec.queries:
                self._abandon(q, "cancelled", "the run was cancelled")
            raise
        finally:
            if bar is not None:
                bar.close()
        return self._run_result(rec, batches, rate=rate, busy_ms=(self._busy_real_s - busy0) * 1000.0 / self.time_scale,
                                wall_s=time.perf_counter() - wall0)

    async def _submit_on_schedule(self, batches: np.ndarray, rec: _RunRecord) -> None:
        """Submit query ``k`` when the run's clock reaches ``rec.arrivals_ms[k]`` (open loop)."""
        rec.t_start = t_start = self._now()
        real0 = self._t0 + t_start * self.time_scale / 1000.0
        dues = real0 + rec.arrivals_ms * (self.time_scale / 1000.0)

        def submit(k: int) -> None:
            b = int(batches[k])
            q = self._submit_body(self._body_for_batch(b), b, t_start + float(rec.arrivals_ms[k]))
            rec.queries.append(q)
            q.future.add_done_callback(lambda f, k=k: rec.ended(k, f, self._now()))

        if self.schedule_mode not in ("thread", "spin", "timer"):
            raise ArgumentError(f"schedule_mode must be 'thread', 'spin' or 'timer', got {self.schedule_mode!r}")
        if self.schedule_mode == "thread":
            await pace_in_thread(dues, submit)
            return
        for k in range(int(batches.size)):
            if dues[k] > time.perf_counter():
                await sleep_until(dues[k], self.schedule_spin_s if self.schedule_mode == "spin" else 0.0)
            submit(k)

    def _run_result(self, rec: _RunRecord, batches: np.ndarray, *, rate: float, busy_ms: np.ndarray,
                    wall_s: float) -> RunResult:
        return RunResult(
            latencies_ms=rec.latencies_ms,
            batch=batches.copy(),
            arrival_ms=rec.arrivals_ms.copy(),
            instance=rec.instance,
            instance_ids=tuple(i.id for i in self.pool),
            instance_types=self.pool.types,
            busy_ms=busy_ms,
            duration_ms=rec.finish_ms,
            qos_ms=self.qos_ms,
            percentile=self.percentile,
            rate_qps=rate,
            policy=str(self._policy_name()),
            attempts=rec.attempts,
            failures=tuple(sorted(rec.failures)),
            source="live",
            extra={"time_scale": self.time_scale, "wall_s": wall_s,
                   "endpoints": tuple(display_url(u) for u in self._urls),
                   "breakdown": _breakdown(rec)},
        )


_FROZEN_RUNS = 0  # runs in this process holding the heap frozen


@contextlib.contextmanager
def _heap_frozen(on: bool) -> Iterator[None]:
    """``gc.freeze()`` for the first of overlapping runs, ``gc.unfreeze()`` after the last."""
    global _FROZEN_RUNS
    if not on:
        yield
        return
    if _FROZEN_RUNS == 0:
        gc.freeze()
    _FROZEN_RUNS += 1
    try:
        yield
    finally:
        _FROZEN_RUNS -= 1
        if _FROZEN_RUNS == 0:
            gc.unfreeze()


def _breakdown(rec: _RunRecord) -> dict[str, np.ndarray]:
    """Per query, where its latency went (see :func:`kairos_sdk.overhead.breakdown`): in the
    client until its last attempt was sent (its own work: from the arrival to the dispatcher
    and from the placement to the send; the rest waiting for an instance), then on the
    connection, split by what the server reports (``Server-Timing``) into wire, server queue,
    server extra and compute. ``nan`` for failed queries; without a server report
    ``wire_ms`` is the whole time on the connection."""
    n = rec.latencies_ms.size
    out = {k: np.full(n, np.nan) for k in PARTS}
    for k, q in enumerate(rec.queries):
        if not np.isfinite(rec.latencies_ms[k]):
            continue
        conn = q.back_ms - q.sent_ms
        before = q.sent_ms - q.arrival_ms
        own = max(q.ready_ms - q.arrival_ms, 0.0) + max(q.sent_ms - q.placed_ms, 0.0)
        out["client_ms"][k] = min(own, before)
        out["pending_ms"][k] = before - out["client_ms"][k]
        if q.server_timing is None:
            out["wire_ms"][k] = conn
        else:
            queue, compute, extra = q.server_timing
            out["server_queue_ms"][k], out["server_extra_ms"][k], out["compute_ms"][k] = queue, extra, compute
            out["wire_ms"][k] = conn - queue - extra - compute
    return out


def _check_run_args(workload: Any, rate: Any, n_queries: Any, duration_s: Any, on_result: Any) -> None:
    """``run``'s argument checks (the error names the argument and the bad value)."""
    instance_of(workload, "workload", Workload)
    positive_float(rate, "rate", unit="queries per second")
    if (n_queries is None) == (duration_s is None):
        raise ArgumentError("give exactly one of n_queries= or duration_s=")
    if n_queries is not None:
        positive_int(n_queries, "n_queries")
    if duration_s is not None:
        positive_float(duration_s, "duration_s", unit="seconds")
    if on_result is not None and not callable(on_result):
        raise ArgumentTypeError(f"on_result must be a callable taking a Reply or QueryFailed, got {type(on_result).__name__}")
