""":class:`Reply` and :class:`QueryFailed`: how a query of the client ends, and ``_Query``, the
client's record of a query until it ends.

Examples
--------
>>> import numpy as np
>>> from kairos_sdk.client import Reply
>>> r = Reply({"y": np.zeros((2, 1))}, "g4dn.xlarge-0", "g4dn.xlarge", 0, 12.5, 1, 7, 2)
>>> r.ok, r.output.shape
(True, (2, 1))
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import KairosError

__all__ = ["QueryFailed", "Reply"]


@dataclass(frozen=True, repr=False, eq=False)
class Reply:
    """A served query.

    Attributes
    ----------
    outputs : output tensors by name (numpy arrays).
    instance_id, instance_type, instance : the instance that served it (``instance`` is the
        index in the pool).
    latency_ms : from submission (or scheduled arrival, in ``run``) to the reply, queueing in
        the client included (in profile milliseconds when ``time_scale != 1``).
    attempts : instances tried, this one included.
    query_id, batch_size : the client's id of the query and its batch size.
    """

    outputs: Mapping[str, np.ndarray]
    instance_id: str
    instance_type: str
    instance: int
    latency_ms: float
    attempts: int
    query_id: int
    batch_size: int

    ok = True

    def __getitem__(self, name: str) -> np.ndarray:
        return self.outputs[name]

    @property
    def output(self) -> np.ndarray:
        """The only (or first) output tensor."""
        return next(iter(self.outputs.values()))

    def __repr__(self) -> str:
        outs = ", ".join(f"{k}{list(v.shape)}" for k, v in self.outputs.items())
        return (
            f"Reply(query {self.query_id}, batch {self.batch_size}, served by {self.instance_id} in "
            f"{self.latency_ms:.1f} ms, attempts={self.attempts}, outputs: {outs})"
        )


@dataclass(frozen=True, repr=False, eq=False)
class QueryFailed:
    """A query that ended without a reply, and why.

    Attributes
    ----------
    reason : a message naming the endpoints tried and what went wrong on each.
    kind : the last failure's kind (``"connect"``, ``"timeout"``, ``"server_error"``,
        ``"client_error"``, ``"protocol"``, ``"tls"``, ``"unavailable"``, ``"cancelled"``,
        ``"closed"``, ``"shed"``: a load-shedding policy gave it up unsent, as it could no
        longer meet QoS, ``"overloaded"``: refused at once, ``Limits.max_pending`` queries
        were waiting, or ``"deadline"``: not sent within ``Timeouts.deadline_s``; see
        ``docs/reliability.md``).
    error : the matching :class:`~kairos_sdk.errors.KairosError` (``raise_()`` raises it).
    attempts : requests sent for this query.
    instance_ids : the instances tried, in order.
    latency_ms : time from submission to the failure.
    """

    query_id: int
    reason: str
    kind: str
    error: KairosError
    attempts: int
    instance_ids: tuple[str, ...]
    latency_ms: float
    batch_size: int

    ok = False

    def raise_(self) -> None:
        raise self.error

    def __repr__(self) -> str:
        return f"QueryFailed(query {self.query_id}, {self.kind}, attempts={self.attempts}: {self.reason})"


@dataclass(eq=False)
class _Query:  # long: one query's bookkeeping (18 fields), mutable, private to the client
    qid: int
    batch: int
    body: bytes
    arrival_ms: float
    future: asyncio.Future
    state: str = "pending"  # pending | running | backoff | done
    attempts: int = 0
    tried: list[int] = field(default_factory=list)
    errors: list[tuple[str, KairosError]] = field(default_factory=list)
    disp_instance: int | None = None  # instance holding it as "running" in the dispatcher
    inflight: bool = False  # counted in KairosClient._n_inflight
    task: asyncio.Task | None = None
    timer: asyncio.TimerHandle | None = None
    queued: bool = False  # in the dispatcher, not started (pending or in an instance's queue)
    waiting_since: float = 0.0  # perf_counter() when it last became pending
    deadline: asyncio.TimerHandle | None = None
    # timing breakdown (client ms): handed to the dispatcher, last attempt placed on an
    # instance, sent and back; and what the server said it spent
    ready_ms: float = math.nan
    placed_ms: float = math.nan
    sent_ms: float = math.nan
    back_ms: float = math.nan
    server_timing: tuple[float, float, float] | None = None  # (queue, compute, extra) ms


def server_timing(headers: Mapping[str, str] | None) -> tuple[float, float, float] | None:
    """``(queue ms, compute ms, extra ms)`` from a ``Server-Timing`` header (W3C:
    ``name;dur=ms`` entries), or ``None`` when the server reports no compute time.

    The server's time is ``service`` (or ``compute``); queue is ``queue`` (0 when absent).
    A replay endpoint also reports ``drawn``, the service time it drew from its profile:
    then compute is the draw and extra the rest of its time (its timer's overshoot), which
    a profile does not hold and so counts as overhead; otherwise extra is 0."""
    text = headers.get("Server-Timing") if headers else None
    if not text:
        return None
    durs: dict[str, float] = {}
    for entry in text.split(","):
        name, _, params = entry.strip().partition(";")
        for p in params.split(";"):
            key, _, val = p.strip().partition("=")
            if key == "dur":
                with contextlib.suppress(ValueError):
                    durs[name.strip().lower()] = float(val)
    service = durs.get("service", durs.get("compute"))
    if service is None or not math.isfinite(service):
        return None
    queue = durs.get("queue", 0.0)
    drawn = durs.get("drawn", math.nan)
    compute = drawn if math.isfinite(drawn) and 0.0 <= drawn <= service else service
    return (queue if math.isfinite(queue) else 0.0), compute, service - compute
