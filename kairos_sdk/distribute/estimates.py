"""Profile estimates as policies read them: per batch size, one figure per instance type,
looked up once and cached. The latency rule (interpolation between measured batch sizes,
extrapolation beyond them) is :meth:`Profile.latency`'s, never a copy of it.

A profile carrying a per-query overhead (:meth:`Profile.with_overhead
<kairos_sdk.Profile.with_overhead>`) adds it here, once for every policy: the mean estimate
gets the mean overhead, the quantile estimate is the quantile of service plus overhead
(:func:`~kairos_sdk.overhead.latency_with_overhead`, as the planner's eligibility). A zero
overhead adds nothing, so the numbers stay bit-identical."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..overhead import latency_with_overhead
from .base import PolicyContext

__all__ = ["Estimate", "Estimates", "speed_weights"]

#: Floor (ms) of a type's latency in :func:`speed_weights`, so a zero never divides.
_MIN_LATENCY_MS = 1e-9


class Estimate(NamedTuple):
    """Estimates for one batch size, indexed by type (``PolicyContext.type_names`` order)."""

    mean_ms: tuple[float, ...]
    q_ms: tuple[float, ...]  # at the quantile the :class:`Estimates` was made for (else the mean)


class Estimates:
    """Per-batch lookup of profile estimates for every type of a pool, cached by batch.

    ``row(b)`` is an :class:`Estimate` of Python floats: the mean (rounded to whole ms with
    ``round_ms``) and the latency at quantile ``q`` (the mean when ``q`` is None), both from
    ``profile.latency(type, b, q, extrapolate=True)``, plus the profile's overhead (mean,
    and at ``q``) when it has one. The batch sizes of the context's workload are looked up
    at once, others on first use.

    Examples
    --------
    >>> from kairos_sdk import Profile
    >>> from kairos_sdk.distribute import Dispatcher, FCFSPolicy
    >>> from kairos_sdk.distribute.estimates import Estimates
    >>> prof = Profile.from_dict({"cpu": {10: [4.0, 6.0]}, "gpu": {10: [1.0, 3.0]}})
    >>> est = Estimates(Dispatcher(FCFSPolicy(), ["cpu", "gpu"], prof, qos_ms=50).ctx, q=1.0)
    >>> est.row(10)
    Estimate(mean_ms=(5.0, 2.0), q_ms=(6.0, 3.0))
    """

    def __init__(self, ctx: PolicyContext, q: float | None = None, round_ms: bool = False) -> None:
        self._profile = ctx.profile
        self._types = ctx.type_names
        self._q = q
        self._round_ms = round_ms
        self._cache: dict[int, Estimate] = {}
        self._arrays: dict[int, np.ndarray] = {}
        ov = getattr(ctx.profile, "overhead", None)
        self._overhead = None if ov is None or ov.is_zero else ov
        if ctx.workload is not None:
            self._preload(np.asarray(ctx.workload.batch_sizes))

    def _mean(self, means: list[float]) -> tuple[float, ...]:
        return tuple(float(np.round(x)) for x in means) if self._round_ms else tuple(means)

    def _preload(self, batches: np.ndarray) -> None:
        """Every batch of ``batches`` in one vectorized lookup per type (the same numbers
        as one lookup per batch: :meth:`Profile.latency` works elementwise)."""
        lat = self._profile.latency
        mean = [np.asarray(lat(t, batches, q="mean", extrapolate=True), dtype=float).tolist() for t in self._types]
        qv = mean if self._q is None else [
            np.asarray(lat(t, batches, q=self._q, extrapolate=True), dtype=float).tolist() for t in self._types]
        if self._overhead is not None:
            mean, qv = self._with_overhead(batches, mean, qv)
        means = zip(*mean) if not self._round_ms else ([float(np.round(x)) for x in m] for m in zip(*mean))
        for b, m, v in zip(batches.tolist(), means, zip(*qv)):
            self._cache[int(b)] = Estimate(tuple(m), v)

    def _with_overhead(self, batches: np.ndarray, mean: list[list[float]], qv: list[list[float]]
                       ) -> tuple[list[list[float]], list[list[float]]]:
        """Per type, the estimates of ``batches`` plus the profile's overhead: the mean
        overhead on the mean, the quantile of the sum on the quantile."""
        add = self._overhead.mean_ms
        mean = [[x + add for x in m] for m in mean]
        if self._q is None:
            return mean, mean
        qv = [np.asarray(latency_with_overhead(self._profile, t, batches, self._q, extrapolate=True), dtype=float).tolist()
              for t in self._types]
        return mean, qv

    def row(self, batch: int) -> Estimate:
        hit = self._cache.get(batch)
        if hit is None:
            lat = self._profile.latency
            mean = [float(lat(t, batch, q="mean", extrapolate=True)) for t in self._types]
            qv = mean if self._q is None else [float(lat(t, batch, q=self._q, extrapolate=True)) for t in self._types]
            if self._overhead is not None:
                m2, q2 = self._with_overhead(np.array([batch]), [[x] for x in mean], [[x] for x in qv])
                mean, qv = [v[0] for v in m2], [v[0] for v in q2]
            hit = Estimate(self._mean(mean), tuple(qv))
            self._cache[batch] = hit
        return hit

    def array(self, batch: int) -> np.ndarray:
        """``row(batch).q_ms`` as a cached numpy array (for vectorized policies)."""
        hit = self._arrays.get(batch)
        if hit is None:
            hit = self._arrays[batch] = np.asarray(self.row(batch).q_ms, dtype=float)
        return hit


def speed_weights(ctx: PolicyContext, round_to: int | None = None) -> np.ndarray:
    """Heterogeneity weight per type: the fastest type's mean latency at the largest batch
    all types measured, divided by this type's (1 for the fastest, < 1 for slower ones)."""
    prof = ctx.profile
    ref = min(int(prof.batch_sizes(t)[-1]) for t in ctx.type_names)
    lat = np.array([float(prof.latency(t, ref, q="mean", extrapolate=True)) for t in ctx.type_names])
    lat = np.maximum(lat, _MIN_LATENCY_MS)
    w = lat.min() / lat
    return np.round(w, round_to) if round_to is not None else w
