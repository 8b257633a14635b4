"""Runtime query distribution: the :class:`Policy` protocol, the :class:`Dispatcher` and
the built-in policies.

One policy, two clocks: the simulator and the live client both drive a :class:`Dispatcher`,
which keeps the pending queue and each instance's estimated state and asks the policy, at
every decision point, which pending query goes to which instance. Nothing here does I/O or
knows what time it is; callers pass ``now_ms``. Policies see profile-based *estimates*
only, never the true service times.

Decision points are arrivals and completions. Each assignment ``(pending index, instance
index)`` puts the query on that instance's local FIFO queue; an instance starts the head of
its queue whenever it has a free slot (``concurrency`` queries in flight at most). Policies
that only assign to idle instances (free slot, empty queue) start every assigned query at
once; they say so with the class attribute ``assigns_to_idle_only = True`` and the
dispatcher then skips asking them while no instance is idle. A policy may also give a
query up unserved by assigning it to :data:`SHED` (load shedding: ``KairosPolicy(shed=True)``
does so for queries that can no longer meet QoS); the dispatcher drops it from the queue
and hands its id to the caller through :meth:`Dispatcher.take_shed`, which reports it as
failed — a shed query is never silently lost.

Policies
--------
:class:`KairosPolicy`
    min-cost matching of pending queries to idle instances (networkx min-cost flow, or an
    exact assignment fast path); the default.
:class:`PaperPolicy`
    the KAIROS paper's distributor exactly as published (baseline).
:class:`FCFSPolicy`, :class:`RoundRobinPolicy`, :class:`LeastWorkPolicy`
    simple baselines.

Examples
--------
>>> from kairos_sdk import Profile
>>> from kairos_sdk.distribute import Dispatcher, FCFSPolicy
>>> prof = Profile.from_dict({"cpu": {10: [5.0]}})
>>> d = Dispatcher(FCFSPolicy(), ["cpu", "cpu"], prof, qos_ms=50)
>>> d.submit(0, 10, now_ms=0.0); d.submit(1, 10, now_ms=0.0); d.submit(2, 10, now_ms=0.0)
>>> d.dispatch(now_ms=0.0)
[(0, 0), (1, 1)]
>>> d.finish(0, now_ms=5.0)
0
>>> d.dispatch(now_ms=5.0)
[(2, 0)]
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy.optimize import linear_sum_assignment

from .errors import KairosError, SimulationError
from .profile import Profile

__all__ = [
    "DispatchState",
    "Dispatcher",
    "FCFSPolicy",
    "KairosPolicy",
    "LeastWorkPolicy",
    "PaperPolicy",
    "Policy",
    "PolicyContext",
    "RoundRobinPolicy",
    "SHED",
    "min_cost_assignment",
]

#: Instance index a policy assigns a query to in order to give it up unserved (shed it).
SHED = -1


@dataclass(frozen=True, eq=False)
class PolicyContext:
    """What a policy may know about a run before it starts.

    Attributes
    ----------
    instance_types : type name of every instance, in pool order.
    type_names : the distinct type names; ``type_index[i]`` indexes it for instance ``i``.
    type_index : (N,) int array.
    profile : latency profile (policies estimate service times from it, never the truth).
    qos_ms : latency target (queueing included), ms.
    percentile : the share of queries (in %) that must meet ``qos_ms``.
    concurrency : queries an instance serves at once.
    plan : the :class:`~kairos_sdk.planner.Plan` behind the pool, when known (its routing
        may guide a policy).
    workload : the :class:`~kairos_sdk.Workload` expected, when known (its batch-size mix
        may guide a policy).
    """

    instance_types: tuple[str, ...]
    type_names: tuple[str, ...]
    type_index: np.ndarray
    profile: Profile
    qos_ms: float
    percentile: float
    concurrency: int
    plan: Any = None
    workload: Any = None

    def estimate_ms(self, type_name: str, batch: Any, q: Any = "mean") -> np.ndarray:
        """Service-time estimate from the profile (extrapolated beyond the measured range)."""
        return self.profile.latency(type_name, batch, q=q, extrapolate=True)


class DispatchState:
    """The live state a policy decides on (read-only for the policy, valid during
    ``decide`` only: the dispatcher reuses its buffers).

    The array attributes are built on first access, so a policy that reads only what it
    needs (or the list views ``pending_lists()`` and ``idle_list``) pays only for that.

    Attributes
    ----------
    now_ms : the current time.
    pending_batch, pending_arrival_ms : (P,) arrays, pending queries oldest first.
    busy_until_ms : (N,) estimated time each instance finishes the work it already has
        (``<= now_ms`` means idle).
    free_slots : (N,) how many more queries each instance could start right now.
    queue_len : (N,) queries waiting in each instance's local queue.
    available : (N,) bool, False for instances taken out of rotation.
    idle : indices of the instances with a free slot, an empty queue and in rotation, in
        pool order (computed from the fields above when not given).

    Examples
    --------
    >>> import numpy as np
    >>> from kairos_sdk.distribute import DispatchState
    >>> s = DispatchState(now_ms=0.0, pending_batch=[10, 20], pending_arrival_ms=[0.0, 0.0],
    ...                   busy_until_ms=np.zeros(2), free_slots=np.array([1, 0]),
    ...                   queue_len=np.zeros(2, dtype=int), available=np.ones(2, dtype=bool))
    >>> s.n_pending, s.idle_list
    (2, [0])
    """

    def __init__(self, now_ms: float, pending_batch: Any, pending_arrival_ms: Any, busy_until_ms: Any,
                 free_slots: Any, queue_len: Any, available: Any, idle: Any = None) -> None:
        self.now_ms = now_ms
        self._pb = pending_batch
        self._pa = pending_arrival_ms
        self._busy = busy_until_ms
        self._free = free_slots
        self._qlen = queue_len
        self._avail = available
        self._idle = idle
        self._cache: dict[str, Any] = {}

    def _arr(self, key: str, raw: Any, dtype: Any) -> np.ndarray:
        hit = self._cache.get(key)
        if hit is None:
            hit = np.asarray(raw() if callable(raw) else raw, dtype=dtype)
            self._cache[key] = hit
        return hit

    @property
    def n_pending(self) -> int:
        return len(self._pb)

    def pending_lists(self) -> tuple[list[int], list[float]]:
        """``(batches, arrivals_ms)`` of the pending queries as Python lists (oldest first)."""
        pb, pa = self._pb, self._pa
        return (pb if isinstance(pb, list) else np.asarray(pb).tolist(),
                pa if isinstance(pa, list) else np.asarray(pa).tolist())

    @property
    def pending_batch(self) -> np.ndarray:
        return self._arr("pb", self._pb, np.int64)

    @property
    def pending_arrival_ms(self) -> np.ndarray:
        return self._arr("pa", self._pa, float)

    @property
    def busy_until_ms(self) -> np.ndarray:
        return self._arr("busy", self._busy, float)

    @property
    def free_slots(self) -> np.ndarray:
        return self._arr("free", self._free, np.intp)

    @property
    def queue_len(self) -> np.ndarray:
        return self._arr("qlen", self._qlen, np.intp)

    @property
    def available(self) -> np.ndarray:
        return self._arr("avail", self._avail, bool)

    @property
    def idle(self) -> np.ndarray:
        hit = self._cache.get("idle")
        if hit is None:
            if self._idle is None:
                hit = np.flatnonzero((self.free_slots > 0) & (self.queue_len == 0) & self.available)
            else:
                hit = np.asarray(self._idle() if callable(self._idle) else self._idle, dtype=np.intp)
            self._cache["idle"] = hit
        return hit

    @property
    def idle_list(self) -> list[int]:
        """Idle instance indices as a Python list, in pool order."""
        if self._idle is not None and "idle" not in self._cache:
            v = self._idle() if callable(self._idle) else self._idle
            return list(v) if not isinstance(v, np.ndarray) else v.tolist()
        return self.idle.tolist()

    def __repr__(self) -> str:
        return f"DispatchState(now_ms={self.now_ms:g}, {self.n_pending} pending, idle={self.idle_list})"


@runtime_checkable
class Policy(Protocol):
    """A query-distribution policy.

    ``prepare`` is called once at the start of every run (simulated or live) and may
    precompute tables from the context; ``decide`` returns ``(pending index, instance
    index)`` pairs, each pending index at most once, only to available instances, or to
    :data:`SHED` to give the query up. Queries left unassigned stay pending until the next
    decision point.
    """

    name: str

    def prepare(self, ctx: PolicyContext) -> None: ...

    def decide(self, state: DispatchState) -> Sequence[tuple[int, int]]: ...


# ---------------------------------------------------------------------------- helpers
class _Estimates:
    """Per-batch lookup of profile estimates for every type of a pool, cached by batch.

    ``row(b)`` is a tuple ``(mean per type, q-quantile per type)`` as Python floats.
    """

    def __init__(self, ctx: PolicyContext, q: float | None = None, round_ms: bool = False) -> None:
        self.ctx = ctx
        self.q = q
        self.round_ms = round_ms
        self._tabs = []
        for t in ctx.type_names:
            b = ctx.profile.batch_sizes(t).astype(float)
            m = np.asarray(ctx.profile.quantile_table(t, "mean"), dtype=float)
            qq = np.asarray(ctx.profile.quantile_table(t, q), dtype=float) if q is not None else m
            self._tabs.append((b, m, qq))
        self._cache: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {}

    @staticmethod
    def _interp(x: float, b: np.ndarray, v: np.ndarray) -> float:
        if len(b) == 1:
            return float(v[0] * x / b[0]) if x > b[0] else float(v[0])
        if x > b[-1]:  # linear extrapolation from the last segment, floored at 0
            return float(max(v[-1] + (v[-1] - v[-2]) * (x - b[-1]) / (b[-1] - b[-2]), 0.0))
        if x < b[0]:
            return float(max(v[0] + (v[1] - v[0]) * (x - b[0]) / (b[1] - b[0]), 0.0))
        return float(np.interp(x, b, v))

    def row(self, batch: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        hit = self._cache.get(batch)
        if hit is None:
            mean = tuple(self._interp(batch, b, m) for b, m, _ in self._tabs)
            qv = tuple(self._interp(batch, b, q) for b, _, q in self._tabs)
            if self.round_ms:
                mean = tuple(float(np.round(x)) for x in mean)
            hit = (mean, qv)
            self._cache[batch] = hit
        return hit



def _speed_weights(ctx: PolicyContext, round_to: int | None = None) -> np.ndarray:
    """Heterogeneity weight per type: the fastest type's mean latency at the largest batch
    all types measured, divided by this type's (1 for the fastest, < 1 for slower ones)."""
    prof = ctx.profile
    ref = min(int(prof.batch_sizes(t)[-1]) for t in ctx.type_names)
    lat = np.array([float(prof.latency(t, ref, q="mean", extrapolate=True)) for t in ctx.type_names])
    lat = np.maximum(lat, 1e-9)
    w = lat.min() / lat
    return np.round(w, round_to) if round_to is not None else w


