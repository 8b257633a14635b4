"""Clockwork as a :class:`~kairos_sdk.distribute.Policy`: SLO-aware earliest-finish routing
after Clockwork (Gujarati et al., "Serving DNNs like Clockwork: Performance Predictability from
the Bottom Up", OSDI 2020). Each query goes to the instance predicted to finish it first, and a
query that cannot meet its deadline anywhere is dropped (or deprioritised). Written from the
paper's public description, for honest comparisons with
:class:`~kairos_sdk.distribute.KairosPolicy`; what is and is not modelled is said in the class.
Registered as ``"clockwork"``.

Examples
--------
>>> from kairos_sdk import Pool, Profile, Workload, simulate
>>> from kairos_sdk.distribute import ClockworkPolicy
>>> pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 4})
>>> r = simulate(pool, Profile.builtin("rm2"), Workload.deeprecsys(), ClockworkPolicy(),
...              rate=20, qos_ms=350, n_queries=2000, seed=1)
>>> r.meets_qos
True
"""

from __future__ import annotations

import numpy as np

from .._checks import non_negative_float, positive_int
from ..errors import SimulationError
from .base import SHED, DispatchState, PolicyContext
from .estimates import Estimates

__all__ = ["ClockworkPolicy"]


# ---------------------------------------------------------------------------- Clockwork
class ClockworkPolicy:
    """SLO-aware earliest-finish routing (Clockwork).

    At every decision point the pending queries are taken in deadline order (arrival +
    ``qos_ms``, i.e. oldest first). For each, the predicted finish on every available
    instance is ``max(busy_until, now) + prediction``, where ``busy_until`` is when the
    instance is expected to be done with the work it already has (including queries this
    decision just gave it) and the prediction is the profile's ``predict_q`` quantile of
    the query's service time (Clockwork predicts with a high percentile of recent
    measurements). The query goes to the instance of least predicted finish, ties to the
    lowest index, provided that instance can start it within ``schedule_ahead_ms``;
    otherwise it waits for that instance (Clockwork keeps only a short schedule on each
    worker) and a younger query may take another instance.

    A query whose least predicted finish is past its deadline cannot meet it:
    ``on_late="drop"`` (Clockwork's behaviour) gives it up at once
    (:data:`~kairos_sdk.distribute.SHED`: reported as failed, counted as a QoS miss);
    ``on_late="deprioritize"`` keeps it and serves it only on instances that no query
    that can still make its deadline is waiting for and that can start it now.

    Modelled: predictable-latency earliest-finish placement, the schedule-ahead window
    and early rejection of hopeless queries. Not modelled: Clockwork's batching of
    several requests into one execution, model loading/eviction between GPU memory and
    host, and its per-worker action timing (the pool's instances serve one query each).

    Parameters
    ----------
    predict_q : quantile of the profile used as the service-time prediction (in (0, 1],
        or ``"mean"``).
    schedule_ahead_ms : how far ahead of an instance's free time a query may be queued on
        it (0: only when it can start at once).
    on_late : ``"drop"`` or ``"deprioritize"``.
    max_consider : pending queries examined per decision (oldest first); default
        ``max(64, 8 * instances)``.

    Examples
    --------
    >>> ClockworkPolicy()
    ClockworkPolicy(predict_q=0.99, schedule_ahead_ms=0, on_late='drop')
    """

    name = "clockwork"
    assigns_to_idle_only = False

    def __init__(self, *, predict_q: float | str = 0.99, schedule_ahead_ms: float = 0.0,
                 on_late: str = "drop", max_consider: int | None = None) -> None:
        if predict_q != "mean" and (isinstance(predict_q, bool) or not isinstance(predict_q, (int, float))
                                    or not (0 < predict_q <= 1)):
            raise SimulationError(f"predict_q must be a quantile in (0, 1] or 'mean', got {predict_q!r}")
        non_negative_float(schedule_ahead_ms, "schedule_ahead_ms", unit="milliseconds", error=SimulationError)
        if on_late not in ("drop", "deprioritize"):
            raise SimulationError(f"on_late must be 'drop' or 'deprioritize', got {on_late!r}")
        if max_consider is not None:
            positive_int(max_consider, "max_consider", error=SimulationError)
        self.predict_q = predict_q
        self.schedule_ahead_ms = float(schedule_ahead_ms)
        self.on_late = on_late
        self.max_consider = max_consider

    def prepare(self, ctx: PolicyContext) -> None:
        self._ctx = ctx
        self._est = Estimates(ctx, q=None if self.predict_q == "mean" else float(self.predict_q))
        self._tix = ctx.type_index
        self._limit = self.max_consider or max(64, 8 * len(ctx.instance_types))

    def predicted_finish_ms(self, batch: int, busy_ms: np.ndarray, now_ms: float) -> np.ndarray:
        """Predicted finish of a ``batch`` query on every instance, given when each is free."""
        return np.maximum(busy_ms, now_ms) + self._est.array(int(batch))[self._tix]

    def decide(self, state: DispatchState) -> list[tuple[int, int]]:
        if state.n_pending == 0:
            return []
        now = state.now_ms
        avail = state.available
        if not avail.any():
            return []
        busy = np.where(avail, np.maximum(state.busy_until_ms, now), np.inf)
        start_by = now + self.schedule_ahead_ms
        qos = self._ctx.qos_ms
        batches, arrivals = state.pending_lists()
        out: list[tuple[int, int]] = []
        late: list[int] = []
        waiting_for: set[int] = set()
        for k in range(min(len(batches), self._limit)):
            fin = self.predicted_finish_ms(batches[k], busy, now)
            j = int(np.argmin(fin))
            if fin[j] > arrivals[k] + qos:
                if self.on_late == "drop":
                    out.append((k, SHED))
                else:
                    late.append(k)
                continue
            if busy[j] <= start_by:
                out.append((k, j))
                busy[j] = fin[j]
            else:
                waiting_for.add(j)
        if late:
            for k in late:
                fin = self.predicted_finish_ms(batches[k], busy, now)
                spare = [j for j in np.flatnonzero(busy <= now).tolist() if j not in waiting_for]
                if not spare:
                    break
                j = min(spare, key=lambda i: fin[i])
                out.append((k, j))
                busy[j] = fin[j]
        return out

    def __repr__(self) -> str:
        return (f"ClockworkPolicy(predict_q={self.predict_q!r}, schedule_ahead_ms={self.schedule_ahead_ms:g}, "
                f"on_late={self.on_late!r})")
