"""First come, first served: the oldest pending query goes to any idle instance."""

from __future__ import annotations

from .base import DispatchState, PolicyContext

__all__ = ["FCFSPolicy"]


class FCFSPolicy:
    """First come, first served: the oldest pending query goes to any idle instance.

    Idle instances are taken in pool order (so the paper's pools, GPUs listed first, give
    the GPU the oldest query).

    Examples
    --------
    >>> from kairos_sdk.distribute import FCFSPolicy
    >>> FCFSPolicy()
    FCFSPolicy()
    """

    name = "fcfs"
    assigns_to_idle_only = True

    def prepare(self, ctx: PolicyContext) -> None:
        self._ctx = ctx

    def decide(self, state: DispatchState) -> list[tuple[int, int]]:
        idle = state.idle_list
        return [(j, idle[j]) for j in range(min(len(idle), state.n_pending))]

    def __repr__(self) -> str:
        return "FCFSPolicy()"
