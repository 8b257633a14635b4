"""The :class:`Plan` a planner returns, and how the planner fills one in (routing,
utilization and the explanation of why these types)."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InfeasibleError
from ..pool import Catalog, Pool
from .lp import route
from .model import _Model

__all__ = ["Plan"]


@dataclass(frozen=True, eq=False, repr=False)
class Plan:  # long: a result's fields (18), filled in only by the planner, read by name
    """A planned pool: counts per instance type, its cost and its predicted throughput.

    Attributes
    ----------
    counts : ``{type: count}``, zero counts omitted.
    cost_per_hour : USD per hour of the pool.
    predicted_qps : the highest Poisson rate the planner expects the pool to sustain under
        the QoS target (capacity with headroom for queueing).
    fluid_qps : the same pool's fluid bound (every instance busy 100% of the time).
    routing : ``{type: {batch: rate_qps}}`` at ``predicted_qps``: which batch classes each
        type serves and at what rate (a merged class is labelled by its largest batch).
    utilization : ``{type: busy share}`` per instance of that type at ``predicted_qps``.
    unserved_share : share of queries no rented type can serve within QoS.
    status : ``"optimal"`` or ``"infeasible"`` (solver answer).
    solve_seconds : MILP solver time; ``total_seconds``: wall time of the whole call.
    objective : ``"max_qps"``, ``"min_cost"`` or ``"fixed"`` (an evaluated pool).
    budget_per_hour, target_qps : what was asked (``None`` when not given).
    """

    counts: dict[str, int]
    cost_per_hour: float
    predicted_qps: float
    fluid_qps: float
    routing: dict[str, dict[int, float]]
    utilization: dict[str, float]
    unserved_share: float
    status: str
    solve_seconds: float
    total_seconds: float
    objective: str
    qos_ms: float
    percentile: float
    budget_per_hour: float | None = None
    target_qps: float | None = None
    catalog: Catalog | None = None
    headroom: str = ""
    _explain: dict = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "optimal" and bool(self.counts)

    def pool(self) -> Pool:
        """The planned :class:`~kairos_sdk.pool.Pool` (``Pool.from_counts(counts, catalog)``)."""
        if not self.counts:
            raise InfeasibleError(f"this plan is {self.status}: it rents nothing, so there is no pool")
        return Pool.from_counts(self.counts, self.catalog)

    def raise_for_status(self) -> Plan:
        """Return ``self`` when a pool was found, else raise :class:`InfeasibleError`."""
        if not self.ok:
            raise InfeasibleError(self._explain.get("reason", f"no pool found (status {self.status})"))
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the catalog's prices and caps and the units of each figure."""
        return {
            "counts": dict(self.counts),
            "cost_per_hour": self.cost_per_hour,
            "predicted_qps": self.predicted_qps,
            "fluid_qps": self.fluid_qps,
            "routing": {t: {str(b): r for b, r in d.items()} for t, d in self.routing.items()},
            "utilization": dict(self.utilization),
            "unserved_share": self.unserved_share,
            "status": self.status,
            "solve_seconds": self.solve_seconds,
            "total_seconds": self.total_seconds,
            "objective": self.objective,
            "qos_ms": self.qos_ms,
            "percentile": self.percentile,
            "budget_per_hour": self.budget_per_hour,
            "target_qps": self.target_qps,
            "headroom": self.headroom,
            "prices": {t: it.cost_per_hour for t, it in self.catalog.items()} if self.catalog is not None else {},
            "caps": {t: it.cap for t, it in self.catalog.items()} if self.catalog is not None else {},
            "units": {"cost_per_hour": "USD/hour", "predicted_qps": "queries/second", "qos_ms": "ms",
                      "percentile": "%", "routing": "queries/second per type and batch class",
                      "solve_seconds": "s"},
        }

    def describe(self) -> str:
        return " + ".join(f"{n} x {t}" for t, n in self.counts.items()) or "nothing"

    def __repr__(self) -> str:
        return (
            f"Plan({self.describe()}, ${self.cost_per_hour:.3f}/h, predicted {self.predicted_qps:.4g} qps"
            f" (fluid {self.fluid_qps:.4g}), {self.status}, {self.total_seconds * 1000:.0f} ms)"
        )

    def _repr_html_(self) -> str:
        rows = []
        for t, n in self.counts.items():
            rng = ", ".join(self._explain.get("ranges", {}).get(t, []))
            rate = sum(self.routing.get(t, {}).values())
            rows.append(
                f"<tr><td>{html.escape(t)}</td><td>{n}</td><td>{html.escape(rng)}</td>"
                f"<td>{rate:.4g}</td><td>{self.utilization.get(t, 0.0):.0%}</td></tr>"
            )
        cap = html.escape(
            f"{self.describe()} — ${self.cost_per_hour:.3f}/h, predicted {self.predicted_qps:.4g} qps "
            f"(fluid bound {self.fluid_qps:.4g}) at p{self.percentile:g} ≤ {self.qos_ms:g} ms"
        )
        return (
            f"<table><caption>{cap}</caption><tr><th>instance type</th><th>count</th><th>batch sizes served</th>"
            f"<th>rate qps</th><th>utilization</th></tr>{''.join(rows)}</table>"
        )

    def explain(self) -> str:
        """Why these types: the batch range each serves, and what binds (budget, caps or QoS)."""
        e = self._explain
        if not e:
            return repr(self)
        lines = [repr(self)]
        if not self.ok:
            lines.append(e.get("reason", ""))
            return "\n".join(lines)
        lines.append("Why these types:")
        for t, n in self.counts.items():
            rate = sum(self.routing.get(t, {}).values())
            rng = ", ".join(e["ranges"].get(t, [])) or "nothing"
            lines.append(
                f"  {n} x {t} (${e['price'][t]:g}/h each): serves batches {rng}; {rate:.4g} qps, "
                f"{self.utilization.get(t, 0.0):.0%} busy; serves up to batch {e['max_batch'].get(t, 0)} within "
                f"{self.qos_ms:g} ms at p{self.percentile:g}"
            )
        for t, why in e.get("unused", {}).items():
            lines.append(f"  0 x {t}: {why}")
        lines.append("What binds:")
        lines.extend(f"  {s}" for s in e.get("binding", []))
        if e.get("marginal") is not None:
            lines.append("One more instance (routing re-optimized, same headroom):")
            lines.extend(f"  {s}" for s in e["marginal"]())
        return "\n".join(lines)


