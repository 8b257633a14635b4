"""KairosClient against a real MLServer (Open Inference Protocol) started by the test.

MLServer runs in a subprocess on free loopback ports with a tiny numpy runtime
(``y = 2 x + 1`` for an FP32 input ``x`` of shape ``[-1, 4]``, taking 2 ms per row). Skipped, with the reason,
when mlserver is not installed (``pip install -e ".[dev]"`` installs it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mlserver", reason="mlserver is not installed; pip install -e '.[dev]' installs it")

from kairos_sdk import Pool, Workload  # noqa: E402
from kairos_sdk.client import KairosClient, OpenInferenceProtocol, Timeouts, measure_profile  # noqa: E402
from kairos_sdk.distribute import FCFSPolicy  # noqa: E402
from kairos_sdk.errors import EndpointError  # noqa: E402

MODEL = "doubler"

#: the doubler sleeps this long per row, so a measured latency has a known floor
MS_PER_ROW = 2.0

RUNTIME = '''\
import asyncio

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse


class DoublerModel(MLModel):
    """y = 2*x + 1 for one FP32 input of shape [-1, 4], MS_PER_ROW ms per row."""

    async def load(self) -> bool:
        self.ready = True
        return self.ready

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        inp = payload.inputs[0]
        shape = list(inp.shape)
        if len(payload.inputs) != 1 or inp.datatype != "FP32" or len(shape) != 2 or shape[1] != 4:
            raise MLServerError(f"input '{inp.name}' must be FP32 [-1, 4], got {inp.datatype} {shape}", status_code=422)
        x = NumpyCodec.decode_input(inp)
        await asyncio.sleep(MS_PER_ROW / 1000.0 * x.shape[0])
        y = (x.astype(np.float32) * 2 + 1).astype(np.float32)
        return InferenceResponse(model_name=self.name, model_version=self.version, id=payload.id,
                                 outputs=[NumpyCodec.encode_output("y", y)])
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_repo(root: Path, http_port: int, grpc_port: int) -> Path:
    repo = root / "repo"
    (repo / MODEL).mkdir(parents=True)
    (repo / "settings.json").write_text(json.dumps({
        "debug": False, "host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port,
        "metrics_endpoint": None, "parallel_workers": 0,  # uvloop >= 0.22 breaks parallel workers
    }))
    (repo / MODEL / "model-settings.json").write_text(json.dumps({
        "name": MODEL, "implementation": "kairos_test_doubler.DoublerModel",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 4]}],
        "parameters": {"version": "v1"},
    }))
    (repo / MODEL / "kairos_test_doubler.py").write_text(RUNTIME.replace("MS_PER_ROW", repr(MS_PER_ROW)))
    return repo


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _ready(base: str) -> bool:
    for path in ("/v2/health/ready", f"/v2/models/{MODEL}/ready"):
        try:
            with urllib.request.urlopen(base + path, timeout=1) as r:
                if r.status != 200:
                    return False
        except (urllib.error.URLError, OSError):
            return False
    return True


@pytest.fixture(scope="module")
def mlserver_url(tmp_path_factory):
    """Base URL of a running MLServer serving the doubler model (stopped after the module)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSERVER_")}
    cmd = [sys.executable, "-c", "import sys; from mlserver.cli import main; sys.argv[0] = 'mlserver'; main()", "start"]
    last_log = ""
    for attempt in range(3):  # a raced free port makes mlserver exit early: retry on new ports
        root = tmp_path_factory.mktemp(f"mlserver{attempt}")
        http_port, grpc_port = _free_port(), _free_port()
        repo = _write_repo(root, http_port, grpc_port)
        log_path = root / "mlserver.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd + [str(repo)], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 90
        while proc.poll() is None and time.monotonic() < deadline and not _ready(base):
            time.sleep(0.1)
        if proc.poll() is None and _ready(base):
            try:
                yield base
            finally:
                _stop(proc)
            return
        _stop(proc)
        last_log = log_path.read_text(errors="replace")[-2000:]
    pytest.fail(f"MLServer did not become ready; last log:\n{last_log}")


def oip() -> OpenInferenceProtocol:
    return OpenInferenceProtocol(MODEL, input_name="x", feature_shape=(4,))


def pool_of(url: str, n: int = 1) -> Pool:
    return Pool.from_counts({"cpu.local": n}).with_endpoints([url] * n)


async def test_readiness_and_metadata(mlserver_url):
    async with KairosClient(pool_of(mlserver_url), protocol=oip(), timeout_s=Timeouts(wait_ready_s=10)) as c:
        assert await c.check_endpoints() == {"cpu.local-0": None}
        md = await c.metadata()
    assert md.name == MODEL
    assert [(t.name, t.datatype, t.shape) for t in md.inputs] == [("x", "FP32", (-1, 4))]
    assert md.outputs[0].name == "y"


async def test_infer_through_the_open_inference_protocol(mlserver_url):
    async with KairosClient(pool_of(mlserver_url), protocol=oip()) as c:
        x = np.arange(12, dtype=np.float32).reshape(3, 4)
        reply = await c.infer({"x": x})
        assert reply.attempts == 1 and reply.batch_size == 3 and reply.instance_id == "cpu.local-0"
        np.testing.assert_allclose(reply["y"], 2 * x + 1)
        assert reply["y"].dtype == np.float32
        versioned = OpenInferenceProtocol(MODEL, version="v1", input_name="x", feature_shape=(4,))
    async with KairosClient(pool_of(mlserver_url), protocol=versioned) as c:
        np.testing.assert_allclose((await c.infer(np.ones((2, 4)))).output, 3.0)


async def test_wrong_input_shape_is_a_clear_error(mlserver_url):
    async with KairosClient(pool_of(mlserver_url), protocol=oip()) as c:
        with pytest.raises(EndpointError) as info:
            await c.infer({"x": np.ones((1, 3), dtype=np.float32)})
        msg = str(info.value)
        assert "HTTP 422" in msg and "must be FP32 [-1, 4], got FP32 [1, 3]" in msg
        assert "after 1 attempt" in msg  # a 4xx is the request's fault: not retried
        assert c.available == {"cpu.local-0": True}


async def test_unknown_model_fails_readiness_with_the_servers_reason(mlserver_url):
    with pytest.raises(EndpointError, match="(?s)not ready.*GET /v2/models/nope/ready answered HTTP 404: Model nope not found"):
        async with KairosClient(pool_of(mlserver_url), protocol=OpenInferenceProtocol("nope")):
            pass


async def test_load_run_against_mlserver(mlserver_url):
    pool = pool_of(mlserver_url, 2)  # two "instances" sharing one server
    async with KairosClient(pool, protocol=oip(), policy=FCFSPolicy()) as c:
        res = await c.run(Workload.from_distribution({1: 1, 8: 2, 32: 1}), rate=200.0, n_queries=30, progress=False)
    assert res.n_queries == 30 and res.n_failed == 0 and res.source == "live"
    assert sum(res.counts_by_instance.values()) == 30


async def test_measure_profile_from_mlserver(mlserver_url):
    prof = await measure_profile({"cpu.local": mlserver_url}, [1, 16], repeats=3, protocol=oip(), progress=False)
    assert prof.instance_types == ("cpu.local",) and prof.model == MODEL
    assert prof.batch_sizes("cpu.local").tolist() == [1, 16]
    # the server sleeps 2 ms per row: no measurement is below that floor of its batch size
    assert float(prof.latency("cpu.local", 1, q=0.0)) >= 1 * MS_PER_ROW
    assert float(prof.latency("cpu.local", 16, q=0.0)) >= 16 * MS_PER_ROW
