"""The quantile table of one instance type (:class:`LatencySeries`), and building one from
raw samples or from a given table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ProfileError

__all__ = ["LatencySeries"]


@dataclass(frozen=True, eq=False)
class LatencySeries:
    """Latency distribution of one instance type across batch sizes (milliseconds).

    Attributes
    ----------
    batches : (B,) int array, strictly increasing measured batch sizes.
    levels : (L,) float array, quantile levels from 0 to 1.
    values : (B, L) float array, latency in ms at each level, non-decreasing per row.
    mean_ms : (B,) float array, mean latency per batch size.
    counts : (B,) int array, raw samples behind each row (0 when only a summary is kept).
    """

    batches: np.ndarray
    levels: np.ndarray
    values: np.ndarray
    mean_ms: np.ndarray
    counts: np.ndarray

    def __post_init__(self) -> None:
        for name in ("batches", "levels", "values", "mean_ms", "counts"):
            getattr(self, name).setflags(write=False)


def _bracket(grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index ``i`` and fraction ``f`` with ``x = grid[i] + f * (grid[i+1] - grid[i])``.

    ``x`` must lie within ``[grid[0], grid[-1]]`` (or ``f`` leaves ``[0, 1]``: linear
    extrapolation from the end segment). A one-point grid gives ``i = 0, f = 0`` with the
    grid padded by the caller.
    """
    n = grid.shape[0]
    if n == 1:
        return np.zeros(np.shape(x), dtype=np.intp), np.zeros(np.shape(x))
    i = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, n - 2)
    lo = grid[i]
    f = (x - lo) / (grid[i + 1] - lo)
    return i, f


def _series_from_samples(batches: np.ndarray, rows: list[np.ndarray]) -> LatencySeries:
    """Quantile table keeping every (sorted) sample at numpy's linear levels."""
    counts = np.array([len(r) for r in rows])
    n = int(counts.max())
    levels = np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.0, 1.0])
    values = np.empty((len(rows), len(levels)))
    for k, r in enumerate(rows):
        if len(r) == len(levels):
            values[k] = r
        elif len(r) == 1:
            values[k] = r[0]
        else:  # fewer samples than the longest row: numpy quantile at the common levels
            values[k] = np.quantile(r, levels)
    means = np.array([r.mean() for r in rows])
    return LatencySeries(batches.astype(np.int64), levels, values, means, counts.astype(np.int64))


def _series_from_table(inst: str, t: Mapping[str, Any]) -> LatencySeries:
    try:
        b = np.asarray(t["batch"], dtype=float)
        levels = np.asarray(t["levels"], dtype=float)
        values = np.asarray(t["values"], dtype=float)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"instance {inst!r}: quantile table needs batch, levels and values ({exc})") from None
    if b.ndim != 1 or b.size == 0:
        raise ProfileError(f"instance {inst!r}: batch must be a non-empty list of batch sizes")
    if np.any(b <= 0) or np.any(b != np.round(b)) or np.any(np.diff(b) <= 0):
        raise ProfileError(f"instance {inst!r}: batch sizes must be positive integers in increasing order")
    if levels.ndim != 1 or levels.size < 2 or levels[0] != 0.0 or levels[-1] != 1.0 or np.any(np.diff(levels) <= 0):
        raise ProfileError(f"instance {inst!r}: levels must increase from 0 to 1")
    if values.shape != (b.size, levels.size):
        raise ProfileError(
            f"instance {inst!r}: values must have shape (len(batch), len(levels)) = ({b.size}, {levels.size}), "
            f"got {values.shape}"
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ProfileError(f"instance {inst!r}: latencies must be positive finite milliseconds")
    if np.any(np.diff(values, axis=1) < 0):
        raise ProfileError(f"instance {inst!r}: each row of values must be non-decreasing")
    mean = t.get("mean_ms")
    if mean is None:  # mean of the piecewise-linear inverse CDF
        mean = np.trapezoid(values, levels, axis=1) if hasattr(np, "trapezoid") else np.trapz(values, levels, axis=1)
    mean = np.asarray(mean, dtype=float)
    if mean.shape != b.shape or not np.all(np.isfinite(mean)) or np.any(mean <= 0):
        raise ProfileError(f"instance {inst!r}: mean_ms must be positive, one per batch size")
    counts = np.asarray(t.get("counts") if t.get("counts") is not None else np.zeros(b.size), dtype=np.int64)
    return LatencySeries(b.astype(np.int64), levels, values, mean, counts)
