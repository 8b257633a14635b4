"""How much of an instance's time the planner may fill: :class:`Headroom`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._checks import finite_float, non_negative_float
from ..errors import PlanningError

__all__ = ["Headroom"]


@dataclass(frozen=True)
class Headroom:
    """How much of an instance's time the planner may fill, leaving room for queueing.

    Capacity of ``n_i`` rented instances of type ``i``:
    ``sum_b x_ib * mean_ms_ib / (1000 * rho_ib) <= n_i - reserve * [n_i >= 1]``.

    * a **reserve** ``R_i`` (in instances) per rented type, for the batch classes only
      type ``i`` can serve within QoS (its *exclusive* classes, share ``f_i`` of queries):
      ``R_i = reserve * E[mean_ms / slack_ms | exclusive] * max(0, ln(f_i / eps))``, from the
      M/M/c waiting-time tail ``P(W > t) ~ exp(-(c - load) t / E[S])``: keeping the miss
      rate of those queries below ``eps / f_i`` (``eps = 1 - percentile/100``, the misses the
      target allows) needs ``c - load >= E[S]/slack * ln(f_i / eps)`` spare instances. A
      fixed reserve weighs most on a lone instance, as queueing does. Queries other types
      can also serve wait for whichever frees first, so they need no reserve.
    * ``rho_ib = clip(1 - kappa * mean_ms_ib / slack_ms_ib, rho_min, rho_max)`` with
      ``slack_ms_ib = qos_ms - latency(i, b, q=percentile/100)``: an optional per-pair
      utilization limit from the exponential waiting-time tail of a multi-server queue (off
      by default: ``kappa = 0``).

    The defaults (``rho_max = 0.9``, ``reserve = 0.275``) were fitted to the allowable
    throughput the discrete-event simulator measures with ``KairosPolicy`` on the KAIROS
    data (``benchmarks/planner_calibration.py``, ``docs/planner.md``).
    ``Headroom.constant(1.0)`` is the fluid bound (every instance busy all the time).

    Examples
    --------
    >>> h = Headroom(kappa=0.1)
    >>> [round(float(r), 3) for r in h.rho(np.array([250.0, 40.0]), np.array([300.0, 45.0]), 350.0)]
    [0.5, 0.9]
    >>> float(Headroom.constant(0.8).rho(np.array([5.0]), np.array([6.0]), 10.0)[0])
    0.8
    """

    kappa: float = 0.0
    rho_min: float = 0.3
    rho_max: float = 0.9
    reserve: float = 0.275

    def __post_init__(self) -> None:
        for name in ("kappa", "rho_min", "rho_max", "reserve"):
            object.__setattr__(self, name, finite_float(getattr(self, name), f"Headroom.{name}", error=PlanningError))
        non_negative_float(self.kappa, "Headroom.kappa", error=PlanningError)
        non_negative_float(self.reserve, "Headroom.reserve", error=PlanningError)
        if not (0 < self.rho_min <= self.rho_max <= 1):
            raise PlanningError(
                f"Headroom needs 0 < rho_min <= rho_max <= 1, got rho_min={self.rho_min!r}, rho_max={self.rho_max!r}"
            )

    @classmethod
    def constant(cls, rho: float) -> Headroom:
        """The same utilization limit ``rho`` for every pair (``1.0``: the fluid bound)."""
        if not 0 < finite_float(rho, "headroom", error=PlanningError) <= 1:
            raise PlanningError(f"headroom must be a utilization in (0, 1], got {rho!r}")
        return cls(kappa=0.0, rho_min=float(rho), rho_max=float(rho), reserve=0.0)

    def rho(self, mean_ms: np.ndarray, tail_ms: np.ndarray, qos_ms: float) -> np.ndarray:
        """Utilization limit for each pair (``nan`` where the tail misses the target)."""
        slack = qos_ms - np.asarray(tail_ms, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = 1.0 - self.kappa * np.asarray(mean_ms, dtype=float) / slack
        r = np.where(slack > 0, np.clip(np.nan_to_num(r, nan=self.rho_min, neginf=self.rho_min), self.rho_min, self.rho_max), np.nan)
        return r

    def reserves(self, mean_ms: np.ndarray, tail_ms: np.ndarray, eligible: np.ndarray,
                 prob: np.ndarray, qos_ms: float, eps: float) -> np.ndarray:
        """Instances kept free per rented type, shape ``(T,)`` (at most 0.9 of one)."""
        T = eligible.shape[0]
        out = np.zeros(T)
        if self.reserve == 0:
            return out
        excl = eligible & (eligible.sum(axis=0) == 1)[None, :]
        for i in range(T):
            k = excl[i]
            if not k.any():
                continue
            f = float(prob[k].sum())
            ratio = float(prob[k] @ (mean_ms[i, k] / np.maximum(qos_ms - tail_ms[i, k], 1e-9)) / f)
            out[i] = min(0.9, self.reserve * ratio * max(0.0, math.log(f / max(eps, 1e-3))))
        return out

    def describe(self) -> str:
        if self.kappa == 0 and self.reserve == 0:
            return "fluid bound (rho = 1)" if self.rho_max == 1 else f"constant rho = {self.rho_max:g}"
        rho = f"rho = {self.rho_max:g}" if self.kappa == 0 else (
            f"rho = clip(1 - {self.kappa:g} * mean / slack, {self.rho_min:g}, {self.rho_max:g})")
        return f"{rho}, reserve {self.reserve:g} x E[mean/slack] x ln(share/eps) on exclusive batches"


def _as_headroom(h: Headroom | float | str | None) -> Headroom:
    if h is None or (isinstance(h, str) and h == "auto"):
        return Headroom()
    if isinstance(h, Headroom):
        return h
    if isinstance(h, str):
        raise PlanningError(f"headroom must be 'auto', a Headroom or a utilization in (0, 1], got {h!r}")
    return Headroom.constant(h)
