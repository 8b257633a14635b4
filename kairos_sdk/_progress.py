"""Progress bars for long work (private): one rule for when a bar shows, shared by the
simulator's rate search, the live client's runs and the CLI.

A bar shows when the caller asks for one (``progress=True``), never with ``progress=False``,
and by default (``None``) in Jupyter or when stderr is a terminal, so logs and pipes stay
clean. Bars are tqdm's (``tqdm.auto``: a widget in Jupyter, text in a terminal).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["progress_bar", "want_progress"]


def want_progress(progress: bool | None) -> bool:
    """Whether to show a bar: ``progress`` when given, else in Jupyter or on a terminal.

    >>> want_progress(False), want_progress(True)
    (False, True)
    """
    if progress is not None:
        return bool(progress)
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(total: int, *, progress: bool | None, desc: str, unit: str) -> Any:
    """A tqdm bar of ``total`` steps when :func:`want_progress` says so, else ``None``."""
    if not want_progress(progress):
        return None
    from tqdm.auto import tqdm  # display only: imported when a bar is shown

    return tqdm(total=total, desc=desc, unit=unit, leave=False)
