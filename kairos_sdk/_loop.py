"""The event loop the SDK's own entry points run on: uvloop when it is installed (the
``fast`` extra, ``pip install kairos-sdk[fast]``), else asyncio's default.

``benchmarks/replay_timer.py`` measures the difference: uvloop lowers the per-query overhead
and the replay timer's tail on a loaded machine. Library code never picks the loop (a
notebook's or an application's loop is theirs); only blocking entry points such as
:func:`~kairos_sdk.endpoints.serve_forever` and the command line do. Set
``KAIROS_EVENT_LOOP=asyncio`` to keep asyncio's loop although uvloop is installed.

Examples
--------
>>> from kairos_sdk._loop import run
>>> async def two():
...     return 2
>>> run(two())
2
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor when installed and not switched off, else ``None``
    (asyncio's default)."""
    if os.environ.get("KAIROS_EVENT_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` on the loop of :func:`loop_factory`."""
    factory = loop_factory()
    if factory is None:
        return asyncio.run(coro)
    if hasattr(asyncio, "Runner"):  # Python >= 3.11
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)
    loop = factory()  # pragma: no cover - Python 3.10
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
