"""Latency profiles: how long a query of a given batch size takes on each instance type.

A :class:`Profile` is immutable. For every instance type it holds, per measured batch
size, the latency distribution as a quantile table: values at ascending quantile levels
``0 = p_0 < ... < p_L = 1``. A profile built from raw samples keeps every sample, at the
levels ``k / (n - 1)``, so ``latency(..., q)`` equals ``numpy.quantile`` of the samples
(numpy's default "linear" method) exactly at every measured batch size. Between measured
batch sizes the quantile is interpolated linearly in the batch size; outside the measured
range a lookup raises :class:`~kairos_sdk.errors.ProfileError` unless the caller passes
``extrapolate=True``.

Examples
--------
>>> from kairos_sdk import Profile
>>> p = Profile.from_dict({"cpu": {10: [1.0, 2.0, 3.0], 20: [2.0, 4.0, 6.0]}})
>>> float(p.latency("cpu", 10, q=0.5))
2.0
>>> float(p.latency("cpu", 15, q=0.5))   # halfway between batch 10 and 20
3.0
>>> p.max_batch("cpu", qos_ms=5.0, q=0.99)
10
"""

from __future__ import annotations

import csv
import gzip
import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Union

import numpy as np

from ._checks import instance_of, non_negative_int, positive_float, quantile
from .errors import ArgumentTypeError, ProfileError
from .overhead import Overhead, as_overhead
from .profile_io import (
    _FORMAT,
    _builtin_docs,
    _check_conflicts,
    _columns_from_rows,
    _rowname,
    _warn_copies,
)
from .profile_learn import updated
from .profile_series import LatencySeries, _bracket, _series_from_samples, _series_from_table

__all__ = ["Profile", "LatencySeries"]

Quantile = Union[float, str, np.ndarray]  # noqa: UP007 (runtime alias, Python 3.10)
PathLike = Union[str, "os.PathLike[str]"]  # noqa: UP007


