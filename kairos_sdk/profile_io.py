"""Reading profiles: CSV rows and records checked and turned into typed columns, and the
built-in summaries shipped with the package."""

from __future__ import annotations

import gzip
import io
import json
import warnings
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from .errors import ProfileError

_FORMAT = "kairos_sdk.profile/1"
_BUILTIN_FILE = "builtin_profiles.json.gz"


def _rowname(row: int, first_line: int) -> str:
    return f"line {row}" if first_line > 0 else f"record {row}"


def _first_copies(keys: np.ndarray) -> np.ndarray:
    """(R,) bool: True for the first occurrence of each distinct row of ``keys``."""
    _, first = np.unique(keys, axis=0, return_index=True)
    out = np.zeros(keys.shape[0], dtype=bool)
    out[first] = True
    return out


def _warn_copies(inst, b, v, rows, where, first_line) -> None:
    """Warn when rows of ``inst`` (without a sample column) repeat an earlier row exactly."""
    copies = ~_first_copies(np.stack([b.astype(float), v], axis=1))
    if copies.any():
        warnings.warn(
            f"{where}: {int(copies.sum())} row(s) of instance {inst!r} repeat an earlier row exactly "
            f"(same batch and latency; first at {_rowname(int(rows[copies][0]), first_line)}); without a "
            "'sample' column they count as separate samples: add one, or remove copied rows",
            UserWarning, stacklevel=5)


def _check_conflicts(inst, b, sample, v, rows, where, first_line) -> None:
    key = np.stack([b.astype(float), sample.astype(float)], axis=1)
    order = np.lexsort((key[:, 1], key[:, 0]))
    ks, vs, rs = key[order], v[order], rows[order]
    same = np.all(ks[1:] == ks[:-1], axis=1)
    if same.any():
        idx = np.nonzero(same)[0]
        for k in idx:
            if vs[k] != vs[k + 1]:
                raise ProfileError(
                    f"{where}, {_rowname(rs[k + 1], first_line)}: instance {inst!r} batch {int(ks[k, 0])} "
                    f"sample {int(ks[k, 1])} repeats {_rowname(rs[k], first_line)} with a different latency "
                    f"({vs[k]:g} vs {vs[k + 1]:g}); remove one of the two rows"
                )


def _header_index(header: list[str], where: str) -> dict[str, int]:
    """Column positions by name, once the required columns are known to be there."""
    idx = {h: k for k, h in enumerate(header)}
    missing = [c for c in ("instance", "batch") if c not in idx]
    has_lat = "latency_ms" in idx
    has_parts = "exec_ms" in idx and "load_ms" in idx
    if not has_lat and not has_parts:
        missing.append("latency_ms (or exec_ms and load_ms)")
    if missing:
        raise ProfileError(f"{where}: missing column(s) {', '.join(missing)}; found {', '.join(header) or 'none'}")
    return idx


def _fields(rows: list[Sequence[Any]], width: int, *, where: str, first_line: int) -> list[tuple]:
    """The columns of ``rows`` (one tuple per column), once every row of a file has ``width`` fields."""
    if not rows:
        raise ProfileError(f"{where}: no data rows; a profile needs at least one latency sample")
    bad_width = [k for k, row in enumerate(rows) if len(row) != width]
    if bad_width and first_line > 0:
        k = bad_width[0]
        if not any(str(c).strip() for c in rows[k]):
            raise ProfileError(f"{where}, line {k + first_line}: empty row; remove it")
        raise ProfileError(f"{where}, line {k + first_line}: expected {width} fields, got {len(rows[k])}")
    return list(zip(*rows))


def _columns_from_rows(header: list[str], rows: list[Sequence[Any]], *, where: str, first_line: int) -> dict[str, np.ndarray]:
    """Validate and convert raw rows into typed column arrays."""
    idx = _header_index(header, where)
    has_lat = "latency_ms" in idx
    fields = _fields(rows, len(header), where=where, first_line=first_line)

    def text(name: str) -> np.ndarray:
        col = np.char.strip(np.asarray(fields[idx[name]], dtype=str))
        empty = col == ""
        if empty.any():
            k = int(np.argmax(empty))
            raise ProfileError(f"{where}, {_rowname(k + first_line, first_line)}: {name} is empty")
        return col

    def number(name: str, label: str | None = None) -> np.ndarray:
        raw = fields[idx[name]]
        try:
            return np.asarray(raw, dtype=float)
        except (TypeError, ValueError):
            for k, v in enumerate(raw):
                try:
                    float(v)
                except (TypeError, ValueError):
                    raise ProfileError(
                        f"{where}, {_rowname(k + first_line, first_line)}: {label or name} {v!r} is not a number"
                    ) from None
            raise

    cols: dict[str, np.ndarray] = {"instance": text("instance")}
    b = number("batch")
    bad = ~np.isfinite(b) | (b <= 0) | (b != np.round(b))
    if bad.any():
        k = int(np.argmax(bad))
        raise ProfileError(
            f"{where}, {_rowname(k + first_line, first_line)}: batch {fields[idx['batch']][k]!r} must be a positive integer"
        )
    cols["batch"] = b.astype(np.int64)
    if has_lat:
        cols["latency_ms"] = number("latency_ms")
    else:
        cols["latency_ms"] = number("exec_ms") + number("load_ms")
    if "model" in idx:
        cols["model"] = text("model")
    if "sample" in idx:
        s = number("sample")
        if np.any(s != np.round(s)):
            k = int(np.argmax(s != np.round(s)))
            raise ProfileError(f"{where}, {_rowname(k + first_line, first_line)}: sample {fields[idx['sample']][k]!r} is not an integer")
        cols["sample"] = s.astype(np.int64)
    return cols


@lru_cache(maxsize=1)
def _builtin_docs() -> dict[str, Any]:
    ref = resources.files("kairos_sdk") / "data" / _BUILTIN_FILE
    with ref.open("rb") as fh, gzip.open(io.BytesIO(fh.read()), "rt") as gz:
        doc = json.load(gz)
    return doc["profiles"]
