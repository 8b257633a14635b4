"""The protocols' two JSON paths — orjson (the ``fast`` extra) and the standard library — give the
same requests and read replies the same way, so installing orjson changes speed, not behaviour.

Each test runs the protocol code once per path (``protocols._orjson`` is the module's switch)
and compares the two; expected documents are written out here or checked with the standard
library's own ``json.loads``, never with the code under test.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos_sdk.client import JSONProtocol, OpenInferenceProtocol, TorchServeProtocol, protocols
from kairos_sdk.client.protocols import HttpResponse
from kairos_sdk.errors import KairosError, ProtocolError

orjson = pytest.importorskip("orjson", reason="orjson is in the dev extra; both paths need it installed")


def on_both_paths(fn):
    """``fn()`` run with orjson and with the standard library: ``(result, result)`` or the two
    exceptions raised, as ``(type, message-independent)`` pairs."""
    out = []
    for switch in (orjson, None):
        saved = protocols._orjson
        protocols._orjson = switch
        try:
            out.append(("ok", fn()))
        except Exception as exc:  # compared below: both paths must fail alike
            out.append(("raised", type(exc)))
        finally:
            protocols._orjson = saved
    return out


def reply(body: bytes) -> HttpResponse:
    return HttpResponse(200, body, endpoint="ep")


def test_the_switch_chooses_the_path(monkeypatch):
    """Every test here flips ``protocols._orjson``; it must be what the protocols call."""
    calls = []
    spy = SimpleNamespace(
        dumps=lambda *a, **k: calls.append("dumps") or orjson.dumps(*a, **k),
        loads=lambda *a: calls.append("loads") or orjson.loads(*a),
        OPT_PASSTHROUGH_DATACLASS=orjson.OPT_PASSTHROUGH_DATACLASS,
        OPT_PASSTHROUGH_DATETIME=orjson.OPT_PASSTHROUGH_DATETIME,
    )
    monkeypatch.setattr(protocols, "_orjson", spy)
    p = JSONProtocol()
    assert p.parse_infer(reply(p.encode_inputs([1.0])))["inputs"].tolist() == [1.0]
    assert calls == ["dumps", "loads"]
    monkeypatch.setattr(protocols, "_orjson", None)
    assert p.parse_infer(reply(p.encode_inputs([1.0])))["inputs"].tolist() == [1.0]
    assert calls == ["dumps", "loads"]


CASES = {
    "float32 tensor": lambda: OpenInferenceProtocol("m").encode_inputs(np.array([[0.1, 2.5], [-3.0, 1e6]], dtype=np.float32)),
    "int64 extremes": lambda: OpenInferenceProtocol("m", datatype=None).encode_inputs(
        np.array([-(2**63), 0, 2**63 - 1], dtype=np.int64)),
    "uint64 max": lambda: OpenInferenceProtocol("m", datatype=None).encode_inputs(np.array([2**64 - 1], dtype=np.uint64)),
    "bool": lambda: OpenInferenceProtocol("m", datatype=None).encode_inputs(np.array([True, False])),
    "non-ASCII strings and names": lambda: OpenInferenceProtocol("m", datatype=None).encode_inputs(
        {"température": np.array(["café", "東京", "😀"])}),
    "torchserve": lambda: TorchServeProtocol("m", payload_key="instances").encode_inputs(np.arange(4.0).reshape(2, 2)),
    "json default": lambda: JSONProtocol().encode_inputs(np.array([[1.5], [-2.25]])),
    "numpy in a custom encoder": lambda: JSONProtocol(encode=lambda x: {
        "x": np.asarray(x, dtype=np.float64), "n": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True),
        "ü": "naïve"}).encode_inputs([[1.0, 2.0]]),
    "null and non-string keys": lambda: JSONProtocol(encode=lambda x: {1: None, "k": [True, None]}).encode_inputs(0),
    "integer past 64 bits": lambda: JSONProtocol(encode=lambda x: {"big": 2**70}).encode_inputs(0),
}
EXPECTED = {
    "float32 tensor": {"inputs": [{"name": "input-0", "shape": [2, 2], "datatype": "FP32",
                                   "data": [float(np.float32(0.1)), 2.5, -3.0, 1e6]}]},
    "int64 extremes": {"inputs": [{"name": "input-0", "shape": [3], "datatype": "INT64", "data": [-(2**63), 0, 2**63 - 1]}]},
    "uint64 max": {"inputs": [{"name": "input-0", "shape": [1], "datatype": "UINT64", "data": [2**64 - 1]}]},
    "bool": {"inputs": [{"name": "input-0", "shape": [2], "datatype": "BOOL", "data": [True, False]}]},
    "non-ASCII strings and names": {"inputs": [{"name": "température", "shape": [3], "datatype": "BYTES",
                                                "data": ["café", "東京", "😀"]}]},
    "torchserve": {"instances": [[0.0, 1.0], [2.0, 3.0]]},
    "json default": {"inputs": [[1.5], [-2.25]]},
    "numpy in a custom encoder": {"x": [[1.0, 2.0]], "n": 3, "f": 0.5, "b": True, "ü": "naïve"},
    "null and non-string keys": {"1": None, "k": [True, None]},
    "integer past 64 bits": {"big": 2**70},
}


@pytest.mark.parametrize("case", list(CASES))
def test_both_paths_write_the_same_bytes(case):
    (k1, fast), (k2, std) = on_both_paths(CASES[case])
    assert (k1, k2) == ("ok", "ok")
    assert fast == std
    assert json.loads(fast) == EXPECTED[case]
    assert b"\\u" not in fast  # non-ASCII goes out as UTF-8, not escaped, on both paths
    fast.decode("utf-8")


def test_floats_round_trip_exactly_on_both_paths():
    values = [0.1, 1e-7, 1e16, 5e-324, 1.7976931348623157e308, -0.0, 123456789.123456789]
    (_, fast), (_, std) = on_both_paths(lambda: JSONProtocol().encode_inputs(np.array(values)))
    # orjson writes 1e-7 where Python writes 1e-07: same number, so compare documents here.
    for body in (fast, std):
        got = json.loads(body)["inputs"]
        assert got == values and [str(v) for v in got] == [str(v) for v in values]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: TorchServeProtocol("m").encode_inputs(np.array([1.0, np.nan])), id="torchserve NaN"),
        pytest.param(lambda: TorchServeProtocol("m").encode_inputs(np.array([np.inf])), id="torchserve inf"),
        pytest.param(lambda: JSONProtocol().encode_inputs(np.array([-np.inf, 1.0])), id="json -inf"),
        pytest.param(lambda: JSONProtocol(encode=lambda x: {"v": float("nan")}).encode_inputs(0), id="custom NaN"),
        pytest.param(lambda: JSONProtocol(encode=lambda x: {"v": np.array([np.nan])}).encode_inputs(0), id="custom numpy NaN"),
        pytest.param(lambda: OpenInferenceProtocol("m").encode_inputs(np.array([np.nan])), id="oip NaN"),
        pytest.param(lambda: JSONProtocol(encode=lambda x: {"v": {1, 2}}).encode_inputs(0), id="a set"),
    ],
)
def test_both_paths_refuse_what_json_cannot_carry(make):
    """NaN and infinity are not JSON: orjson alone would write null and send a different query."""
    (k1, e1), (k2, e2) = on_both_paths(make)
    assert (k1, k2) == ("raised", "raised")
    assert e1 is e2
    assert issubclass(e1, (KairosError, ValueError, TypeError))


@pytest.mark.parametrize(
    "body",
    [
        b'{"outputs": [{"name": "y", "datatype": "FP64", "shape": [2], "data": [NaN, 1.0]}]}',
        b'{"outputs": [{"name": "y", "datatype": "FP64", "shape": [1], "data": [Infinity]}]}',
        b'{"outputs": [{"name": "y", "datatype": "FP64", "shape": [1], "data": [-Infinity]}]}',
        b'{"outputs": [{"name": "y", "datatype": "FP32", "shape": [1], "data": [1.0]}',
        b'{"outputs": [{"name": "\xff", "datatype": "FP32", "shape": [1], "data": [1.0]}]}',
    ],
    ids=["NaN", "Infinity", "-Infinity", "truncated", "invalid UTF-8"],
)
def test_both_paths_refuse_replies_that_are_not_json(body):
    (k1, e1), (k2, e2) = on_both_paths(lambda: OpenInferenceProtocol("m").parse_infer(reply(body)))
    assert (k1, e1) == (k2, e2) == ("raised", ProtocolError)


def test_both_paths_read_replies_alike():
    body = ('{"outputs": [{"name": "température", "datatype": "FP32", "shape": [2, 2], "data": [0.1, 2, -3.5, null]},'
            ' {"name": "\\u6771\\u4eac", "datatype": "INT64", "shape": [2], "data": [-9223372036854775808, 9223372036854775807]},'
            ' {"name": "ok", "datatype": "BOOL", "shape": [1], "data": [true]},'
            ' {"name": "s", "datatype": "BYTES", "shape": [1], "data": ["😀"]}]}').encode()
    (_, fast), (_, std) = on_both_paths(lambda: OpenInferenceProtocol("m").parse_infer(reply(body)))
    assert list(fast) == list(std) == ["température", "東京", "ok", "s"]
    for name in fast:
        assert fast[name].dtype == std[name].dtype and fast[name].shape == std[name].shape
        np.testing.assert_array_equal(fast[name], std[name])
    np.testing.assert_array_equal(fast["température"], np.array([[0.1, 2], [-3.5, np.nan]], dtype=np.float32))
    assert fast["東京"].tolist() == [-(2**63), 2**63 - 1] and fast["s"].tolist() == ["😀"]
    ts = b'{"predictions": [[1.5, -2], [0, 3e-5]]}'
    (_, a), (_, b) = on_both_paths(lambda: TorchServeProtocol("m").parse_infer(reply(ts)))
    np.testing.assert_array_equal(a["predictions"], b["predictions"])
    assert a["predictions"].tolist() == [[1.5, -2.0], [0.0, 3e-5]]


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                              st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=20),
    text=st.text(max_size=8),
)
def test_any_finite_document_is_written_and_read_back_the_same_on_both_paths(values, text):
    enc = JSONProtocol(encode=lambda x: {"values": values, text: text})
    (k1, fast), (k2, std) = on_both_paths(lambda: enc.encode_inputs(0))
    assert (k1, k2) == ("ok", "ok")
    expected = {"values": values, text: text}
    assert json.loads(fast) == json.loads(std) == expected
    (_, back_fast), (_, back_std) = on_both_paths(lambda: JSONProtocol(decode=lambda d: {"v": d["values"]}).parse_infer(reply(fast)))
    np.testing.assert_array_equal(back_fast["v"], back_std["v"])
    assert back_fast["v"].dtype == back_std["v"].dtype
