"""The KAIROS policy, step by step: :mod:`.costs` prices (query, type) pairs, :mod:`.set_aside`
gives up early the queries that would make others miss, :mod:`.match` solves the min-cost
matching, :mod:`.shed` gives up the hopeless (``shed=True``). :class:`KairosPolicy` holds the
settings and runs the steps at each decision point; :mod:`.weights` prices each type's time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._checks import instance_of, int_at_least, non_negative_float, one_of, quantile
from ...errors import SimulationError
from ...workload import Workload
from ..base import DispatchState, PolicyContext
from ..matching import METHODS
from .costs import CostModel, window_rows
from .match import Decision, cost_matrix, match
from .set_aside import SetAside, SetAsideSchedule
from .shed import shed_hopeless
from .weights import type_weights

__all__ = ["KairosPolicy"]

#: How far into the past (ms) the arrival of a query set aside early is moved, so that the
#: costs price it as a late (hopeless) one.
_LONG_AGO_MS = 1e9

_NO_SET_ASIDE = SetAside()


class KairosPolicy:
    """Min-cost matching of pending queries to idle instances (the SDK's default policy).

    At every decision point with an idle instance, pending queries are matched to the idle
    instances by a maximum-cardinality minimum-cost matching (source → queries → instances
    → sink: :func:`networkx.max_flow_min_cost`, or the exact assignment fast path of
    :func:`min_cost_assignment`). The central pending queue acts as one pooled queue per
    instance type; instances never queue work locally. Edge costs, in ms:

    * **feasibility** — a query may go to a type only if that type serves its batch size
      within QoS at the run's percentile (the planner's eligibility: a type whose tail misses
      would spend the few misses the target allows) and the query would still finish within
      QoS there at the profile's ``feasible_q`` quantile (``wait + latency_q <= qos_ms``). A pair
      that meets QoS only by the mean, on a type able to serve that batch size in time, is
      *risky* and costs ``risky_cost`` extra (used only when no safe pair is left);
    * **regret** — time on each type is priced by the shadow price of that type's time in
      the pool's fluid LP (``weighting="lp"``, needs the workload; else, or with
      ``weighting="speed"``, by speed: the fastest type's latency at the largest batch over
      this type's), so time on fast instances is dearer. A pair costs its weighted time
      minus the least weighted time over the types able to serve that batch size in time.
      A batch size only the GPU serves in time thus costs the GPU nothing, while a small
      query the CPUs serve well costs it extra: the fast instance is the home of the batch
      sizes nobody else serves in time and a work-conserving filler otherwise;
    * **laxity** — plus ``laxity_weight`` × (time left − latency on this type), so the
      least-laxity queries go first and a type prefers the queries that barely fit it,
      tempered by ``short_job_weight`` × the estimated service time (a mild
      shortest-job-first bias: under congestion more queries finish in time);
    * **set aside** — a query that can no longer meet QoS anywhere, even by the mean, costs
      a large constant plus its weighted time, on the types able to serve its batch size in
      time only: it is served only by instances that would otherwise stay idle, and never
      occupies a slow instance for the long time a batch size beyond it takes, so late
      queries do not make others late.
    * **set aside early** — with ``set_aside="schedule"``, the queries only one type serves
      in time are scheduled on its instances in deadline order, and the ones that would make
      the schedule late are set aside at once, the longest first (Moore-Hodgson's rule, see
      :meth:`doomed`), so a query that will miss anyway does not make the next one miss.
    * **rescue** — of the queries that schedule gives up, those an idle instance of another
      type still serves in time at its ``rescue_q`` latency are given up first and go there
      (priced by their laxity there): a likely hit instead of a sure miss.
    * **shed** (opt-in, ``shed=True``) — instead of serving the set-aside queries late on
      otherwise idle instances, keep them off every instance and give them up (assign them to
      :data:`SHED`) once they are hopeless; the simulator and the client report them as
      failed with a :class:`~kairos_sdk.errors.ShedError`. They miss QoS either way, and no
      longer occupy an instance when the next queries arrive; under overload the caller
      learns as soon as the query is hopeless, not when the arrivals stop.

    Parameters
    ----------
    feasible_q : profile quantile used to decide whether a pair meets QoS.
    laxity_weight : weight of the laxity term against regret.
    short_job_weight : weight of the estimated service time (shortest-job-first bias).
    risky_cost : extra cost (ms) of a pair that meets QoS by the mean only; ``None`` forbids it.
    weighting : ``"lp"`` (fluid-LP shadow prices, falls back to speed) or ``"speed"``.
    weights : optional ``{type: factor}`` multiplying the weights (for experiments).
    window : most pending queries considered per decision (half oldest, half youngest
        when more are pending); ``None`` = all.
    method : ``"assignment"`` (exact fast path) or ``"networkx"`` (min-cost flow); both
        return a matching of the same total cost.
    workload : batch-size mix for the LP weights when the dispatcher's context has none.
    set_aside : ``"schedule"`` (default) also sets aside the queries :meth:`doomed` gives
        up; ``"late"`` only the ones that can no longer meet QoS.
    rescue_q : latency quantile at which a given-up query may still go to an idle instance of
        a type that does not serve its batch size in time at the run's percentile; ``None``
        never.
    shed : give up (shed) the queries no type of the pool finishes within QoS even at its
        mean latency, instead of serving them late; the ones the schedule gives up (and no
        rescue takes) are kept off every instance meanwhile and reconsidered at each
        decision. Off by default: every query is served.

    Examples
    --------
    >>> from kairos_sdk.distribute import KairosPolicy
    >>> KairosPolicy()
    KairosPolicy(feasible_q=0.9, laxity_weight=0.5, weighting='lp', method='assignment')
    """

    name = "kairos"
    assigns_to_idle_only = True

    def __init__(
        self,
        *,
        feasible_q: float = 0.9,
        laxity_weight: float = 0.5,
        risky_cost: float | None = 1000.0,
        weighting: str = "lp",
        weights: dict[str, float] | None = None,
        window: int | None = 256,
        method: str = "assignment",
        short_job_weight: float = 0.15,
        workload: Any = None,
        set_aside: str = "schedule",
        rescue_q: float | None = 0.8,
        shed: bool = False,
    ) -> None:
        err = SimulationError
        self.feasible_q = _level(feasible_q, "feasible_q", top=True)
        self.laxity_weight = non_negative_float(laxity_weight, "laxity_weight", error=err)
        self.short_job_weight = non_negative_float(short_job_weight, "short_job_weight", error=err)
        self.risky_cost = None if risky_cost is None else non_negative_float(
            risky_cost, "risky_cost", unit="milliseconds, or None", error=err)
        self.weighting = one_of(weighting, "weighting", ("lp", "speed"), error=err)
        self.weights = _factors(weights)
        self.window = None if window is None else int_at_least(window, "window", 2, what=" or None", error=err)
        self.method = one_of(method, "method", METHODS, error=err)
        self.workload = None if workload is None else instance_of(workload, "workload", Workload)
        self.set_aside = one_of(set_aside, "set_aside", ("schedule", "late"), error=err)
        self.rescue_q = None if rescue_q is None else _level(rescue_q, "rescue_q", top=False)
        self.shed = instance_of(shed, "shed", bool)
        self.name = ("kairos" if method == "assignment" else "kairos-networkx") + ("-shed" if shed else "")

    def prepare(self, ctx: PolicyContext) -> None:
        self._ctx = ctx
        self._tix = ctx.type_index.tolist()
        w = type_weights(ctx, weighting=self.weighting, feasible_q=self.feasible_q, workload=self.workload,
                         factors=self.weights)
        self.type_weights = dict(zip(ctx.type_names, w.tolist()))
        self.costs = CostModel(ctx, w.tolist(), feasible_q=self.feasible_q, laxity_weight=self.laxity_weight,
                               short_job_weight=self.short_job_weight, risky_cost=self.risky_cost, shed=self.shed)
        self._schedule = None
        if self.set_aside == "schedule" and ctx.concurrency == 1:  # (nothing is given up early otherwise)
            self._schedule = SetAsideSchedule(ctx, self.costs, rescue_q=self.rescue_q,
                                              laxity_weight=self.laxity_weight)

    def decide(self, state: DispatchState) -> list[tuple[int, int]]:
        """The min-cost matching of the considered pending queries to the idle instances;
        with ``shed=True``, the hopeless queries go to :data:`~kairos_sdk.distribute.SHED`
        (given up) and the others are matched without them."""
        pairs = []
        if state.idle_list and state.n_pending:
            pairs = match(self.costs, self._decision(state), self.method)
        if not self.shed or state.n_pending == 0:
            return pairs
        return pairs + shed_hopeless(self.costs, state, self.window)

    def doomed(self, state: DispatchState) -> list[int]:
        """Pending indices given up now although they are not late yet (Moore–Hodgson on
        each type's exclusive queries; rescued where another idle type still likely serves
        them in time, else set aside).

        With ``set_aside="schedule"``, for each type, the considered pending queries only
        that type serves in time (the GPU's large batch sizes, say) are scheduled on its
        instances in deadline order from their estimated free times, at the ``feasible_q``
        latency; the ones :func:`~kairos_sdk.distribute.schedule.doomed` gives up
        (Moore-Hodgson: the longest first, until the rest fit) are set aside, so that a
        query that will miss anyway does not make the others miss. A query that an idle
        instance of another type would still serve in time at its ``rescue_q`` latency is
        given up first, and goes there instead (a likely hit for a sure miss). With
        ``concurrency > 1`` nothing is given up early.
        """
        return list(self._set_aside(state).gone)

    def cost_matrix(self, state: DispatchState) -> tuple[Any, list[int], list[int]]:
        """The cost matrix over the considered pending queries (rows: their pending
        indices) and the idle instances (columns), ``inf`` = forbidden."""
        d = self._decision(state)
        return cost_matrix(self.costs, d), d.rows, d.cols

    def _set_aside(self, state: DispatchState, rows: list[int] | None = None) -> SetAside:
        schedule = self._schedule
        if schedule is None:
            return _NO_SET_ASIDE
        if rows is None:
            rows = window_rows(state.n_pending, self.window)
        return state.cached("kairos.set_aside", lambda: schedule(state, rows))

    def _decision(self, state: DispatchState) -> Decision:
        """The decision point as the costs see it: a query set aside early (and not
        rescued) is priced as a late one (its arrival moved far into the past)."""
        batches, arrivals = state.pending_lists()
        rows = window_rows(len(batches), self.window)
        aside = self._set_aside(state, rows)
        if len(aside.gone) > len(aside.rescued):
            arrivals = list(arrivals)
            for k in aside.gone:
                if k not in aside.rescued:
                    arrivals[k] = state.now_ms - _LONG_AGO_MS
        cols = state.idle_list
        return Decision(
            now_ms=state.now_ms, batches=batches, arrivals=arrivals, rows=rows,
            cols=cols, ctypes=[self._tix[j] for j in cols], aside=aside,
            free_slots=state.free_slots if self._ctx.concurrency > 1 else None,
        )

    def __repr__(self) -> str:
        return (f"KairosPolicy(feasible_q={self.feasible_q:g}, laxity_weight={self.laxity_weight:g}, "
                f"weighting={self.weighting!r}, method={self.method!r}" + (", shed=True)" if self.shed else ")"))


def _level(value: Any, name: str, *, top: bool) -> float:
    """A quantile level in ``(0, 1]`` (``top``) or in ``(0, 1)``."""
    v = quantile(value, name, error=SimulationError)
    if v == 0.0 or (v == 1.0 and not top):
        raise SimulationError(f"{name} must be a quantile in {'(0, 1]' if top else '(0, 1)'}, got {value!r}")
    return v


def _factors(weights: Any) -> dict[str, float] | None:
    """``{type: factor}`` multiplying the types' weights (None or empty: none)."""
    if weights is None:
        return None
    instance_of(weights, "weights", Mapping, hint=" {type name: factor}")
    return {t: non_negative_float(f, f"weights[{t!r}]", error=SimulationError) for t, f in weights.items()} or None
