"""The CLI on a user's own data: budgets with targets, caps, prices files, workloads, plan files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kairos_sdk import Catalog, Profile
from kairos_sdk.cli import main
from kairos_sdk.defaults import PAPER_PRICES_PER_HOUR

from .test_cli import assert_one_line_error, run_cli


def run_json(capsys, *argv: str) -> dict:
    rc, out, err = run_cli(capsys, *argv, "--json")
    assert rc == 0, err
    return json.loads(out[out.index("{"):])


def cost(counts: dict[str, int], prices: dict[str, float] = PAPER_PRICES_PER_HOUR) -> float:
    return sum(prices[t] * n for t, n in counts.items())


# ---------------------------------------------------------------------------- budget and target
def test_budget_and_target_give_the_cheapest_pool_within_the_budget(capsys):
    alone = run_json(capsys, "plan", "--target-qps", "100")
    both = run_json(capsys, "plan", "--target-qps", "100", "--budget", "5")
    assert both["counts"] == alone["counts"] and both["cost_per_hour"] == pytest.approx(alone["cost_per_hour"])
    assert both["predicted_qps"] >= 100 and both["cost_per_hour"] <= 5
    assert both["cost_per_hour"] == pytest.approx(cost(both["counts"]))


def test_budget_below_the_cheapest_pool_for_the_target_is_refused(capsys):
    need = run_json(capsys, "plan", "--target-qps", "200")
    assert need["cost_per_hour"] > 2.5  # the example: $4.58/h
    rc, out, err = run_cli(capsys, "plan", "--budget", "2.5", "--target-qps", "200")
    assert_one_line_error(rc, err, f"${need['cost_per_hour']:.3f}/h", "above --budget $2.5/h", "--target-qps")
    assert out == ""


def test_budget_alone_maximizes_within_it(capsys):
    doc = run_json(capsys, "plan", "--budget", "1.5")
    assert doc["objective"] == "max_qps" and doc["cost_per_hour"] <= 1.5 and doc["target_qps"] is None


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_budget(capsys, value):
    rc, _, err = run_cli(capsys, "plan", f"--budget={value}")
    assert_one_line_error(rc, err, "--budget", "finite")


def test_percentile_100_is_accepted_like_the_api(capsys):
    doc = run_json(capsys, "plan", "--percentile", "100", "--budget", "2.5")
    assert doc["percentile"] == 100 and doc["unserved_share"] == 0 and doc["cost_per_hour"] <= 2.5
    rc, _, err = run_cli(capsys, "plan", "--percentile", "100.5")
    assert_one_line_error(rc, err, "--percentile", "(0, 100]")


def test_malformed_profile_json_names_the_file(tmp_path: Path, capsys):
    bad = tmp_path / "my_profile.json"
    bad.write_text("{not json")
    rc, _, err = run_cli(capsys, "plan", "--profile", str(bad))
    assert_one_line_error(rc, err, "my_profile.json", "malformed")


@pytest.mark.parametrize("value, needle", [("", "--pool is empty"), ("=", "no instance type"),
                                           ("g4dn.xlarge=1,g4dn.xlarge=2", "twice")])
def test_bad_pool_never_falls_back_to_the_plan(capsys, value, needle):
    for verb in ("simulate", "serve-replay"):
        rc, out, err = run_cli(capsys, verb, "--pool", value, "--rate", "5") if verb == "simulate" else \
            run_cli(capsys, verb, "--pool", value, "--for-seconds", "0.1")
        assert_one_line_error(rc, err, needle)
        assert "r5n.large" not in out  # no planned pool was served or simulated


# ---------------------------------------------------------------------------- caps and prices
def test_caps_flag_raises_a_cap(capsys):
    rc, _, err = run_cli(capsys, "simulate", "--pool", "g4dn.xlarge=6", "--rate", "20")
    assert_one_line_error(rc, err, "exceeds its cap of 5", "--caps g4dn.xlarge=6")
    doc = run_json(capsys, "simulate", "--pool", "g4dn.xlarge=6", "--caps", "g4dn.xlarge=6", "--rate", "20",
                   "--n-queries", "500")
    assert doc["pool"] == {"g4dn.xlarge": 6} and doc["cost_per_hour"] == pytest.approx(6 * 0.526)
    assert doc["results"][0]["n_queries"] == 500


def test_caps_bind_the_plan(capsys):
    free = run_json(capsys, "plan", "--budget", "2.5")
    assert free["counts"]["r5n.large"] > 2
    capped = run_json(capsys, "plan", "--budget", "2.5", "--caps", "r5n.large=2")
    assert capped["counts"].get("r5n.large", 0) <= 2 and capped["caps"]["r5n.large"] == 2
    assert capped["predicted_qps"] < free["predicted_qps"]
    rc, _, err = run_cli(capsys, "plan", "--caps", "p3.2xlarge=2")
    assert_one_line_error(rc, err, "--caps names p3.2xlarge")


def test_prices_file_cap_column(tmp_path: Path, capsys):
    prices = tmp_path / "prices.csv"
    prices.write_text("instance,price,cap\ng4dn.xlarge,0.526,1\nr5n.large,0.149,4\nt3.xlarge,0.1664,\n"
                      "c5n.2xlarge,0.432,0\n")
    assert Catalog.from_csv(prices)["r5n.large"].cap == 4
    assert Catalog.from_csv(prices)["t3.xlarge"].cap is None
    assert Catalog.from_csv(prices, caps={"r5n.large": 9})["r5n.large"].cap == 9
    doc = run_json(capsys, "plan", "--prices", str(prices), "--budget", "10")
    assert doc["counts"].get("g4dn.xlarge", 0) <= 1 and doc["counts"].get("r5n.large", 0) <= 4
    assert "c5n.2xlarge" not in doc["counts"]
    assert doc["caps"] == {"c5n.2xlarge": 0, "g4dn.xlarge": 1, "r5n.large": 4, "t3.xlarge": 15}  # paper cap for t3
    prices.write_text("instance,price,cap\ng4dn.xlarge,0.526,two\n")
    rc, _, err = run_cli(capsys, "plan", "--prices", str(prices))
    assert_one_line_error(rc, err, "cap 'two'")


def test_prices_for_some_types_plan_over_those(tmp_path: Path, capsys):
    prices = tmp_path / "prices.csv"
    prices.write_text("instance,price\ng4dn.xlarge,0.6\nr5n.large,0.2\n")
    rc, out, err = run_cli(capsys, "plan", "--prices", str(prices), "--json")
    assert rc == 0
    notes = [ln for ln in err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "2 of the profile's 4 types" in notes[0] and "t3.xlarge" in notes[0]
    doc = json.loads(out[out.index("{"):])
    assert set(doc["prices"]) == {"g4dn.xlarge", "r5n.large"}
    assert doc["cost_per_hour"] == pytest.approx(cost(doc["counts"], {"g4dn.xlarge": 0.6, "r5n.large": 0.2}))


# ---------------------------------------------------------------------------- workloads
def _csv_profile(path: Path, max_batch: int) -> Path:
    truth = Profile.builtin("rm2")
    rng = np.random.default_rng(0)
    rows = ["instance,batch,latency_ms"]
    for t in ("g4dn.xlarge", "r5n.large"):
        for b in range(10, max_batch + 1, 10):
            rows += [f"{t},{b},{x:.3f}" for x in truth.sample(t, b, rng, size=4)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_profile_up_to_batch_200_needs_max_batch(tmp_path: Path, capsys):
    lat = _csv_profile(tmp_path / "lat.csv", 200)
    rc, _, err = run_cli(capsys, "plan", "--profile", str(lat))
    assert_one_line_error(rc, err, "up to 200", "--max-batch 200")
    doc = run_json(capsys, "plan", "--profile", str(lat), "--max-batch", "200")
    assert doc["workload"] == "deeprecsys[1..200]" and doc["counts"] and doc["cost_per_hour"] <= 2.5


def test_batch_mix_and_trace_change_what_a_pool_serves(tmp_path: Path, capsys):
    # a lone r5n.large serves batches up to 850 within 350 ms: it misses on the full mix
    argv = ["simulate", "--pool", "r5n.large=2", "--rate", "4", "--n-queries", "400", "--policy", "fcfs"]
    full = run_json(capsys, *argv)["results"][0]
    assert not full["meets_qos"]
    mix = tmp_path / "small.csv"
    mix.write_text("size,probability\n10,0.5\n100,0.5\n")
    small = run_json(capsys, *argv, "--batch-mix", str(mix))["results"][0]
    assert small["meets_qos"] and small["qos_attainment"] == 1.0
    trace = tmp_path / "trace.txt"
    trace.write_text("10\n100\n10\n")
    traced = run_json(capsys, *argv, "--trace", str(trace))["results"][0]
    assert traced["meets_qos"] and traced["n_queries"] == 400
    doc = run_json(capsys, "plan", "--batch-mix", str(mix))
    assert doc["workload"] == "small.csv"
    rc, _, err = run_cli(capsys, "plan", "--batch-mix", str(mix), "--trace", str(trace))
    assert_one_line_error(rc, err, "not allowed with")


# ---------------------------------------------------------------------------- plan files
def test_plan_json_carries_model_qos_prices_and_units(capsys):
    doc = run_json(capsys, "plan", "--model", "wnd", "--budget", "1")
    assert doc["model"] == "wnd" and doc["qos_ms"] == 25 and doc["percentile"] == 99
    assert doc["prices"] == PAPER_PRICES_PER_HOUR | {} and doc["units"]["cost_per_hour"] == "USD/hour"
    assert doc["cost_per_hour"] == pytest.approx(cost(doc["counts"]))


def test_simulate_and_serve_replay_read_a_plan_file(tmp_path: Path, capsys):
    prices = tmp_path / "prices.csv"
    prices.write_text("instance,price\ng4dn.xlarge,1.0\nr5n.large,0.25\nt3.xlarge,0.3\nc5n.2xlarge,0.9\n")
    rc, out, _ = run_cli(capsys, "plan", "--model", "wnd", "--budget", "2", "--prices", str(prices), "--json")
    plan = tmp_path / "plan.json"
    plan.write_text(out)
    planned = json.loads(out)
    doc = run_json(capsys, "simulate", "--pool", str(plan), "--rate", "100", "--n-queries", "500")
    assert doc["model"] == "wnd" and doc["qos_ms"] == 25 and doc["pool"] == planned["counts"]
    assert doc["cost_per_hour"] == pytest.approx(planned["cost_per_hour"])  # the plan's prices, not the paper's
    eps = tmp_path / "eps.json"
    rc, out, _ = run_cli(capsys, "serve-replay", "--pool", str(plan), "--write", str(eps), "--for-seconds", "0.5")
    assert rc == 0 and f"the pool of {plan}" in out and f"${planned['cost_per_hour']:.3f}/h" in out
    served = json.loads(eps.read_text())["instances"]
    assert len(served) == sum(planned["counts"].values())


def test_serve_replay_without_pool_says_which_plan_and_cost(capsys):
    plan = run_json(capsys, "plan", "--budget", "1")
    rc, out, _ = run_cli(capsys, "serve-replay", "--budget", "1", "--for-seconds", "0.3")
    assert rc == 0 and "the plan for budget $1/h" in out
    assert f"${plan['cost_per_hour']:.3f}/h" in out and f"predicted {plan['predicted_qps']:.1f} qps" in out
    n = sum(plan["counts"].values())
    assert sum(1 for ln in out.splitlines() if "http://127.0.0.1:" in ln) == n


def test_main_returns_not_raises_on_plan_file_errors(tmp_path: Path, capsys):
    p = tmp_path / "p.json"
    p.write_text("[]")
    assert main(["simulate", "--pool", str(p)]) == 2
    assert "p.json" in capsys.readouterr().err


def test_a_pool_that_cannot_meet_the_target_predicts_plus_zero(capsys):
    import math

    from kairos_sdk import Planner, Workload
    from kairos_sdk.defaults import default_catalog

    planner = Planner(Profile.builtin("rm2"), default_catalog(), Workload.deeprecsys(), qos_ms=350)
    plan = planner.evaluate({"t3.xlarge": 3})  # t3.xlarge serves batches up to 380 only
    assert plan.predicted_qps == 0 and math.copysign(1.0, plan.predicted_qps) == 1.0
    assert math.copysign(1.0, plan.fluid_qps) == 1.0
    assert math.copysign(1.0, planner.predicted_qps({"t3.xlarge": 3})) == 1.0
    assert "-0.0" not in json.dumps(plan.to_dict())
