"""The README's Python snippets run as written (the second one inside an event loop, as in
Jupyter's top-level await)."""

from __future__ import annotations

import asyncio
import re
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_snippets_run():
    sync_block, async_block = _blocks()[:2]
    ns: dict = {}
    exec(compile(sync_block, "README.md[python 1]", "exec"), ns)
    assert ns["plan"].counts and ns["plan"].cost_per_hour <= 2.5
    assert float(ns["qps"]) > 0
    body = "async def __readme_main():\n" + textwrap.indent(async_block, "    ") + "\n    return run\n"
    exec(compile(body, "README.md[python 2]", "exec"), ns)
    run = asyncio.run(ns["__readme_main"]())
    assert run.source == "live" and run.n_queries == 500 and run.n_failed == 0
