"""Wire protocols: pure request builders and reply parsers (no I/O).

A protocol turns inputs into HTTP requests (:class:`HttpRequest`) and HTTP responses
(:class:`HttpResponse`) into output tensors; the client's transport does the HTTP. This
keeps every protocol testable without a network and lets one transport (one aiohttp
session with its limits, auth headers, TLS settings and timeouts) serve them all.

Three protocols ship:

* :class:`OpenInferenceProtocol` — the Open Inference Protocol (KServe V2 REST), spoken by
  MLServer, KServe, Triton and Seldon: server/model readiness, model metadata and
  ``POST /v2/models/{model}/infer`` with JSON tensors.
* :class:`TorchServeProtocol` — TorchServe's inference API (``/ping``,
  ``POST /predictions/{model}``).
* :class:`JSONProtocol` — POST a JSON body to a URL, for custom servers.

A malformed reply raises :class:`~kairos_sdk.errors.ProtocolError` naming the endpoint and
what was wrong.

Examples
--------
>>> import numpy as np
>>> from kairos_sdk.client import OpenInferenceProtocol
>>> oip = OpenInferenceProtocol("rm2", feature_shape=(2,))
>>> req = oip.infer_request("http://127.0.0.1:8080", oip.encode_inputs(np.ones((3, 2))))
>>> req.method, req.url
('POST', 'http://127.0.0.1:8080/v2/models/rm2/infer')
>>> from kairos_sdk.client.protocols import HttpResponse
>>> body = b'{"outputs": [{"name": "y", "datatype": "FP32", "shape": [3, 1], "data": [1, 2, 3]}]}'
>>> out = oip.parse_infer(HttpResponse(200, body, endpoint="demo"))
>>> out["y"].shape, out["y"].dtype
((3, 1), dtype('float32'))
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import numpy as np

from ..errors import KairosError, ProtocolError

try:  # the optional ``fast`` extra (pip install "kairos-sdk[fast]"): same documents, faster
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

__all__ = [
    "HttpRequest",
    "HttpResponse",
    "InferenceProtocol",
    "JSONProtocol",
    "ModelMetadata",
    "OpenInferenceProtocol",
    "TensorSpec",
    "TorchServeProtocol",
]

Inputs = Any  # numpy array, {name: array}, or protocol-specific
_JSON = "application/json"

# Open Inference Protocol datatypes <-> numpy dtypes
_V2_TO_NUMPY: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": object,
}
_NUMPY_TO_V2 = {np.dtype(v).str: k for k, v in _V2_TO_NUMPY.items() if v is not object}


# JSON with orjson when installed, else the standard library, and the same behaviour either
# way (tests/test_json_paths.py runs both): compact UTF-8 out, numpy arrays and scalars as plain
# lists and numbers, NaN and infinity refused both ways. Left alone: reading a number past
# float range (orjson refuses it, the standard library reads infinity) or an integer past 64
# bits (orjson reads a float).


def _jsonable(obj: Any) -> Any:
    """numpy arrays and scalars as Python lists and numbers: the only non-JSON types written."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _dumps(obj: Any) -> bytes:
    if _orjson is not None:
        try:
            out = _orjson.dumps(obj, default=_jsonable, option=_orjson.OPT_PASSTHROUGH_DATACLASS | _orjson.OPT_PASSTHROUGH_DATETIME)
        except TypeError:  # what orjson refuses (non-string keys, ints past 64 bits): the stdlib decides
            out = b"null"
        if b"null" not in out:
            return out
        # orjson writes NaN and infinity as null: a body with a null is the standard library's
        # to write, which refuses them.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_jsonable).encode()


def _loads(body: bytes) -> Any:
    if _orjson is not None:
        return _orjson.loads(body)
    return json.loads(body, parse_constant=_no_constant)


