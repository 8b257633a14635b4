from __future__ import annotations

import gzip
import json
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos_sdk import ArgumentTypeError, Profile, ProfileError

from .conftest import MODELS

# ---------------------------------------------------------------------------- full data


@pytest.fixture(scope="module")
def raw_samples(kairos_data):
    """Raw exec_ms + load_ms per (model, instance, batch), read independently of Profile."""
    import csv

    d: dict = defaultdict(list)
    with gzip.open(kairos_data / "latency.csv.gz", "rt") as fh:
        for r in csv.DictReader(fh):
            d[(r["model"], r["instance"], int(r["batch"]))].append(float(r["exec_ms"]) + float(r["load_ms"]))
    return d


@pytest.mark.shared_data
@pytest.mark.parametrize("model", MODELS)
def test_from_csv_equals_numpy_quantile_at_every_measured_batch(model, raw_samples, shared_profile):
    prof = shared_profile(model)
    assert prof.instance_types == ("c5n.2xlarge", "g4dn.xlarge", "r5n.large", "t3.xlarge")
    for inst in prof.instance_types:
        batches = sorted(b for (m, i, b) in raw_samples if m == model and i == inst)
        assert list(prof.batch_sizes(inst)) == batches
        for q in (0.5, 0.9, 0.95, 0.99, 0.999):
            got = prof.latency(inst, np.array(batches), q=q)
            # same outlier rule: drop the largest sample of each series
            want = [np.quantile(sorted(raw_samples[(model, inst, b)])[:-1], q) for b in batches]
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        want_mean = [np.mean(sorted(raw_samples[(model, inst, b)])[:-1]) for b in batches]
        np.testing.assert_allclose(prof.latency(inst, np.array(batches), q="mean"), want_mean, rtol=1e-12)


@pytest.mark.shared_data
@pytest.mark.parametrize("model", MODELS)
def test_builtin_within_one_percent_of_full_data(model, shared_profile):
    full, small = shared_profile(model), Profile.builtin(model)
    assert small.instance_types == full.instance_types
    for inst in full.instance_types:
        s = small.series[inst]
        assert list(s.batches) == list(full.batch_sizes(inst))
        for q in s.levels:
            np.testing.assert_allclose(small.latency(inst, s.batches, q), full.latency(inst, s.batches, q), rtol=0.01)
        np.testing.assert_allclose(s.mean_ms, full.series[inst].mean_ms, rtol=0.01)


@pytest.mark.shared_data
def test_drop_outliers_removes_warmup_sample(kairos_data):
    keep = Profile.from_csv(kairos_data / "latency.csv.gz", model="ncf")
    drop = Profile.from_csv(kairos_data / "latency.csv.gz", model="ncf", drop_outliers=True)
    # ncf on g4dn at batch 10 starts with a ~530 ms warm-up sample
    assert keep.latency("g4dn.xlarge", 10, q=1.0) > 100
    assert drop.latency("g4dn.xlarge", 10, q=1.0) < 5
    assert drop.series["g4dn.xlarge"].counts[0] == keep.series["g4dn.xlarge"].counts[0] - 1


@pytest.mark.shared_data
def test_multi_model_file_needs_model(kairos_data):
    with pytest.raises(ProfileError, match="pass model="):
        Profile.from_csv(kairos_data / "latency.csv.gz")
    with pytest.raises(ProfileError, match="no rows for model 'bert'"):
        Profile.from_csv(kairos_data / "latency.csv.gz", model="bert")


# ---------------------------------------------------------------------------- built-in


def test_builtin_loads_every_model_without_data_files():
    assert Profile.builtin_models() == tuple(sorted(MODELS))
    for m in MODELS:
        p = Profile.builtin(m)
        assert p.model == m and len(p.instance_types) == 4
        assert "KAIROS" in p.source
        # the GPU wins on large batches, a CPU on small ones: the heterogeneity the SDK exploits
        gpu = p.latency("g4dn.xlarge", [10, 1000], q=0.99)
        cpu = p.latency("c5n.2xlarge", [10, 1000], q=0.99)
        assert cpu[0] < gpu[0] and gpu[1] < cpu[1]


def test_builtin_unknown_model():
    with pytest.raises(ProfileError, match="choose one of dien, mtwnd, ncf, rm2, wnd"):
        Profile.builtin("gpt")


# ---------------------------------------------------------------------------- semantics


def _toy() -> Profile:
    return Profile.from_dict({"gpu": {10: [4.0, 5.0, 6.0], 30: [8.0, 10.0, 12.0]}, "cpu": {10: [1.0, 1.0, 1.0], 30: [20.0, 30.0, 40.0]}})


def test_interpolates_linearly_between_measured_batches():
    p = _toy()
    assert float(p.latency("gpu", 20, q=0.5)) == pytest.approx(7.5)
    assert float(p.latency("gpu", 20, q="mean")) == pytest.approx(7.5)
    np.testing.assert_allclose(p.latency("cpu", [10, 20, 30], q=1.0), [1.0, 20.5, 40.0])


