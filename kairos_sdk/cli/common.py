"""What several ``kairos`` verbs share: policy lookup, plain-text tables, progress bars.

The first section holds the CLI's seams with the rest of the package, one function each, so
that a change elsewhere (a policy registry, the solver's banner, where ``__version__`` lives)
is a one-line change here.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from .._version import __version__
from ..datadir import find_data_dir
from ..distribute import policy_from_name, policy_names
from ..errors import KairosError
from ..planner import silence_solver_banner as _silence
from .args import UsageError

PROG = "kairos"

#: Policy names the CLI offers (the registry's), in the order ``--policy all`` compares them.
POLICIES = policy_names()


# ---------------------------------------------------------------------------- seams
def version() -> str:
    """The package version shown by ``kairos --version``."""
    return __version__


def policy(name: str):
    """A fresh policy object for a policy name of the registry (``kairos_sdk.distribute``)."""
    try:
        return policy_from_name(name)
    except KairosError as e:
        raise UsageError(str(e)) from None


def silence_solver_banner() -> None:
    """Keep HiGHS's one-time banner off stdout so that ``--json`` output stays pure JSON."""
    _silence()


def data_dir():
    """The shared KAIROS measurements directory, or ``None``."""

    return find_data_dir()


# ---------------------------------------------------------------------------- output
def ms(x: float) -> str:
    """Milliseconds for a table: whole above 100, three significant digits below."""
    return f"{x:.0f}" if not math.isfinite(x) or abs(x) >= 100 else f"{x:.3g}"


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("%x").replace(",", ""))
    except ValueError:
        return False
    return True


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str], out=None) -> None:
    """A plain-text table: numeric columns right-aligned, text left-aligned."""
    out = out or sys.stdout
    cells = [[str(h) for h in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    numeric = [all(_is_number(r[k]) for r in cells[1:] if r[k]) and any(r[k] for r in cells[1:])
               for k in range(len(header))]
    for i, r in enumerate(cells):
        line = "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric))
        print(line.rstrip(), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)


def warn(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def verdict(r, qos_ms: float, pct: float) -> str:
    """``"meets QoS: 99.42% of queries within 350 ms (target 99%)"`` or ``"misses QoS: ..."``."""
    word = "meets" if r.meets_qos else "MISSES"
    failed = f"; {r.n_failed} of {r.n_queries} queries failed" if r.n_failed else ""
    return (f"{word} QoS: {r.qos_attainment:.2%} of {r.n_queries} queries within {qos_ms:g} ms "
            f"(target {pct:g}%), p{pct:g} {ms(r.latency_quantile(pct / 100))} ms{failed}")


# ---------------------------------------------------------------------------- progress
def progress_wanted(args) -> bool | None:
    """``False`` with ``--no-progress``; else ``None`` (the SDK's rule: a bar when stderr is a
    terminal or in Jupyter)."""
    return False if getattr(args, "no_progress", False) else None


@contextlib.contextmanager
def bar(total: int, desc: str, args) -> Iterator[Any]:
    """A tqdm bar on stderr when it is a terminal (and not ``--no-progress``), else ``None``."""
    show = progress_wanted(args) is not False and sys.stderr.isatty()
    if not show:
        yield None
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        yield None
        return
    b = tqdm(total=total, desc=desc, unit="run", leave=False, file=sys.stderr)
    try:
        yield b
    finally:
        b.close()