def _lp_weights(ctx: PolicyContext, batches: np.ndarray, probs: np.ndarray, q: float) -> np.ndarray | None:
    """Shadow price of one ms on each type from the pool's fluid LP: maximize the total rate
    ``lam`` with every batch size routed to types that serve it within QoS at quantile ``q``
    and each type busy at most 100%. Returns the capacity duals scaled to a maximum of 1, or
    None when the LP cannot be solved."""
    from scipy.optimize import linprog

    names = ctx.type_names
    counts = np.bincount(ctx.type_index, minlength=len(names)).astype(float)
    nb, nt = len(batches), len(names)
    mean = np.array([ctx.profile.latency(t, batches, q="mean", extrapolate=True) for t in names])  # (T, B)
    ok = np.array([ctx.profile.latency(t, batches, q=q, extrapolate=True) <= ctx.qos_ms for t in names])
    orphan = ~ok.any(axis=0)
    ok[:, orphan] = True  # nobody serves them in time: let any type take them
    # variables: y[t, b] = rate of batch b on type t (qps), then lam
    nv = nt * nb + 1
    c = np.zeros(nv)
    c[-1] = -1.0
    a_ub = np.zeros((nt, nv))
    for t in range(nt):
        a_ub[t, t * nb:(t + 1) * nb] = mean[t] / 1000.0
    b_ub = counts
    a_eq = np.zeros((nb, nv))
    for b in range(nb):
        for t in range(nt):
            a_eq[b, t * nb + b] = 1.0
        a_eq[b, -1] = -probs[b]
    bounds = [(0, None if ok[t, b] else 0) for t in range(nt) for b in range(nb)] + [(0, None)]
    try:
        res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=np.zeros(nb), bounds=bounds, method="highs")
    except (ValueError, np.linalg.LinAlgError):
        return None
    if res.status != 0 or res.ineqlin is None:
        return None
    duals = -np.asarray(res.ineqlin.marginals, dtype=float)
    if not np.all(np.isfinite(duals)) or duals.max() <= 0:
        return None
    w = duals / duals.max()
    return np.maximum(w, 0.05)