def _snippet(body: bytes, n: int = 120) -> str:
    text = body[:n].decode("utf-8", "replace")
    return repr(text + ("…" if len(body) > n else ""))


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request a protocol wants sent (the transport adds auth headers)."""

    method: str
    url: str
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, repr=False)
class HttpResponse:
    """What came back: status, raw body and a label of the endpoint for messages."""

    status: int
    body: bytes
    endpoint: str = "endpoint"
    headers: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"HttpResponse({self.status}, {len(self.body)} bytes from {self.endpoint})"


@dataclass(frozen=True)
class TensorSpec:
    """Name, datatype and shape (``-1`` = any) of one model input or output."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelMetadata:
    """Model metadata as an endpoint reports it."""

    name: str
    versions: tuple[str, ...] = ()
    platform: str = ""
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class InferenceProtocol(ABC):
    """Base class of the wire protocols. Subclasses build requests and parse replies only."""

    name: str = "protocol"
    model: str | None = None

    # ------------------------------------------------------------------ readiness
    def ready_requests(self, base_url: str) -> tuple[HttpRequest, ...]:
        """Requests whose answers tell whether the endpoint can serve (empty: assume ready)."""
        return ()

    def check_ready(self, resp: HttpResponse) -> str | None:
        """``None`` when ``resp`` (to one of :meth:`ready_requests`) says ready, else why not."""
        if resp.status == 200:
            return None
        return f"HTTP {resp.status}{_error_suffix(resp.body)}"

    # ------------------------------------------------------------------ metadata
    def metadata_request(self, base_url: str) -> HttpRequest | None:
        """The metadata request, or ``None`` when the protocol has none."""
        return None

    def parse_metadata(self, resp: HttpResponse) -> ModelMetadata:
        raise ProtocolError(f"{self.name} has no model metadata call", endpoint=resp.endpoint)

    # ------------------------------------------------------------------ inference
    @abstractmethod
    def encode_inputs(self, inputs: Inputs) -> bytes:
        """The request body for ``inputs`` (the same for every endpoint)."""

    @abstractmethod
    def infer_request(self, base_url: str, body: bytes) -> HttpRequest:
        """The inference request to ``base_url`` carrying an encoded body."""

    @abstractmethod
    def parse_infer(self, resp: HttpResponse) -> dict[str, np.ndarray]:
        """Output tensors from a successful (2xx) reply; raises ProtocolError when malformed."""

    def error_detail(self, body: bytes) -> str:
        """The server's own error message from an error reply, if it has one."""
        return _error_text(body)

    @abstractmethod
    def synthetic_inputs(self, batch_size: int) -> Inputs:
        """Inputs of the right shape for ``batch_size`` (for load tests and profiling)."""

    def batch_size(self, inputs: Inputs) -> int:
        """The batch size of ``inputs`` (first dimension of the first tensor)."""
        if isinstance(inputs, Mapping):
            if not inputs:
                raise KairosError("inputs is an empty mapping; give at least one tensor")
            first = next(iter(inputs.values()))
        else:
            first = inputs
        shape = np.shape(first)
        if not shape:
            raise KairosError("inputs must have a batch dimension (got a scalar); pass batch_size= explicitly")
        return int(shape[0])


def _error_text(body: bytes) -> str:
    try:
        doc = _loads(body)
    except Exception:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(doc, Mapping):
        for key in ("error", "message", "detail"):
            if key in doc:
                v = doc[key]
                return v if isinstance(v, str) else json.dumps(v)[:300]
    return json.dumps(doc)[:200]


def _error_suffix(body: bytes) -> str:
    text = _error_text(body) if body else ""
    return f": {text}" if text else ""


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or value.strip() != value:
        raise KairosError(f"{what} must be a non-empty string without surrounding spaces, got {value!r}")
    return value


