"""Event-loop helpers: precise waits, and uvloop for the benchmarks' clients.

* :func:`sleep_until` — the replay endpoints' service timer: the loop's timer, then yield
  to the loop until due (an epoll timer wakes up to a millisecond late).
* :func:`pace_in_thread` — the client's open-loop pacing: a thread's timed waits handed to
  the loop, so that no arrival is sent late by the loop's timer granularity.
* :func:`run` — ``asyncio.run`` on uvloop when it is installed (the ``fast`` extra) unless
  ``KAIROS_EVENT_LOOP=asyncio``; the benchmarks drive their clients with it.

Library code never picks the loop (a notebook's or an application's loop is theirs).
``kairos serve-replay`` and :func:`~kairos_sdk.endpoints.serve_forever` run on asyncio's loop:
with :func:`sleep_until` it keeps the replay timer's overshoot p99 under 0.05 ms on an idle
machine, where uvloop's timer alone gives 0.75 ms (``benchmarks/replay_timer.py``).

Examples
--------
>>> from kairos_sdk._loop import run
>>> async def two():
...     return 2
>>> run(two())
2
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["SPIN_S", "loop_factory", "pace_in_thread", "run", "sleep_until"]

T = TypeVar("T")

#: seconds before a deadline from which :func:`sleep_until` yields to the loop instead of
#: sleeping on a timer: a little more than the loop's timer granularity (epoll rounds its
#: timeout up to whole milliseconds)
SPIN_S = 0.0012


async def sleep_until(target: float, spin_s: float = SPIN_S) -> None:
    """Sleep until ``time.perf_counter()`` reaches ``target``, never before it.

    An event loop wakes a timer up to a millisecond late (epoll rounds its timeout up to
    whole ms), so sleep on a timer until ``spin_s`` before the target and yield to the loop
    from there on: other callbacks and connections keep being served, and the lateness is
    one loop iteration instead of up to a millisecond. ``spin_s=0`` sleeps on the timer
    only. The replay endpoints time their service with it (and the client its open-loop
    arrivals with ``schedule_mode="spin"``; ``benchmarks/replay_timer.py`` measures both).

    >>> import asyncio, time
    >>> t = time.perf_counter() + 0.002
    >>> asyncio.run(sleep_until(t)); time.perf_counter() >= t
    True
    """
    if spin_s > 0 and _is_uvloop(asyncio.get_running_loop()):
        spin_s = 0.0  # uvloop: yielding in a loop starves its I/O (measured); its timer is finer
    wait = target - time.perf_counter() - spin_s
    if wait > 0:
        await asyncio.sleep(wait)
    while time.perf_counter() < target:
        await asyncio.sleep(0)


#: :func:`pace_in_thread`: the pacing thread's timed wait ends this long before a due time
#: (a thread's wake-up from a timed wait is 0.1-0.3 ms late on this machine), then it
#: yields (``time.sleep(0)``) until :data:`PACE_HAND_S` before it
PACE_LEAD_S = 0.0005
#: :func:`pace_in_thread`: the call is handed to the loop this long before its due time
#: (waking a loop from its selector takes about 0.1 ms); the loop waits out the rest
PACE_HAND_S = 0.00012


async def pace_in_thread(dues: Any, call: Callable[[int], Any]) -> None:
    """Call ``call(k)`` on the running loop at ``time.perf_counter() >= dues[k]``, for every
    ``k`` in order, timed by a thread instead of the loop's millisecond timer; returns when
    the last call has run.

    The thread's timed wait ends :data:`PACE_LEAD_S` early, it yields until
    :data:`PACE_HAND_S` before the due time and hands the call to the loop, which waits
    out the rest (never calling early): the wake-ups of the thread and of the loop are
    paid before the due time instead of after it (``benchmarks/replay_timer.py``).
    """
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    stop = threading.Event()
    n = len(dues)

    def fire(k: int) -> None:
        if stop.is_set():
            return
        due = float(dues[k])
        while time.perf_counter() < due:  # at most PACE_HAND_S, unless the thread ran late
            pass
        try:
            call(k)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            stop.set()
            if not finished.done():
                finished.set_exception(exc)
            return
        if k == n - 1 and not finished.done():
            finished.set_result(None)

    def worker() -> None:
        for k in range(n):
            due = float(dues[k])
            wait = due - PACE_LEAD_S - time.perf_counter()
            if (wait > 0 and stop.wait(wait)) or stop.is_set():
                return
            while time.perf_counter() < due - PACE_HAND_S:
                time.sleep(0)  # yields the GIL to the loop
            try:
                loop.call_soon_threadsafe(fire, k)
            except RuntimeError:  # the loop closed
                return

    if n == 0:
        return
    th = threading.Thread(target=worker, name="kairos-pacer", daemon=True)
    th.start()
    try:
        await finished
    finally:
        stop.set()


def _is_uvloop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("uvloop")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor when installed and not switched off, else ``None``
    (asyncio's default)."""
    if os.environ.get("KAIROS_EVENT_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` on the loop of :func:`loop_factory`."""
    factory = loop_factory()
    if factory is None:
        return asyncio.run(coro)
    if hasattr(asyncio, "Runner"):  # Python >= 3.11
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)
    loop = factory()  # pragma: no cover - Python 3.10
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
