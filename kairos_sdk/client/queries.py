"""Query bookkeeping, the client's side: submission, dispatching, attempts and how each query
ends.

Every query is a ``_Query`` in ``KairosClient._queries`` from submission until it ends as a
:class:`~kairos_sdk.client.Reply` or a :class:`~kairos_sdk.client.QueryFailed`. On every
arrival and completion ``_pump`` asks the dispatcher which pending query starts on which
instance; a failed attempt goes back to the queue after the retry backoff or ends the query.

Internal: a mixin of :class:`~kairos_sdk.client.KairosClient`, which holds the state it uses
(``_queries``, ``_dispatcher``, ``_n_inflight``, per-instance counters) and the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import numpy as np

from .._checks import positive_int
from ..errors import (
    ArgumentError,
    DeadlineError,
    EndpointError,
    KairosError,
    OverloadedError,
    ProtocolError,
    ShedError,
)
from .protocols import HttpRequest, HttpResponse
from .replies import QueryFailed, Reply, _Query, server_timing
from .transport import AttemptError

__all__: list[str] = []

log = logging.getLogger("kairos_sdk.client")

_BODY_CACHE_MAX = 1024  #: request bodies of synthetic inputs kept, one per batch size


class _Queries:
    """Submit queries, start their attempts, and end each exactly once."""

    # ------------------------------------------------------------------ requests
    def _infer_request(self, i: int, body: bytes) -> HttpRequest:
        """The inference request to instance ``i`` carrying ``body``."""
        req = self._infer_req[i]
        return type(req)(req.method, req.url, body, req.headers)

    def _body_for_batch(self, batch: int) -> bytes:
        body = self._body_cache.get(batch)
        if body is None:
            body = self.protocol.encode_inputs(self.protocol.synthetic_inputs(batch))
            if len(self._body_cache) >= _BODY_CACHE_MAX:
                self._body_cache.pop(next(iter(self._body_cache)))
            self._body_cache[batch] = body
        return body

    # ------------------------------------------------------------------ submission
    def _submit_query(self, inputs: Any, batch_size: int | None, arrival_ms: float | None = None) -> _Query:
        self._check_open()
        if batch_size is not None:
            batch_size = positive_int(batch_size, "batch_size")
        if inputs is None:
            if batch_size is None:
                raise ArgumentError("give inputs, or batch_size= for synthetic inputs")
            body = self._body_for_batch(int(batch_size))
        else:
            body = self.protocol.encode_inputs(inputs)
            if batch_size is None:
                batch_size = self.protocol.batch_size(inputs)
                if batch_size < 1:
                    raise ArgumentError("inputs have an empty batch dimension; send at least one row")
        return self._submit_body(body, int(batch_size), arrival_ms)

    def _submit_body(self, body: bytes, batch: int, arrival_ms: float | None) -> _Query:
        assert self._loop is not None and self._dispatcher is not None
        now = self._now()
        q = _Query(next(self._ids), batch, body, now if arrival_ms is None else arrival_ms, self._loop.create_future())
        q.ready_ms = now
        waiting = len(self._queries) - self._n_inflight
        self._queries[q.qid] = q
        q.future.add_done_callback(lambda f, q=q: f.cancelled() and self._abandon(q, "cancelled", "query future cancelled"))
        if self._down_expired():
            self._finish_failed(q, "unavailable", self._unavailable_error(), now=now)
            return q
        limit = self.limits.max_pending
        if limit is not None and waiting >= limit:
            err = OverloadedError(f"query {q.qid} (batch {batch}) refused: {waiting} queries are already waiting "
                                  f"(Limits.max_pending={limit})")
            self._finish_failed(q, "overloaded", err, now=now)
            return q
        if self.timeouts.deadline_s is not None:
            q.deadline = self._loop.call_later(self.timeouts.deadline_s, self._deadline_passed, q)
        q.queued, q.waiting_since = True, time.perf_counter()
        self._dispatcher.submit(q.qid, batch, q.arrival_ms)
        self._pump(now)
        return q

    def _deadline_passed(self, q: _Query) -> None:
        q.deadline = None
        if q.state not in ("pending", "backoff") or self._state != "open":
            return
        tried = f" after {q.attempts} failed attempt{'s' if q.attempts != 1 else ''}" if q.attempts else ""
        err = DeadlineError(f"query {q.qid} (batch {q.batch}) was not sent within its deadline of "
                            f"{self.timeouts.deadline_s:g} s (Timeouts.deadline_s){tried}")
        self._finish_failed(q, "deadline", err, now=self._now())

    # ------------------------------------------------------------------ dispatching and attempts
    def _pump(self, now: float | None = None) -> None:
        """Ask the dispatcher what starts now, start it, and end what the policy shed."""
        if self._state != "open":
            return
        if now is None:
            now = self._now()
        try:
            while self._start_dispatched(now):  # a stale entry was dropped: ask again
                pass
            self._arm_idle_recheck()
        except Exception as exc:  # a policy bug must not strand queries
            self._policy_failed(exc, now)

    def _start_dispatched(self, now: float) -> bool:
        """One decision: start its attempts and end the shed queries. True when the decision
        handed out a query that had ended while pending (its slot is free again)."""
        d = self._dispatcher
        assert d is not None
        stale = False
        for qid, i in d.dispatch(now):
            q = self._queries.get(qid)
            if q is None or q.state != "pending":
                d.finish_on(i, qid)  # ended while pending (cancelled / unavailable)
                self._stale.discard(qid)
                stale = True
                continue
            self._start_attempt(q, i)
        for qid in d.take_shed():
            q = self._queries.get(qid)
            if q is not None and q.state == "pending":
                q.queued = False  # out of the dispatcher already
                if qid in self._stranded_failed:
                    self._stranded_failed.discard(qid)
                    self._finish_failed(q, "unavailable", self._stranded_error(q), now=now)
                else:
                    err = ShedError(f"query {qid} (batch {q.batch}) shed after {now - q.arrival_ms:.1f} ms: it could "
                                    f"no longer meet the {self.qos_ms:g} ms QoS target")
                    self._finish_failed(q, "shed", err, now=now)
            self._stale.discard(qid)
            self._stranded_failed.discard(qid)
        return stale

    def _arm_idle_recheck(self) -> None:
        """Nothing is running, so no completion will come to trigger the next decision: a
        policy that held queries back gets asked again shortly."""
        d = self._dispatcher
        assert d is not None and self._loop is not None
        if (d.n_pending and self._n_inflight == 0 and self._n_available and self._idle_timer is None
                and any(q.state == "pending" for q in self._queries.values())):
            self._idle_timer = self._loop.call_later(self._idle_recheck_s, self._idle_recheck)

    def _policy_failed(self, exc: Exception, now: float) -> None:
        name = getattr(self.policy, "name", self.policy)
        log.exception("distribution policy %r failed", name)
        err = KairosError(f"the distribution policy {name!r} raised {type(exc).__name__}: {exc}")
        for q in list(self._queries.values()):
            if q.state in ("pending", "backoff"):
                self._finish_failed(q, "policy", err, now=now)

    def _idle_recheck(self) -> None:
        self._idle_timer = None
        self._pump()

    def _start_attempt(self, q: _Query, i: int) -> None:
        assert self._loop is not None
        q.state = "running"
        q.queued = False
        self._stranded.discard(q.qid)
        q.disp_instance = i
        q.placed_ms = self._now()
        q.attempts += 1
        q.tried.append(i)
        self._n_inflight += 1
        q.inflight = True
        q.task = self._loop.create_task(self._attempt(q, i))
        q.task.add_done_callback(lambda _t, q=q: self._attempt_over(q))  # also when cancelled before it ran

    def _attempt_over(self, q: _Query) -> None:
        if q.inflight:
            q.inflight = False
            self._n_inflight -= 1

    async def _attempt(self, q: _Query, i: int) -> None:
        """Send ``q`` to instance ``i`` and act on the outcome (reply, retry or failure)."""
        t0 = time.perf_counter()
        q.sent_ms = self._now()  # timing breakdown: the (last) attempt is on the connection from here
        try:
            outputs, kind, err = await self._send_attempt(q, i)
        except asyncio.CancelledError:
            self._attempt_over(q)
            self._busy_real_s[i] += time.perf_counter() - t0
            self._release(q)
            raise
        q.back_ms = now = self._now()
        self._attempt_over(q)
        self._busy_real_s[i] += time.perf_counter() - t0
        if q.state != "running":  # ended meanwhile (closing)
            self._release(q)
            return
        q.task = None
        if err is None:
            assert outputs is not None
            self._served[i] += 1
            self._consecutive[i] = 0
            self._release(q)
            inst = self.pool[i]
            self._resolve(q, Reply(outputs, inst.id, inst.type, i, now - q.arrival_ms, q.attempts, q.qid, q.batch))
        else:
            assert kind is not None
            self._on_failure(q, i, kind, err, now)
        self._pump(now)

    async def _send_attempt(self, q: _Query, i: int) -> tuple[dict[str, np.ndarray] | None, str | None, KairosError | None]:
        """One request: ``(outputs, None, None)`` or ``(None, failure kind, error)``."""
        label = self._labels[i]
        try:
            resp = await self._transport.send(self._infer_request(i, q.body), label, self._timeout)
            q.server_timing = server_timing(resp.headers)
            if resp.status // 100 == 2:
                return self.protocol.parse_infer(resp), None, None
            return (None, *self._status_error(resp))
        except AttemptError as exc:
            return None, exc.kind, exc.error
        except ProtocolError as exc:
            return None, "protocol", exc
        except Exception as exc:  # a bug in a custom protocol: fail the query, keep going
            err = ProtocolError(f"{label}: {type(exc).__name__} while handling the reply: {exc}", endpoint=label)
            return None, "protocol", err

    def _status_error(self, resp: HttpResponse) -> tuple[str, KairosError]:
        detail = self._redact(self.protocol.error_detail(resp.body) or "")
        detail = f": {detail}" if detail else ""
        if resp.status >= 500:
            return "server_error", EndpointError(f"{resp.endpoint} failed with HTTP {resp.status}{detail}", endpoint=resp.endpoint)
        return "client_error", EndpointError(f"{resp.endpoint} refused the request with HTTP {resp.status}{detail}", endpoint=resp.endpoint)

    def _on_failure(self, q: _Query, i: int, kind: str, err: KairosError, now: float) -> None:
        err = self._redacted(err)
        self._failed_attempts[i] += 1
        self._last_error[i] = str(err)
        q.errors.append((kind, err))
        if kind in self.retry.retry_on:
            self._consecutive[i] += 1
            # outlier ejection: after eject_after failures in a row; an endpoint that answers,
            # but garbled, is never the last one taken out (the others may be just as broken
            # by a protocol mismatch, and the queries then fail as "protocol", not hang)
            if self._consecutive[i] >= self.retry.eject_after and not (kind == "protocol" and self._n_available <= 1):
                self._eject(i, str(err))
            if q.attempts < self.retry.max_attempts:
                assert self._loop is not None
                q.state = "backoff"
                delay_s = self.retry.backoff_delay_ms(q.attempts, self._rng) / 1000.0
                q.timer = self._loop.call_later(delay_s, self._requeue, q)
                return
        self._finish_failed(q, kind, self._combined_error(q), now=now)

    def _requeue(self, q: _Query) -> None:
        q.timer = None
        if q.state != "backoff" or self._state != "open":
            return
        if self._down_expired():
            self._finish_failed(q, "unavailable", self._unavailable_error(q), now=self._now())
            return
        assert self._dispatcher is not None
        i = q.disp_instance
        q.state = "pending"
        q.queued, q.waiting_since = True, time.perf_counter()
        if i is not None:
            self._dispatcher.requeue(q.qid, i)
            q.disp_instance = None
        self._pump()

    def _release(self, q: _Query) -> None:
        """Give the query's slot back to the dispatcher (finished, failed or abandoned)."""
        if q.disp_instance is not None and self._dispatcher is not None:
            with contextlib.suppress(KeyError):
                self._dispatcher.finish_on(q.disp_instance, q.qid)
            q.disp_instance = None

    def _resolve(self, q: _Query, result: Reply | QueryFailed) -> None:
        if q.deadline is not None:
            q.deadline.cancel()
            q.deadline = None
        q.state = "done"
        self._queries.pop(q.qid, None)
        if not q.future.done():
            q.future.set_result(result)

    def _finish_failed(self, q: _Query, kind: str, err: KairosError, *, now: float, cancel: bool = False) -> None:
        """End ``q`` as QueryFailed. A pending query stays in the dispatcher's queue until the
        next dispatch hands it out, where ``_pump`` drops it."""
        if q.timer is not None:
            q.timer.cancel()
            q.timer = None
        if q.queued:  # still in the dispatcher's queue: the guard drops it at the next decision
            q.queued = False
            self._stale.add(q.qid)
        self._stranded.discard(q.qid)
        task, q.task = q.task, None
        self._release(q)  # at once, even if a cancelled attempt task never gets to run
        ids = tuple(self.pool[i].id for i in q.tried)
        self._resolve(q, QueryFailed(q.qid, str(err), kind, err, q.attempts, ids, now - q.arrival_ms, q.batch))
        if task is not None and cancel:
            task.cancel()
            self._attempt_over(q)

    def _abandon(self, q: _Query, kind: str, reason: str) -> None:
        if q.state == "done":
            return
        self._finish_failed(q, kind, EndpointError(f"query {q.qid}: {reason}"), now=self._now(), cancel=True)
        self._pump()  # its slot or its place in the queue is free

    def _combined_error(self, q: _Query) -> KairosError:
        last_kind, last = q.errors[-1]
        msgs = "; ".join(str(e) for _, e in q.errors)
        text = f"query {q.qid} (batch {q.batch}) failed after {q.attempts} attempt{'s' if q.attempts != 1 else ''}: {msgs}"
        cls = type(last) if isinstance(last, (EndpointError, ProtocolError)) else EndpointError
        try:
            return cls(text, endpoint=getattr(last, "endpoint", None))
        except TypeError:  # pragma: no cover - a subclass with another signature
            return last

    # ------------------------------------------------------------------ pinned requests (profiling)
    async def _send_pinned(self, i: int, body: bytes) -> tuple[dict[str, np.ndarray], float, tuple[float, float] | None]:
        """One request to instance ``i``, bypassing the policy (for profiling). Returns the
        outputs, the round-trip time in profile ms and the server's ``(queue ms, compute ms)``
        when it reports them (``Server-Timing``); raises the endpoint's error."""
        self._check_open()
        t0 = time.perf_counter()
        try:
            resp = await self._transport.send(self._infer_request(i, body), self._labels[i], self._timeout)
        except AttemptError as exc:
            raise exc.error from None
        dt = time.perf_counter() - t0
        self._busy_real_s[i] += dt
        if resp.status // 100 != 2:
            raise self._status_error(resp)[1]
        return self.protocol.parse_infer(resp), dt * 1000.0 / self.time_scale, server_timing(resp.headers)
