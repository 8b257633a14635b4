"""``PlannerWidget`` in a real browser: a notebook served by Voilà on loopback, driven by
Debian's Chromium through Playwright.

Voilà rather than JupyterLab: it renders the notebook's outputs as a page with live widgets and
no editor around them, so there is no launcher, kernel picker or cell to click through, and the
page is ready as soon as the notebook has run.

The test drags the budget slider's handle with the mouse and checks what a user would read:
the readout, the budget the kernel now holds (shown by a small echo widget in the notebook),
the plan table (which must be the plan ``Planner.plan`` gives for that budget, computed here)
and the frontier plot (redrawn, as the browser decodes it). Screenshots before and after land in
``kairos_out/browser/`` (git-ignored; ``$KAIROS_ARTIFACTS`` overrides).

It skips, saying why, when Chromium, Voilà or Playwright is missing, unless
``KAIROS_REQUIRE_BROWSER`` is set (``.ci/run`` sets it): then a missing piece fails the test.
Chromium is found at ``$KAIROS_CHROMIUM``, else ``chromium``/``chromium-browser`` on the path.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kairos_sdk as ks
from kairos_sdk.defaults import default_catalog

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
PAGE_TIMEOUT_MS = 120_000  # kernel start, imports and the first plan on a busy 2-core machine
WAIT_MS = 60_000  # for the page to follow a slider move (a re-plan takes well under a second)
CHROMIUM_ARGS = [
    # this machine has no network but loopback: without these Chromium stalls on background
    # connections (updates, sync, QUIC probes) and on a GPU it does not have
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
QOS_MS = 350
START_BUDGET = 2.5
TARGET_BUDGET = 1.5  # where the handle is dragged to (the readout says where it landed)

# The notebook a user would write, plus a few lines for the test: an echo of the budget the
# kernel holds, and a wait for the frontier (computed in a worker thread) so that the plot the
# browser first shows is already final and a later change can only come from the slider.
CELLS = [
    f"""\
import asyncio

import ipywidgets as W

import kairos_sdk as ks
from kairos_sdk.defaults import default_catalog
from kairos_sdk.widgets import PlannerWidget

planner = ks.Planner(ks.Profile.builtin("rm2"), default_catalog(), ks.Workload.deeprecsys(), qos_ms={QOS_MS})
w = PlannerWidget(planner, budget={START_BUDGET})
frontier_drawn = asyncio.Event()
w.frontier_plot.observe(lambda _change: frontier_drawn.set(), names="value")""",
    """\
await asyncio.wait_for(frontier_drawn.wait(), timeout=110)
echo = W.HTML()
def show_budget(_change=None):
    echo.value = f"kernel budget: {w.budget.value!r}"
w.budget.observe(show_budget, names="value")
show_budget()
display(echo)
w""",
]


# ------------------------------------------------------------------ what is needed
def _missing(reason: str):
    if os.environ.get("KAIROS_REQUIRE_BROWSER"):
        pytest.fail(f"KAIROS_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


def _chromium() -> str:
    env = os.environ.get("KAIROS_CHROMIUM")
    if env:
        if not Path(env).exists():
            _missing(f"KAIROS_CHROMIUM={env} does not exist")
        return env
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    _missing("no Chromium installed (apt-get install chromium, or set KAIROS_CHROMIUM)")
    raise AssertionError  # unreachable: _missing raises


def _import_or_missing(name: str, install: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        _missing(f"{name} is not installed (pip install {install}, or pip install -e '.[dev]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout_s: float = 60.0) -> None:
    """Until the server accepts connections (a GET of the page would run the notebook)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"voila exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    pytest.fail(f"voila did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to voila (it shuts its kernel down), then SIGKILL to its process group."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group is voila's own (start_new_session)
    proc.wait(timeout=15)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    out = Path(os.environ.get("KAIROS_ARTIFACTS", ROOT / "kairos_out")) / "browser"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser's path, once Playwright and Voilà are known to be there too."""
    path = _chromium()
    _import_or_missing("playwright.sync_api", "playwright")
    _import_or_missing("voila", "voila")
    return path


