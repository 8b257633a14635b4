"""How a profile learns from what was observed (:meth:`Profile.updated`): observed service times
folded into the latency quantiles, exponentially weighted per measured batch size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ._checks import instance_of, non_negative_int, probability
from .errors import ProfileError
from .profile_series import LatencySeries

if TYPE_CHECKING:
    from .profile import Profile

__all__ = ["updated"]


def updated(profile: Profile, observations: Any, *, alpha: float, min_samples: int) -> Profile:
    """:meth:`Profile.updated`, which documents it."""
    obs = getattr(observations, "service", observations)
    instance_of(obs, "observations", Mapping, hint=" {instance type: (batch_sizes, service_ms)}")
    alpha = probability(alpha, "alpha", error=ProfileError)
    if alpha == 0.0:
        raise ProfileError("alpha must be in (0, 1]; 0 would never learn anything")
    min_samples = non_negative_int(min_samples, "min_samples", error=ProfileError)
    series = dict(profile.series)
    changed = False
    for inst, pair in obs.items():
        s = profile._series(inst)
        try:
            b_obs, t_obs = (np.asarray(x, dtype=float).ravel() for x in pair)
        except (TypeError, ValueError):
            raise ProfileError(f"observations[{inst!r}] must be (batch_sizes, service_ms) arrays") from None
        if b_obs.shape != t_obs.shape:
            raise ProfileError(f"observations[{inst!r}]: {b_obs.size} batch sizes but {t_obs.size} service times")
        ok = np.isfinite(b_obs) & np.isfinite(t_obs) & (t_obs > 0) & (b_obs > 0)
        b_obs, t_obs = b_obs[ok], t_obs[ok]
        if b_obs.size == 0 or b_obs.size < min_samples:
            continue
        expected = np.asarray(profile.latency(inst, b_obs, q="mean", extrapolate=True), dtype=float)
        grid = s.batches.astype(float)
        k = np.clip(np.searchsorted(grid, b_obs), 0, len(grid) - 1)
        left = np.clip(k - 1, 0, len(grid) - 1)
        k = np.where(np.abs(grid[left] - b_obs) <= np.abs(grid[k] - b_obs), left, k)
        n = np.bincount(k, minlength=len(grid))
        got = np.bincount(k, weights=t_obs, minlength=len(grid))
        want = np.bincount(k, weights=expected, minlength=len(grid))
        pooled = float(t_obs.sum() / max(expected.sum(), 1e-300))
        ratio = np.full(len(grid), pooled)
        own = n >= max(min_samples, 1)
        ratio[own] = got[own] / np.maximum(want[own], 1e-300)
        factor = (1.0 - alpha) + alpha * ratio
        series[inst] = LatencySeries(s.batches.copy(), s.levels.copy(), s.values * factor[:, None],
                                     s.mean_ms * factor, s.counts + n)
        changed = True
    if not changed:
        return profile
    return type(profile)(series=series, model=profile.model, source=profile.source)