def test_vectorized_over_batch_and_q_broadcast():
    p = _toy()
    out = p.latency("gpu", np.array([[10], [30]]), q=np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(out, [[4, 5, 6], [8, 10, 12]])


def test_outside_range_raises_unless_extrapolating():
    p = _toy()
    with pytest.raises(ProfileError, match=r"batch 40 is outside the measured range 10..30 of 'gpu'.*extrapolate=True"):
        p.latency("gpu", 40)
    assert float(p.latency("gpu", 50, q=0.5, extrapolate=True)) == pytest.approx(15.0)


def test_unknown_instance_names_the_known_ones():
    with pytest.raises(ProfileError, match="unknown instance type 'tpu'; this profile has cpu, gpu"):
        _toy().latency("tpu", 10)


@pytest.mark.parametrize("q", [-0.1, 1.5, "p99", float("nan")])
def test_bad_quantile(q):
    with pytest.raises(ProfileError, match="q must be a quantile"):
        _toy().latency("gpu", 10, q=q)


@pytest.mark.parametrize("batch", [0, -5, float("nan")])
def test_bad_batch(batch):
    with pytest.raises(ProfileError, match="batch"):
        _toy().latency("gpu", batch)


def test_wrong_types_are_type_errors(rng):
    p = _toy()
    with pytest.raises(ArgumentTypeError, match="batch must be a number or an array of numbers, got 'ten'"):
        p.latency("gpu", "ten")
    with pytest.raises(ArgumentTypeError, match="q must be a number, got None"):
        p.latency("gpu", 10, q=None)
    with pytest.raises(ArgumentTypeError, match="qos_ms must be a number, got '5'"):
        p.max_batch("gpu", qos_ms="5")
    with pytest.raises(ArgumentTypeError, match="model must be a str, got int"):
        Profile.builtin(2)
    with pytest.raises(ArgumentTypeError, match="drop_outliers .* must be an integer, got 'yes'"):
        Profile.from_dict({"a": {10: [1.0, 2.0]}}, drop_outliers="yes")


def test_a_percentile_given_as_q_gets_a_hint():
    with pytest.raises(ProfileError, match=r"q must be a quantile in \[0, 1\], got 99: did you mean 0.99\?"):
        _toy().latency("gpu", 10, q=99)
    with pytest.raises(ProfileError, match="did you mean 0.99"):
        _toy().max_batch("gpu", 5.0, q=99)


def test_max_batch_is_the_prefix_meeting_qos():
    p = Profile.from_dict({"cpu": {10: [1.0], 20: [3.0], 30: [9.0], 40: [2.0]}})
    assert p.max_batch("cpu", qos_ms=5) == 20  # 40 meets again, but 30 breaks the run
    assert p.max_batch("cpu", qos_ms=100) == 40
    assert p.max_batch("cpu", qos_ms=0.5) == 0
    with pytest.raises(ProfileError, match="qos_ms must be a positive"):
        p.max_batch("cpu", qos_ms=-1)


def test_sample_follows_the_distribution(rng):
    p = Profile.from_dict({"cpu": {10: list(np.arange(1.0, 101.0))}})
    x = p.sample("cpu", 10, rng, size=20_000)
    assert x.min() >= 1.0 and x.max() <= 100.0
    assert np.quantile(x, 0.5) == pytest.approx(50.5, rel=0.03)
    assert np.quantile(x, 0.99) == pytest.approx(99.0, rel=0.02)
    with pytest.raises(ArgumentTypeError, match="rng must be a numpy.random.*Generator.*got int"):
        p.sample("cpu", 10, rng=42)


def test_json_round_trip_is_lossless(tmp_path):
    p = Profile.from_dict({"a": {10: [1.1, 2.2, 3.3], 20: [0.1 + 0.2, 7.0, 9.5]}, "b": {5: [1e-3]}}, model="m")
    q = Profile.from_json(p.to_json())
    assert q.to_dict() == p.to_dict()
    for name in ("p.json", "p.json.gz"):  # a .gz name is written gzipped, as from_json reads it
        p.to_json(tmp_path / name)
        r = Profile.from_json(tmp_path / name)
        for inst in p.instance_types:
            np.testing.assert_array_equal(r.series[inst].values, p.series[inst].values)
            np.testing.assert_array_equal(r.series[inst].mean_ms, p.series[inst].mean_ms)


def test_builtin_round_trips():
    p = Profile.builtin("wnd")
    assert Profile.from_json(p.to_json()).to_dict() == p.to_dict()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 1e4, allow_nan=False), min_size=1, max_size=60), st.floats(0, 1))
def test_property_quantile_matches_numpy(samples, q):
    p = Profile.from_dict({"x": {7: samples}})
    assert float(p.latency("x", 7, q=q)) == pytest.approx(float(np.quantile(samples, q)), rel=1e-9, abs=1e-9)
    assert float(p.latency("x", 7, q="mean")) == pytest.approx(float(np.mean(samples)), rel=1e-9)


