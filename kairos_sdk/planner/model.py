"""The planning model: batch classes, eligibility and per-pair service times.

:class:`_Model` holds the arrays the MILP and the routing LP share; :class:`_ModelBuilding`
is the part of :class:`~kairos_sdk.planner.Planner` that builds it from the profile, the
catalog and the workload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InfeasibleError, PlanningError
from ..overhead import latency_with_overhead
from .headroom import Headroom


@dataclass(frozen=True, eq=False)
class _Model:  # long: the model's arrays (14), built only by the planner
    """Arrays shared by the MILP and the fixed-count routing LP (so both optimize one model)."""

    types: tuple[str, ...]          # usable types (cap > 0 and at least one eligible class)
    price: np.ndarray               # (T,)
    cap: np.ndarray                 # (T,) float, inf when uncapped
    lo: np.ndarray                  # (K,) smallest batch of each class
    hi: np.ndarray                  # (K,) largest batch of each class (its label)
    prob: np.ndarray                # (K,)
    eligible: np.ndarray            # (T, K) bool
    mean_ms: np.ndarray             # (T, K) mean service ms (inf when not measured)
    tail_ms: np.ndarray             # (T, K) service ms at the QoS percentile
    coef: np.ndarray                # (T, K) busy seconds charged per query (mean / rho / 1000)
    eps: float                      # share of queries that may go unserved
    reserve: np.ndarray             # (T,) instances kept free per rented type
    pairs_t: np.ndarray             # (E,) type index of each eligible pair
    pairs_k: np.ndarray             # (E,) class index of each eligible pair

    @property
    def n_types(self) -> int:
        return len(self.types)

    @property
    def n_classes(self) -> int:
        return len(self.prob)

    def with_headroom(self, headroom: Headroom, qos_ms: float) -> _Model:
        coef = _coef(self.mean_ms, self.tail_ms, self.eligible, headroom, qos_ms)
        res = headroom.reserves(self.mean_ms, self.tail_ms, self.eligible, self.prob, qos_ms, self.eps)
        return _Model(**{**self.__dict__, "coef": coef, "reserve": res})


def _coef(mean_ms, tail_ms, eligible, headroom: Headroom, qos_ms: float) -> np.ndarray:
    rho = headroom.rho(mean_ms, tail_ms, qos_ms)
    with np.errstate(invalid="ignore"):
        c = np.where(eligible, mean_ms / (1000.0 * np.where(eligible, rho, 1.0)), np.inf)
    return c


class _ModelBuilding:
    """The :class:`~kairos_sdk.planner.Planner`'s steps that build its :class:`_Model`."""

    def _build_model(self) -> _Model:
        names = [n for n in self.catalog.names if self.catalog[n].cap != 0]
        if not names:
            raise PlanningError(
                "every cap in the catalog is 0, so no instance may be rented; raise a cap "
                "(catalog.with_caps({...})) or remove it (None means uncapped)"
            )
        q = self.percentile / 100.0
        eps = max(0.0, 1.0 - q)
        sizes = self.workload.batch_sizes
        probs = self.workload.probs
        mean = np.empty((len(names), len(sizes)))
        tail = np.empty((len(names), len(sizes)))
        for k, t in enumerate(names):
            mean[k], tail[k] = self._lookup(t, sizes, q)
        tail = _plus_overhead(self.profile, names, sizes, tail, q)
        mean = mean if self.profile.overhead.is_zero else mean + self.profile.overhead.mean_ms
        elig_pts = tail <= self.qos_ms
        lo, hi, prob, groups = _classes(sizes, probs, elig_pts, self.max_classes)
        # per class: eligible iff every member point is; tail = worst member; mean = pmf-weighted
        T, K = len(names), len(prob)
        eligible = np.ones((T, K), dtype=bool)
        mean_c = np.empty((T, K))
        tail_c = np.empty((T, K))
        for j, g in enumerate(groups):
            w = probs[g] / probs[g].sum()
            eligible[:, j] = elig_pts[:, g].all(axis=1)
            tail_c[:, j] = tail[:, g].max(axis=1)
            with np.errstate(invalid="ignore"):
                mean_c[:, j] = np.where(np.isfinite(mean[:, g]).all(axis=1), mean[:, g] @ w, np.inf)
        self._all_types = tuple(names)
        self._all_tail = tail_c
        self._all_eligible = eligible
        self._class_lo, self._class_hi, self._class_prob = lo, hi, prob
        # QoS check: mass no type can serve
        orphan = ~eligible.any(axis=0)
        if prob[orphan].sum() > eps + 1e-12:
            raise InfeasibleError(self._qos_message(orphan, eps))
        useful = eligible.any(axis=1)
        types = tuple(n for n, u in zip(names, useful) if u)
        sel = np.flatnonzero(useful)
        eligible = eligible[sel]
        pt, pk = np.nonzero(eligible)
        price = np.array([self.catalog[t].cost_per_hour for t in types])
        cap = np.array([np.inf if self.catalog[t].cap is None else float(self.catalog[t].cap) for t in types])
        return _Model(
            types=types, price=price, cap=cap, lo=lo, hi=hi, prob=prob, eligible=eligible,
            mean_ms=mean_c[sel], tail_ms=tail_c[sel],
            coef=_coef(mean_c[sel], tail_c[sel], eligible, self.headroom, self.qos_ms),
            eps=eps, pairs_t=pt, pairs_k=pk,
            reserve=self.headroom.reserves(mean_c[sel], tail_c[sel], eligible, prob, self.qos_ms, eps),
        )

    def _lookup(self, t: str, sizes: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean and tail service ms per batch size; sizes below the measured range use the
        smallest measured batch, sizes above it are unknown (never eligible)."""
        grid = self.profile.batch_sizes(t)
        b = np.maximum(sizes, grid[0]).astype(float)
        above = b > grid[-1]
        bb = np.minimum(b, grid[-1])
        mean = np.asarray(self.profile.latency(t, bb, q="mean"), dtype=float)
        tail = np.asarray(self.profile.latency(t, bb, q=q), dtype=float)
        mean[above] = np.inf
        tail[above] = np.inf
        return mean, tail

    def _qos_message(self, orphan: np.ndarray, eps: float) -> str:
        orphan = np.flatnonzero(orphan) if orphan.dtype == bool else np.asarray(orphan)
        hi, prob = self._class_hi[orphan], self._class_prob[orphan]
        best = self._all_tail[:, orphan].min(axis=0)
        who = [self._all_types[i] for i in self._all_tail[:, orphan].argmin(axis=0)]
        # runs of adjacent classes, each shown by the largest batch of its first and last class
        runs: list[list[int]] = []
        for k, h in zip(orphan.tolist(), hi.tolist()):
            if runs and k == runs[-1][2] + 1:
                runs[-1][1:] = [int(h), k]
            else:
                runs.append([int(h), int(h), k])
        ranges = _ranges([(a, b) for a, b, _ in runs])
        k0, k1 = 0, len(best) - 1
        best_txt = f"best p{self.percentile:g} latency {best[k0]:.4g} ms ({who[k0]}) at batch {int(hi[k0])}"
        if k1 != k0:
            best_txt += f", {best[k1]:.4g} ms ({who[k1]}) at batch {int(hi[k1])}"
        return (
            f"QoS {self.qos_ms:g} ms at p{self.percentile:g} is out of reach: no instance type serves batch sizes "
            f"{ranges} ({prob.sum():.2%} of queries, more than the {eps:.2%} the percentile allows) within it; "
            f"{best_txt}. Raise qos_ms, lower the percentile, add a faster instance type, or drop those "
            f"batch sizes from the workload (Workload.restrict)."
        )


def _classes(sizes: np.ndarray, probs: np.ndarray, elig: np.ndarray, max_classes: int):
    """Batch classes: every support point when there are at most ``max_classes``; otherwise
    runs of adjacent points with identical eligibility, each split into equal-mass groups."""
    K = len(sizes)
    if max_classes >= K:
        groups = [np.array([k]) for k in range(K)]
    else:
        sig = [elig[:, k].tobytes() for k in range(K)]
        runs, start = [], 0
        for k in range(1, K + 1):
            if k == K or sig[k] != sig[start]:
                runs.append(np.arange(start, k))
                start = k
        if len(runs) >= max_classes:
            # more eligibility changes than classes: equal-mass chunks (eligibility is the AND)
            edges = np.searchsorted(np.cumsum(probs), np.linspace(0, 1, max_classes + 1)[1:-1], side="right")
            groups = [g for g in np.split(np.arange(K), np.unique(edges)) if len(g)]
        else:
            mass = np.array([probs[r].sum() for r in runs])
            extra = max_classes - len(runs)
            share = np.floor(extra * mass / mass.sum()).astype(int)
            groups = []
            for r, s in zip(runs, share):
                parts = min(len(r), 1 + int(s))
                if parts == 1:
                    groups.append(r)
                    continue
                cum = np.cumsum(probs[r]) / probs[r].sum()
                cut = np.unique(np.searchsorted(cum, np.linspace(0, 1, parts + 1)[1:-1], side="right"))
                groups.extend(g for g in np.split(r, cut) if len(g))
    lo = np.array([sizes[g[0]] for g in groups])
    hi = np.array([sizes[g[-1]] for g in groups])
    prob = np.array([probs[g].sum() for g in groups])
    return lo, hi, prob, groups


def _ranges(pairs: Sequence[Sequence[int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in pairs)


def _plus_overhead(profile: Any, names: Sequence[str], sizes: np.ndarray, tail_ms: np.ndarray, q: float) -> np.ndarray:
    """The per-query overhead in eligibility (the one place the planner reads it): the tail
    latency a query sees is the quantile ``q`` of service time plus the profile's overhead
    (:func:`~kairos_sdk.overhead.latency_with_overhead`), so a type is eligible for a batch
    size only when that fits ``qos_ms``; the capacity uses the mean service time plus the
    mean overhead (the caller adds it). A zero overhead returns ``tail_ms`` untouched (the
    plan is bit-identical)."""
    if profile.overhead.is_zero:
        return tail_ms
    out = tail_ms.copy()
    for k, t in enumerate(names):
        grid = profile.batch_sizes(t)
        b = np.minimum(np.maximum(sizes, grid[0]), grid[-1]).astype(float)
        seen = np.isfinite(tail_ms[k])
        out[k, seen] = latency_with_overhead(profile, t, b[seen], q)
    return out
