"""Step 2 of :class:`KairosPolicy`: which queries to set aside early, and which of those an
idle instance of another type rescues.

For each type, the considered pending queries only that type serves in time are scheduled on
its instances in deadline order (Moore–Hodgson, :func:`~kairos_sdk.distribute.schedule.doomed`);
the ones that would make the schedule late are given up, the longest first. A query an idle
instance of another type still serves in time at its ``rescue_q`` latency is given up first
and goes there instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..base import DispatchState, PolicyContext
from ..estimates import Estimates
from ..schedule import doomed
from .costs import US_PER_MS, CostModel

__all__ = ["SetAside", "SetAsideSchedule"]

#: On a type of ``c > 1`` instances at most ``2c + 6`` queries are scheduled (in deadline
#: order), bounding the O(n^2) several-machine schedule.
_JOBS_PER_INSTANCE = 2
_JOBS_EXTRA = 6


@dataclass(frozen=True)
class SetAside:
    """What the schedule gave up at one decision point."""

    gone: list[int] = field(default_factory=list)  # pending indices given up, in that order
    #: given up and rescued: {pending index: {idle type that may take it: cost there (µs)}}
    rescued: dict[int, dict[int, float]] = field(default_factory=dict)


class SetAsideSchedule:
    """The schedule of one run (``__call__`` once per decision point).

    Parameters
    ----------
    ctx : the run's context.
    costs : the policy's cost model (figures per batch size).
    rescue_q : quantile at which another idle type may rescue a query; None never.
    laxity_weight : prices a rescue by its laxity on the rescuing type.
    """

    def __init__(self, ctx: PolicyContext, costs: CostModel, *, rescue_q: float | None,
                 laxity_weight: float) -> None:
        self._costs = costs
        self._laxity_weight = laxity_weight
        self._tix = ctx.type_index.tolist()
        self._members = {t: [i for i, u in enumerate(self._tix) if u == t] for t in costs.present}
        self._rescue = Estimates(ctx, q=rescue_q) if rescue_q is not None else None

    def __call__(self, state: DispatchState, rows: list[int]) -> SetAside:
        """What to give up among the considered pending queries ``rows``."""
        if state.n_pending == 0:
            return SetAside()
        idle_types = {self._tix[j] for j in state.idle_list}
        jobs, can = self._exclusive_jobs(state, rows, idle_types)
        out = SetAside()
        for t, js in jobs.items():
            # only types with an idle instance matter (elsewhere the query is forbidden
            # either way), unless one of their queries could be rescued; a query alone
            # goes to the idle instance, given up or not
            if (t not in idle_types or state.n_pending == 1) and not any(k in can for *_, k in js):
                continue
            members = self._members[t]
            most = _JOBS_PER_INSTANCE * len(members) + _JOBS_EXTRA
            if len(members) > 1 and len(js) > most:
                js = sorted(js)[:most]
            busy = state.busy_until_ms
            out.gone.extend(doomed(js, [max(float(busy[i]), state.now_ms) for i in members], prefer=can))
        out.rescued.update((k, can[k]) for k in out.gone if k in can)
        return out

    def _exclusive_jobs(self, state: DispatchState, rows: list[int], idle_types: set[int],
                        ) -> tuple[dict[int, list[tuple[float, float, int]]], dict[int, dict[int, float]]]:
        """The considered queries only one type serves in time and not late yet, as
        ``{type: [(deadline, latency at feasible_q, pending index)]}``, and the rescue
        costs ``{pending index: {other idle type: cost}}`` of those another type takes."""
        costs, resc = self._costs, self._rescue
        batches, arrivals = state.pending_lists()
        now, qos = state.now_ms, costs.qos_ms
        jobs: dict[int, list[tuple[float, float, int]]] = {}
        can: dict[int, dict[int, float]] = {}
        get = costs.exclusive_of.get
        for k in [k for k in rows if get(batches[k], 0) >= 0]:  # (a batch not seen yet: look)
            row = costs.row(batches[k])
            t = row.exclusive
            if t < 0:
                continue
            room = qos - (now - arrivals[k])
            if room < row.best_mean_ms:  # late: set aside anyway
                continue
            if resc is not None:
                rq = resc.row(batches[k]).q_ms
                others = {u: float(round(US_PER_MS * self._laxity_weight * (room - rq[u])))
                          for u in idle_types if u != t and rq[u] <= room}
                if others:
                    can[k] = others
            jobs.setdefault(t, []).append((arrivals[k] + qos, row.q_ms[t], k))
        return jobs, can
