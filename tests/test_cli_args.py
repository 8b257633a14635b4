"""The CLI's parsing helpers: pools, caps, rates, batch sizes, headers and the files it reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kairos_sdk.cli import UsageError, parse_pool
from kairos_sdk.cli.args import (
    looks_like_file,
    parse_batches,
    parse_caps,
    parse_headers,
    parse_rates,
    read_batch_mix,
    read_plan_file,
    read_trace,
)

names = st.sampled_from(["g4dn.xlarge", "r5n.large", "t3.xlarge", "c5n.2xlarge", "my-type"])


@given(st.dictionaries(names, st.integers(0, 99), min_size=1), st.sampled_from([",", " + ", " ", ", "]))
def test_parse_pool_round_trips_any_counts(counts, sep):
    assert parse_pool(sep.join(f"{t}={n}" for t, n in counts.items())) == counts


@pytest.mark.parametrize(
    "text, needle",
    [
        ("g4dn.xlarge=1,g4dn.xlarge=2", "names g4dn.xlarge twice (1 and 2)"),
        ("=", "no instance type before '='"),
        ("g4dn.xlarge=", "no count after '='"),
        ("", "--pool is empty"),
        ("  ,  ", "--pool is empty"),
        ("g4dn.xlarge=1.5", "not a whole number"),
        ("g4dn.xlarge=-2", "at least 0"),
    ],
)
def test_parse_pool_messages(text, needle):
    with pytest.raises(UsageError, match="--pool") as exc:
        parse_pool(text)
    assert needle in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_duplicate_suggests_the_sum():
    with pytest.raises(UsageError, match=r"e\.g\. r5n\.large=13"):
        parse_pool("r5n.large=6,r5n.large=7")


def test_parse_caps():
    assert parse_caps("g4dn.xlarge=8, r5n.large=0") == {"g4dn.xlarge": 8, "r5n.large": 0}
    with pytest.raises(UsageError, match="--caps names r5n.large twice"):
        parse_caps("r5n.large=1,r5n.large=2")


def test_parse_rates_keeps_order_and_rejects_nonsense():
    assert parse_rates("30, 10,20.5") == [30.0, 10.0, 20.5]
    for bad in ("10,,20", "10,x", "0", "-5", "inf", "nan"):
        with pytest.raises(UsageError, match="--rates"):
            parse_rates(bad)


def test_parse_batches():
    assert parse_batches("500,10,100,10") == [10, 100, 500]
    assert parse_batches("10:50:20") == [10, 30, 50]
    assert parse_batches("5:7") == [5, 6, 7]
    for bad in ("", "0,10", "a", "10:50:0", "1:2:3:4"):
        with pytest.raises(UsageError, match="--batches"):
            parse_batches(bad)


def test_parse_headers():
    assert parse_headers(["X-Api-Key: a:b", "X-Env=prod"]) == {"X-Api-Key": "a:b", "X-Env": "prod"}
    assert parse_headers(None) == {}
    with pytest.raises(UsageError, match="--header"):
        parse_headers(["no-separator"])


def test_looks_like_file(tmp_path: Path):
    f = tmp_path / "pool"
    f.write_text("{}")
    assert looks_like_file("plan.json") and looks_like_file(str(f))
    assert not looks_like_file("g4dn.xlarge=1") and not looks_like_file("missing-file")


def test_read_plan_file_plan_and_serve_replay_forms(tmp_path: Path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"model": "wnd", "counts": {"g4dn.xlarge": 2, "t3.xlarge": 0}, "qos_ms": 25,
                                "percentile": 99.5, "prices": {"g4dn.xlarge": 0.5}, "caps": {"g4dn.xlarge": 3}}))
    pf = read_plan_file(plan)
    assert (pf.counts, pf.model, pf.qos_ms, pf.percentile) == ({"g4dn.xlarge": 2}, "wnd", 25.0, 99.5)
    assert pf.prices == {"g4dn.xlarge": 0.5} and pf.caps == {"g4dn.xlarge": 3}
    eps = tmp_path / "eps.json"
    eps.write_text(json.dumps({"instances": [{"id": "a", "type": "r5n.large", "endpoint": "http://x"},
                                             {"id": "b", "type": "r5n.large", "endpoint": "http://y"}]}))
    assert read_plan_file(eps).counts == {"r5n.large": 2}


@pytest.mark.parametrize(
    "content, needle",
    [("{oops", "malformed JSON"), ("[1, 2]", "no \"counts\""), ('{"counts": {"a": -1}}', "whole number"),
     ('{"counts": {"a": 0}, "status": "infeasible"}', "rents nothing"), ('{"counts": {"a": 1}, "qos_ms": "x"}', "qos_ms")],
)
def test_read_plan_file_errors_name_the_file(tmp_path: Path, content, needle):
    p = tmp_path / "bad_plan.json"
    p.write_text(content)
    with pytest.raises(UsageError, match=needle) as exc:
        read_plan_file(p)
    assert "bad_plan.json" in str(exc.value)


def test_read_batch_mix_and_trace(tmp_path: Path):
    mix = tmp_path / "mix.csv"
    mix.write_text("size,probability\n10,0.75\n# comment\n200,0.25\n")
    assert read_batch_mix(mix) == {10: 0.75, 200: 0.25}
    trace = tmp_path / "trace.txt"
    trace.write_text("batch\n10\n\n20  # a comment\n10\n")
    assert read_trace(trace) == [10, 20, 10]
    for content, needle in (("10,0.5\n10,0.5\n", "listed twice"), ("10\n", "two columns"), ("10,-1\n", ">= 0")):
        mix.write_text(content)
        with pytest.raises(UsageError, match=needle):
            read_batch_mix(mix)
    trace.write_text("10\nabc\n")
    with pytest.raises(UsageError, match="line 2"):
        read_trace(trace)
    with pytest.raises(UsageError, match="not found"):
        read_trace(tmp_path / "none.txt")
