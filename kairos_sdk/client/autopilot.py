"""The autopilot beside a live client: a small loop that turns the client's replies into
:class:`~kairos_sdk.adapt.Observation` values and hands the controller's decisions to an
actuator. Nothing inside :class:`~kairos_sdk.client.KairosClient` changes: the observer is
the ``on_result`` callback of :meth:`KairosClient.run <kairos_sdk.client.KairosClient.run>`
(or is called with each reply of ``infer``).

The same :class:`~kairos_sdk.adapt.Autopilot` object runs here (real clock, in profile
seconds when the client runs with a ``time_scale``) and in
:func:`~kairos_sdk.dynamic.simulate_dynamic` (simulated clock).

What it does not do yet: the client's pool is fixed when it is built, so the actuator here
acts outside the client (an autoscaling group, a Terraform run, a Ray Serve deployment); a
new pool is taken into use by a new client. Rates are counted from completed queries (the
client reports a query when it ends), and the client's latencies include queueing, so the
observer does not feed service times to the profile unless told to treat them as such.

Examples
--------
>>> from kairos_sdk.client.autopilot import LiveObserver
>>> obs = LiveObserver(clock=lambda: 10.0)
>>> obs.observation().arrivals
0
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._checks import positive_float
from ..adapt import Actuator, Controller, Decision, Observation
from ..errors import ArgumentError

__all__ = ["LiveObserver", "run_autopilot"]


class LiveObserver:
    """Collects a client's replies into observation windows.

    Parameters
    ----------
    clock : seconds now (default :func:`time.monotonic`).
    time_scale : the client's ``time_scale``: real seconds are divided by it, so windows and
        rates are in profile time as the planner's are.
    latency_as_service : report each reply's latency as that type's service time (only
        sensible at low load, where queueing is negligible); default False.
    pool : ``{type: count}`` reported as live (the client's pool is fixed).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, time_scale: float = 1.0,
                 latency_as_service: bool = False, pool: Mapping[str, int] | None = None) -> None:
        if not callable(clock):
            raise ArgumentError(f"clock must be a function returning seconds, got {type(clock).__name__}")
        self.clock = clock
        self.time_scale = positive_float(time_scale, "time_scale")
        self.latency_as_service = bool(latency_as_service)
        self.pool = dict(pool or {})
        self._start = self._now()
        self._last = self._start
        self._n = 0
        self._batches: list[int] = []
        self._service: dict[str, tuple[list[int], list[float]]] = {}

    def _now(self) -> float:
        return float(self.clock()) / self.time_scale

    def __call__(self, result: Any) -> None:
        """Record one ended query (a :class:`~kairos_sdk.client.Reply` or a failure)."""
        self._n += 1
        batch = getattr(result, "batch_size", None)
        if batch is not None:
            self._batches.append(int(batch))
        if self.latency_as_service and getattr(result, "ok", False):
            b, s = self._service.setdefault(result.instance_type, ([], []))
            b.append(int(result.batch_size))
            s.append(float(result.latency_ms))

    def observation(self) -> Observation:
        """The window since the previous call, as an :class:`~kairos_sdk.adapt.Observation`."""
        now = self._now()
        window = max(now - self._last, 1e-9)
        obs = Observation(now_s=now - self._start, window_s=window, arrivals=self._n,
                          batch_sizes=np.asarray(self._batches, dtype=np.int64),
                          service={t: (np.asarray(b), np.asarray(s)) for t, (b, s) in self._service.items()},
                          live=dict(self.pool))
        self._last, self._n, self._batches, self._service = now, 0, [], {}
        return obs

    def __repr__(self) -> str:
        return f"LiveObserver(time_scale={self.time_scale:g}, {self._n} queries in the open window)"


async def run_autopilot(controller: Controller, observer: LiveObserver, actuator: Actuator, *,
                        every_s: float, stop: asyncio.Event) -> list[Decision]:
    """Every ``every_s`` real seconds until ``stop`` is set: observe, decide, actuate.
    Returns the decisions made. Run it as a task beside ``client.run``."""
    every_s = positive_float(every_s, "every_s", unit="seconds")
    made: list[Decision] = []
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
        d = controller.observe(observer.observation())
        if d is not None:
            made.append(d)
            actuator.apply(d)
    return made
