"""Opt-in silencing of the HiGHS solver's one-time banner on standard output."""

from __future__ import annotations

import os
import sys

_BANNER_SILENCED = False


def silence_solver_banner() -> None:
    """Keep the HiGHS solver's one-time copyright banner off standard output (opt-in).

    HiGHS prints a two-line banner on file descriptor 1 when the first solver of a process
    is created, before any solver option can switch it off (cvxpy passes ``output_flag`` and
    ``log_to_console`` only to an instance that already exists, and the planner's solves are
    otherwise silent). This creates that first instance with descriptor 1 pointed at
    ``/dev/null`` for the instant it takes. Redirecting a descriptor touches the whole process
    (output another thread writes in that instant is lost), so the library never does it on
    its own: a program whose standard output must stay clean (the CLI's ``--json``) calls
    this once at start-up. Later calls do nothing.

    Examples
    --------
    >>> from kairos_sdk.planner import silence_solver_banner
    >>> silence_solver_banner()
    """
    global _BANNER_SILENCED
    if _BANNER_SILENCED:
        return
    _BANNER_SILENCED = True
    try:
        import highspy

        sys.stdout.flush()
        saved = os.dup(1)
    except Exception:  # no solver, or no real stdout (some notebook frontends): leave it be
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
