"""Endpoint health, the client's side: which instances are in rotation.

An instance whose attempt fails with a retryable kind is ejected (taken out of rotation, the
dispatcher told) and probed back in: readiness calls, then one small real query, with the
:class:`~kairos_sdk.client.RetryPolicy`'s backoff between probes. When every instance has
been out for ``Timeouts.unavailable_s`` the pending queries fail instead of waiting. Also the
readiness check at start.

Internal: a mixin of :class:`~kairos_sdk.client.KairosClient`, which holds the state it uses
(``_available``, ``_n_available``, ``_down_since``, ``_down_timer``, ``_probes``,
``_last_error``) and the transport, protocol and settings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

from ..errors import EndpointError, KairosError
from .replies import _Query
from .transport import AttemptError

__all__: list[str] = []

log = logging.getLogger("kairos_sdk.client")


class _Health:
    """Eject, probe and restore instances; fail pending queries when none is left."""

    def _not_ready_at_start(self, reasons: list[str | None]) -> dict[int, str]:
        """The instances not ready at start; raises when the ``check_ready`` mode cannot start."""
        bad = {i: r for i, r in enumerate(reasons) if r is not None}
        if bad and (self.timeouts.check_ready == "all" or len(bad) == len(self.pool)):
            lines = "\n".join(f"  {self._labels[i]}: {r}" for i, r in bad.items())
            hint = "start them or fix the URLs" + (
                "; pass Timeouts(check_ready='any') to start with the ready ones" if len(bad) < len(self.pool) else ""
            )
            raise EndpointError(f"{len(bad)} of {len(self.pool)} endpoints are not ready ({hint}):\n{lines}")
        return bad

    def _eject(self, i: int, reason: str) -> None:
        if not self._available[i] or self._state != "open":
            return
        assert self._dispatcher is not None and self._loop is not None
        self._available[i] = False
        self._n_available -= 1
        self._dispatcher.set_available(i, False)
        if self._out_since is None:
            self._out_since = time.perf_counter()
        self._arm_hold_timer()
        label = self._labels[i]
        log.warning("%s out of rotation: %s", label, reason.removeprefix(label + ": ").removeprefix(label + " "))
        if i not in self._probes:
            self._probes[i] = self._loop.create_task(self._probe(i))
        if self._n_available == 0:
            self._down_since = time.perf_counter()
            if self._down_timer is not None:
                self._down_timer.cancel()
            self._down_timer = self._loop.call_later(self.timeouts.unavailable_s, self._on_all_down)

    def _restore(self, i: int) -> None:
        if self._available[i] or self._state != "open":
            return
        assert self._dispatcher is not None
        self._available[i] = True
        self._n_available += 1
        self._down_since = None
        if self._down_timer is not None:
            self._down_timer.cancel()
            self._down_timer = None
        self._consecutive[i] = 0
        self._dispatcher.set_available(i, True)
        log.info("%s back in rotation", self._labels[i])
        if self._n_available == len(self.pool):  # every instance back: nothing is stranded
            self._out_since = None
            self._stranded.clear()
            if self._hold_timer is not None:
                self._hold_timer.cancel()
                self._hold_timer = None
        self._pump()

    # ------------------------------------------------------------------ stranded queries
    def _arm_hold_timer(self) -> None:
        """While an instance is out of rotation, look for stranded queries every quarter of
        ``Timeouts.hold_s``."""
        if self._hold_timer is None and self._state == "open" and self._out_since is not None:
            assert self._loop is not None
            self._hold_timer = self._loop.call_later(max(self.timeouts.hold_s / 4.0, 0.005), self._hold_tick)

    def _hold_tick(self) -> None:
        """Mark the queries pending for ``hold_s`` since the later of their queueing and the
        outage's start as stranded, and let the guard (guard.py) serve or fail them."""
        self._hold_timer = None
        if self._state != "open" or self._out_since is None:
            return
        now = time.perf_counter()
        since, hold = self._out_since, self.timeouts.hold_s
        new = [q.qid for q in self._queries.values()
               if q.queued and q.state == "pending" and q.qid not in self._stranded
               and now - max(q.waiting_since, since) >= hold]
        if new:
            self._stranded.update(new)
            self._pump()
        self._arm_hold_timer()

    def _stranded_error(self, q: _Query) -> EndpointError:
        out = ", ".join(self._labels[i] for i, up in enumerate(self._available) if not up)
        return EndpointError(
            f"query {q.qid} (batch {q.batch}) unavailable: the policy held it for {self.timeouts.hold_s:g} s "
            f"(Timeouts.hold_s) waiting for an instance out of rotation ({out or 'none now'}) while others sat idle"
        )

    async def _probe(self, i: int) -> None:
        failures = 0
        try:
            while self._state == "open" and not self._available[i]:
                await asyncio.sleep(self.retry.probe_delay_ms(failures, self._rng) / 1000.0)
                reason = await self._ready_reason(i)
                if reason is None:
                    reason = await self._canary_reason(i)
                if reason is None:
                    self._restore(i)
                    return
                self._last_error[i] = reason
                failures += 1
        finally:
            if self._probes.get(i) is asyncio.current_task():
                del self._probes[i]

    async def _canary_reason(self, i: int) -> str | None:
        reason = await self._canary_reason_raw(i)
        return None if reason is None else self._redact(reason)

    async def _canary_reason_raw(self, i: int) -> str | None:
        """One small real query (batch 1, synthetic inputs): an endpoint whose readiness
        calls answer but whose inference is stuck, failing (5xx) or malformed stays out. A 4xx
        counts as healthy: the server answered promptly, it just disliked the synthetic input."""
        label = self._labels[i]
        try:
            resp = await self._transport.send(self._infer_request(i, self._body_for_batch(1)), label, self._timeout)
            if 400 <= resp.status < 500:
                return None
            if resp.status // 100 != 2:
                return f"test query: {self._status_error(resp)[1]}".replace(label + " ", "", 1)
            self.protocol.parse_infer(resp)
        except AttemptError as exc:
            return "test query: " + str(exc.error).removeprefix(label + ": ")
        except KairosError as exc:
            return "test query: " + str(exc).removeprefix(label + ": ")
        except Exception as exc:  # a custom protocol's bug: keep the instance out, say why
            return f"test query: {type(exc).__name__}: {exc}"
        return None

    def _down_expired(self) -> bool:
        return (
            self._n_available == 0
            and self._down_since is not None
            and time.perf_counter() - self._down_since >= self.timeouts.unavailable_s - 1e-3
        )

    def _unavailable_error(self, q: _Query | None = None) -> EndpointError:
        last = "; ".join(f"{self._labels[i]}: {e.removeprefix(self._labels[i] + ': ')}"
                         for i, e in enumerate(self._last_error) if e)
        before = ""
        if q is not None and q.errors:
            before = f" after {q.attempts} failed attempt{'s' if q.attempts != 1 else ''}"
        return EndpointError(
            f"no endpoint available{before}: all {len(self.pool)} instances have been out of rotation for "
            f"{self.timeouts.unavailable_s:g} s (last errors: {last or 'none recorded'})"
        )

    def _on_all_down(self) -> None:
        self._down_timer = None
        if not self._down_expired():
            return
        now = self._now()
        for q in list(self._queries.values()):
            if q.state == "pending":
                self._finish_failed(q, "unavailable", self._unavailable_error(q), now=now)

    async def _ready_reason(self, i: int) -> str | None:
        for req in self.protocol.ready_requests(self._urls[i]):
            try:
                resp = await self._transport.send(req, self._labels[i], self._ready_timeout, "Timeouts.ready_s")
            except AttemptError as exc:
                return self._redact(str(exc.error).removeprefix(self._labels[i] + ": "))
            reason = self.protocol.check_ready(resp)
            if reason is not None:
                return self._redact(f"{req.method} {urlsplit(req.url).path} answered {reason}")
        return None

    async def _initial_readiness(self) -> list[str | None]:
        n = len(self.pool)
        deadline = time.perf_counter() + self.timeouts.wait_ready_s
        reasons: list[str | None] = [""] * n
        todo = list(range(n))
        while True:
            got = await asyncio.gather(*(self._ready_reason(i) for i in todo))
            for i, r in zip(todo, got):
                reasons[i] = r
            todo = [i for i in todo if reasons[i] is not None]
            if not todo or time.perf_counter() >= deadline:
                return reasons
            await asyncio.sleep(min(0.1, max(0.0, deadline - time.perf_counter())))