def _as_tensor_dict(inputs: Inputs, default_name: str) -> dict[str, np.ndarray]:
    if isinstance(inputs, Mapping):
        if not inputs:
            raise KairosError("inputs is an empty mapping; give at least one tensor")
        items = inputs.items()
    else:
        items = [(default_name, inputs)]
    out: dict[str, np.ndarray] = {}
    for name, value in items:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise KairosError(f"input {name!r} is not array-like: {exc}") from None
        if arr.dtype.kind in "fc" and arr.size and not np.all(np.isfinite(arr)):
            raise KairosError(f"input {name!r} holds NaN or infinity, which JSON cannot carry; clean it first")
        out[str(name)] = arr
    return out


def _v2_datatype(name: str, arr: np.ndarray, forced: str | None) -> tuple[str, np.ndarray]:
    if arr.dtype.kind in "USO":
        return "BYTES", arr
    if forced is not None:
        return forced, arr.astype(_V2_TO_NUMPY[forced], copy=False)
    dt = _NUMPY_TO_V2.get(arr.dtype.str.replace(">", "<").replace("=", "<"))
    if dt is None:
        raise KairosError(f"input {name!r} has dtype {arr.dtype}, which the Open Inference Protocol cannot carry")
    return dt, arr


class OpenInferenceProtocol(InferenceProtocol):
    """Open Inference Protocol / KServe V2 REST with JSON tensors.

    Parameters
    ----------
    model : the model name on the server.
    version : optional model version (``/versions/{version}`` is added to the paths).
    input_name : name given to a bare array passed as inputs.
    datatype : V2 datatype inputs are cast to (``"FP32"``); ``None`` keeps their dtype.
    feature_shape : per-row shape of synthetic inputs (``(1,)``: one feature per row).

    Examples
    --------
    >>> from kairos_sdk.client import OpenInferenceProtocol
    >>> p = OpenInferenceProtocol("doubler", version="v1", input_name="x", feature_shape=(4,))
    >>> [r.url for r in p.ready_requests("http://h:1")]
    ['http://h:1/v2/health/ready', 'http://h:1/v2/models/doubler/versions/v1/ready']
    >>> p.synthetic_inputs(2)["x"].shape
    (2, 4)
    """

    name = "open-inference"

    def __init__(
        self,
        model: str,
        *,
        version: str | None = None,
        input_name: str = "input-0",
        datatype: str | None = "FP32",
        feature_shape: Sequence[int] = (1,),
    ) -> None:
        self.model = _check_name(model, "model")
        self.version = None if version is None else _check_name(version, "version")
        self.input_name = _check_name(input_name, "input_name")
        if datatype is not None and datatype not in _V2_TO_NUMPY:
            raise KairosError(f"datatype must be one of {', '.join(_V2_TO_NUMPY)} or None, got {datatype!r}")
        self.datatype = datatype
        try:
            fs = tuple(int(d) for d in feature_shape)
        except (TypeError, ValueError):
            raise KairosError(f"feature_shape must be a tuple of positive ints, got {feature_shape!r}") from None
        if any(d < 1 for d in fs):
            raise KairosError(f"feature_shape must be a tuple of positive ints, got {feature_shape!r}")
        self.feature_shape = fs
        m = quote(self.model, safe="")
        self._model_path = f"/v2/models/{m}" + (f"/versions/{quote(self.version, safe='')}" if self.version else "")

    def ready_requests(self, base_url: str) -> tuple[HttpRequest, ...]:
        base = base_url.rstrip("/")
        return (HttpRequest("GET", base + "/v2/health/ready"), HttpRequest("GET", base + self._model_path + "/ready"))

    def metadata_request(self, base_url: str) -> HttpRequest:
        return HttpRequest("GET", base_url.rstrip("/") + self._model_path)

    def parse_metadata(self, resp: HttpResponse) -> ModelMetadata:
        doc = self._json_object(resp, "metadata")
        name = doc.get("name")
        if not isinstance(name, str):
            raise ProtocolError(f"{resp.endpoint}: metadata reply has no string 'name'", endpoint=resp.endpoint)

        def specs(key: str) -> tuple[TensorSpec, ...]:
            raw = doc.get(key, [])
            if not isinstance(raw, list):
                raise ProtocolError(f"{resp.endpoint}: metadata '{key}' must be a list", endpoint=resp.endpoint)
            out = []
            for k, t in enumerate(raw):
                try:
                    out.append(TensorSpec(str(t["name"]), str(t["datatype"]), tuple(int(d) for d in t["shape"])))
                except (KeyError, TypeError, ValueError):
                    raise ProtocolError(
                        f"{resp.endpoint}: metadata {key}[{k}] needs name, datatype and an integer shape",
                        endpoint=resp.endpoint,
                    ) from None
            return tuple(out)

        versions = doc.get("versions") or []
        return ModelMetadata(
            name=name,
            versions=tuple(str(v) for v in versions) if isinstance(versions, list) else (),
            platform=str(doc.get("platform", "")),
            inputs=specs("inputs"),
            outputs=specs("outputs"),
            raw=doc,
        )

    def encode_inputs(self, inputs: Inputs) -> bytes:
        tensors = []
        for name, arr in _as_tensor_dict(inputs, self.input_name).items():
            if arr.ndim == 0:
                raise KairosError(f"input {name!r} is a scalar; the Open Inference Protocol needs a batch dimension")
            dt, arr = _v2_datatype(name, arr, None if arr.dtype.kind in "USO" else self.datatype)
            data = arr.ravel().tolist()
            if dt == "BYTES":
                data = [x.decode() if isinstance(x, bytes) else str(x) for x in data]
            tensors.append({"name": name, "shape": list(arr.shape), "datatype": dt, "data": data})
        return _dumps({"inputs": tensors})

    def infer_request(self, base_url: str, body: bytes) -> HttpRequest:
        return HttpRequest("POST", base_url.rstrip("/") + self._model_path + "/infer", body, {"Content-Type": _JSON})

    def parse_infer(self, resp: HttpResponse) -> dict[str, np.ndarray]:
        doc = self._json_object(resp, "inference")
        outputs = doc.get("outputs")
        if not isinstance(outputs, list) or not outputs:
            raise ProtocolError(f"{resp.endpoint}: inference reply has no 'outputs' list", endpoint=resp.endpoint)
        out: dict[str, np.ndarray] = {}
        for k, t in enumerate(outputs):
            where = f"{resp.endpoint}: output {k}"
            if not isinstance(t, Mapping):
                raise ProtocolError(f"{where} is not an object", endpoint=resp.endpoint)
            name, dt, shape, data = t.get("name"), t.get("datatype"), t.get("shape"), t.get("data")
            if not isinstance(name, str):
                raise ProtocolError(f"{where} has no string 'name'", endpoint=resp.endpoint)
            where = f"{resp.endpoint}: output {name!r}"
            if dt not in _V2_TO_NUMPY:
                raise ProtocolError(f"{where} has unknown datatype {dt!r}", endpoint=resp.endpoint)
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ProtocolError(f"{where} has no valid 'shape' (got {shape!r})", endpoint=resp.endpoint)
            if data is None:
                params = t.get("parameters") or {}
                hint = " (binary tensor data is not supported; ask for JSON data)" if "binary_data_size" in params else ""
                raise ProtocolError(f"{where} has no 'data'{hint}", endpoint=resp.endpoint)
            try:
                arr = np.array(data, dtype=_V2_TO_NUMPY[dt])
            except (TypeError, ValueError, OverflowError) as exc:
                raise ProtocolError(f"{where}: data does not fit datatype {dt} ({exc})", endpoint=resp.endpoint) from None
            if arr.size != math.prod(shape):
                raise ProtocolError(
                    f"{where}: {arr.size} values do not fill shape {shape}", endpoint=resp.endpoint
                )
            out[name] = arr.reshape(shape)
        return out

    def synthetic_inputs(self, batch_size: int) -> dict[str, np.ndarray]:
        dtype = _V2_TO_NUMPY[self.datatype] if self.datatype not in (None, "BYTES") else np.float32
        return {self.input_name: np.ones((int(batch_size), *self.feature_shape), dtype=dtype)}

    def _json_object(self, resp: HttpResponse, what: str) -> dict[str, Any]:
        try:
            doc = _loads(resp.body)
        except Exception:
            raise ProtocolError(
                f"{resp.endpoint}: {what} reply is not valid JSON (starts {_snippet(resp.body)})", endpoint=resp.endpoint
            ) from None
        if not isinstance(doc, dict):
            raise ProtocolError(f"{resp.endpoint}: {what} reply must be a JSON object, got {type(doc).__name__}", endpoint=resp.endpoint)
        return doc

    def __repr__(self) -> str:
        v = f", version={self.version!r}" if self.version else ""
        return f"OpenInferenceProtocol(model={self.model!r}{v}, input_name={self.input_name!r}, datatype={self.datatype!r}, feature_shape={self.feature_shape})"


