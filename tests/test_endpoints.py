"""Replay endpoints: real aiohttp servers on 127.0.0.1 speaking the Open Inference Protocol."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time

import aiohttp
import numpy as np
import pytest

from kairos_sdk import Pool, Profile
from kairos_sdk.endpoints import Faults, ReplayEndpoint, ReplayPool, serve_forever, serve_pool
from kairos_sdk.errors import ArgumentError, ArgumentTypeError, KairosError

RM2 = Profile.builtin("rm2")


def infer_body(batch: int, features: int = 1) -> dict:
    return {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [batch, features],
                        "data": [1.0] * (batch * features)}]}


async def post(session, url, doc):
    async with session.post(url, json=doc) as r:
        return r.status, await r.read()


async def test_routes_of_the_open_inference_protocol():
    async with ReplayEndpoint(RM2, "g4dn.xlarge", model="rm2", time_scale=0.0) as ep, aiohttp.ClientSession() as s:
        base = ep.url
        for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/rm2/ready", "/v2/models/rm2/versions/1/ready"):
            async with s.get(base + path) as r:
                assert r.status == 200, path
        async with s.get(base + "/v2") as r:
            assert (await r.json())["name"] == "kairos-replay"
        async with s.get(base + "/v2/models/rm2") as r:
            md = await r.json()
        assert md["name"] == "rm2" and md["parameters"]["instance_type"] == "g4dn.xlarge"
        async with s.get(base + "/v2/models/other/ready") as r:
            assert r.status == 404 and "other" in (await r.json())["error"]
        status, body = await post(s, base + "/v2/models/rm2/infer", {**infer_body(3, 2), "id": "q1"})
        doc = json.loads(body)
        assert status == 200 and doc["id"] == "q1"
        out = doc["outputs"][0]
        assert out["shape"] == [3, 1] and out["datatype"] == "FP32" and out["data"] == [2.0, 2.0, 2.0]
        assert doc["parameters"]["service_ms"] > 0
        status, _ = await post(s, base + "/v2/models/other/infer", infer_body(1))
        assert status == 404


@pytest.mark.parametrize(
    "doc, match",
    [
        (b"{not json", "not valid JSON"),
        ({"inputs": []}, "non-empty 'inputs'"),
        ({"inputs": [{"name": "x", "shape": [0, 1], "data": []}]}, "batch size 0"),
        ({"inputs": [{"name": "x", "shape": [2, 2], "data": [1, 2, 3]}]}, "do not fill shape"),
        ({"inputs": [{"name": "x", "shape": "2", "data": [1, 2]}]}, "shape must be"),
        ({"inputs": [{"name": "x", "shape": [1], "data": ["a"]}]}, "hold numbers"),
    ],
)
async def test_bad_requests_get_400_with_a_reason(doc, match):
    async with ReplayEndpoint(RM2, "r5n.large", model="m", time_scale=0.0) as ep, aiohttp.ClientSession() as s:
        url = ep.url + "/v2/models/m/infer"
        if isinstance(doc, bytes):
            async with s.post(url, data=doc) as r:
                status, body = r.status, await r.json()
        else:
            status, raw = await post(s, url, doc)
            body = json.loads(raw)
        assert status == 400
        assert match in body["error"]


async def test_one_request_at_a_time_and_service_times_from_the_profile():
    async with ReplayEndpoint(RM2, "t3.xlarge", model="m", time_scale=0.02, seed=3) as ep, aiohttp.ClientSession() as s:
        url = ep.url + "/v2/models/m/infer"
        results = await asyncio.gather(*(post(s, url, infer_body(b)) for b in (10, 200, 500, 1000, 50, 300)))
        assert all(st == 200 for st, _ in results)
        assert ep.max_in_service == 1 and ep.n_served == 6
        for (_, body), b in zip(results, (10, 200, 500, 1000, 50, 300)):
            svc = json.loads(body)["parameters"]["service_ms"]
            lo, hi = RM2.latency("t3.xlarge", b, q=0.0), RM2.latency("t3.xlarge", b, q=1.0)
            assert lo - 1e-9 <= svc <= hi + 1e-9


async def test_workers_allow_parallel_service():
    async with ReplayEndpoint(RM2, "t3.xlarge", model="m", time_scale=0.02, workers=3) as ep, aiohttp.ClientSession() as s:
        url = ep.url + "/v2/models/m/infer"
        await asyncio.gather(*(post(s, url, infer_body(500)) for _ in range(6)))
        assert 1 < ep.max_in_service <= 3


async def test_seeded_service_times_are_reproducible():
    draws = []
    for _ in range(2):
        async with ReplayEndpoint(RM2, "c5n.2xlarge", model="m", time_scale=0.0, seed=42) as ep, aiohttp.ClientSession() as s:
            for b in (10, 100, 1000):
                await post(s, ep.url + "/v2/models/m/infer", infer_body(b))
            draws.append(list(ep.service_ms))
    assert draws[0] == draws[1]


async def test_injected_faults():
    async with ReplayEndpoint(RM2, "g4dn.xlarge", model="m", time_scale=0.0) as ep, aiohttp.ClientSession() as s:
        url = ep.url + "/v2/models/m/infer"
        ep.faults = Faults(status=503)
        status, body = await post(s, url, infer_body(2))
        assert status == 503 and b"injected" in body
        ep.faults = Faults(malformed=True)
        status, body = await post(s, url, infer_body(2))
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(body)
        ep.faults = Faults(ready_status=503)
        async with s.get(ep.url + "/v2/health/ready") as r:
            assert r.status == 503
        async with s.get(ep.url + "/v2/models/m/ready") as r:
            assert r.status == 503
        ep.faults = Faults(status=500, probability=0.5)
        statuses = [(await post(s, url, infer_body(1)))[0] for _ in range(40)]
        assert {200, 500} == set(statuses)
        ep.faults = Faults(extra_delay_ms=30.0)
        t = time.perf_counter()
        await post(s, url, infer_body(1))
        assert time.perf_counter() - t >= 0.03


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"status": 99}, ArgumentError),
        ({"ready_status": 600}, ArgumentError),
        ({"extra_delay_ms": -1.0}, ArgumentError),
        ({"probability": 2.0}, ArgumentError),
        ({"status": "500"}, ArgumentTypeError),
        ({"malformed": 1}, ArgumentTypeError),
        ({"extra_delay_ms": None}, ArgumentTypeError),
        ({"probability": "all"}, ArgumentTypeError),
    ],
)
def test_faults_validate(kwargs, error):
    (name, bad), = kwargs.items()
    with pytest.raises(error, match=rf"Faults.{name} must be .*{re.escape(repr(bad) if error is ArgumentError else '')}"):
        Faults(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"instance_type": "p3.2xlarge"}, "not in the profile"),
        ({"port": 70000}, "port"),
        ({"time_scale": -1}, "time_scale"),
        ({"workers": 0}, "workers"),
        ({"faults": {"status": 500}}, "Faults"),
    ],
)
def test_endpoint_arguments_validate(kwargs, match):
    args = {"instance_type": "g4dn.xlarge", **kwargs}
    with pytest.raises(KairosError, match=match):
        ReplayEndpoint(RM2, args.pop("instance_type"), **args)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"port": 70000}, ArgumentError, "port must be an integer in 0..65535 .*got 70000"),
        ({"time_scale": -1}, ArgumentError, "time_scale must be a non-negative number .*got -1"),
        ({"workers": 0}, ArgumentError, "workers must be a positive integer, got 0"),
        ({"model": ""}, ArgumentError, "model must be a non-empty string, got ''"),
        ({"instance_type": "p3.2xlarge"}, ValueError, "instance type 'p3.2xlarge' is not in the profile"),
        ({"port": "8080"}, ArgumentTypeError, "port must be an integer, got '8080'"),
        ({"time_scale": None}, ArgumentTypeError, "time_scale must be a number, got None"),
        ({"workers": 1.5}, ArgumentTypeError, "workers must be an integer, got 1.5"),
        ({"model": 3}, ArgumentTypeError, "model must be a str, got int"),
        ({"faults": {"status": 500}}, ArgumentTypeError, "faults must be a kairos_sdk.endpoints.Faults, got dict"),
        ({"profile": "rm2"}, ArgumentTypeError, "profile must be a kairos_sdk.Profile, got str"),
    ],
)
def test_endpoint_bad_arguments_are_value_or_type_errors(kwargs, error, match):
    args = {"profile": RM2, "instance_type": "g4dn.xlarge", **kwargs}
    with pytest.raises(error, match=match):
        ReplayEndpoint(args.pop("profile"), args.pop("instance_type"), **args)


def test_replay_pool_bad_arguments():
    pool = Pool.from_counts({"r5n.large": 2})
    with pytest.raises(ArgumentTypeError, match="pool must be a kairos_sdk.Pool, got dict"):
        ReplayPool({"r5n.large": 2}, RM2)
    with pytest.raises(ArgumentError, match="port must be an integer in 0..65534 .*room for 2 endpoints.*got 65535"):
        ReplayPool(pool, RM2, port=65535)
    with pytest.raises(ArgumentTypeError, match="faults must be a .*Mapping.*got list"):
        ReplayPool(pool, RM2, faults=[Faults(status=500)])
    with pytest.raises(ArgumentTypeError, match="pool must be a kairos_sdk.Pool or collections.abc.Mapping, got list"):
        serve_forever(["r5n.large"], RM2)


async def test_kill_resets_connections_and_restart_reuses_the_port():
    ep = ReplayEndpoint(RM2, "t3.xlarge", model="m", time_scale=1.0)
    await ep.start()
    port = ep.port
    async with aiohttp.ClientSession() as s:
        slow = asyncio.create_task(post(s, ep.url + "/v2/models/m/infer", infer_body(1000)))  # ~0.9 s
        await asyncio.sleep(0.05)
        await ep.kill()
        with pytest.raises(aiohttp.ClientError):
            await slow
        with pytest.raises(aiohttp.ClientConnectorError):
            await post(s, ep.url + "/v2/models/m/infer", infer_body(1))
        ep.time_scale = 0.0
        await ep.start()
        assert ep.port == port
        status, _ = await post(s, ep.url + "/v2/models/m/infer", infer_body(1))
        assert status == 200
    await ep.stop()
    assert not ep.running


async def test_listening_on_a_taken_port_is_a_clear_error():
    async with ReplayEndpoint(RM2, "t3.xlarge") as ep:
        with pytest.raises(KairosError, match="cannot listen"):
            await ReplayEndpoint(RM2, "t3.xlarge", port=ep.port).start()


async def test_serve_pool_fills_in_endpoints_and_stops_them():
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2})
    async with serve_pool(pool, RM2, model="rm2", time_scale=0.0) as live:
        assert [i.id for i in live] == [i.id for i in pool]
        assert len(set(live.endpoints)) == 3
        async with aiohttp.ClientSession() as s:
            for url in live.endpoints:
                async with s.get(url + "/v2/models/rm2/ready") as r:
                    assert r.status == 200
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientConnectorError):
            await s.get(live.endpoints[0] + "/v2/health/live")


async def test_replay_pool_faults_by_id_and_index_and_lookup():
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2})
    async with ReplayPool(pool, RM2, faults={"r5n.large-1": Faults(status=500), 0: Faults(malformed=True)}) as rp:
        assert rp["r5n.large-1"].faults.status == 500
        assert rp[0].faults.malformed and not rp[1].faults.any
        assert rp.pool.endpoints[2] == rp[2].url
        assert "3 running" in repr(rp)
    with pytest.raises(KairosError, match="unknown instance"):
        ReplayPool(pool, RM2, faults={"nope-0": Faults(status=500)})


def test_serve_forever_refuses_inside_a_running_loop():
    async def inner():
        serve_forever({"g4dn.xlarge": 1}, RM2)

    with pytest.raises(KairosError, match="serve_until_cancelled"):
        asyncio.run(inner())


@pytest.mark.slow
def test_serve_forever_runs_until_sigterm(tmp_path):
    pool_file = tmp_path / "pool.json"
    code = (
        "from kairos_sdk import Profile; from kairos_sdk.endpoints import serve_forever; "
        f"raise SystemExit(serve_forever({{'g4dn.xlarge': 1, 'r5n.large': 1}}, Profile.builtin('rm2'), model='rm2', "
        f"time_scale=0.0, pool_file={str(pool_file)!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (pool_file.exists() and pool_file.read_text().endswith("}\n")):
            assert proc.poll() is None, proc.stderr.read()
            assert time.time() < deadline, "serve_forever did not start"
            time.sleep(0.05)
        doc = json.loads(pool_file.read_text())
        urls = [i["endpoint"] for i in doc["instances"]]
        assert [i["id"] for i in doc["instances"]] == ["g4dn.xlarge-0", "r5n.large-0"]

        async def check():
            async with aiohttp.ClientSession() as s:
                for u in urls:
                    status, _ = await post(s, u + "/v2/models/rm2/infer", infer_body(3))
                    assert status == 200

        asyncio.run(check())
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    for u in urls:
        assert u in out


def test_replay_outputs_are_row_sums():
    """The replay 'model' is deterministic: output = sum of each input row."""
    async def main():
        async with ReplayEndpoint(RM2, "g4dn.xlarge", model="m", time_scale=0.0) as ep, aiohttp.ClientSession() as s:
            x = np.arange(12, dtype=float).reshape(4, 3)
            doc = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [4, 3], "data": x.ravel().tolist()}]}
            _, body = await post(s, ep.url + "/v2/models/m/infer", doc)
            return json.loads(body)["outputs"][0]["data"]

    assert asyncio.run(main()) == [3.0, 12.0, 21.0, 30.0]


if os.name == "nt":  # pragma: no cover
    pytestmark = pytest.mark.skip("replay endpoint tests use POSIX signals")


# ---------------------------------------------------------------------------- for trials on a LAN
async def test_a_token_is_required_when_set_and_never_echoed():
    from kairos_sdk.client import Auth, KairosClient, OpenInferenceProtocol

    async with ReplayEndpoint(RM2, "g4dn.xlarge", model="rm2", time_scale=0, token="lan-secret-42") as ep:
        async with aiohttp.ClientSession() as s:
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                async with s.post(f"{ep.url}/v2/models/rm2/infer", json=infer_body(2), headers=headers) as r:
                    assert r.status == 401
                    assert "lan-secret-42" not in await r.text()
                async with s.get(f"{ep.url}/v2/health/ready", headers=headers) as r:
                    assert r.status == 401
        pool = Pool.from_counts({"g4dn.xlarge": 1}).with_endpoints([ep.url])
        async with KairosClient(pool, protocol=OpenInferenceProtocol("rm2"), token=Auth(token="lan-secret-42")) as c:
            assert (await c.infer(batch_size=3)).output.shape == (3, 1)
    assert ep.n_served == 1


async def test_the_request_body_limit_is_sized_from_the_profile():
    ep = ReplayEndpoint(RM2, "g4dn.xlarge", model="rm2", time_scale=0)
    largest = max(int(RM2.batch_sizes(t)[-1]) for t in RM2.instance_types)
    assert ep.max_body_bytes < 64 * 1024**2
    assert ep.max_body_bytes >= 2 * largest * 1024  # a full largest batch of wide rows fits
    small = ReplayEndpoint(RM2, "g4dn.xlarge", model="rm2", time_scale=0, max_body_bytes=4096)
    async with small, aiohttp.ClientSession() as s:
        async with s.post(f"{small.url}/v2/models/rm2/infer", json=infer_body(2000)) as r:
            assert r.status == 413
        async with s.post(f"{small.url}/v2/models/rm2/infer", json=infer_body(10)) as r:
            assert r.status == 200


async def test_the_service_time_record_is_bounded():
    class Small(ReplayEndpoint):
        keep_service_ms = 5

    async with Small(RM2, "g4dn.xlarge", model="rm2", time_scale=0) as ep, \
            aiohttp.ClientSession() as s:
        for _ in range(12):
            async with s.post(f"{ep.url}/v2/models/rm2/infer", json=infer_body(4)) as r:
                assert r.status == 200
    assert ep.n_served == 12 and len(ep.service_ms) == 5


async def test_binding_to_every_interface_warns_and_gives_a_connectable_url():
    import socket

    with pytest.warns(UserWarning, match="reachable from other machines.*token="):
        async with ReplayEndpoint(RM2, "g4dn.xlarge", model="rm2", time_scale=0, host="0.0.0.0") as ep:
            assert ep.url == f"http://{socket.gethostname()}:{ep.port}"
            assert "0.0.0.0" not in ep.url


def test_a_token_must_be_a_plain_string():
    with pytest.raises(ArgumentError, match="token"):
        ReplayEndpoint(RM2, "g4dn.xlarge", token="has space")
    with pytest.raises(ArgumentTypeError, match="token"):
        ReplayEndpoint(RM2, "g4dn.xlarge", token=123)