def test_repr_and_html_and_plot():
    p = Profile.builtin("rm2")
    assert repr(p).startswith("Profile(model='rm2', c5n.2xlarge[10..1000, 100 sizes]")
    h = p._repr_html_()
    assert "<table>" in h and "g4dn.xlarge" in h
    import matplotlib

    matplotlib.use("Agg")
    ax = p.plot()
    assert len(ax.get_lines()) == 8


# ---------------------------------------------------------------------------- validation


def _write(tmp_path, text, name="p.csv"):
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_gzipped_and_plain_csv_with_latency_or_parts(tmp_path):
    a = Profile.from_csv(_write(tmp_path, "instance,batch,latency_ms\ncpu,10,2.0\ncpu,10,4.0\n"))
    b = Profile.from_csv(_write(tmp_path, "instance,batch,exec_ms,load_ms\ncpu,10,1.5,0.5\ncpu,10,3,1\n", "p.csv.gz"))
    assert a.to_dict()["instances"] == b.to_dict()["instances"]


@pytest.mark.parametrize(
    "text, match",
    [
        ("instance,batch\ncpu,10\n", r"missing column\(s\) latency_ms \(or exec_ms and load_ms\)"),
        ("instance,latency_ms\ncpu,1.0\n", r"missing column\(s\) batch"),
        ("instance,batch,latency_ms\n", "no data rows"),
        ("", "the file is empty"),
        ("instance,batch,latency_ms\ncpu,10,nan\n", "line 2: latency is NaN"),
        ("instance,batch,latency_ms\ncpu,10,1\ncpu,10,-3\n", "line 3: latency is -3"),
        ("instance,batch,latency_ms\ncpu,10,0\n", "line 2: latency is 0"),
        ("instance,batch,latency_ms\ncpu,10,inf\n", "line 2: latency is not finite"),
        ("instance,batch,latency_ms\ncpu,ten,1\n", "line 2: batch 'ten' is not a number"),
        ("instance,batch,latency_ms\ncpu,2.5,1\n", "line 2: batch '2.5' must be a positive integer"),
        ("instance,batch,latency_ms\ncpu,10,fast\n", "line 2: latency_ms 'fast' is not a number"),
        ("instance,batch,latency_ms\n,10,1\n", "line 2: instance is empty"),
        ("instance,batch,latency_ms\ncpu,10\n", "line 2: expected 3 fields, got 2"),
        (
            "instance,batch,sample,latency_ms\ncpu,10,0,1.0\ncpu,10,1,2.0\ncpu,10,0,3.0\n",
            "line 4: instance 'cpu' batch 10 sample 0 repeats line 2 with a different latency",
        ),
    ],
)
def test_csv_validation_names_field_and_row(tmp_path, text, match):
    with pytest.raises(ProfileError, match=match):
        Profile.from_csv(_write(tmp_path, text))


def test_identical_duplicate_rows_are_accepted(tmp_path):
    p = Profile.from_csv(_write(tmp_path, "instance,batch,sample,latency_ms\ncpu,10,0,1.0\ncpu,10,0,1.0\n"))
    assert p.series["cpu"].counts[0] == 2


def test_missing_file_and_drop_too_many(tmp_path):
    with pytest.raises(ProfileError, match="profile file not found"):
        Profile.from_csv(tmp_path / "nope.csv")
    with pytest.raises(ProfileError, match="cannot drop 1 outlier"):
        Profile.from_csv(_write(tmp_path, "instance,batch,latency_ms\ncpu,10,1\n"), drop_outliers=True)


def test_records_and_dict_validation():
    with pytest.raises(ProfileError, match="no records"):
        Profile.from_records([])
    with pytest.raises(ProfileError, match="record 1: latency is NaN"):
        Profile.from_records([{"instance": "a", "batch": 1, "latency_ms": 1}, {"instance": "a", "batch": 1, "latency_ms": float("nan")}])
    with pytest.raises(ProfileError, match="empty series"):
        Profile.from_dict({"a": {10: []}})
    with pytest.raises(ProfileError, match="non-empty"):
        Profile.from_dict({})


def test_json_validation(tmp_path):
    with pytest.raises(ProfileError, match="malformed"):
        Profile.from_json("{not json")
    with pytest.raises(ProfileError, match="not a kairos_sdk profile"):
        Profile.from_json(json.dumps({"format": "other"}))
    doc = Profile.from_dict({"a": {10: [1.0, 2.0]}}).to_dict()
    doc["instances"]["a"]["values"] = [[2.0, 1.0]]
    with pytest.raises(ProfileError, match="non-decreasing"):
        Profile.from_json(json.dumps(doc))
    with pytest.raises(ProfileError, match="file not found"):
        Profile.from_json(tmp_path / "missing.json")


# ---------------------------------------------------------------------------- duplicate rows
def test_exact_duplicate_rows_without_a_sample_column_are_kept_with_a_warning(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("instance,batch,latency_ms\na,10,1.0\na,10,1.0\na,10,4.0\n")
    with pytest.warns(UserWarning, match=r"1 row\(s\) of instance 'a' repeat .*add one, or remove copied rows"):
        prof = Profile.from_csv(p)
    assert prof.latency("a", 10, q=0.5) == pytest.approx(1.0)  # the copy counts: median of 1, 1, 4