def _batch_mix(workload: Any, plan: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Batch sizes and their probabilities from a workload, else from a plan's routing
    (``{type: {batch: rate}}`` summed over types), else None."""
    if workload is not None:
        return np.asarray(workload.batch_sizes), np.asarray(workload.probs, dtype=float)
    routing = getattr(plan, "routing", None)
    if isinstance(routing, dict) and routing:
        tot: dict[int, float] = {}
        for by_batch in routing.values():
            for b, r in dict(by_batch).items():
                tot[int(b)] = tot.get(int(b), 0.0) + float(r)
        if tot and sum(tot.values()) > 0:
            bs = np.array(sorted(tot))
            pr = np.array([tot[b] for b in bs])
            return bs, pr / pr.sum()
    return None


_FORBIDDEN = np.inf


def min_cost_assignment(
    cost: np.ndarray,
    capacity: Sequence[int] | np.ndarray | None = None,
    *,
    method: str = "assignment",
) -> list[tuple[int, int]]:
    """Maximum-cardinality, minimum-cost matching of rows (queries) to columns (instances).

    ``cost[i, j]`` is the cost of serving row ``i`` on column ``j``; ``inf`` forbids the
    pair. Column ``j`` takes at most ``capacity[j]`` rows (default 1), a row at most one
    column. Among the matchings of the largest possible size, one of least total cost is
    returned as ``(row, column)`` pairs sorted by row.

    ``method="networkx"`` solves it as a min-cost flow (source → rows → columns → sink,
    :func:`networkx.max_flow_min_cost`; costs are rounded to integers first, so pass
    integer-valued costs for an exact comparison); ``method="assignment"`` is the exact
    fast path: rectangular :func:`scipy.optimize.linear_sum_assignment` on the columns
    expanded by capacity, forbidden pairs priced above any feasible total and dropped
    afterwards, with closed forms for one row or one column.

    Examples
    --------
    >>> import numpy as np
    >>> from kairos_sdk.distribute import min_cost_assignment
    >>> c = np.array([[1.0, 5.0], [2.0, np.inf], [4.0, 3.0]])
    >>> min_cost_assignment(c)
    [(0, 0), (2, 1)]
    >>> min_cost_assignment(c, method="networkx")
    [(0, 0), (2, 1)]
    """
    cost = np.asarray(cost, dtype=float)
    if cost.ndim != 2:
        raise SimulationError(f"cost must be a 2-d matrix, got shape {cost.shape}")
    p, n = cost.shape
    cap = np.ones(n, dtype=np.intp) if capacity is None else np.asarray(capacity, dtype=np.intp)
    if cap.shape != (n,) or np.any(cap < 0):
        raise SimulationError("capacity must hold one non-negative integer per column")
    if p == 0 or n == 0 or cap.sum() == 0:
        return []
    if method == "networkx":
        return _mcf_networkx(cost, cap)
    if method != "assignment":
        raise SimulationError(f"method must be 'assignment' or 'networkx', got {method!r}")
    ok = np.isfinite(cost)
    if not ok.any():
        return []
    if n == 1 and cap[0] >= 1:
        col = cost[:, 0]
        k = int(cap[0])
        if k == 1:
            i = int(np.argmin(col))
            return [(i, 0)] if np.isfinite(col[i]) else []
        order = np.argsort(col, kind="stable")[:k]
        return sorted((int(i), 0) for i in order if np.isfinite(col[i]))
    if p == 1:
        row = np.where(cap > 0, cost[0], np.inf)
        j = int(np.argmin(row))
        return [(0, j)] if np.isfinite(row[j]) else []
    if np.all(cap == 1):
        return _lsa_pairs(cost)
    cols = np.repeat(np.arange(n), cap)
    return [(i, int(cols[j])) for i, j in _lsa_pairs(cost[:, cols])]


def _lsa_pairs(m: np.ndarray) -> list[tuple[int, int]]:
    """Max-cardinality min-cost matching on unit-capacity columns with ``inf`` forbidden:
    forbidden pairs get a cost above any feasible total, so the rectangular assignment
    first maximizes the number of allowed pairs, then minimizes their cost."""
    fin = np.isfinite(m)
    if fin.all():
        r, c = linear_sum_assignment(m)
        return list(zip(r.tolist(), c.tolist()))
    span = max(float(np.max(m, where=fin, initial=0.0)), -float(np.min(m, where=fin, initial=0.0)))
    big = (span + 1.0) * (min(m.shape) + 1) * 4.0
    r, c = linear_sum_assignment(np.where(fin, m, big))
    keep = fin[r, c]
    return list(zip(r[keep].tolist(), c[keep].tolist()))


def _grouped_lsa_pairs(tc: np.ndarray, groups: list[int], *, prune_from: int = 16) -> list[tuple[int, int]]:
    """:func:`_lsa_pairs` on ``tc[:, groups]`` for columns that come in groups of identical
    ones (column ``j`` costs ``tc[:, groups[j]]``), solved as a smaller assignment: a
    maximum-cardinality matching of the same total cost, as pairs sorted by row. ``tc`` is
    (rows, groups), ``inf`` = forbidden; the transpose of a C-contiguous array is fastest.
    Two exact reductions, on the big-M matrix of :func:`_lsa_pairs`:

    * **rows that cannot matter are dropped** (when ``n = len(groups) >= prune_from``). A
      matching has at most ``n`` pairs. If row ``r`` is matched in group ``g`` and ``n``
      other rows cost no more there, one of them is unmatched and can take ``r``'s column
      at no extra cost; so some optimal matching uses only ``n`` cheapest rows per group.
    * **the largest group is left implicit.** With ``q >= n`` rows left and ``q - n`` dummy
      columns (the unmatched rows, priced ``big``) added, every row takes one column and a
      group of ``k`` columns exactly ``k`` rows. The rows outside the columns of the other
      groups are then those of the largest group ``h``: less each row's cost on ``h`` (a
      constant in total), only the assignment to the other ``q - k_h`` columns is solved.
    """
    n, p = len(groups), tc.shape[0]
    if n == 0 or p == 0:
        return []
    g = tc.T  # (groups, rows)
    ng = g.shape[0]
    fin = np.isfinite(g)
    vals = g[fin]
    if not vals.size:
        return []
    span = float(np.abs(vals).max())
    big = (span + 1.0) * (min(p, n) + 1) * 4.0  # above any feasible total, as in _lsa_pairs
    m = np.full((ng + 1, p), big)  # (groups + dummy, rows), big-M
    np.copyto(m[:ng], g, where=fin)
    keep = None
    if p > n >= prune_from:  # (on fewer columns pruning takes longer than it saves)
        use = np.zeros(p, dtype=bool)
        use[np.argpartition(m[:ng], n - 1, axis=1)[:, :n]] = True
        keep = np.flatnonzero(use)
        if len(keep) < p:
            m = m.take(keep, axis=1)
        else:
            keep = None
    q = m.shape[1]
    kl = range(q) if keep is None else keep.tolist()
    if q < n:  # fewer rows than columns: a plain assignment
        sub = m[groups]
        c, r = linear_sum_assignment(sub)
        ok = sub[c, r] < big
        return sorted(zip([kl[i] for i in r[ok].tolist()], c[ok].tolist()))
    cnt = [groups.count(t) for t in range(ng)] + [q - n]
    h = cnt.index(max(cnt))
    gext = groups + [ng] * (q - n)  # group of every column, dummies last
    cols, hcols = [], []
    for j, t in enumerate(gext):
        (hcols if t == h else cols).append(j)
    jr, ir = linear_sum_assignment(m.take([gext[j] for j in cols], axis=0) - m[h])
    col_of = [-1] * q
    for j, i in zip(jr.tolist(), ir.tolist()):
        col_of[i] = cols[j]
    hcols = iter(hcols)  # for the rows left over
    ml = m.tolist()
    out = []
    for i, j in enumerate(col_of):
        if j < 0:
            if h == ng:
                continue
            j = next(hcols)
        if j < n and ml[gext[j]][i] < big:
            out.append((kl[i], j))
    return out


def _mcf_networkx(cost: np.ndarray, cap: np.ndarray) -> list[tuple[int, int]]:
    import networkx as nx

    p, n = cost.shape
    g = nx.DiGraph()
    g.add_node("s")
    g.add_node("t")
    for i in range(p):
        g.add_edge("s", ("q", i), capacity=1, weight=0)
    for j in range(n):
        if cap[j] > 0:
            g.add_edge(("i", j), "t", capacity=int(cap[j]), weight=0)
    ii, jj = np.nonzero(np.isfinite(cost))
    for i, j in zip(ii.tolist(), jj.tolist()):
        if cap[j] > 0:
            g.add_edge(("q", i), ("i", j), capacity=1, weight=int(round(cost[i, j])))
    flow = nx.max_flow_min_cost(g, "s", "t")
    out = []
    for i in range(p):
        for node, f in flow[("q", i)].items():
            if f > 0:
                out.append((i, node[1]))
    return sorted(out)


def _doomed(jobs: list[tuple[float, float, int]], free_ms: list[float], prefer: Any = ()) -> list[int]:
    """Which jobs to give up so that all the others finish by their deadlines, on
    ``len(free_ms)`` identical machines (Moore-Hodgson's rule).

    ``jobs`` are ``(deadline_ms, service_ms, key)`` and ``free_ms`` when each machine can
    start. The jobs run in deadline order, each on the machine that frees first; whenever
    one would finish late, the longest job scheduled so far is given up — the longest of
    those whose key is in ``prefer`` when there are any (jobs that have somewhere else to
    go). Without ``prefer``, on one machine this keeps the largest possible number of jobs
    on time (Moore, *Management Science* 15(1), 1968) in O(n log n); on several machines
    the schedule is redone after each job given up (the usual list-scheduling extension,
    O(n^2) at worst). Returns the keys given up, in the order they were.

    >>> from kairos_sdk.distribute import _doomed
    >>> _doomed([(10.0, 4.0, 0), (10.0, 4.0, 1), (11.0, 5.0, 2)], [0.0])
    [2]
    >>> _doomed([(10.0, 4.0, 0), (10.0, 4.0, 1), (11.0, 5.0, 2)], [0.0], prefer={0})
    [0]
    >>> _doomed([(10.0, 4.0, 0), (10.0, 4.0, 1), (11.0, 5.0, 2)], [0.0, 0.0])
    []
    """
    out: list[int] = []
    if len(free_ms) == 1:
        # removing a job only moves the later ones earlier: the job just added is the only
        # one that can be late
        end = free_ms[0]
        heaps: tuple[list[tuple[float, int]], list[tuple[float, int]]] = ([], [])  # (preferred, other)
        for d, p, k in sorted(jobs):
            heapq.heappush(heaps[0] if k in prefer else heaps[1], (-p, k))
            end += p
            while end > d and (heaps[0] or heaps[1]):
                q, gone = heapq.heappop(heaps[0] or heaps[1])
                end += q
                out.append(gone)
        return out
    kept: list[tuple[float, float, int]] = []
    free = list(free_ms)  # the machines after the kept jobs (all on time)
    for job in sorted(jobs):
        kept.append(job)  # the latest deadline so far: it runs last, the others stay put
        j = free.index(min(free))
        free[j] += job[1]
        late = free[j] > job[0]
        while late:
            pool = [jb for jb in kept if jb[2] in prefer] or kept
            x = max(pool, key=lambda jb: jb[1])
            kept.remove(x)
            out.append(x[2])
            free, late = list(free_ms), False  # redo the schedule without it
            for d, p, _ in kept:
                j = free.index(min(free))
                free[j] += p
                if free[j] > d:
                    late = True
                    break
    return out


# ---------------------------------------------------------------------------- baselines
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


class LeastWorkPolicy:
    """Earliest estimated finish: each new query (oldest first) joins the local queue of
    the instance where it would finish soonest by the profile's mean estimates, counting
    the work already there.

    Examples
    --------
    >>> from kairos_sdk.distribute import LeastWorkPolicy
    >>> LeastWorkPolicy()
    LeastWorkPolicy()
    """

    name = "least-work"
    assigns_to_idle_only = False

    def prepare(self, ctx: PolicyContext) -> None:
        self._est = _Estimates(ctx)
        self._tix = ctx.type_index

    def decide(self, state: DispatchState) -> list[tuple[int, int]]:
        if not state.available.any():
            return []
        busy = np.maximum(state.busy_until_ms, state.now_ms)
        busy = np.where(state.available, busy, np.inf)
        out = []
        for k, b in enumerate(state.pending_batch.tolist()):
            e = np.asarray(self._est.row(int(b))[0])[self._tix]
            fin = busy + e
            j = int(np.argmin(fin))
            busy[j] = fin[j]
            out.append((k, j))
        return out

    def __repr__(self) -> str:
        return "LeastWorkPolicy()"


class PaperPolicy:
    """The KAIROS paper's query distributor exactly as its artifact implements it.

    At every decision point with at least one free instance: rows are the ``2N`` oldest
    pending queries, columns **all** ``N`` instances (busy ones included). The cost of
    query ``i`` on instance ``j`` is ``skew_j * (t_left_j + e_ij)``, with ``e_ij`` the
    profile's mean latency rounded to whole ms, ``t_left_j`` the estimated remaining busy
    time and ``skew_j`` the heterogeneity coefficient (fastest type's mean latency at the
    largest batch over type ``j``'s, rounded to 2 decimals); if the query is not yet late
    and the pair would miss QoS the cost is 1000, if it meets QoS by less than 2% of the
    target it is 500. ``scipy.optimize.linear_sum_assignment`` solves it; a query matched
    to a busy instance stays pending (this is how the paper waits for a faster instance).

    Deviations (documented): the artifact takes the *first listed* instance's type as the
    skew reference (its configs list the GPU first); here the fastest type at the largest
    batch is used, which is the same for the paper's pools.

    Examples
    --------
    >>> from kairos_sdk.distribute import PaperPolicy
    >>> PaperPolicy()
    PaperPolicy(window=2N, safeguard=2%)
    """

    name = "paper"
    assigns_to_idle_only = True

    def __init__(self, *, safeguard: float = 0.02, penalty_close: float = 500.0, penalty_miss: float = 1000.0,
                 window_factor: int = 2) -> None:
        self.safeguard = float(safeguard)
        self.penalty_close = float(penalty_close)
        self.penalty_miss = float(penalty_miss)
        self.window_factor = int(window_factor)

    def prepare(self, ctx: PolicyContext) -> None:
        self._ctx = ctx
        self._est = _Estimates(ctx, round_ms=True)
        self._skew = _speed_weights(ctx, round_to=2)[ctx.type_index]
        self._tix = ctx.type_index
        self._n = len(ctx.instance_types)
        self._qos = ctx.qos_ms
        self._rows: dict[int, np.ndarray] = {}
        self._ok = np.zeros(self._n, dtype=bool)

    def _row(self, batch: int) -> np.ndarray:
        hit = self._rows.get(batch)
        if hit is None:
            hit = np.asarray(self._est.row(batch)[0])[self._tix]
            self._rows[batch] = hit
        return hit

    def cost_matrix(self, state: DispatchState) -> np.ndarray:
        """The paper's ``(rows, N)`` cost matrix at this decision point."""
        now = state.now_ms
        batches, arrivals = state.pending_lists()
        p = min(len(batches), self.window_factor * self._n)
        e = np.array([self._row(b) for b in batches[:p]])  # (p, N) rounded ms
        t_left = np.maximum(state.busy_until_ms - now, 0.0)
        t_qos = self._qos - (now - np.asarray(arrivals[:p]))
        t_qos = np.where(t_qos > 0, t_qos, 0.0)[:, None]
        done = t_left[None, :] + e
        cost = self._skew[None, :] * done
        resi = t_qos - done
        live = t_qos > 0
        return np.where(live & (resi < 0), self.penalty_miss,
                        np.where(live & (resi - self.safeguard * self._qos < 0), self.penalty_close, cost))

    def decide(self, state: DispatchState) -> list[tuple[int, int]]:
        free = state.idle_list
        if not free or state.n_pending == 0:
            return []
        rows, cols = linear_sum_assignment(self.cost_matrix(state))
        ok = self._ok
        ok[:] = False
        ok[free] = True
        return [(i, j) for i, j in zip(rows.tolist(), cols.tolist()) if ok[j]]

    def __repr__(self) -> str:
        return f"PaperPolicy(window={self.window_factor}N, safeguard={self.safeguard:.0%})"


# ---------------------------------------------------------------------------- KAIROS
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
        if isinstance(feasible_q, bool) or not isinstance(feasible_q, (int, float)) or not (0.0 < feasible_q <= 1.0):
            raise KairosError(f"feasible_q must be a quantile in (0, 1], got {feasible_q!r}")
        if method not in ("assignment", "networkx"):
            raise KairosError(f"method must be 'assignment' or 'networkx', got {method!r}")
        if weighting not in ("lp", "speed"):
            raise KairosError(f"weighting must be 'lp' or 'speed', got {weighting!r}")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 2):
            raise KairosError(f"window must be an integer >= 2 or None, got {window!r}")
        if not (laxity_weight >= 0):
            raise KairosError(f"laxity_weight must be >= 0, got {laxity_weight!r}")
        if set_aside not in ("schedule", "late"):
            raise KairosError(f"set_aside must be 'schedule' or 'late', got {set_aside!r}")
        if rescue_q is not None and (isinstance(rescue_q, bool) or not isinstance(rescue_q, (int, float))
                                     or not (0.0 < rescue_q < 1.0)):
            raise KairosError(f"rescue_q must be a quantile in (0, 1) or None, got {rescue_q!r}")
        if not (short_job_weight >= 0):
            raise KairosError(f"short_job_weight must be >= 0, got {short_job_weight!r}")
        if not isinstance(shed, bool):
            raise KairosError(f"shed must be True or False, got {shed!r}")
        self.feasible_q = float(feasible_q)
        self.laxity_weight = float(laxity_weight)
        self.short_job_weight = float(short_job_weight)
        self.risky_cost = None if risky_cost is None else float(risky_cost)
        self.weighting = weighting
        self.weights = dict(weights) if weights else None
        self.window = window
        self.method = method
        self.workload = workload
        self.set_aside = set_aside
        self.rescue_q = None if rescue_q is None else float(rescue_q)
        self.shed = shed
        self.name = ("kairos" if method == "assignment" else "kairos-networkx") + ("+shed" if shed else "")

    def prepare(self, ctx: PolicyContext) -> None:
        self._ctx = ctx
        self._qos = ctx.qos_ms
        self._tix = ctx.type_index.tolist()
        self._est = _Estimates(ctx, q=self.feasible_q)
        # "able to serve a batch size in time" uses the run's own percentile, as the planner's
        # eligibility does: a type whose tail misses QoS at that batch size would spend the
        # few misses the target allows (a t3 at p90 but not at p99, say)
        self._tail = _Estimates(ctx, q=min(ctx.percentile / 100.0, 1.0))
        w = _speed_weights(ctx)
        mix = _batch_mix(self.workload if self.workload is not None else ctx.workload, ctx.plan)
        if self.weighting == "lp" and mix is not None:
            lp = _lp_weights(ctx, mix[0], mix[1], self.feasible_q)
            if lp is not None:
                w = lp
        if self.weights:
            w = np.array([w[k] * self.weights.get(t, 1.0) for k, t in enumerate(ctx.type_names)])
        self.type_weights = dict(zip(ctx.type_names, np.asarray(w, dtype=float).tolist()))
        self._w = list(self.type_weights.values())
        self._present = sorted(set(self._tix))
        self._members = {t: [i for i, u in enumerate(self._tix) if u == t] for t in self._present}
        self._excl: dict[int, int] = {}  # batch -> the only type serving it in time, else -1
        self._rescue = _Estimates(ctx, q=self.rescue_q) if self.rescue_q is not None else None
        self._qcache: dict[int, tuple] = {}
        self._rid: dict[int, int] = {}  # batch -> its row id in self._tab
        self._tab = np.zeros((6, len(ctx.type_names), 128))

    def _query_row(self, batch: int) -> tuple:
        """Static per-batch figures: (mean per type, q-latency per type, regret per type,
        least mean over the pool's types, types able to serve the batch in time, row id in
        the vectorized table, set-aside cost per type)."""
        hit = self._qcache.get(batch)
        if hit is None:
            mean, qv = self._est.row(batch)
            tail = self._tail.row(batch)[1]
            cap = [t for t in self._present if tail[t] <= self._qos]
            if not cap:
                cap = self._present
            best_w = min(self._w[t] * mean[t] for t in cap)
            regret = tuple(max(self._w[t] * mean[t] - best_w, 0.0) for t in range(len(mean)))
            capmask = [1.0 if t in cap else 0.0 for t in range(len(mean))]
            bm = min(mean[t] for t in self._present)
            # the set-aside cost on each type, for hopeless queries: served only by otherwise
            # idle instances of the types able to serve the batch size in time
            aside = [float(round(1e9 + 1000.0 * self._w[t] * mean[t])) if t in cap else _FORBIDDEN
                     for t in range(len(mean))]
            # row id into the (4 + 2, T, rows) table used by the vectorized path
            rid = len(self._qcache)
            if rid >= self._tab.shape[2]:
                grown = np.zeros(self._tab.shape[:2] + (2 * self._tab.shape[2],))
                grown[:, :, :rid] = self._tab[:, :, :rid]
                self._tab = grown
            self._tab[:, :, rid] = [mean, qv, regret, capmask, [bm] * len(mean), aside]
            hit = (mean, qv, regret, bm, frozenset(cap), rid, tuple(aside))
            self._qcache[batch] = hit
            self._excl[batch] = cap[0] if len(cap) == 1 else -1
            self._rid[batch] = rid
        return hit

    def _row_costs(self, batch: int, arrival: float, now: float, ctypes: list[int]) -> list[float]:
        """Cost of one query on each of the given column types (``inf`` = not allowed),
        in integer microseconds so that every solver sees identical numbers."""
        mean, qv, regret, best_mean, cap, _, aside = self._query_row(batch)
        qos = self._qos
        room = qos - (now - arrival)
        if room < best_mean:  # hopeless: set aside, only for otherwise idle instances (or shed)
            return [_FORBIDDEN] * len(ctypes) if self.shed else [aside[t] for t in ctypes]
        inf = _FORBIDDEN
        lw = self.laxity_weight
        sw = self.short_job_weight
        risky = self.risky_cost
        out = []
        for t in ctypes:
            q = qv[t]
            if q <= room and t in cap:
                out.append(float(round(1000.0 * (regret[t] + lw * (room - q) + sw * mean[t]))))
            elif risky is not None and mean[t] <= room and t in cap:
                out.append(float(round(1000.0 * (risky + regret[t]))))
            else:
                out.append(inf)
        return out

    def _rows(self, n: int) -> list[int]:
        w = self.window
        if w is None or n <= w:
            return list(range(n))
        return list(range(w // 2)) + list(range(n - (w - w // 2), n))

    def _pending(self, state: DispatchState) -> tuple[list[int], list[float]]:
        """``(batches, arrivals_ms)`` of the pending queries as the costs see them: a query
        set aside early (see :meth:`doomed`) is priced as a late one (its arrival moved far
        into the past)."""
        hit = state._cache.get("kairos_pending")
        if hit is None:
            batches, arrivals = state.pending_lists()
            gone, rescued = self._schedule(state)
            if len(gone) > len(rescued):
                arrivals = list(arrivals)
                for k in gone:
                    if k not in rescued:
                        arrivals[k] = state.now_ms - 1e9
            hit = (batches, arrivals)
            state._cache["kairos_pending"] = hit
        return hit

    def doomed(self, state: DispatchState) -> list[int]:
        """Pending indices given up now although they are not late yet (Moore–Hodgson on
        each type's exclusive queries; rescued where another idle type still likely serves
        them in time, else set aside).

        With ``set_aside="schedule"``, for each type, the considered pending queries only
        that type serves in time (the GPU's large batch sizes, say) are scheduled on its
        instances in deadline order from their estimated free times, at the ``feasible_q``
        latency; the ones :func:`_doomed` gives up (Moore-Hodgson: the longest first, until
        the rest fit) are set aside, so that a query that will miss anyway does not make the
        others miss. A query that an idle instance of another type would still serve in time
        at its ``rescue_q`` latency is given up first, and goes there instead (a likely hit
        for a sure miss). With ``concurrency > 1`` nothing is given up early.
        """
        return list(self._schedule(state)[0])

    def _schedule(self, state: DispatchState) -> tuple[list[int], dict[int, dict[int, float]]]:
        """``(given up, {given up and rescued: {idle type that may take it: cost there}})``,
        once per state; a rescue is priced by its laxity on that type."""
        hit = state._cache.get("kairos_schedule")
        if hit is not None:
            return hit
        hit = ([], {})
        state._cache["kairos_schedule"] = hit
        if self.set_aside != "schedule" or self._ctx.concurrency != 1 or state.n_pending == 0:
            return hit
        idle_types = {self._tix[j] for j in state.idle_list}
        batches, arrivals = state.pending_lists()
        excl, resc = self._excl, self._rescue
        now, qos = state.now_ms, self._qos
        jobs: dict[int, list[tuple[float, float, int]]] = {}
        can: dict[int, dict[int, float]] = {}
        get = excl.get
        for k in [k for k in self._rows(len(batches)) if get(batches[k], 0) >= 0]:  # (unknown: 0)
            b = batches[k]
            t = get(b)
            if t is None:
                self._query_row(b)
                t = excl[b]
            if t < 0:
                continue
            _, qv, _, best_mean, _, _, _ = self._qcache[b]
            room = qos - (now - arrivals[k])
            if room < best_mean:  # late: set aside anyway
                continue
            if resc is not None:
                rq = resc.row(b)[1]
                others = {u: float(round(1000.0 * self.laxity_weight * (room - rq[u])))
                          for u in idle_types if u != t and rq[u] <= room}
                if others:
                    can[k] = others
            jobs.setdefault(t, []).append((arrivals[k] + qos, qv[t], k))
        gone = hit[0]
        for t, js in jobs.items():
            # only types with an idle instance matter (elsewhere the query is forbidden
            # either way), unless one of their queries could be rescued; a query alone
            # goes to the idle instance, given up or not
            if (t not in idle_types or state.n_pending == 1) and not any(k in can for *_, k in js):
                continue
            members = self._members[t]
            if len(members) > 1 and len(js) > 2 * len(members) + 6:  # bound the O(n^2) schedule
                js = sorted(js)[: 2 * len(members) + 6]
            busy = state.busy_until_ms
            gone += _doomed(js, [max(float(busy[i]), now) for i in members], prefer=can)
        hit[1].update((k, can[k]) for k in gone if k in can)
        return hit

    def cost_matrix(self, state: DispatchState) -> tuple[np.ndarray, list[int], list[int]]:
        """The cost matrix over the considered pending queries (rows: their pending
        indices) and the idle instances (columns), ``inf`` = forbidden."""
        cols = state.idle_list
        batches, arrivals = self._pending(state)
        rows = self._rows(len(batches))
        ctypes = [self._tix[j] for j in cols]
        now = state.now_ms
        if len(rows) * len(cols) <= 64:
            m = [self._row_costs(batches[i], arrivals[i], now, ctypes) for i in rows]
            cost = np.array(m, dtype=float).reshape(len(rows), len(cols))
        else:
            cost = self._cost_matrix_np(batches, arrivals, rows, ctypes, now)
        rescued = self._schedule(state)[1]
        if rescued:  # only to the idle types that still serve them in time
            pos = {k: r for r, k in enumerate(rows)}
            for k, by_type in rescued.items():
                cost[pos[k]] = [by_type.get(u, _FORBIDDEN) for u in ctypes]
        return cost, rows, cols

    def _cost_matrix_np(self, batches: list[int], arrivals: list[float], rows: list[int], ctypes: list[int],
                        now: float) -> np.ndarray:
        """Vectorized :meth:`_row_costs` over rows x types, expanded to the columns; the
        same floating-point operations in the same order, so the same numbers (``rows``
        ascending, as :meth:`_rows` gives them). Computed type-major, returned transposed."""
        if not rows or not ctypes:
            return np.full((len(rows), len(ctypes)), _FORBIDDEN)
        if len(rows) < len(batches):  # rows: ascending pending indices
            batches, arrivals = [batches[i] for i in rows], [arrivals[i] for i in rows]
        try:
            ids = np.fromiter(map(self._rid.__getitem__, batches), np.intp, len(batches))
        except KeyError:
            ids = np.fromiter([self._query_row(b)[5] for b in batches], np.intp, len(batches))
        tab = self._tab.take(ids, axis=2)  # (6, T, P)
        mean, qv, regret, capm = tab[0], tab[1], tab[2], tab[3] > 0.5
        best_mean = tab[4, 0]
        room = self._qos - (now - np.array(arrivals, dtype=float))
        r2 = room  # (P,), broadcast over the (T, P) planes
        safe = (qv <= r2) & capm
        out = np.round(1000.0 * (regret + self.laxity_weight * (r2 - qv) + self.short_job_weight * mean))
        if self.risky_cost is not None:
            risky = (mean <= r2) & capm
            out = np.where(safe, out, np.where(risky, np.round(1000.0 * (self.risky_cost + regret)), _FORBIDDEN))
        else:
            out = np.where(safe, out, _FORBIDDEN)
        # hopeless: the set-aside costs, or out of the matching when they are shed
        np.copyto(out, _FORBIDDEN if self.shed else tab[5], where=room < best_mean)
        return out[ctypes].T

    def decide(self, state: DispatchState) -> list[tuple[int, int]]:
        """The min-cost matching of the considered pending queries to the idle instances;
        with ``shed=True``, the hopeless queries go to :data:`SHED` (given up) and the
        others are matched without them."""
        pairs = self._match(state)
        if not self.shed or state.n_pending == 0:
            return pairs
        # shed only the hopeless: a query the schedule gives up is kept off every instance
        # (forbidden) but stays pending, and a later decision may find it room again
        batches, arrivals = state.pending_lists()
        now, qos, row = state.now_ms, self._qos, self._query_row
        gone = [k for k in self._rows(len(batches)) if qos - (now - arrivals[k]) < row(batches[k])[3]]
        return pairs + [(k, SHED) for k in gone] if gone else pairs

    def _match(self, state: DispatchState) -> list[tuple[int, int]]:
        cols = state.idle_list
        if not cols or state.n_pending == 0:
            return []
        conc = self._ctx.concurrency
        fast = self.method == "assignment" and conc == 1 and not self._schedule(state)[1]
        if fast and (state.n_pending == 1 or len(cols) == 1):
            # Exact closed forms of the assignment for one query or one idle instance:
            # the first least-cost allowed pair (what min_cost_assignment returns).
            batches, arrivals = self._pending(state)
            now = state.now_ms
            best, bi, bj = _FORBIDDEN, -1, -1
            if len(batches) == 1:
                c = self._row_costs(batches[0], arrivals[0], now, [self._tix[j] for j in cols])
                for j, v in enumerate(c):
                    if v < best:
                        best, bi, bj = v, 0, j
            else:
                ct = [self._tix[cols[0]]]
                for i in self._rows(len(batches)):
                    v = self._row_costs(batches[i], arrivals[i], now, ct)[0]
                    if v < best:
                        best, bi, bj = v, i, 0
            return [(bi, cols[bj])] if bi >= 0 else []
        if fast:
            batches, arrivals = self._pending(state)
            rows = self._rows(len(batches))
            if len(rows) * len(cols) > 64:
                # idle instances of one type have identical columns: one column per type
                ctypes = [self._tix[j] for j in cols]
                types = sorted(set(ctypes))
                tc = self._cost_matrix_np(batches, arrivals, rows, types, state.now_ms)
                if types[-1] >= len(types):  # not 0..k-1: number the types present
                    pos = {t: k for k, t in enumerate(types)}
                    ctypes = [pos[t] for t in ctypes]
                return [(rows[i], cols[j]) for i, j in _grouped_lsa_pairs(tc, ctypes)]
        cost, rows, cols = self.cost_matrix(state)
        if conc == 1 and self.method == "assignment":
            pairs = _lsa_pairs(cost)
        else:
            cap = state.free_slots[cols] if conc > 1 else None
            pairs = min_cost_assignment(cost, cap, method=self.method)
        return [(rows[i], cols[j]) for i, j in pairs]

    def __repr__(self) -> str:
        return (f"KairosPolicy(feasible_q={self.feasible_q:g}, laxity_weight={self.laxity_weight:g}, "
                f"weighting={self.weighting!r}, method={self.method!r}" + (", shed=True)" if self.shed else ")"))


# ---------------------------------------------------------------------------- dispatcher
class Dispatcher:
    """Bookkeeping between arrivals, a :class:`Policy` and a pool's instances.

    Parameters
    ----------
    policy : the distribution policy (``prepare`` is called here).
    instance_types : type name of each instance, in pool order.
    profile : latency profile used for estimates.
    qos_ms, percentile : the QoS target the policy aims at.
    concurrency : queries one instance serves at once (1 = a single-worker server).
    plan : optional plan behind the pool, passed to the policy.
    workload : optional expected workload, passed to the policy (KairosPolicy prices
        instance time with it).
    """

    def __init__(
        self,
        policy: Policy,
        instance_types: Sequence[str],
        profile: Profile,
        *,
        qos_ms: float,
        percentile: float = 99.0,
        concurrency: int = 1,
        plan: Any = None,
        workload: Any = None,
    ) -> None:
        if not isinstance(policy, Policy):
            raise SimulationError(f"policy must implement prepare() and decide(), got {type(policy).__name__}")
        if not instance_types:
            raise SimulationError("a dispatcher needs at least one instance")
        if not (qos_ms > 0):
            raise SimulationError(f"qos_ms must be positive, got {qos_ms!r}")
        if not (0 < percentile <= 100):
            raise SimulationError(f"percentile must be in (0, 100], got {percentile!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise SimulationError(f"concurrency must be a positive integer, got {concurrency!r}")
        types = tuple(instance_types)
        for t in set(types):
            if t not in profile.series:
                raise KairosError(
                    f"instance type {t!r} has no latency profile; the profile covers {', '.join(profile.instance_types)}"
                )
        names = tuple(sorted(set(types)))
        self.ctx = PolicyContext(
            instance_types=types,
            type_names=names,
            type_index=np.array([names.index(t) for t in types], dtype=np.intp),
            profile=profile,
            qos_ms=float(qos_ms),
            percentile=float(percentile),
            concurrency=concurrency,
            plan=plan,
            workload=workload if workload is not None else getattr(plan, "workload", None),
        )
        self.policy = policy
        policy.prepare(self.ctx)
        self._idle_only = bool(getattr(policy, "assigns_to_idle_only", False))
        n = len(types)
        self._n = n
        self._conc = concurrency
        self._tix = self.ctx.type_index.tolist()
        self._est = _Estimates(self.ctx)
        self._pending_id: list[int] = []
        self._pending_batch: list[int] = []
        self._pending_arrival: list[float] = []
        self._info: dict[int, tuple[int, float]] = {}
        self._where: dict[int, int] = {}  # qid -> instance, for queued and running queries
        self.queues: list[deque[int]] = [deque() for _ in range(n)]
        self.running: list[dict[int, float]] = [{} for _ in range(n)]  # qid -> estimated end
        self._queued_ms = np.zeros(n)
        self._run_end = np.zeros(n)  # latest estimated end of the running queries
        self._n_run = np.zeros(n, dtype=np.intp)
        self._qlen = np.zeros(n, dtype=np.intp)
        self.available = np.ones(n, dtype=bool)
        self._idle: set[int] = set(range(n))
        self._ready: set[int] = set()  # instances with a queued query and a free slot
        self._shed: list[int] = []  # ids the policy gave up, until the caller takes them

    # ------------------------------------------------------------------ inputs
    def submit(self, query_id: int, batch: int, now_ms: float) -> None:
        """A query arrived (or is re-submitted after a failure, keeping its arrival time)."""
        if query_id in self._info:
            raise SimulationError(f"query {query_id} was already submitted")
        self._info[query_id] = (int(batch), float(now_ms))
        self._pending_id.append(query_id)
        self._pending_batch.append(int(batch))
        self._pending_arrival.append(float(now_ms))

    def requeue(self, query_id: int, instance: int) -> None:
        """Take a started query back from ``instance`` (e.g. it failed there) and make it
        pending again, ahead of younger queries, with its original arrival time."""
        if self.running[instance].pop(query_id, None) is not None:
            self._n_run[instance] -= 1
            self._after_leave(instance)
        self._where.pop(query_id, None)
        batch, arrival = self._info[query_id]
        k = int(np.searchsorted(np.asarray(self._pending_arrival), arrival, side="right"))
        self._pending_id.insert(k, query_id)
        self._pending_batch.insert(k, batch)
        self._pending_arrival.insert(k, arrival)

    def finish(self, query_id: int, now_ms: float) -> int:
        """A query completed; returns the instance that served it."""
        i = self._where.get(query_id)
        if i is None or query_id not in self.running[i]:
            raise SimulationError(f"query {query_id} is not running")
        self.finish_on(i, query_id)
        return i

    def finish_on(self, instance: int, query_id: int) -> None:
        """Like :meth:`finish` when the instance is known (O(1))."""
        del self.running[instance][query_id]
        self._info.pop(query_id, None)
        self._where.pop(query_id, None)
        self._n_run[instance] -= 1
        self._after_leave(instance)

    def _after_leave(self, i: int) -> None:
        run = self.running[i]
        if self._conc == 1:
            self._run_end[i] = 0.0
        else:
            self._run_end[i] = max(run.values()) if run else 0.0
        if self.queues[i]:
            self._ready.add(i)
        elif self.available[i]:
            self._idle.add(i)

    def set_available(self, instance: int, available: bool) -> list[int]:
        """Take an instance out of rotation (returns its locally queued query ids, now
        pending again) or put it back."""
        self.available[instance] = available
        back: list[int] = []
        if not available:
            self._idle.discard(instance)
            self._ready.discard(instance)
            q = self.queues[instance]
            while q:
                back.append(q.pop())
            self._queued_ms[instance] = 0.0
            self._qlen[instance] = 0
            for qid in reversed(back):
                self._where.pop(qid, None)
                self.requeue(qid, instance)
        elif self._n_run[instance] < self._conc and not self.queues[instance]:
            self._idle.add(instance)
        return back

    # ------------------------------------------------------------------ decisions
    @property
    def n_pending(self) -> int:
        return len(self._pending_id)

    @property
    def n_active(self) -> int:
        """Queries submitted and not finished (pending, queued or running)."""
        return len(self._info)

    def take_shed(self) -> list[int]:
        """Ids of the queries the policy gave up (assigned to :data:`SHED`) since the last
        call; the caller reports them as failed. They count in :attr:`n_active` until taken."""
        out, self._shed = self._shed, []
        for qid in out:
            del self._info[qid]
        return out

    @property
    def pending_ids(self) -> tuple[int, ...]:
        """Ids of the pending queries, oldest first."""
        return tuple(self._pending_id)

    def state(self, now_ms: float) -> DispatchState:
        """The current :class:`DispatchState` (lazy: arrays are built when a policy reads them)."""
        return DispatchState(
            now_ms,
            self._pending_batch,
            self._pending_arrival,
            lambda: np.maximum(self._run_end, now_ms) + self._queued_ms,
            lambda: self._conc - self._n_run,
            self._qlen,
            self.available,
            idle=lambda: sorted(self._idle),
        )

    def dispatch(self, now_ms: float) -> list[tuple[int, int]]:
        """Ask the policy, then return ``(query id, instance)`` pairs to start now."""
        if self._pending_id and (self._idle if self._idle_only else self.available.any()):
            assignments = self.policy.decide(self.state(now_ms))
            if assignments:
                self._apply(assignments)
        if self._ready:
            return self._start_ready(now_ms)
        return []

    # ------------------------------------------------------------------ internals
    def _estimate(self, instance: int, batch: int) -> float:
        return self._est.row(batch)[0][self._tix[instance]]

    def _apply(self, assignments: Sequence[tuple[int, int]]) -> None:
        n = self._n
        npend = len(self._pending_id)
        taken: set[int] = set()
        for k, i in assignments:
            k, i = int(k), int(i)
            if not (0 <= k < npend) or k in taken:
                raise SimulationError(f"policy {self.policy.name!r} assigned pending query {k} twice or out of range")
            if i == SHED:
                taken.add(k)
                self._shed.append(self._pending_id[k])
                continue
            if not (0 <= i < n) or not self.available[i]:
                raise SimulationError(f"policy {self.policy.name!r} assigned a query to unavailable instance {i}")
            taken.add(k)
            qid = self._pending_id[k]
            self.queues[i].append(qid)
            self._where[qid] = i
            self._qlen[i] += 1
            self._queued_ms[i] += self._estimate(i, self._pending_batch[k])
            self._idle.discard(i)
            if self._n_run[i] < self._conc:
                self._ready.add(i)
        if len(taken) == npend:
            self._pending_id.clear()
            self._pending_batch.clear()
            self._pending_arrival.clear()
        elif len(taken) == 1:
            (k,) = taken
            del self._pending_id[k], self._pending_batch[k], self._pending_arrival[k]
        else:
            keep = [k for k in range(npend) if k not in taken]
            self._pending_id = [self._pending_id[k] for k in keep]
            self._pending_batch = [self._pending_batch[k] for k in keep]
            self._pending_arrival = [self._pending_arrival[k] for k in keep]

    def _start_ready(self, now_ms: float) -> list[tuple[int, int]]:
        out = []
        conc = self._conc
        for i in sorted(self._ready):
            q = self.queues[i]
            run = self.running[i]
            while q and len(run) < conc:
                qid = q.popleft()
                est = self._estimate(i, self._info[qid][0])
                self._qlen[i] -= 1
                self._queued_ms[i] = max(0.0, self._queued_ms[i] - est) if q else 0.0
                end = now_ms + est
                run[qid] = end
                self._n_run[i] += 1
                if end > self._run_end[i]:
                    self._run_end[i] = end
                out.append((qid, i))
            if not q and len(run) < conc and self.available[i]:
                self._idle.add(i)
        self._ready.clear()
        return out
