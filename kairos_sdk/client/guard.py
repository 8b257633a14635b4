"""The client's guard around the distribution policy: no query is left pending forever.

The dispatcher is given a :class:`_PolicyGuard` wrapping the user's policy. While every query
pending in the dispatcher is a live one and none is stranded, the guard just forwards
``decide``. Otherwise, before asking the policy, it

* hides from the policy the queries that already ended while pending (cancelled, failed as
  ``"deadline"`` or ``"unavailable"``) and gives them up in the dispatcher (assigns them to
  :data:`~kairos_sdk.distribute.SHED`), so they neither occupy an instance nor sway the
  policy's decisions;
* after the policy decided, takes care of the *stranded* queries the client marked (pending
  for ``Timeouts.hold_s`` while an instance is out of rotation and one in rotation sits idle:
  the policy is waiting for a type that is out, e.g. the only GPU): with
  ``after_hold="serve"`` each goes to the idle instance with the least expected latency for
  its batch size (served late), with ``"fail"`` it is given up and the client ends it as
  ``QueryFailed(kind="unavailable")``.

It uses only the public policy interface (``prepare``, ``decide``, :class:`DispatchState`,
``SHED``) and ``Dispatcher.pending_ids``, so it works for every policy, including policies
written by users.

Internal: the client creates one per dispatcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..distribute import SHED, DispatchState, Policy, PolicyContext

__all__: list[str] = []


class _PolicyGuard:
    """A :class:`~kairos_sdk.distribute.Policy` forwarding to ``policy``, minus the ended
    queries, plus the stranded ones (see the module docstring)."""

    def __init__(self, policy: Policy, client: Any) -> None:
        self.policy = policy
        self.name = str(getattr(policy, "name", type(policy).__name__))
        self.assigns_to_idle_only = bool(getattr(policy, "assigns_to_idle_only", False))
        self._client = client
        self.dispatcher: Any = None  # set by the client right after the dispatcher is made
        self._ctx: PolicyContext | None = None

    def prepare(self, ctx: PolicyContext) -> None:
        self._ctx = ctx
        self.policy.prepare(ctx)

    def decide(self, state: DispatchState) -> Sequence[tuple[int, int]]:
        c = self._client
        if not c._stale and not c._stranded:
            return self.policy.decide(state)
        ids = self.dispatcher.pending_ids
        stale = c._stale
        keep = [k for k, qid in enumerate(ids) if qid not in stale]
        out: list[tuple[int, int]] = [(k, SHED) for k, qid in enumerate(ids) if qid in stale]
        if len(keep) == len(ids):
            sub, back = state, None
        else:
            batches, arrivals = state.pending_lists()
            sub = DispatchState(state.now_ms, [batches[k] for k in keep], [arrivals[k] for k in keep],
                                lambda: state.busy_until_ms, lambda: state.free_slots, lambda: state.queue_len,
                                lambda: state.available, idle=lambda: state.idle_list)
            back = keep
        pairs = list(self.policy.decide(sub)) if keep else []
        if back is not None:
            pairs = [(back[k], i) for k, i in pairs]
        out += pairs
        if c._stranded:
            out += self._stranded_pairs(state, ids, pairs)
        return out

    def _stranded_pairs(self, state: DispatchState, ids: Sequence[int], pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Pairs for the stranded queries the policy left pending: to the best idle instance
        it did not use ("serve"), or to SHED ("fail")."""
        c = self._client
        taken = {k for k, _ in pairs}
        used = {i for _, i in pairs}
        free = [i for i in state.idle_list if i not in used]
        if not free:
            return []
        batches = state.pending_lists()[0]
        types = self._ctx.instance_types if self._ctx is not None else ()
        out: list[tuple[int, int]] = []
        for k, qid in enumerate(ids):
            if qid not in c._stranded or k in taken or qid in c._stale:
                continue
            c._stranded.discard(qid)
            if c.timeouts.after_hold == "fail":
                c._stranded_failed.add(qid)
                out.append((k, SHED))
                continue
            best = min(free, key=lambda i: (float(self._ctx.profile.latency(types[i], batches[k], q="mean", extrapolate=True))
                                            if self._ctx is not None else 0.0, i))
            free.remove(best)
            c._n_served_after_hold += 1
            out.append((k, best))
            if not free:
                break
        return out

    def __repr__(self) -> str:
        return f"_PolicyGuard({self.policy!r})"
