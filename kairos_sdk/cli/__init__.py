"""The ``kairos`` command: demo, plan, simulate, run, profile, serve-replay, bench.

Every subcommand works with no files: it takes the built-in profile of the KAIROS
measurements and the paper's catalog, budget and QoS targets (:mod:`kairos_sdk.defaults`).
``--profile FILE``, ``--prices FILE``, ``--caps``, ``--batch-mix``/``--trace`` and
``--max-batch`` switch to a user's own data; ``--pool plan.json`` takes the output of
``kairos plan --json``. Bad input gives one line ``kairos: error: ...`` saying what to
change, and exit status 2.

One module per verb (``plan``, ``simulate``, ``run``, ``profiling``, ``serve_replay``,
``bench``, ``demo``), each with ``add_parser(sub)`` and ``cmd(args)``; shared parsing in
``args``, the data arguments in ``data``, tables, policies and progress in ``common``.

Examples
--------
>>> from kairos_sdk.cli import parse_pool
>>> parse_pool("g4dn.xlarge=1,r5n.large=13")
{'g4dn.xlarge': 1, 'r5n.large': 13}
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..errors import KairosError
from ..ray.cli import add_ray_parser
from . import bench, demo, plan, profiling, run, serve_replay, simulate
from .args import Parser, UsageError, parse_pool, read_endpoints
from .common import POLICIES, PROG, version
from .plan import print_plan_table

__all__ = ["POLICIES", "UsageError", "build_parser", "main", "parse_pool", "print_plan_table", "read_endpoints"]

#: The verbs in the order ``kairos --help`` lists them.
VERBS = (demo, plan, simulate, serve_replay, run, profiling, bench)


def build_parser() -> Parser:
    """The ``kairos`` argument parser with every subcommand."""
    p = Parser(
        prog=PROG,
        description="Plan, simulate and drive ML inference on heterogeneous cloud instance pools "
                    "(KAIROS). With no files it uses the built-in KAIROS measurements and the "
                    "paper's AWS catalog, budget (2.5 USD/h) and QoS targets.",
        epilog="Start with 'kairos demo'. Each command has --help.",
    )
    p.add_argument("--version", action="version", version=f"kairos_sdk {version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for verb in VERBS:
        verb.add_parser(sub)
    add_ray_parser(sub)  # the [ray] extra's verbs; Ray itself is imported only when they run
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kairos`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    debug = bool(os.environ.get("KAIROS_DEBUG"))
    try:
        return int(args.func(args) or 0)
    except KairosError as exc:
        if debug:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if debug:
            raise
        print(f"{PROG}: error: {exc.strerror or exc} ({getattr(exc, 'filename', '') or 'I/O'})", file=sys.stderr)
        return 2