class TorchServeProtocol(InferenceProtocol):
    """TorchServe's inference API: ``GET /ping`` and ``POST /predictions/{model}[/{version}]``.

    The body is the input tensor as a JSON nested list, or ``{payload_key: [...]}`` when
    ``payload_key`` is given (``"instances"`` for KServe-v1-style handlers). The reply's JSON
    becomes the output ``"predictions"`` (its ``"predictions"`` member when it has one).

    Examples
    --------
    >>> from kairos_sdk.client import TorchServeProtocol
    >>> p = TorchServeProtocol("rm2")
    >>> p.infer_request("http://h:8080", b"[]").url
    'http://h:8080/predictions/rm2'
    """

    name = "torchserve"

    def __init__(self, model: str, *, version: str | None = None, payload_key: str | None = None, feature_shape: Sequence[int] = (1,)) -> None:
        self.model = _check_name(model, "model")
        self.version = None if version is None else _check_name(version, "version")
        self.payload_key = payload_key
        self.feature_shape = tuple(int(d) for d in feature_shape)
        self._path = f"/predictions/{quote(self.model, safe='')}" + (f"/{quote(self.version, safe='')}" if self.version else "")

    def ready_requests(self, base_url: str) -> tuple[HttpRequest, ...]:
        return (HttpRequest("GET", base_url.rstrip("/") + "/ping"),)

    def check_ready(self, resp: HttpResponse) -> str | None:
        if resp.status != 200:
            return f"HTTP {resp.status}{_error_suffix(resp.body)}"
        try:
            status = _loads(resp.body).get("status")
        except Exception:
            return f"/ping reply is not JSON (starts {_snippet(resp.body)})"
        return None if status == "Healthy" else f"/ping says status {status!r}"

    def encode_inputs(self, inputs: Inputs) -> bytes:
        tensors = _as_tensor_dict(inputs, "data")
        if len(tensors) != 1:
            raise KairosError("TorchServeProtocol sends one tensor; pass a single array")
        data = next(iter(tensors.values())).tolist()
        return _dumps({self.payload_key: data} if self.payload_key else data)

    def infer_request(self, base_url: str, body: bytes) -> HttpRequest:
        return HttpRequest("POST", base_url.rstrip("/") + self._path, body, {"Content-Type": _JSON})

    def parse_infer(self, resp: HttpResponse) -> dict[str, np.ndarray]:
        try:
            doc = _loads(resp.body)
        except Exception:
            raise ProtocolError(f"{resp.endpoint}: prediction reply is not valid JSON (starts {_snippet(resp.body)})", endpoint=resp.endpoint) from None
        if isinstance(doc, dict) and "predictions" in doc:
            doc = doc["predictions"]
        try:
            arr = np.asarray(doc)
        except (TypeError, ValueError):
            arr = np.empty(0, dtype=object)
        if arr.dtype == object:
            raise ProtocolError(f"{resp.endpoint}: prediction reply is not a rectangular numeric array", endpoint=resp.endpoint)
        return {"predictions": arr}

    def synthetic_inputs(self, batch_size: int) -> np.ndarray:
        return np.ones((int(batch_size), *self.feature_shape), dtype=np.float32)

    def __repr__(self) -> str:
        v = f", version={self.version!r}" if self.version else ""
        return f"TorchServeProtocol(model={self.model!r}{v})"


