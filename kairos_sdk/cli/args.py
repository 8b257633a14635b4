"""Parsing the ``kairos`` command's arguments and the small files it reads.

Pools and caps (``TYPE=N,...``), plan files (``kairos plan --json`` output), endpoint lists,
batch-size mixes and traces, and argparse converters whose messages say what to write
instead. Every error here is a :class:`UsageError`, printed as one line by ``kairos``.

Examples
--------
>>> parse_pool("g4dn.xlarge=1,r5n.large=13")
{'g4dn.xlarge': 1, 'r5n.large': 13}
>>> parse_rates("10,20,30")
[10.0, 20.0, 30.0]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

__all__ = [
    "PlanFile",
    "UsageError",
    "parse_batches",
    "parse_caps",
    "parse_headers",
    "parse_pool",
    "parse_rates",
    "read_batch_mix",
    "read_endpoints",
    "read_plan_file",
    "read_trace",
]


# ---------------------------------------------------------------------------- TYPE=N lists
def _parse_counts(text: str, flag: str, hint: str, *, minimum: int) -> dict[str, int]:
    """``TYPE=N`` items separated by commas, ``+`` or spaces (``TYPE:N`` and ``NxTYPE`` too)."""
    parts = [p.strip() for p in text.replace("+", ",").replace(" ", ",").split(",") if p.strip()]
    if not parts:
        raise UsageError(f"{flag} is empty; {hint}")
    out: dict[str, int] = {}
    for p in parts:
        if "=" in p or ":" in p:
            name, _, n = p.replace(":", "=").partition("=")
        elif "x" in p and p.split("x", 1)[0].isdigit():
            n, _, name = p.partition("x")
        else:
            raise UsageError(f"{flag}: {p!r} is not TYPE=COUNT; {hint}")
        name, n = name.strip(), n.strip()
        if not name:
            raise UsageError(f"{flag}: {p!r} has no instance type before '='; {hint}")
        if not n:
            raise UsageError(f"{flag}: {p!r} has no count after '='; {hint}")
        try:
            count = int(n)
        except ValueError:
            raise UsageError(f"{flag}: count {n!r} of {name} is not a whole number; {hint}") from None
        if count < minimum:
            raise UsageError(f"{flag}: count of {name} must be at least {minimum}, got {count}; {hint}")
        if name in out:
            raise UsageError(f"{flag} names {name} twice ({out[name]} and {count}); give each type once, "
                             f"e.g. {name}={out[name] + count}")
        out[name] = count
    return out


def parse_pool(text: str) -> dict[str, int]:
    """``"g4dn.xlarge=1,r5n.large=13"`` → ``{"g4dn.xlarge": 1, "r5n.large": 13}``.

    ``TYPE:COUNT`` and ``COUNTxTYPE`` are accepted as well; separators are commas, ``+`` or
    spaces. A type named twice is an error (not a sum).

    Examples
    --------
    >>> parse_pool("1xg4dn.xlarge + 2xr5n.large")
    {'g4dn.xlarge': 1, 'r5n.large': 2}
    """
    return _parse_counts(text, "--pool", "e.g. --pool g4dn.xlarge=1,r5n.large=13 or --pool plan.json",
                         minimum=0)


def parse_caps(text: str) -> dict[str, int]:
    """``"g4dn.xlarge=8,r5n.large=30"`` → the most instances of each type that may be rented.

    Examples
    --------
    >>> parse_caps("g4dn.xlarge=8")
    {'g4dn.xlarge': 8}
    """
    return _parse_counts(text, "--caps", "e.g. --caps g4dn.xlarge=8,r5n.large=30", minimum=0)


def parse_rates(text: str) -> list[float]:
    """``"10,20,30"`` → ``[10.0, 20.0, 30.0]`` (positive, finite, in the order given)."""
    out = []
    for p in (x.strip() for x in text.split(",")):
        try:
            v = float(p)
        except ValueError:
            raise UsageError(f"--rates: {p!r} is not a number; e.g. --rates 10,20,30") from None
        if not (math.isfinite(v) and v > 0):
            raise UsageError(f"--rates: each rate must be a positive number of queries/second, got {p!r}")
        out.append(v)
    return out


def parse_batches(text: str) -> list[int]:
    """``"10,100,500"`` → ``[10, 100, 500]``; ``"10:100:30"`` (start:stop:step, stop included) too.

    Examples
    --------
    >>> parse_batches("10:100:30")
    [10, 40, 70, 100]
    """
    hint = "e.g. --batches 10,100,500 or --batches 10:1000:10"
    try:
        if ":" in text:
            a, b, *c = (int(x) for x in text.split(":"))
            step = c[0] if c else 1
            if step < 1 or len(c) > 1:
                raise ValueError
            sizes = list(range(a, b + 1, step))
        else:
            sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--batches: {text!r} is not a list of whole numbers; {hint}") from None
    if not sizes or min(sizes) < 1:
        raise UsageError(f"--batches needs positive batch sizes, got {text!r}; {hint}")
    return sorted(set(sizes))


def parse_headers(items: list[str] | None) -> dict[str, str]:
    """``["X-Api-Key: abc", "X-Env=prod"]`` → ``{"X-Api-Key": "abc", "X-Env": "prod"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        sep = ":" if ":" in item else "="
        name, found, value = item.partition(sep)
        if not found or not name.strip():
            raise UsageError(f"--header {item!r} is not 'Name: value' (or Name=value)")
        out[name.strip()] = value.strip()
    return out


# ---------------------------------------------------------------------------- files
def _read_json(path: Path, expected: str) -> Any:
    if not path.exists():
        raise UsageError(f"file not found: {path}; give {expected}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: malformed JSON ({exc.msg}, line {exc.lineno}); expected {expected}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file; expected {expected}") from None


@dataclass(frozen=True)
class PlanFile:
    """What a ``kairos plan --json`` file (or a ``serve-replay --write`` file) says about a pool."""

    path: str
    counts: dict[str, int]
    model: str | None = None
    qos_ms: float | None = None
    percentile: float | None = None
    prices: dict[str, float] = field(default_factory=dict)
    caps: dict[str, int | None] = field(default_factory=dict)


def looks_like_file(text: str) -> bool:
    """Whether a ``--pool`` value names a file rather than ``TYPE=N,...``."""
    return text.lower().endswith(".json") or ("=" not in text and ":" not in text and os.path.isfile(text))


def read_plan_file(path: str | os.PathLike[str]) -> PlanFile:
    """Read the pool of a ``kairos plan --json`` file (``counts``, plus model, QoS, percentile
    and prices when present) or of a ``kairos serve-replay --write`` file (``instances``).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    ...     _ = f.write('{"counts": {"g4dn.xlarge": 1}, "model": "rm2", "qos_ms": 350}')
    >>> pf = read_plan_file(f.name)
    >>> pf.counts, pf.model, pf.qos_ms
    ({'g4dn.xlarge': 1}, 'rm2', 350.0)
    >>> os.unlink(f.name)
    """
    p = Path(path)
    expected = "the output of 'kairos plan --json' (a JSON object with \"counts\")"
    doc = _read_json(p, expected)
    if isinstance(doc, dict) and isinstance(doc.get("instances"), list):
        counts: dict[str, int] = {}
        for inst in doc["instances"]:
            t = inst.get("type") if isinstance(inst, dict) else None
            if not isinstance(t, str) or not t:
                raise UsageError(f"{p}: every instance needs a \"type\"; expected {expected}")
            counts[t] = counts.get(t, 0) + 1
        return PlanFile(str(p), counts)
    if not isinstance(doc, dict) or not isinstance(doc.get("counts"), dict):
        raise UsageError(f"{p}: no \"counts\" object; expected {expected}")
    counts = {}
    for t, n in doc["counts"].items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise UsageError(f"{p}: count of {t} must be a whole number >= 0, got {n!r}")
        if n:
            counts[str(t)] = n
    if not counts:
        raise UsageError(f"{p}: the plan rents nothing (status {doc.get('status', '?')}); plan again")

    def num(key: str) -> float | None:
        v = doc.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise UsageError(f"{p}: {key} must be a number, got {v!r}")
        return float(v)

    prices = doc.get("prices") or {}
    if not isinstance(prices, dict):
        raise UsageError(f"{p}: \"prices\" must be an object {{type: USD per hour}}")
    model = doc.get("model")
    return PlanFile(str(p), counts, model=str(model) if model else None, qos_ms=num("qos_ms"),
                    percentile=num("percentile"), prices={str(k): float(v) for k, v in prices.items()},
                    caps={str(k): v for k, v in (doc.get("caps") or {}).items()})


def read_endpoints(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Read ``(instance type, URL)`` pairs from a JSON or CSV file.

    JSON: a list of ``{"type": ..., "url": ...}`` objects (``instance``/``endpoint`` accepted
    too), or the ``{"instances": [...]}`` document written by ``kairos serve-replay --write``.
    CSV: a header with ``type`` (or ``instance``) and ``url`` (or ``endpoint``) columns.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("type,url\\nr5n.large,http://127.0.0.1:8001\\n")
    >>> read_endpoints(f.name)
    [('r5n.large', 'http://127.0.0.1:8001')]
    >>> os.unlink(f.name)
    """
    p = Path(path)
    fmt = "a JSON list of {\"type\": ..., \"url\": ...} or a CSV with columns type,url"
    if not p.exists():
        raise UsageError(f"endpoints file not found: {p}; give {fmt}")
    text = p.read_text()
    rows: list[dict[str, Any]]
    if p.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        doc = _read_json(p, fmt)
        if isinstance(doc, dict):
            if "counts" in doc and "instances" not in doc:
                raise UsageError(f"{p} is a plan (counts only, no URLs); start endpoints for it with "
                                 f"'kairos serve-replay --pool {p} --write endpoints.json' and run that file")
            doc = doc.get("instances", doc.get("endpoints"))
        if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
            raise UsageError(f"{p}: expected {fmt}")
        rows = doc
    else:
        rows = [dict(r) for r in csv.DictReader(text.splitlines())]
    out = []
    for k, r in enumerate(rows, start=1):
        r = {str(a).strip().lower(): b for a, b in r.items() if a is not None}
        t = r.get("type") or r.get("instance_type") or r.get("instance")
        u = r.get("url") or r.get("endpoint")
        if not t or not u:
            raise UsageError(f"{p}: entry {k} needs an instance type and a URL; expected {fmt}")
        u = str(u).strip()
        if not u.startswith(("http://", "https://")):
            raise UsageError(f"{p}: entry {k}: {u!r} is not an http:// or https:// URL")
        out.append((str(t).strip(), u))
    if not out:
        raise UsageError(f"{p}: no endpoints listed; expected {fmt}")
    return out


def read_batch_mix(path: str | os.PathLike[str]) -> dict[int, float]:
    """``{batch size: probability}`` from a CSV with columns ``size,probability`` (weights are
    normalized; a header is optional).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("size,probability\\n10,3\\n100,1\\n")
    >>> read_batch_mix(f.name)
    {10: 3.0, 100: 1.0}
    >>> os.unlink(f.name)
    """
    p = Path(path)
    if not p.exists():
        raise UsageError(f"batch mix file not found: {p}; give a CSV with columns size,probability")
    out: dict[int, float] = {}
    for line, row in enumerate(csv.reader(p.read_text().splitlines()), start=1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells or cells[0].startswith("#"):
            continue
        if len(cells) != 2:
            raise UsageError(f"{p}, line {line}: expected two columns size,probability, got {row!r}")
        try:
            size, prob = int(cells[0]), float(cells[1])
        except ValueError:
            if line == 1:  # a header
                continue
            raise UsageError(f"{p}, line {line}: {cells[0]!r},{cells[1]!r} is not a whole batch size "
                             "and a probability") from None
        if size < 1 or not (math.isfinite(prob) and prob >= 0):
            raise UsageError(f"{p}, line {line}: batch size must be >= 1 and probability >= 0")
        if size in out:
            raise UsageError(f"{p}, line {line}: batch size {size} is listed twice")
        out[size] = prob
    if not out or sum(out.values()) <= 0:
        raise UsageError(f"{p}: no batch sizes with a positive probability")
    return out


def read_trace(path: str | os.PathLike[str]) -> list[int]:
    """Batch sizes, one per line (blank lines and ``#`` comments skipped), as
    :meth:`Workload.from_trace <kairos_sdk.workload.Workload.from_trace>` takes them."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"trace file not found: {p}; give one batch size per line")
    out = []
    for line, text in enumerate(p.read_text().splitlines(), start=1):
        text = text.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            b = int(text)
        except ValueError:
            if not out and line == 1:  # a header
                continue
            raise UsageError(f"{p}, line {line}: {text!r} is not a whole batch size") from None
        if b < 1:
            raise UsageError(f"{p}, line {line}: batch size must be >= 1, got {b}")
        out.append(b)
    if not out:
        raise UsageError(f"{p}: no batch sizes; give one per line")
    return out


# ---------------------------------------------------------------------------- argparse converters
def positive(kind: type, what: str):
    """An argparse ``type=`` accepting finite positive numbers of ``kind``."""

    def conv(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{what} must be a finite number, got {text!r}")
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{what} must be positive, got {text!r}")
        return v

    conv.__name__ = what
    return conv


def non_negative(what: str):
    """An argparse ``type=`` accepting finite numbers >= 0."""

    def conv(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not (math.isfinite(v) and v >= 0):
            raise argparse.ArgumentTypeError(f"{what} must be a finite number >= 0, got {text!r}")
        return v

    conv.__name__ = what
    return conv


def time_scale(text: str) -> float | str:
    if text == "auto":
        return text
    return positive(float, "--time-scale")(text)


def percentile(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--percentile must be a number, got {text!r}") from None
    if not 0 < v <= 100:
        raise argparse.ArgumentTypeError(f"--percentile must be in (0, 100] (e.g. 99), got {text!r}")
    return v


class Formatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions; keeps multi-line texts (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors that point at ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
