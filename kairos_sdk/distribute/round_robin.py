"""Round robin: every new query joins the next instance's local queue in turn."""

from __future__ import annotations

from .base import DispatchState, PolicyContext

__all__ = ["RoundRobinPolicy"]


class RoundRobinPolicy:
    """Classic round robin: every new query joins the local queue of the next instance in
    turn (skipping instances out of rotation), whatever their load.

    Examples
    --------
    >>> from kairos_sdk.distribute import RoundRobinPolicy
    >>> RoundRobinPolicy()
    RoundRobinPolicy()
    """

    name = "round-robin"
    assigns_to_idle_only = False

    def prepare(self, ctx: PolicyContext) -> None:
        self._n = len(ctx.instance_types)
        self._next = 0

    def decide(self, state: DispatchState) -> list[tuple[int, int]]:
        avail = state.available
        if not avail.any():
            return []
        out = []
        for k in range(len(state.pending_batch)):
            while not avail[self._next]:
                self._next = (self._next + 1) % self._n
            out.append((k, self._next))
            self._next = (self._next + 1) % self._n
        return out

    def __repr__(self) -> str:
        return "RoundRobinPolicy()"