class JSONProtocol(InferenceProtocol):
    """POST a JSON body to each endpoint's URL, for custom servers.

    Parameters
    ----------
    path : appended to each endpoint URL (``""``: the endpoint URL is the full URL).
    ready_path : a GET path answering 200 when ready; ``None`` skips readiness checks.
    encode : ``inputs -> JSON-able object``; default ``{"inputs": <nested list>}``.
    decode : ``JSON object -> {name: array}``; default: ``reply["outputs"]`` when present
        (a list becomes ``{"outputs": array}``, a dict one array per key), else the whole reply.
    feature_shape : per-row shape of synthetic inputs.

    Examples
    --------
    >>> from kairos_sdk.client import JSONProtocol
    >>> from kairos_sdk.client.protocols import HttpResponse
    >>> p = JSONProtocol(path="/predict")
    >>> p.encode_inputs([[1.0], [2.0]])
    b'{"inputs":[[1.0],[2.0]]}'
    >>> p.parse_infer(HttpResponse(200, b'{"outputs": [3, 4]}'))["outputs"].tolist()
    [3, 4]
    """

    name = "json"

    def __init__(
        self,
        path: str = "",
        *,
        ready_path: str | None = None,
        encode: Callable[[Inputs], Any] | None = None,
        decode: Callable[[Any], Mapping[str, Any]] | None = None,
        feature_shape: Sequence[int] = (1,),
        model: str | None = None,
    ) -> None:
        self.path = path
        self.ready_path = ready_path
        self._encode = encode
        self._decode = decode
        self.feature_shape = tuple(int(d) for d in feature_shape)
        self.model = model

    def ready_requests(self, base_url: str) -> tuple[HttpRequest, ...]:
        if self.ready_path is None:
            return ()
        return (HttpRequest("GET", base_url.rstrip("/") + self.ready_path),)

    def encode_inputs(self, inputs: Inputs) -> bytes:
        if self._encode is not None:
            obj = self._encode(inputs)
        else:
            tensors = _as_tensor_dict(inputs, "inputs")
            obj = {k: v.tolist() for k, v in tensors.items()}
        try:
            return _dumps(obj)
        except (TypeError, ValueError) as exc:
            raise KairosError(f"JSONProtocol could not encode the inputs as JSON: {exc}") from None

    def infer_request(self, base_url: str, body: bytes) -> HttpRequest:
        url = base_url.rstrip("/") + self.path if self.path else base_url
        return HttpRequest("POST", url, body, {"Content-Type": _JSON})

    def parse_infer(self, resp: HttpResponse) -> dict[str, np.ndarray]:
        try:
            doc = _loads(resp.body)
        except Exception:
            raise ProtocolError(f"{resp.endpoint}: reply is not valid JSON (starts {_snippet(resp.body)})", endpoint=resp.endpoint) from None
        try:
            if self._decode is not None:
                raw = self._decode(doc)
            elif isinstance(doc, dict) and "outputs" in doc:
                raw = doc["outputs"] if isinstance(doc["outputs"], dict) else {"outputs": doc["outputs"]}
            else:
                raw = doc if isinstance(doc, dict) else {"outputs": doc}
            return {str(k): np.asarray(v) for k, v in raw.items()}
        except Exception as exc:
            raise ProtocolError(f"{resp.endpoint}: could not decode the reply ({type(exc).__name__}: {exc})", endpoint=resp.endpoint) from None

    def synthetic_inputs(self, batch_size: int) -> np.ndarray:
        return np.ones((int(batch_size), *self.feature_shape), dtype=np.float32)

    def __repr__(self) -> str:
        return f"JSONProtocol(path={self.path!r}, ready_path={self.ready_path!r})"