class _PlanMaking:
    """The :class:`~kairos_sdk.planner.Planner`'s steps that turn solved counts into a :class:`Plan`."""

    def _empty(self, *, status: str, reason: str, t0: float, objective: str,
               budget: float | None = None, target_qps: float | None = None) -> Plan:
        return Plan(
            counts={}, cost_per_hour=0.0, predicted_qps=0.0, fluid_qps=0.0, routing={}, utilization={},
            unserved_share=0.0, status=status, solve_seconds=0.0, total_seconds=time.perf_counter() - t0,
            objective=objective, qos_ms=self.qos_ms, percentile=self.percentile, budget_per_hour=budget,
            target_qps=target_qps, catalog=self.catalog, headroom=self.headroom.describe(),
            _explain={"reason": reason},
        )

    def _finish(self, counts, status, secs, t0, objective, *, budget=None, target_qps=None, strict=True) -> Plan:
        m = self._model
        if counts is None or not counts.any():
            if objective == "max_qps":
                name, price = self._cheapest()
                reason = (
                    f"within ${budget:g}/h no pool serves at least {self.percentile:g}% of the queries within "
                    f"{self.qos_ms:g} ms: the affordable types each miss the target on too many batch sizes; "
                    f"raise the budget (types able to serve the large batches cost more) or the QoS target"
                )
            else:
                reason = f"no pool within the caps sustains {target_qps:g} qps; lower target_qps or raise the caps"
            if strict:
                raise InfeasibleError(reason)
            return self._empty(status="infeasible", reason=reason, t0=t0, objective=objective,
                               budget=budget, target_qps=target_qps)
        counts = counts.astype(float)
        lam, x, u, _ = route(m, counts)
        if objective == "max_qps" and lam <= 1e-12:
            return self._finish(None, "infeasible", secs, t0, objective, budget=budget, strict=strict)
        # Drop surplus instances: the same routing fits in fewer of them (same rate, lower cost).
        busy = (x * np.where(np.isfinite(m.coef), m.coef, 0.0)).sum(axis=1)
        counts = np.minimum(counts, np.where(busy > 1e-9, np.ceil(busy + m.reserve - 1e-7), 0.0))
        return self._make_plan(counts, status, secs, t0, objective, budget=budget, target_qps=target_qps)

    def _make_plan(self, vec, status, secs, t0, objective, *, budget=None, target_qps=None, model=None) -> Plan:
        m = self._model if model is None else model
        lam, x, u, _ = route(m, vec, tidy=True)
        fluid = route(self._fluid(), vec)[0]
        on = np.flatnonzero(vec > 0)
        counts = {m.types[i]: int(vec[i]) for i in on}
        mean = np.where(np.isfinite(m.mean_ms), m.mean_ms, 0.0)
        routing, util = {}, {}
        for i in on:
            served = np.flatnonzero(x[i] > 1e-9 * max(lam, 1.0))
            routing[m.types[i]] = {int(m.hi[k]): float(x[i, k]) for k in served}
            util[m.types[i]] = float((x[i] * mean[i]).sum() / 1000.0 / vec[i])
        plan = Plan(
            counts=counts,
            cost_per_hour=float(m.price @ vec),
            predicted_qps=float(lam) + 0.0,  # + 0.0: an LP optimum of -0.0 reads as 0.0
            fluid_qps=float(fluid) + 0.0,
            routing=routing,
            utilization=util,
            unserved_share=float(u.sum() / lam) if lam > 0 else 0.0,
            status=status,
            solve_seconds=secs,
            total_seconds=time.perf_counter() - t0,
            objective=objective,
            qos_ms=self.qos_ms,
            percentile=self.percentile,
            budget_per_hour=budget,
            target_qps=target_qps,
            catalog=self.catalog,
            headroom=self.headroom.describe() if model is None else "custom",
            _explain={},
        )
        plan._explain.update(self._explain_data(vec, x, lam, m, budget, compute_marginal=True))
        return plan

    def _explain_data(self, vec, x, lam, m: _Model, budget, compute_marginal: bool) -> dict:
        price = {t: float(p) for t, p in zip(m.types, m.price)}
        max_batch = {}
        for i, t in enumerate(m.types):
            el = np.flatnonzero(m.eligible[i])
            # largest batch below which every class is eligible
            bad = np.flatnonzero(~m.eligible[i])
            first_bad = bad[0] if len(bad) else m.n_classes
            max_batch[t] = int(m.hi[first_bad - 1]) if first_bad > 0 else (int(m.hi[el[0]]) if len(el) else 0)
        ranges = {}
        for i in np.flatnonzero(vec > 0):
            tot = m.prob * lam
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(tot > 0, x[i] / tot, 0.0)
            ranges[m.types[i]] = _served_ranges(m.lo, m.hi, share)
        binding = []
        cost = float(m.price @ vec)
        if budget is not None:
            left = budget - cost
            afford = [t for i, t in enumerate(m.types) if m.price[i] <= left + 1e-9 and vec[i] < m.cap[i]]
            if not afford:
                binding.append(
                    f"budget: ${left:.3f}/h of ${budget:g}/h left, too little for one more instance of any type "
                    f"below its cap -> the budget binds"
                )
            else:
                binding.append(f"budget: ${left:.3f}/h left; one more {', '.join(afford)} would fit but adds nothing")
        at_cap = [f"{t} ({int(vec[i])}/{int(m.cap[i])})" for i, t in enumerate(m.types) if np.isfinite(m.cap[i]) and vec[i] >= m.cap[i]]
        binding.append("caps: " + (", ".join(at_cap) + " at its cap" if at_cap else "no type is at its cap"))
        for t in m.types:
            if max_batch[t] < int(m.hi[-1]):
                binding.append(
                    f"QoS: {t} serves only batches up to {max_batch[t]} within {self.qos_ms:g} ms at p{self.percentile:g}"
                    f" ({self.workload.probability(hi=max_batch[t]):.1%} of queries)"
                )
        unused = {}
        for i, t in enumerate(m.types):
            if vec[i] == 0:
                unused[t] = (
                    f"${price[t]:g}/h, serves batches up to {max_batch[t]} within QoS; "
                    f"{_per_dollar(m, i):.4g} qps per $/h alone on its eligible batch sizes"
                )
        for t in self._all_types:
            if t not in m.types:
                unused[t] = f"cannot serve any batch size of the workload within {self.qos_ms:g} ms at p{self.percentile:g}"
        for t in self.catalog.names:
            if t not in self._all_types:
                unused[t] = "cap 0"
        def marginal() -> list[str]:
            out = []
            for i, t in enumerate(m.types):
                if vec[i] >= m.cap[i]:
                    continue
                v2 = vec.copy()
                v2[i] += 1
                gain = route(m, v2)[0] - lam
                over = budget is not None and cost + m.price[i] > budget + 1e-9
                out.append(f"+1 {t}: +{gain:.4g} qps for +${price[t]:g}/h" + (" (over budget)" if over else ""))
            return out

        return {"price": price, "max_batch": max_batch, "ranges": ranges, "binding": binding,
                "unused": unused, "marginal": marginal if compute_marginal and lam > 0 else None}


# ---------------------------------------------------------------------------- helpers
def _per_dollar(m: _Model, i: int) -> float:
    el = m.eligible[i]
    p = m.prob[el] / m.prob[el].sum()
    return float(1.0 / (p @ m.coef[i, el]) / m.price[i])


def _served_ranges(lo: np.ndarray, hi: np.ndarray, share: np.ndarray) -> list[str]:
    """Contiguous runs of classes a type serves: ``"10-190"`` (all of it) or ``"200-870 (62%)"``."""
    out = []
    k, K = 0, len(share)
    while k < K:
        if share[k] <= 1e-6:
            k += 1
            continue
        full = share[k] >= 1 - 1e-6
        j = k
        while j + 1 < K and share[j + 1] > 1e-6 and (share[j + 1] >= 1 - 1e-6) == full:
            j += 1
        txt = f"{int(lo[k])}" if lo[k] == hi[j] else f"{int(lo[k])}-{int(hi[j])}"
        if not full:
            txt += f" ({share[k:j + 1].mean():.0%} of it)"
        out.append(txt)
        k = j + 1
    return out
