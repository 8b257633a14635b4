"""``kairos run`` and ``kairos profile`` against real replay endpoints on loopback, started by
``kairos serve-replay`` in another process."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kairos_sdk import Profile
from kairos_sdk.cli import build_parser
from kairos_sdk.cli.run import client_options

from .test_cli import assert_one_line_error, run_cli

POOL = {"g4dn.xlarge": 1, "r5n.large": 2}


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("live")
    eps = d / "endpoints.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kairos_sdk", "serve-replay", "--pool", "g4dn.xlarge=1,r5n.large=2",
         "--write", str(eps), "--for-seconds", "300", "--seed", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while not (eps.exists() and eps.stat().st_size > 0) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        assert eps.exists(), "serve-replay wrote no endpoints file"
        yield eps
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def run_json(capsys, *argv: str) -> tuple[int, dict, str]:
    rc, out, err = run_cli(capsys, *argv, "--json", "--no-progress")
    return rc, json.loads(out[out.index("{"):]), err


# ---------------------------------------------------------------------------- run
def test_run_with_client_flags_meets_qos(endpoints, capsys):
    rc, doc, _ = run_json(capsys, "run", str(endpoints), "--rate", "4", "--duration", "2", "--token", "secret",
                          "--header", "X-Team: ml", "--timeout", "5", "--concurrency", "1", "--no-verify",
                          "--protocol", "oip")
    assert rc == 0 and doc["pool"] == POOL and doc["failed"] == 0
    assert 1 <= doc["n_queries"] <= 30  # Poisson, 4 qps x 2 s
    assert doc["meets_qos"] == (doc["qos_attainment"] >= 0.99) and doc["meets_qos"]
    assert doc["verdict"].startswith("meets QoS")


def test_run_prints_a_failing_verdict(endpoints, capsys):
    rc, out, _ = run_cli(capsys, "run", str(endpoints), "--rate", "4", "--duration", "1.5", "--qos", "1",
                         "--no-progress")
    assert rc == 0  # the run completed; the verdict says it missed
    verdict = [ln for ln in out.splitlines() if "QoS:" in ln]
    assert len(verdict) == 1 and verdict[0].startswith("MISSES QoS: 0.00% of") and "target 99%" in verdict[0]
    rc, doc, _ = run_json(capsys, "run", str(endpoints), "--rate", "4", "--duration", "1", "--qos", "1")
    assert rc == 0 and doc["meets_qos"] is False and doc["qos_attainment"] == 0.0


def test_run_sweep_and_plot(endpoints, tmp_path: Path, capsys):
    png = tmp_path / "sweep.png"
    rc, doc, _ = run_json(capsys, "run", str(endpoints), "--rates", "3,6", "--duration", "1.5", "--plot", str(png))
    assert rc == 0 and [r["rate_qps"] for r in doc["runs"]] == [3.0, 6.0]
    met = [r["rate_qps"] for r in doc["runs"] if r["meets_qos"] and not r["failed"]]
    assert doc["highest_rate_meeting_qos"] == (max(met) if met else None)
    assert png.stat().st_size > 10_000


def test_run_checks_a_plan_file_against_the_endpoints(endpoints, tmp_path: Path, capsys):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"model": "rm2", "counts": {"g4dn.xlarge": 2}, "qos_ms": 400}))
    rc, doc, err = run_json(capsys, "run", str(endpoints), "--pool", str(plan), "--rate", "3", "--duration", "1")
    assert rc == 0 and doc["qos_ms"] == 400 and "plans 2 x g4dn.xlarge" in err
    rc, _, err = run_cli(capsys, "run", str(endpoints), "--pool", "g4dn.xlarge=1", "--rate", "3")
    assert_one_line_error(rc, err, "--pool names a plan file")
    rc, _, err = run_cli(capsys, "run", str(plan), "--rate", "3")
    assert_one_line_error(rc, err, "is a plan", "serve-replay --pool")


def test_client_options_mirror_the_client(tmp_path: Path, monkeypatch):
    from kairos_sdk.client import Auth, Limits, Timeouts

    parser = build_parser()
    args = parser.parse_args(["run", "e.json", "--rate", "1"])
    monkeypatch.delenv("KAIROS_TOKEN", raising=False)
    assert client_options(args) == {"token": Auth(), "timeout_s": Timeouts(), "time_scale": 1.0,
                                    "concurrency": Limits()}  # the client's own defaults
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    args = parser.parse_args(["run", "e.json", "--rate", "1", "--header", "A: 1", "--header", "B=2", "--timeout", "3",
                              "--concurrency", "4", "--ca-file", str(ca), "--wait-ready", "2"])
    monkeypatch.setenv("KAIROS_TOKEN", "from-env")
    opts = client_options(args)
    assert opts["token"] == Auth(token="from-env", headers={"A": "1", "B": "2"}, verify=str(ca))
    assert opts["timeout_s"] == Timeouts(request_s=3, wait_ready_s=2) and opts["concurrency"] == Limits(concurrency=4)
    assert client_options(parser.parse_args(["run", "e.json", "--rate", "1", "--no-verify"]))["token"].verify is False
    with pytest.raises(ValueError, match="contradict"):
        client_options(parser.parse_args(["run", "e.json", "--rate", "1", "--no-verify", "--ca-file", str(ca)]))


def test_rate_and_rates_are_exclusive(capsys):
    rc, _, err = run_cli(capsys, "run", "e.json", "--rate", "1", "--rates", "1,2")
    assert_one_line_error(rc, err, "not allowed with")
    rc, _, err = run_cli(capsys, "run", "e.json")
    assert_one_line_error(rc, err, "--rate")


# ---------------------------------------------------------------------------- profile
def test_profile_measures_what_the_replay_endpoints_serve(endpoints, tmp_path: Path, capsys):
    out = tmp_path / "latency.csv"
    batches, samples = [10, 100, 400], 15
    rc, text, _ = run_cli(capsys, "profile", str(endpoints), "--batches", ",".join(map(str, batches)),
                          "--samples", str(samples), "--out", str(out), "--no-progress")
    assert rc == 0 and f"{2 * len(batches) * samples} measurements written" in text
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * len(batches) * samples and {r["model"] for r in rows} == {"rm2"}
    truth = Profile.builtin("rm2")
    for t in POOL:
        med = {b: float(np.median([float(r["latency_ms"]) for r in rows
                                   if r["instance"] == t and int(r["batch"]) == b])) for b in batches}
        q10 = {b: float(truth.latency(t, b, q=0.1)) for b in batches}
        q90 = {b: float(truth.latency(t, b, q=0.9)) for b in batches}
        for b in batches:
            # never faster than the replayed service time (its 10th percentile) ...
            assert med[b] >= q10[b], (t, b, med[b], q10[b])
        for b in batches[1:]:
            # ... and the HTTP overhead is the same at every batch size, so the growth from the
            # smallest batch is the replayed growth (within its spread, plus 20 ms of jitter on a
            # loaded machine), whatever the machine's overhead is
            grew, lo_grew, hi_grew = med[b] - med[batches[0]], q10[b] - q90[batches[0]], q90[b] - q10[batches[0]]
            assert lo_grew - 20.0 <= grew <= hi_grew + 20.0, (t, b, grew, lo_grew, hi_grew)
    rc, plan, _ = run_cli(capsys, "plan", "--profile", str(out), "--max-batch", "400", "--json")
    assert rc == 0 and set(json.loads(plan)["counts"]) <= set(POOL)


@pytest.fixture()
def replay_in_thread():
    """A ReplayPool served by an event loop in a thread (so that the CLI's own asyncio.run
    can talk to it and the test can read the endpoints' draws afterwards)."""
    import asyncio
    import threading

    from kairos_sdk import Pool
    from kairos_sdk.endpoints import ReplayPool

    loop = asyncio.new_event_loop()
    up, held = threading.Event(), {}

    async def serve():
        held["stop"] = asyncio.Event()
        async with ReplayPool(Pool.from_counts({"g4dn.xlarge": 1}), Profile.builtin("ncf"), model="ncf", seed=2) as rp:
            held["rp"] = rp
            up.set()
            await held["stop"].wait()

    th = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    th.start()
    assert up.wait(30), "replay endpoints did not start"
    yield held["rp"]
    loop.call_soon_threadsafe(held["stop"].set)
    th.join(30)
    loop.close()


def test_profile_csv_holds_round_trips_and_json_keeps_compute_and_overhead_apart(replay_in_thread, tmp_path,
                                                                                   capsys):
    ep = replay_in_thread.endpoints[0]
    eps = tmp_path / "eps.csv"
    eps.write_text(f"type,url\ng4dn.xlarge,{ep.url}\n")
    args = ["--model", "ncf", "--batches", "100", "--samples", "12", "--warmup", "0", "--no-progress"]
    rc, _, _ = run_cli(capsys, "profile", str(eps), *args, "--out", str(tmp_path / "p.csv"))
    assert rc == 0
    drawn = np.sort(list(ep.service_ms))
    with open(tmp_path / "p.csv", newline="") as fh:
        rows = np.sort([float(r["latency_ms"]) for r in csv.DictReader(fh)])
    assert rows.size == drawn.size == 12
    assert np.all(rows >= drawn + 0.02)  # a round trip: the draw plus HTTP, which takes more than 20 µs

    ep.service_ms.clear()
    rc, text, _ = run_cli(capsys, "profile", str(eps), *args, "--out", str(tmp_path / "p.json.gz"))
    assert rc == 0 and "per-query overhead: Overhead(mean" in text
    prof = Profile.from_json(tmp_path / "p.json.gz")
    assert np.allclose(np.sort(prof.series["g4dn.xlarge"].values[0]), np.sort(list(ep.service_ms)), atol=1e-4)
    assert prof.overhead.points_ms.size == 12 and prof.overhead.quantile(0.0) > 0.02
    rc, plan, _ = run_cli(capsys, "plan", "--profile", str(tmp_path / "p.json.gz"), "--qos", "20", "--max-batch", "100",
                          "--json")
    assert rc == 0 and json.loads(plan)["counts"]


def test_profile_bad_arguments(tmp_path: Path, capsys):
    eps = tmp_path / "e.csv"
    eps.write_text("type,url\nr5n.large,http://127.0.0.1:9\n")
    rc, _, err = run_cli(capsys, "profile", str(eps), "--batches", "10", "--out", str(tmp_path / "x.txt"))
    assert_one_line_error(rc, err, ".json")
    rc, _, err = run_cli(capsys, "profile", str(eps), "--batches", "0,10", "--out", str(tmp_path / "x.csv"))
    assert_one_line_error(rc, err, "--batches")
