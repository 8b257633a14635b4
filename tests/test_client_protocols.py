"""Wire protocols and RetryPolicy: pure request building and reply parsing (no network)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kairos_sdk.client import (
    JSONProtocol,
    OpenInferenceProtocol,
    RetryPolicy,
    TorchServeProtocol,
)
from kairos_sdk.client.protocols import HttpResponse
from kairos_sdk.client.transport import display_url
from kairos_sdk.errors import KairosError, ProtocolError


def resp(doc, status=200, endpoint="ep-0 at http://h:1"):
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return HttpResponse(status, body, endpoint)


# ---------------------------------------------------------------------- Open Inference Protocol
def test_oip_paths_with_and_without_version():
    p = OpenInferenceProtocol("rm 2")
    assert [r.url for r in p.ready_requests("http://h:1/")] == [
        "http://h:1/v2/health/ready",
        "http://h:1/v2/models/rm%202/ready",
    ]
    assert p.metadata_request("http://h:1").url == "http://h:1/v2/models/rm%202"
    v = OpenInferenceProtocol("m", version="v1")
    assert v.infer_request("https://x/prefix", b"{}").url == "https://x/prefix/v2/models/m/versions/v1/infer"


def test_oip_encodes_v2_json_tensors():
    p = OpenInferenceProtocol("m", input_name="x")
    doc = json.loads(p.encode_inputs(np.arange(6, dtype=np.float64).reshape(3, 2)))
    assert doc == {"inputs": [{"name": "x", "shape": [3, 2], "datatype": "FP32", "data": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]}]}
    keep = OpenInferenceProtocol("m", datatype=None)
    doc = json.loads(keep.encode_inputs({"a": np.array([[1, 2]], dtype=np.int64), "s": np.array(["u", "v"])}))
    assert [(t["name"], t["datatype"], t["shape"]) for t in doc["inputs"]] == [("a", "INT64", [1, 2]), ("s", "BYTES", [2])]


@pytest.mark.parametrize(
    "inputs, match",
    [
        (np.array([1.0, np.nan]), "NaN"),
        (np.float32(3.0), "scalar"),
        ({}, "empty mapping"),
        (np.array([1 + 2j]), "cannot carry"),
    ],
)
def test_oip_rejects_inputs_json_cannot_carry(inputs, match):
    p = OpenInferenceProtocol("m", datatype=None)
    with pytest.raises(KairosError, match=match):
        p.encode_inputs(inputs)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"model": ""}, "model"), ({"model": "m", "datatype": "FP8"}, "datatype"), ({"model": "m", "feature_shape": (0,)}, "feature_shape")],
)
def test_oip_constructor_validates(kwargs, match):
    with pytest.raises(KairosError, match=match):
        OpenInferenceProtocol(**kwargs)


def test_oip_parses_outputs_nested_data_and_nulls():
    p = OpenInferenceProtocol("m")
    out = p.parse_infer(resp({"outputs": [
        {"name": "y", "datatype": "FP32", "shape": [2, 2], "data": [[1, 2], [3, None]]},
        {"name": "k", "datatype": "INT64", "shape": [2], "data": [7, 8]},
    ]}))
    assert out["y"].dtype == np.float32 and out["y"].shape == (2, 2) and np.isnan(out["y"][1, 1])
    assert out["k"].tolist() == [7, 8]


@pytest.mark.parametrize(
    "body, match",
    [
        (b"<html>oops</html>", "not valid JSON"),
        (b'{"outputs": [{"name": "y", "data": [1, 2', "not valid JSON"),
        ([1, 2], "must be a JSON object"),
        ({"model_name": "m"}, "no 'outputs' list"),
        ({"outputs": ["y"]}, "not an object"),
        ({"outputs": [{"datatype": "FP32", "shape": [1], "data": [1]}]}, "no string 'name'"),
        ({"outputs": [{"name": "y", "datatype": "FP99", "shape": [1], "data": [1]}]}, "unknown datatype"),
        ({"outputs": [{"name": "y", "datatype": "FP32", "shape": "3", "data": [1]}]}, "valid 'shape'"),
        ({"outputs": [{"name": "y", "datatype": "FP32", "shape": [3]}]}, "no 'data'"),
        ({"outputs": [{"name": "y", "datatype": "FP32", "shape": [3], "parameters": {"binary_data_size": 12}}]}, "binary"),
        ({"outputs": [{"name": "y", "datatype": "FP32", "shape": [3], "data": [1, 2]}]}, "do not fill shape"),
        ({"outputs": [{"name": "y", "datatype": "INT8", "shape": [1], "data": ["x"]}]}, "does not fit datatype"),
    ],
)
def test_oip_malformed_replies_raise_protocol_error_naming_the_endpoint(body, match):
    with pytest.raises(ProtocolError, match=match) as info:
        OpenInferenceProtocol("m").parse_infer(resp(body))
    assert "ep-0 at http://h:1" in str(info.value)
    assert info.value.endpoint == "ep-0 at http://h:1"


def test_oip_metadata():
    md = OpenInferenceProtocol("doubler").parse_metadata(resp({
        "name": "doubler", "versions": [], "platform": "",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 4]}],
    }))
    assert md.name == "doubler" and md.inputs[0].shape == (-1, 4) and md.outputs[0].name == "y"
    with pytest.raises(ProtocolError, match="inputs\\[0\\]"):
        OpenInferenceProtocol("m").parse_metadata(resp({"name": "m", "inputs": [{"name": "x"}]}))
    with pytest.raises(ProtocolError, match="'name'"):
        OpenInferenceProtocol("m").parse_metadata(resp({"inputs": []}))


def test_error_detail_reads_server_messages():
    p = OpenInferenceProtocol("m")
    assert p.error_detail(b'{"error": "Model x not found"}') == "Model x not found"
    assert "json_invalid" in p.error_detail(b'{"detail": [{"type": "json_invalid"}]}')
    assert p.error_detail(b"Internal Server Error") == "Internal Server Error"


def test_oip_synthetic_inputs_and_batch_size():
    p = OpenInferenceProtocol("m", input_name="x", feature_shape=(4,))
    x = p.synthetic_inputs(7)
    assert x["x"].shape == (7, 4) and x["x"].dtype == np.float32
    assert p.batch_size(x) == 7 and p.batch_size(np.zeros((3, 2))) == 3
    with pytest.raises(KairosError, match="batch dimension"):
        p.batch_size(np.float64(1.0))


@settings(max_examples=60, deadline=None)
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
        elements={"allow_nan": False, "allow_infinity": False},
    )
)
def test_oip_round_trip_through_a_v2_reply(arr):
    """What the client encodes, echoed back by a server as an output, parses to the same array."""
    p = OpenInferenceProtocol("m", datatype=None)
    req = json.loads(p.encode_inputs(arr))["inputs"][0]
    reply = {"outputs": [{**req, "name": "echo"}]}
    out = p.parse_infer(resp(reply))["echo"]
    assert out.shape == arr.shape and out.dtype == arr.dtype
    np.testing.assert_array_equal(out, arr)


# ---------------------------------------------------------------------- TorchServe and JSON
def test_torchserve_requests_and_replies():
    p = TorchServeProtocol("rm2", version="2.0", payload_key="instances")
    assert p.ready_requests("http://h:8080")[0].url == "http://h:8080/ping"
    assert p.infer_request("http://h:8080", b"").url == "http://h:8080/predictions/rm2/2.0"
    assert json.loads(p.encode_inputs(np.ones((2, 1)))) == {"instances": [[1.0], [1.0]]}
    assert p.check_ready(resp({"status": "Healthy"})) is None
    assert "Unhealthy" in p.check_ready(resp({"status": "Unhealthy"}))
    assert p.parse_infer(resp({"predictions": [[0.5], [0.25]]}))["predictions"].shape == (2, 1)
    assert p.parse_infer(resp([1, 2, 3]))["predictions"].tolist() == [1, 2, 3]
    with pytest.raises(ProtocolError, match="rectangular"):
        p.parse_infer(resp([[1], [2, 3]]))
    with pytest.raises(ProtocolError, match="not valid JSON"):
        p.parse_infer(resp(b"nope"))
    assert p.metadata_request("http://h") is None


def test_json_protocol_defaults_and_custom_codecs():
    p = JSONProtocol()
    assert p.ready_requests("http://h") == ()
    assert p.infer_request("http://h/score", b"{}").url == "http://h/score"
    assert p.parse_infer(resp({"outputs": {"a": [1], "b": [2, 3]}}))["b"].tolist() == [2, 3]
    assert p.parse_infer(resp({"score": 0.5}))["score"].item() == 0.5
    custom = JSONProtocol("/predict", ready_path="/health", encode=lambda x: {"rows": np.asarray(x).tolist()},
                          decode=lambda doc: {"p": doc["result"]})
    assert custom.ready_requests("http://h")[0].url == "http://h/health"
    assert json.loads(custom.encode_inputs([[1.0]])) == {"rows": [[1.0]]}
    assert custom.parse_infer(resp({"result": [1]}))["p"].tolist() == [1]
    with pytest.raises(ProtocolError, match="could not decode.*KeyError"):
        custom.parse_infer(resp({"other": 1}))
    with pytest.raises(KairosError, match="could not encode"):
        JSONProtocol(encode=lambda x: {1j: 2}).encode_inputs([1])


def test_display_url_hides_credentials_and_query():
    assert display_url("https://user:secret@h.example:8443/p?token=abc#frag") == "https://h.example:8443/p"


# ---------------------------------------------------------------------- RetryPolicy
def test_retry_policy_schedule_is_capped_and_jittered():
    r = RetryPolicy(backoff_ms=10, max_backoff_ms=25, jitter=0.0, probe_ms=100, max_probe_ms=300)
    assert [r.backoff_delay_ms(a) for a in (1, 2, 3, 9)] == [10.0, 20.0, 25.0, 25.0]
    assert [r.probe_delay_ms(f) for f in (0, 1, 2, 50)] == [100.0, 200.0, 300.0, 300.0]
    import random

    j = RetryPolicy(backoff_ms=100, jitter=0.5)
    d = [j.backoff_delay_ms(1, random.Random(k)) for k in range(50)]
    assert min(d) >= 50 and max(d) <= 150 and len(set(d)) > 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"backoff_ms": -1}, "backoff_ms"),
        ({"jitter": 1.0}, "jitter"),
        ({"retry_on": {"connect", "teapot"}}, "teapot"),
    ],
)
def test_retry_policy_validates(kwargs, match):
    with pytest.raises(KairosError, match=match):
        RetryPolicy(**kwargs)


def test_retry_policy_accepts_a_single_kind_and_shows_it():
    r = RetryPolicy(retry_on="timeout")
    assert r.retry_on == frozenset({"timeout"})
    assert "timeout" in repr(r)
    assert RetryPolicy.none().max_attempts == 1
