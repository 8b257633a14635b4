"""The ``kairos`` command: every subcommand on the built-in data, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kairos_sdk import Profile
from kairos_sdk.cli import UsageError, build_parser, main, parse_pool, read_endpoints
from kairos_sdk.defaults import PAPER_PRICES_PER_HOUR as PRICES


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse errors and --help
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, err: str, *needles: str) -> None:
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip() and "HiGHS" not in ln and "THIRD_PARTY" not in ln]
    assert len(lines) == 1, err
    assert "error:" in lines[0] and "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


# ---------------------------------------------------------------------------- parsing helpers
@pytest.mark.parametrize(
    "text",
    ["g4dn.xlarge=1,r5n.large=13", "g4dn.xlarge:1 r5n.large:13", "1xg4dn.xlarge+13xr5n.large",
     "g4dn.xlarge=1 ,  r5n.large=13"],
)
def test_parse_pool_forms(text):
    assert parse_pool(text) == {"g4dn.xlarge": 1, "r5n.large": 13}


@pytest.mark.parametrize("text", ["", "g4dn.xlarge", "g4dn.xlarge=a", "g4dn.xlarge=-1", "=3"])
def test_parse_pool_rejects(text):
    with pytest.raises(UsageError, match="--pool"):
        parse_pool(text)


def test_read_endpoints_json_csv_and_pool_file(tmp_path: Path):
    j = tmp_path / "eps.json"
    j.write_text(json.dumps([{"type": "r5n.large", "url": "http://127.0.0.1:1"}]))
    c = tmp_path / "eps.csv"
    c.write_text("instance,endpoint\nr5n.large,http://127.0.0.1:1\n")
    d = tmp_path / "pool.json"
    d.write_text(json.dumps({"instances": [{"id": "r5n.large-0", "type": "r5n.large", "endpoint": "http://127.0.0.1:1"}]}))
    for p in (j, c, d):
        assert read_endpoints(p) == [("r5n.large", "http://127.0.0.1:1")]


@pytest.mark.parametrize(
    "content, needle",
    [("[{\"type\": \"r5n.large\"}]", "needs an instance type and a URL"),
     ("{not json", "malformed JSON"),
     ("[{\"type\": \"r5n.large\", \"url\": \"ftp://x\"}]", "not an http"),
     ("type,url\n", "no endpoints")],
)
def test_read_endpoints_errors(tmp_path: Path, content, needle):
    p = tmp_path / ("e.json" if content.startswith(("[", "{")) else "e.csv")
    p.write_text(content)
    with pytest.raises(UsageError, match=needle):
        read_endpoints(p)


def test_read_endpoints_missing_file(tmp_path: Path):
    with pytest.raises(UsageError, match="not found"):
        read_endpoints(tmp_path / "nope.json")


# ---------------------------------------------------------------------------- help and errors
def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"demo", "plan", "simulate", "run", "profile", "serve-replay", "bench", "ray"}
    for name in sub.choices:
        verb = [name, "config"] if name == "ray" else [name]  # ray's flags sit on its own verbs
        rc, out, _ = run_cli(capsys, *verb, "--help")
        assert rc == 0 and "usage: kairos " + " ".join(verb) in out and "--model" in out


def test_no_command_prints_help(capsys):
    rc, out, _ = run_cli(capsys)
    assert rc == 2 and "demo" in out


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["plan", "--budget", "x"], ["--budget", "must be a number"]),
        (["plan", "--budget", "-1"], ["--budget", "positive"]),
        (["plan", "--percentile", "120"], ["percentile"]),
        (["simulate", "--policy", "magic"], ["--policy"]),
        (["run"], ["ENDPOINTS"]),
        (["frobnicate"], ["invalid choice"]),
    ],
)
def test_bad_arguments_give_one_line(capsys, argv, needles):
    rc, _, err = run_cli(capsys, *argv)
    assert_one_line_error(rc, err, *needles)


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["plan", "--model", "bert"], ["kairos: error:", "bert", "rm2"]),
        (["plan", "--budget", "0.1"], ["kairos: error:", "budget"]),
        (["plan", "--profile", "/nonexistent/lat.csv"], ["kairos: error:", "not found"]),
        (["plan", "--prices", "/nonexistent/prices.csv"], ["kairos: error:", "not found"]),
        (["simulate", "--pool", "p3.2xlarge=2"], ["kairos: error:", "p3.2xlarge", "g4dn.xlarge"]),
        (["simulate", "--pool", "g4dn.xlarge=9"], ["kairos: error:", "cap"]),
        (["run", "/nonexistent/eps.json", "--rate", "5"], ["kairos: error:", "not found"]),
        (["bench", "no_such_bench"], ["kairos: error:", "no_such_bench"]),
    ],
)
def test_kairos_errors_give_one_line(capsys, argv, needles):
    rc, _, err = run_cli(capsys, *argv)
    assert_one_line_error(rc, err, *needles)


def test_unknown_model_with_qos_given_still_names_the_model(capsys):
    rc, _, err = run_cli(capsys, "plan", "--model", "bert", "--qos", "10")
    assert_one_line_error(rc, err, "bert")


def test_custom_model_needs_qos(tmp_path: Path, capsys):
    lat = tmp_path / "lat.csv"
    lat.write_text("instance,batch,latency_ms\n" + "".join(
        f"g4dn.xlarge,{b},{b / 10 + k}\n" for b in (10, 100, 1000) for k in range(3)))
    rc, _, err = run_cli(capsys, "plan", "--profile", str(lat), "--model", "mymodel")
    assert_one_line_error(rc, err, "--qos")
    rc, out, _ = run_cli(capsys, "plan", "--profile", str(lat), "--model", "mymodel", "--qos", "200", "--json")
    doc = json.loads(out[out.index("{"):])
    # $2.5/h buys floor(2.5 / 0.526) = 4 g4dn; each series keeps b/10 + {0, 1} ms (its largest
    # sample dropped as an outlier), linear in b, so the mean service is mean_batch/10 + 0.5 ms
    from kairos_sdk import Workload

    assert rc == 0 and doc["counts"] == {"g4dn.xlarge": 4} and doc["cost_per_hour"] == pytest.approx(4 * 0.526)
    assert doc["fluid_qps"] == pytest.approx(4 * 1000 / (Workload.deeprecsys().mean_batch / 10 + 0.5), rel=1e-6)


def test_profile_for_types_without_prices(tmp_path: Path, capsys):
    lat = tmp_path / "lat.csv"
    lat.write_text("instance,batch,latency_ms\n" + "".join(f"p3.2xlarge,{b},{b / 10}\n" for b in (10, 1000)))
    rc, _, err = run_cli(capsys, "plan", "--profile", str(lat), "--qos", "200")
    assert_one_line_error(rc, err, "p3.2xlarge", "--prices")


# ---------------------------------------------------------------------------- plan / simulate
def test_plan_default_is_the_paper_setting(capsys):
    rc, out, _ = run_cli(capsys, "plan")
    assert rc == 0
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.split() and ln.split()[0] in PRICES}
    total = next(ln.split() for ln in out.splitlines() if ln.startswith("total"))
    # the paper's planned pool for rm2 at 2.5 USD/h (KAIROS, HPDC'23): 1 GPU and 13 r5n.large
    assert {t: int(r[1]) for t, r in rows.items()} == {"g4dn.xlarge": 1, "r5n.large": 13}
    for t, r in rows.items():
        assert float(r[3]) == pytest.approx(int(r[1]) * PRICES[t], abs=1e-3)
    assert int(total[1]) == 14 and float(total[2]) == pytest.approx(0.526 + 13 * 0.149, abs=1e-3)
    assert float(total[3]) == pytest.approx(sum(float(r[4]) for r in rows.values()), abs=0.15)


def test_plan_json(capsys):
    rc, out, _ = run_cli(capsys, "plan", "--json", "--budget", "1.5")
    assert rc == 0
    doc = json.loads(out[out.index("{"):])
    assert doc["cost_per_hour"] <= 1.5 and sum(doc["counts"].values()) >= 1


def test_plan_target_qps(capsys):
    rc, out, _ = run_cli(capsys, "plan", "--target-qps", "40", "--json")
    doc = json.loads(out[out.index("{"):])
    assert rc == 0 and doc["predicted_qps"] >= 40


def test_plan_from_csv_and_prices_files(tmp_path: Path, capsys):
    import numpy as np

    from kairos_sdk import Profile

    prof = Profile.builtin("rm2")
    rng = np.random.default_rng(0)
    rows = ["instance,batch,latency_ms"]
    for t in ("g4dn.xlarge", "r5n.large"):
        for b in range(100, 1001, 100):
            rows += [f"{t},{b},{x:.3f}" for x in prof.sample(t, b, rng, size=5)]
    lat = tmp_path / "lat.csv"
    lat.write_text("\n".join(rows) + "\n")
    prices = tmp_path / "prices.csv"
    prices.write_text("instance,price\ng4dn.xlarge,0.5\nr5n.large,0.15\n")
    rc, out, _ = run_cli(capsys, "plan", "--profile", str(lat), "--prices", str(prices), "--json")
    doc = json.loads(out[out.index("{"):])
    assert rc == 0 and set(doc["counts"]) <= {"g4dn.xlarge", "r5n.large"}
    # priced from the given file, not the built-in catalog
    by_hand = 0.5 * doc["counts"].get("g4dn.xlarge", 0) + 0.15 * doc["counts"].get("r5n.large", 0)
    assert doc["cost_per_hour"] == pytest.approx(by_hand) and 2.5 - 0.15 < by_hand <= 2.5


def test_simulate_one_rate(capsys):
    rc, out, _ = run_cli(capsys, "simulate", "--pool", "g4dn.xlarge=1,r5n.large=4", "--rate", "20",
                         "--n-queries", "2000", "--policy", "fcfs")
    assert rc == 0
    row = next(ln.split() for ln in out.splitlines() if ln.startswith("fcfs"))
    attainment, meets = float(row[4].rstrip("%")) / 100, row[6]
    assert meets == ("yes" if attainment >= 0.99 else "no")
    verdict = out.strip().splitlines()[-1]
    assert verdict.startswith("meets QoS" if meets == "yes" else "MISSES QoS") and "of 2000 queries" in verdict


def test_simulate_with_shedding_reports_what_it_gave_up(capsys):
    rc, out, _ = run_cli(capsys, "simulate", "--pool", "g4dn.xlarge=1", "--rate", "40", "--n-queries", "1000",
                         "--policy", "kairos-shed", "--json")
    res = json.loads(out[out.index("{"):])["results"][0]
    assert rc == 0 and res["policy"] == "kairos-shed"
    assert 0 < res["shed"] == res["failed"] < 1000 and res["qos_attainment"] <= 1 - res["shed"] / 1000


def test_simulate_explains_a_zero(capsys):
    rc, out, _ = run_cli(capsys, "simulate", "--pool", "t3.xlarge=3", "--n-seeds", "1", "--n-queries", "1000")
    assert rc == 0 and "meets QoS at no rate" in out and "t3.xlarge serves batches up to" in out


def test_simulate_allowable_json(capsys):
    rc, out, _ = run_cli(capsys, "simulate", "--pool", "g4dn.xlarge=2", "--policy", "fcfs", "--json",
                         "--n-queries", "2000", "--n-seeds", "1")
    doc = json.loads(out[out.index("{"):])
    assert rc == 0 and 10 < doc["results"][0]["allowable_qps"] < 40


# ---------------------------------------------------------------------------- live commands
@pytest.mark.slow
def test_serve_replay_then_run(tmp_path: Path, capsys):
    eps = tmp_path / "eps.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kairos_sdk", "serve-replay", "--pool", "g4dn.xlarge=1,r5n.large=2",
         "--write", str(eps), "--for-seconds", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not (eps.exists() and eps.stat().st_size > 0) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        assert eps.exists(), "serve-replay wrote no endpoints file"
        assert len(read_endpoints(eps)) == 3
        rc, out, _ = run_cli(capsys, "run", str(eps), "--rate", "10", "--duration", "2", "--no-progress")
        assert rc == 0 and "QoS attainment" in out
        split = out[out.index("where a query's time goes"):].splitlines()  # the per-query breakdown
        assert [ln.split()[0] for ln in split[2:]] == ["client", "waiting", "on", "server", "server", "server", "latency"]
        row = next(ln.split() for ln in out.splitlines() if ln.split()[:1] == ["10"])
        assert row[0] == "10" and row[4] == "0"  # offered 10 qps, none failed
        rc, out, _ = run_cli(capsys, "run", str(eps), "--rate", "10", "--duration", "1", "--json")
        doc = json.loads(out[out.index("{"):])
        assert doc["failed"] == 0 and doc["n_queries"] >= 1 and doc["rate_qps"] == 10
        # the endpoints file's pool, priced at the paper's prices by hand
        assert doc["pool"] == {"g4dn.xlarge": 1, "r5n.large": 2}
        assert doc["cost_per_hour"] == pytest.approx(0.526 + 2 * 0.149)
        rc, out, err = run_cli(capsys, "run", str(eps), "--rate", "200", "--duration", "0.2", "--no-progress")
        assert rc == 0 and "warning" in err and "drain" in err  # overload is announced, then run
        # the overhead this run paid, saved with the profile: what plan and simulate then add
        saved = tmp_path / "at10.json"
        rc, out, _ = run_cli(capsys, "run", str(eps), "--rate", "10", "--duration", "1", "--no-progress",
                             "--save-profile", str(saved))
        assert rc == 0 and f"profile written to {saved}" in out
        prof = Profile.from_json(saved)
        base = Profile.builtin("rm2")  # the run's profile, with the overhead added and nothing else
        assert prof.overhead.quantile(0.0) > 0 and prof.instance_types == base.instance_types
        assert all(np.array_equal(prof.series[t].values, base.series[t].values) for t in base.instance_types)
        p99 = {}
        for label, extra in (("saved", ["--profile", str(saved)]), ("built-in", [])):
            rc, out, _ = run_cli(capsys, "simulate", *extra, "--pool", "g4dn.xlarge=1,r5n.large=2", "--rate", "10",
                                 "--json")
            assert rc == 0
            p99[label] = json.loads(out[out.index("{"):])["results"][0]["p99_ms"]
        assert p99["saved"] >= p99["built-in"] + prof.overhead.quantile(0.0) * 0.9  # every query pays the overhead
        rc, _, err = run_cli(capsys, "run", str(eps), "--rate", "10", "--save-profile", str(tmp_path / "x.csv"))
        assert_one_line_error(rc, err, "--save-profile", ".json")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_replay_with_a_token_serves_only_runs_that_carry_it(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("KAIROS_TOKEN", raising=False)
    eps = tmp_path / "eps.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kairos_sdk", "serve-replay", "--pool", "r5n.large=1", "--token", "s3cret",
         "--write", str(eps), "--for-seconds", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while not (eps.exists() and eps.stat().st_size > 0) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        rc, _, err = run_cli(capsys, "run", str(eps), "--rate", "5", "--duration", "0.5", "--max-batch", "100")
        assert rc == 2 and "401" in err and "s3cret" not in err
        rc, out, _ = run_cli(capsys, "run", str(eps), "--rate", "5", "--duration", "0.5", "--max-batch", "100",
                             "--token", "s3cret", "--json")
        doc = json.loads(out[out.index("{"):])
        assert rc == 0 and doc["failed"] == 0 and doc["n_queries"] >= 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_run_against_dead_endpoints_is_one_line(tmp_path: Path, capsys):
    eps = tmp_path / "eps.csv"
    eps.write_text("type,url\nr5n.large,http://127.0.0.1:9\n")
    rc, _, err = run_cli(capsys, "run", str(eps), "--rate", "5", "--duration", "1")
    assert rc == 2 and "kairos: error:" in err and "Traceback" not in err
    assert "127.0.0.1:9" in err and "not ready" in err
    assert "meets QoS at no rate" in err  # a lone r5n.large cannot serve the largest batches in time


@pytest.mark.slow
def test_demo_short(tmp_path: Path, capsys):
    rc, out, _ = run_cli(capsys, "demo", "--duration", "8", "--out", str(tmp_path), "--no-progress")
    assert rc == 0
    assert "heterogeneous" in out and "homogeneous" in out and "throughput at QoS" in out
    assert (tmp_path / "kairos_demo_rm2.png").stat().st_size > 1000


def test_save_profile_needs_a_run_whose_servers_report_their_compute(tmp_path: Path):
    """Without Server-Timing there is no overhead to split off: a clear usage error, no file."""
    from kairos_sdk import Pool, Workload, simulate
    from kairos_sdk.cli.run import _save_profile

    prof = Profile.builtin("rm2")
    no_timing = simulate(Pool.from_counts({"r5n.large": 1}), prof, Workload.deeprecsys(), rate=1, qos_ms=350,
                         n_queries=20, seed=0)
    with pytest.raises(UsageError, match="--save-profile: .*Server-Timing"):
        _save_profile(prof, no_timing, tmp_path / "p.json", quiet=True)
    assert not (tmp_path / "p.json").exists()


def test_demo_bad_time_scale(capsys):
    rc, _, err = run_cli(capsys, "demo", "--time-scale", "fast")
    assert_one_line_error(rc, err, "--time-scale")


def test_bench_list_one_line_per_script_marks_agree_with_the_docs(capsys):
    import re

    root = Path(__file__).resolve().parents[1]
    scripts = sorted(p.stem for p in (root / "benchmarks").glob("*.py") if not p.name.startswith("_"))
    rc, out, _ = run_cli(capsys, "bench", "list")
    lines = out.splitlines()
    assert rc == 0 and lines[0].startswith("quick ")
    assert [ln.split()[0] for ln in lines[1:1 + len(scripts)]] == scripts
    assert all(len(ln.split()) > 2 for ln in lines[1:1 + len(scripts)])  # each with a description
    marked = {ln.split()[0] for ln in lines[1:1 + len(scripts)] if "[shared data]" in ln}
    block = re.search(r"<!-- bench-data.*?-->(.*?)<!-- /bench-data -->", (root / "docs" / "benchmarks.md").read_text(), re.S)
    assert marked and marked == set(re.findall(r"`(\w+)`", block.group(1)))


def test_bench_quick(capsys):
    rc, out, _ = run_cli(capsys, "bench", "--n-queries", "1500")
    assert rc == 0
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith(("planned ", "homogeneous ")) and " / " not in ln}
    assert set(rows) == {"planned", "homogeneous"}
    cols = {k: v.split("  ") for k, v in rows.items()}
    nums = {k: [float(x) for x in v.split()[-4:]] for k, v in rows.items()}  # USD/h, predicted, simulated, s
    assert all(n[0] <= 2.5 for n in nums.values())
    assert "4 x g4dn.xlarge" in cols["homogeneous"][1]  # the best homogeneous pool within 2.5 USD/h
    ratio = next(ln for ln in out.splitlines() if ln.startswith("planned / homogeneous"))
    assert f"{nums['planned'][2] / nums['homogeneous'][2]:.2f}x" in ratio


def test_python_dash_m(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "kairos_sdk", "plan", "--budget", "oops"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--budget" in proc.stderr


def test_json_output_is_pure_json_in_a_fresh_process():
    # the solver's one-time banner must not reach stdout before the JSON
    proc = subprocess.run([sys.executable, "-m", "kairos_sdk", "plan", "--json", "--budget", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["cost_per_hour"] <= 1 and doc["model"] == "rm2"
