"""The README's Python snippets run as written (the second one inside an event loop, as in
Jupyter's top-level await), and so does its command-line block."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


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


# ---------------------------------------------------------------------------- the CLI block
#: Flags appended to each verb so the block runs in seconds; the README's own flags stay as written.
SHORTER = {
    "demo": ["--duration", "4", "--no-progress"],
    "simulate": ["--n-queries", "2000"],
    "run": ["--duration", "1.5", "--no-progress"],
    "profile": ["--no-progress"],  # as many samples as written: few make a noisy p99
}


def _cli_lines() -> list[str]:
    section = README.read_text().split("## Command line\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [ln.split("#", 1)[0].strip() for ln in block.splitlines() if ln.split("#", 1)[0].strip()]


@pytest.mark.slow
def test_readme_command_line_runs_as_written(tmp_path, monkeypatch, capsys):
    from kairos_sdk.cli import main

    monkeypatch.chdir(tmp_path)
    lines = _cli_lines()
    assert [shlex.split(ln)[1] for ln in lines] == ["demo", "plan", "plan", "simulate", "serve-replay", "run",
                                                    "profile", "plan", "bench"]
    server = None
    try:
        for line in lines:
            argv = shlex.split(line)
            assert argv[0] == "kairos", line
            target = None
            if ">" in argv:
                argv, target = argv[:argv.index(">")], argv[argv.index(">") + 1]
            verb = argv[1]
            if verb == "serve-replay":  # "leave running": start it in the background, wait for its file
                env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
                server = subprocess.Popen([sys.executable, "-m", "kairos_sdk", *argv[1:], "--for-seconds", "300"],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
                out_file = Path(argv[argv.index("--write") + 1])
                deadline = time.monotonic() + 60
                while not (out_file.exists() and out_file.stat().st_size) and time.monotonic() < deadline:
                    assert server.poll() is None, server.stdout.read()
                    time.sleep(0.1)
                continue
            rc = main([*argv[1:], *SHORTER.get(verb, [])])
            out, err = capsys.readouterr()
            assert rc == 0, f"{line}\n{out}\n{err}"
            if target:
                Path(target).write_text(out)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
    plan = json.loads(Path("plan.json").read_text())
    assert plan["cost_per_hour"] <= 2.5 and plan["model"] == "rm2"
    served = json.loads(Path("endpoints.json").read_text())["instances"]
    assert len(served) == sum(plan["counts"].values())
    assert Path("load.png").stat().st_size > 10_000 and Path("kairos_demo_rm2.png").stat().st_size > 10_000
    rows = Path("latency.csv").read_text().splitlines()
    profile = shlex.split(next(ln for ln in lines if " profile " in ln))
    n_batches = len(profile[profile.index("--batches") + 1].split(","))
    n_samples = int(profile[profile.index("--samples") + 1])
    assert len(rows) == 1 + len(plan["counts"]) * n_batches * n_samples  # header + types x batches x samples