@pytest.fixture(scope="module")
def voila_url(chromium, tmp_path_factory) -> str:
    """A Voilà server on a free loopback port serving the PlannerWidget notebook."""
    nbformat = _import_or_missing("nbformat", "nbformat")
    work = tmp_path_factory.mktemp("voila")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, work / "planner_widget.ipynb")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    # keep the user's Jupyter config and runtime files out of it
    env["JUPYTER_CONFIG_DIR"] = str(work / "config")
    env["JUPYTER_RUNTIME_DIR"] = str(work / "runtime")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    port = _free_port()
    log = work / "voila.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voila", "planner_widget.ipynb", "--no-browser",
             f"--port={port}", "--Voila.ip=127.0.0.1", "--VoilaConfiguration.show_tracebacks=True"],
            cwd=work, env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_for_port(port, proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stop(proc)
        print(f"voila log: {log}")


@pytest.fixture(scope="module")
def page(chromium, voila_url, tmp_path_factory):
    """A Chromium page (empty profile, loopback only) with the notebook rendered."""
    from playwright import sync_api
    profile = tmp_path_factory.mktemp("chromium-profile")
    blocked: list[str] = []

    def loopback_only(route) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "blob:", "data:")):
            route.continue_()
        else:  # e.g. an icon font from a CDN: there is no network here, fail it at once
            blocked.append(url)
            route.abort()

    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 760},
        )
        try:
            pg = context.new_page()
            pg.set_default_timeout(WAIT_MS)
            pg.route("**/*", loopback_only)
            pg.goto(voila_url, wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
            yield pg
        finally:
            context.close()
            if blocked:
                print(f"requests off loopback, refused: {sorted(set(blocked))}")


# ------------------------------------------------------------------ reading the page
def _plan_rows(pg) -> dict[str, int]:
    """``{instance type: count}`` from the plan table the widget shows."""
    rows = pg.locator("table:has(caption) tr:has(td)").all()
    out = {}
    for row in rows:
        cells = row.locator("td").all_inner_texts()
        out[cells[0].strip()] = int(cells[1])
    return out


def _plot_png(plot) -> bytes:
    """The bytes of the plot's image, read back from the blob the browser shows."""
    b64 = plot.evaluate("""async img => {
        const buf = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
        let s = ''; for (const b of buf) s += String.fromCharCode(b);
        return btoa(s);
    }""")
    return base64.b64decode(b64)


def _plot_pixels(pg, plot, *, unlike: str | None = None) -> str:
    """The plot as the browser decoded it (its pixels, as a data URL), once it is loaded;
    with ``unlike``, once it differs from that."""
    handle = pg.wait_for_function(
        """([img, old]) => {
            if (!img.complete || img.naturalWidth === 0) return false;
            const c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            c.getContext('2d').drawImage(img, 0, 0);
            const now = c.toDataURL('image/png');
            return now !== old && now;
        }""",
        arg=[plot.element_handle(), unlike], polling=100)
    return handle.json_value()


def _kernel_budget(pg, echo, readout) -> float:
    """The budget the kernel holds, once it agrees with the slider's readout (to the readout's
    two decimals: the readout is all a user sees)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        pg.wait_for_function(
            """([echo, readout]) => {
                const k = parseFloat(echo.textContent.split(':')[1]);
                return Math.abs(k - parseFloat(readout.textContent)) < 1e-6;
            }""",
            arg=[echo.element_handle(), readout.element_handle()], timeout=WAIT_MS)
    except PlaywrightTimeout:
        pytest.fail(f"the slider reads {readout.inner_text()!r} but the kernel holds {echo.inner_text()!r}")
    return float(echo.inner_text().split(":")[1])


def _shot(pg, path: Path) -> None:
    pg.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def _expected_caption(plan) -> str:
    return f"{plan.describe()} — ${plan.cost_per_hour:.3f}/h"


# ------------------------------------------------------------------ the test
def test_budget_slider_replans_in_the_browser(page, artifacts):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    planner = ks.Planner(ks.Profile.builtin("rm2"), default_catalog(), ks.Workload.deeprecsys(), qos_ms=QOS_MS)
    caption = page.locator("table caption")
    slider = page.locator(".widget-slider", has=page.locator("label", has_text="budget"))
    readout = slider.locator(".widget-readout")
    echo = page.get_by_text("kernel budget:")
    plot = page.locator("img").first

    # the page as first shown: the plan for the starting budget
    start = planner.plan(budget=START_BUDGET)
    expect(caption).to_contain_text(_expected_caption(start), timeout=PAGE_TIMEOUT_MS)
    expect(readout).to_have_text(f"{START_BUDGET:.2f}")
    # the browser did not move the budget by itself (its slider snaps to its step grid)
    assert _kernel_budget(page, echo, readout) == pytest.approx(START_BUDGET, abs=1e-9)
    assert _plan_rows(page) == start.counts
    before = _plot_pixels(page, plot)
    assert _plot_png(plot)[:8] == b"\x89PNG\r\n\x1a\n"
    _shot(page, artifacts / "planner_widget_before.png")

    # drag the handle to about TARGET_BUDGET on the track
    track = slider.locator(".noUi-target").bounding_box()
    handle = slider.locator(".noUi-handle").bounding_box()
    lo, hi = (float(slider.locator(".noUi-handle").get_attribute(a)) for a in ("aria-valuemin", "aria-valuemax"))
    x_to = track["x"] + track["width"] * (TARGET_BUDGET - lo) / (hi - lo)
    y = handle["y"] + handle["height"] / 2
    page.mouse.move(handle["x"] + handle["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(x_to, y, steps=8)
    page.mouse.up()

    # where it landed, as the readout says, is what the kernel holds
    expect(readout).not_to_have_text(f"{START_BUDGET:.2f}")
    kernel_budget = _kernel_budget(page, echo, readout)
    shown = float(readout.inner_text())
    assert abs(shown - TARGET_BUDGET) < 0.5, f"the drag landed at {shown}, far from {TARGET_BUDGET}"

    # the table shows the plan Planner.plan gives for that budget, a different plan than before
    new = planner.plan(budget=round(kernel_budget, 4))
    assert new.counts != start.counts, "the drag should land on a budget with another plan"
    expect(caption).to_contain_text(_expected_caption(new))
    assert _plan_rows(page) == new.counts
    assert f"predicted {new.predicted_qps:.4g} qps" in caption.inner_text()

    # the plot was redrawn (the frontier was final before the drag, so the slider did it)
    try:
        _plot_pixels(page, plot, unlike=before)
    except PlaywrightTimeout:
        pytest.fail("the plot did not change with the budget")
    assert _plot_png(plot)[:8] == b"\x89PNG\r\n\x1a\n"
    _shot(page, artifacts / "planner_widget.png")
    print(json.dumps({"start_budget": START_BUDGET, "dragged_to": kernel_budget,
                      "plan": new.describe(), "cost_per_hour": round(new.cost_per_hour, 3)}))