@dataclass(frozen=True, eq=False, repr=False)
class Profile:
    """Immutable latency profile of one model on several instance types.

    Build one with :meth:`from_csv`, :meth:`from_records`, :meth:`from_dict`,
    :meth:`from_json` or :meth:`builtin`; do not call the constructor directly.

    Examples
    --------
    >>> from kairos_sdk import Profile
    >>> p = Profile.builtin("rm2")
    >>> p.instance_types
    ('c5n.2xlarge', 'g4dn.xlarge', 'r5n.large', 't3.xlarge')
    >>> 250 < float(p.latency("g4dn.xlarge", 1000, q=0.99)) < 270
    True
    """

    series: Mapping[str, LatencySeries]
    model: str | None = None
    source: str | None = None
    _cache: dict = field(default_factory=dict, compare=False)
    #: per-query overhead of the endpoint set (zero unless measured), see :mod:`kairos_sdk.overhead`
    overhead: Overhead = field(default_factory=Overhead.zero, compare=False)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_csv(
        cls,
        path: PathLike,
        model: str | None = None,
        *,
        drop_outliers: bool | int = False,
    ) -> Profile:
        """Read latency samples from a plain or gzipped CSV file.

        Columns: ``instance``, ``batch`` and either ``latency_ms`` or ``exec_ms`` and
        ``load_ms`` (summed: a query's service time is execution plus loading). An
        optional ``model`` column holds several models; pass ``model=`` to pick one. An
        optional ``sample`` column numbers repetitions; rows repeating an
        ``(instance, batch, sample)`` with a different latency are rejected. Without a
        ``sample`` column, rows cannot be told apart from repetitions that measured the same
        value: exact copies (same instance, batch and latency) are kept as samples, with a
        ``UserWarning`` naming how many there are and the first one's line (a file
        concatenated twice doubles every sample; add a ``sample`` column or remove the copies).

        Parameters
        ----------
        path : path of the ``.csv`` or ``.csv.gz`` file.
        model : which model to keep when the file has a ``model`` column.
        drop_outliers : drop the largest ``n`` samples of every (instance, batch) series
            (``True`` means one). The public KAIROS measurements start some series with a
            warm-up outlier; their authors dropped the largest sample of each series.
        """
        path = Path(path)
        if not path.exists():
            raise ProfileError(f"profile file not found: {path}")
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rt", newline="") as fh:  # type: ignore[operator]
                reader = csv.reader(fh)
                try:
                    header = [h.strip() for h in next(reader)]
                except StopIteration:
                    raise ProfileError(f"{path}: the file is empty; expected a header row") from None
                rows = list(reader)
        except (OSError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
            raise ProfileError(f"{path}: cannot read the file ({exc})") from None
        columns = _columns_from_rows(header, rows, where=str(path), first_line=2)
        return cls._from_columns(
            columns, model=model, drop_outliers=drop_outliers, where=str(path), first_line=2, warn_copies=True,
            source=str(path),
        )

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any]],
        model: str | None = None,
        *,
        drop_outliers: bool | int = False,
        source: str | None = None,
    ) -> Profile:
        """Build a profile from an iterable of mappings with the CSV column names.

        Examples
        --------
        >>> from kairos_sdk import Profile
        >>> p = Profile.from_records([
        ...     {"instance": "cpu", "batch": 10, "latency_ms": 1.5},
        ...     {"instance": "cpu", "batch": 10, "latency_ms": 2.5},
        ... ])
        >>> float(p.latency("cpu", 10, q="mean"))
        2.0
        """
        records = list(records)
        if not records:
            raise ProfileError("no records: a profile needs at least one latency sample")
        header: list[str] = []
        for rec in records:
            if not isinstance(rec, Mapping):
                raise ProfileError(
                    f"records must be mappings with keys instance, batch, latency_ms; got {type(rec).__name__}"
                )
            for k in rec:
                if k not in header:
                    header.append(str(k))
        rows = [[rec.get(h, "") for h in header] for rec in records]
        columns = _columns_from_rows(header, rows, where="records", first_line=0)
        return cls._from_columns(
            columns, model=model, drop_outliers=drop_outliers, where="records", first_line=0,
            source=source,
        )

    @classmethod
    def from_dict(
        cls,
        samples: Mapping[str, Mapping[int, Sequence[float]]],
        *,
        model: str | None = None,
        drop_outliers: bool | int = False,
        source: str | None = None,
    ) -> Profile:
        """Build a profile from ``{instance: {batch: [latency_ms, ...]}}``."""
        if not isinstance(samples, Mapping) or not samples:
            raise ProfileError("from_dict expects a non-empty {instance: {batch: [latency_ms, ...]}}")
        records = []
        for inst, by_batch in samples.items():
            if not isinstance(by_batch, Mapping) or not by_batch:
                raise ProfileError(f"instance {inst!r}: expected a non-empty {{batch: [latency_ms, ...]}}")
            for b, values in by_batch.items():
                vals = np.atleast_1d(np.asarray(values, dtype=object))
                if vals.size == 0:
                    raise ProfileError(f"instance {inst!r}, batch {b}: empty series; give at least one sample")
                records.extend({"instance": inst, "batch": b, "latency_ms": v} for v in vals)
        return cls.from_records(records, model=model, drop_outliers=drop_outliers, source=source)

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> Profile:
        """Load a profile written by :meth:`to_json` (a JSON string or a file path)."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            path = Path(text_or_path)
            if not path.exists():
                raise ProfileError(f"profile JSON file not found: {path}")
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt") as fh:  # type: ignore[operator]
                text = fh.read()
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProfileError(f"profile JSON is malformed: {exc}") from None
        return cls._from_doc(doc)

    @classmethod
    def builtin(cls, model: str = "rm2") -> Profile:
        """The built-in default profile of one of the five KAIROS models.

        Summary quantile tables derived from the public KAIROS AWS measurements
        (Li et al., HPDC'23, artifact ``boringlee24/hpdc23-kairos``, MIT licence) by
        ``tools/make_builtin_profile.py``: per model, instance type and batch size 10-1000,
        18 quantile levels and the mean, after dropping the largest sample of each series.

        Examples
        --------
        >>> from kairos_sdk import Profile
        >>> Profile.builtin_models()
        ('dien', 'mtwnd', 'ncf', 'rm2', 'wnd')
        """
        instance_of(model, "model", str)
        docs = _builtin_docs()
        if model not in docs:
            raise ProfileError(
                f"no built-in profile for model {model!r}; choose one of {', '.join(sorted(docs))}"
            )
        return cls._from_doc(docs[model])

    @staticmethod
    def builtin_models() -> tuple[str, ...]:
        """Names of the models with a built-in profile."""
        return tuple(sorted(_builtin_docs()))

    @classmethod
    def from_quantiles(
        cls,
        tables: Mapping[str, Mapping[str, Any]],
        *,
        model: str | None = None,
        source: str | None = None,
    ) -> Profile:
        """Build a profile from quantile tables.

        ``tables[instance]`` holds ``batch`` (B,), ``levels`` (L,) from 0 to 1, ``values``
        (B, L) in ms and optionally ``mean_ms`` (B,) and ``counts`` (B,).
        """
        if not tables:
            raise ProfileError("a profile needs at least one instance type")
        series = {}
        for inst, t in tables.items():
            series[str(inst)] = _series_from_table(str(inst), t)
        return cls(series=dict(sorted(series.items())), model=model, source=source)

    # ------------------------------------------------------------------ accessors
    @property
    def instance_types(self) -> tuple[str, ...]:
        """Instance types this profile covers, sorted."""
        return tuple(self.series)

    def batch_sizes(self, instance: str) -> np.ndarray:
        """Measured batch sizes of ``instance`` (read-only int array)."""
        return self._series(instance).batches

    def latency(
        self,
        instance: str,
        batch: int | float | np.ndarray | Sequence[int],
        q: Quantile = 0.99,
        *,
        extrapolate: bool = False,
    ) -> np.ndarray:
        """Latency in ms of ``batch`` on ``instance`` at quantile ``q``.

        Parameters
        ----------
        instance : instance type name.
        batch : batch size(s); arrays broadcast against ``q``.
        q : quantile level(s) in ``[0, 1]`` or ``"mean"``.
        extrapolate : allow batch sizes outside the measured range (linear extrapolation
            of the two nearest measured batch sizes, floored at zero).

        Returns
        -------
        numpy.ndarray of the broadcast shape of ``batch`` and ``q`` (0-d for scalars).
        """
        s = self._series(instance)
        b = self._check_batch(instance, s, batch, extrapolate)
        if isinstance(q, str):
            if q != "mean":
                raise ProfileError(f"q must be a quantile in [0, 1] or 'mean', got {q!r}")
            j, g = _bracket(s.batches.astype(float), b)
            m = s.mean_ms
            if len(m) == 1:
                return np.broadcast_to(m[0], b.shape).copy()
            return np.maximum(m[j] * (1 - g) + m[j + 1] * g, 0.0)
        if not isinstance(q, np.ndarray) and np.ndim(q) == 0:
            q = quantile(q, "q", error=ProfileError)
        try:
            qa = np.asarray(q, dtype=float)
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"q must be a quantile in [0, 1], an array of them or 'mean', got {q!r}") from None
        if not np.all((qa >= 0.0) & (qa <= 1.0)):
            raise ProfileError(f"q must be a quantile in [0, 1] or 'mean', got {q!r}")
        b, qa = np.broadcast_arrays(b, qa)
        v = s.values
        i, f = _bracket(s.levels, qa)
        if v.shape[0] == 1:
            return v[0, i] * (1 - f) + v[0, i + 1] * f
        j, g = _bracket(s.batches.astype(float), b)
        lo = v[j, i] * (1 - f) + v[j, i + 1] * f
        hi = v[j + 1, i] * (1 - f) + v[j + 1, i + 1] * f
        return np.maximum(lo * (1 - g) + hi * g, 0.0)

    def quantile_table(self, instance: str, q: Quantile) -> np.ndarray:
        """``latency(instance, batch_sizes(instance), q)``, cached; shape ``(B,)``."""
        key = (instance, q if isinstance(q, str) else quantile(q, "q", error=ProfileError))
        hit = self._cache.get(key)
        if hit is None:
            s = self._series(instance)
            hit = s.mean_ms if q == "mean" else self.latency(instance, s.batches, q)
            hit = np.asarray(hit)
            hit.setflags(write=False)
            self._cache[key] = hit
        return hit

    def max_batch(self, instance: str, qos_ms: float, q: Quantile = 0.99) -> int:
        """Largest measured batch size served within ``qos_ms`` at quantile ``q``.

        Every measured batch size up to the answer meets the target (a batch that
        violates it ends the run even when a larger one happens to meet it again).
        Returns 0 when even the smallest measured batch misses the target.
        """
        qos_ms = positive_float(qos_ms, "qos_ms", unit="milliseconds", error=ProfileError)
        s = self._series(instance)
        ok = self.quantile_table(instance, q) <= qos_ms
        if ok.all():
            return int(s.batches[-1])
        first_bad = int(np.argmin(ok))
        return int(s.batches[first_bad - 1]) if first_bad > 0 else 0

    def sample(
        self,
        instance: str,
        batch: int | np.ndarray | Sequence[int],
        rng: np.random.Generator,
        size: int | tuple[int, ...] | None = None,
        *,
        extrapolate: bool = False,
    ) -> np.ndarray:
        """Draw service times (ms) for ``batch`` on ``instance`` by inverse-CDF sampling.

        With ``size=None`` one draw per element of ``batch``; otherwise ``size`` draws
        (``batch`` broadcast to it).

        Examples
        --------
        >>> import numpy as np
        >>> from kairos_sdk import Profile
        >>> p = Profile.builtin("ncf")
        >>> x = p.sample("g4dn.xlarge", 100, np.random.default_rng(0), size=1000)
        >>> bool(0.5 < x.mean() < 1.5)
        True
        """
        instance_of(rng, "rng", np.random.Generator, hint=" (e.g. numpy.random.default_rng(0))")
        shape = np.shape(batch) if size is None else size
        u = rng.random(shape)
        return self.latency(instance, batch, q=u, extrapolate=extrapolate)

    # ------------------------------------------------------------------ export
    def updated(
        self,
        observations: Any,
        *,
        alpha: float = 0.3,
        min_samples: int = 30,
    ) -> Profile:
        """A profile that folds observed service times into this one (exponentially weighted).

        Per instance type and measured batch size (each observed batch counts toward the
        nearest measured one), the ratio ``r`` of the observed mean service time to this
        profile's mean there scales that batch size's whole quantile row (and its mean) by
        ``(1 - alpha) + alpha * r``. A batch size needs ``min_samples`` observations before it
        moves; those with fewer take the type's pooled ratio (sum of observed over sum of
        expected times) once the type as a whole has ``min_samples``, else stay as they are.
        Repeated updates converge geometrically to what is observed; ``alpha=1`` jumps there.

        Parameters
        ----------
        observations : ``{instance type: (batch_sizes, service_ms)}`` (two equal-length
            arrays), or any object with such a mapping as its ``service`` attribute (an
            :class:`~kairos_sdk.adapt.Observation`). Types this profile lacks raise
            :class:`ProfileError`; types absent from the mapping are unchanged.
        alpha : weight of the new observations in (0, 1].
        min_samples : observations a batch size (or, for the fallback, a type) needs.

        Examples
        --------
        >>> import numpy as np
        >>> from kairos_sdk import Profile
        >>> p = Profile.from_dict({"cpu": {10: [1.0, 2.0, 3.0], 20: [2.0, 4.0, 6.0]}})
        >>> q = p.updated({"cpu": (np.full(40, 10), np.full(40, 2.4))}, alpha=1.0)
        >>> round(float(q.latency("cpu", 10, q="mean")), 6), round(float(q.latency("cpu", 20, q="mean")), 6)
        (2.4, 4.8)
        """
        return updated(self, observations, alpha=alpha, min_samples=min_samples)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` restores the identical profile."""
        return {
            "format": _FORMAT,
            "model": self.model,
            "source": self.source,
            "unit": "ms",
            "instances": {
                name: {
                    "batch": s.batches.tolist(),
                    "levels": s.levels.tolist(),
                    "values": s.values.tolist(),
                    "mean_ms": s.mean_ms.tolist(),
                    "counts": s.counts.tolist(),
                }
                for name, s in self.series.items()
            },
            **({} if self.overhead.is_zero else {"overhead": self.overhead.to_dict()}),
        }

    def with_overhead(self, overhead: Overhead | float | None) -> Profile:
        """This profile carrying a per-query ``overhead`` (an :class:`~kairos_sdk.overhead.Overhead`,
        a constant in ms, or ``None`` for none), which the planner, the simulator and the
        policies add to the service times."""
        return replace(self, overhead=as_overhead(overhead), _cache={})

    def to_json(self, path: PathLike | None = None) -> str:
        """Serialize losslessly to JSON; also write it to ``path`` (gzipped for a ``.gz`` name)."""
        text = json.dumps(self.to_dict())
        if path is not None:
            Path(path).write_bytes(gzip.compress(text.encode()) if Path(path).suffix == ".gz" else text.encode())
        return text

    def restrict(self, instance_types: Iterable[str]) -> Profile:
        """A profile holding only ``instance_types``."""
        names = list(instance_types)
        for n in names:
            self._series(n)
        return Profile(series={n: self.series[n] for n in sorted(names)}, model=self.model,
                       source=self.source, overhead=self.overhead)

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        parts = []
        for name, s in self.series.items():
            parts.append(f"{name}[{int(s.batches[0])}..{int(s.batches[-1])}, {len(s.batches)} sizes]")
        model = f"model={self.model!r}, " if self.model else ""
        return f"Profile({model}{', '.join(parts)})"

    def _repr_html_(self) -> str:
        rows = []
        for name, s in self.series.items():
            p50 = self.quantile_table(name, 0.5)
            p99 = self.quantile_table(name, 0.99)
            n = int(s.counts.max()) if s.counts.max() > 0 else None
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td>{int(s.batches[0])}–{int(s.batches[-1])}"
                f" ({len(s.batches)})</td><td>{n if n else 'summary'}</td>"
                f"<td>{p50[0]:.3g} / {p99[0]:.3g}</td><td>{p50[-1]:.3g} / {p99[-1]:.3g}</td></tr>"
            )
        title = html.escape(f"Profile {self.model or ''}".strip())
        return (
            f"<table><caption>{title}</caption><tr><th>instance type</th><th>batch sizes</th>"
            "<th>samples/size</th><th>p50 / p99 ms at smallest</th><th>p50 / p99 ms at largest</th></tr>"
            + "".join(rows) + "</table>"
        )

    def plot(self, ax: Any = None, *, quantiles: Sequence[float] = (0.5, 0.99)) -> Any:
        """Plot latency against batch size for every type (solid p50, dashed p99).

        Returns the matplotlib ``Axes``.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        styles = ["-", "--", ":", "-."]
        for k, (name, s) in enumerate(self.series.items()):
            color = f"C{k % 10}"
            for qi, q in enumerate(quantiles):
                ax.plot(s.batches, self.quantile_table(name, q), styles[qi % len(styles)],
                        color=color, label=f"{name} p{round(q * 100):g}")
        ax.set_xlabel("batch size")
        ax.set_ylabel("latency (ms)")
        ax.set_title(f"Latency profile{': ' + self.model if self.model else ''}")
        ax.legend(fontsize="small", ncol=2)
        ax.grid(alpha=0.3)
        return ax

    # ------------------------------------------------------------------ internals
    def _series(self, instance: str) -> LatencySeries:
        try:
            return self.series[instance]
        except (KeyError, TypeError):
            raise ProfileError(
                f"unknown instance type {instance!r}; this profile has {', '.join(self.series)}"
            ) from None

    @staticmethod
    def _check_batch(instance: str, s: LatencySeries, batch: Any, extrapolate: bool) -> np.ndarray:
        try:
            b = np.asarray(batch, dtype=float)
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"batch must be a number or an array of numbers, got {batch!r}") from None
        if not np.all(np.isfinite(b)) or np.any(b <= 0):
            raise ProfileError(f"batch sizes must be positive finite numbers, got {batch!r}")
        if not extrapolate:
            lo, hi = s.batches[0], s.batches[-1]
            if b.size and (b.min() < lo or b.max() > hi):
                bad = b[(b < lo) | (b > hi)].ravel()[0]
                raise ProfileError(
                    f"batch {bad:g} is outside the measured range {lo}..{hi} of {instance!r}; "
                    "measure it, or pass extrapolate=True"
                )
        return b

    @classmethod
    def _from_columns(
        cls,
        cols: dict[str, np.ndarray],
        *,
        model: str | None,
        drop_outliers: bool | int,
        where: str,
        first_line: int,
        source: str | None,
        warn_copies: bool = False,
    ) -> Profile:
        n_drop = int(drop_outliers) if isinstance(drop_outliers, bool) else non_negative_int(
            drop_outliers, "drop_outliers (a bool or a count)", error=ProfileError)
        rowno = np.arange(len(cols["instance"])) + first_line
        if "model" in cols:
            models = sorted(set(cols["model"].tolist()))
            if model is None:
                if len(models) > 1:
                    raise ProfileError(
                        f"{where}: holds models {', '.join(models)}; pass model= to pick one"
                    )
                model = models[0]
            keep = cols["model"] == model
            if not keep.any():
                raise ProfileError(f"{where}: no rows for model {model!r}; it has {', '.join(models)}")
            cols = {k: v[keep] for k, v in cols.items()}
            rowno = rowno[keep]
        lat = cols["latency_ms"]
        bad = ~np.isfinite(lat) | (lat <= 0)
        if bad.any():
            k = int(np.argmax(bad))
            what = "NaN" if np.isnan(lat[k]) else ("not finite" if not np.isfinite(lat[k]) else f"{lat[k]:g}")
            raise ProfileError(
                f"{where}, {_rowname(rowno[k], first_line)}: latency is {what}; latencies must be positive "
                "finite milliseconds"
            )
        series: dict[str, LatencySeries] = {}
        inst_col, batch_col = cols["instance"], cols["batch"]
        sample_col = cols.get("sample")
        for inst in sorted(set(inst_col.tolist())):
            m = inst_col == inst
            b, v, r = batch_col[m], lat[m], rowno[m]
            if sample_col is not None:
                _check_conflicts(inst, b, sample_col[m], v, r, where, first_line)
            elif warn_copies:
                _warn_copies(inst, b, v, r, where, first_line)
            order = np.lexsort((v, b))
            b, v = b[order], v[order]
            ub, start, cnt = np.unique(b, return_index=True, return_counts=True)
            if n_drop and cnt.min() <= n_drop:
                raise ProfileError(
                    f"{where}: instance {inst!r} batch {int(ub[np.argmin(cnt)])} has {int(cnt.min())} "
                    f"sample(s); cannot drop {n_drop} outlier(s)"
                )
            rows = [v[s0:s0 + c - n_drop] for s0, c in zip(start, cnt)]
            series[inst] = _series_from_samples(ub, rows)
        return cls(series=series, model=model, source=source)

    @classmethod
    def _from_doc(cls, doc: Any) -> Profile:
        if not isinstance(doc, Mapping) or doc.get("format") != _FORMAT:
            raise ProfileError(f"not a kairos_sdk profile document (expected format {_FORMAT!r})")
        inst = doc.get("instances")
        if not isinstance(inst, Mapping) or not inst:
            raise ProfileError("profile JSON has no instances")
        tables = {
            name: {"batch": t.get("batch"), "levels": t.get("levels"), "values": t.get("values"),
                   "mean_ms": t.get("mean_ms"), "counts": t.get("counts")}
            for name, t in inst.items()
        }
        prof = cls.from_quantiles(tables, model=doc.get("model"), source=doc.get("source"))
        return prof if doc.get("overhead") is None else prof.with_overhead(Overhead.from_dict(doc["overhead"]))
