"""Secrets never reach a message, repr or log line; bad endpoint URLs are refused up front
with the instance named; failures say the right reason (TLS, readiness timeout)."""

from __future__ import annotations

import logging

import pytest

from kairos_sdk import Pool, Profile
from kairos_sdk.client import (
    Auth,
    KairosClient,
    OpenInferenceProtocol,
    QueryFailed,
    RetryPolicy,
    Timeouts,
)
from kairos_sdk.distribute import FCFSPolicy
from kairos_sdk.errors import ArgumentError, CatalogError, EndpointError, KairosError

from .fault_server import FaultServer, SilentServer, closed_port

RM2 = Profile.builtin("rm2")
OIP = OpenInferenceProtocol("rm2")
POOL1 = Pool.from_counts({"g4dn.xlarge": 1})
TOKEN = "tok-3f9a7c1e5b"
KEY = "key-8d2e4a6c0f"


def client(pool, **kw) -> KairosClient:
    kw.setdefault("timeout_s", Timeouts(request_s=2.0, unavailable_s=0.2))
    return KairosClient(pool, protocol=OIP, profile=RM2, policy=FCFSPolicy(), time_scale=0.05,
                        retry=RetryPolicy(backoff_ms=1, probe_ms=20, max_probe_ms=50, seed=0), **kw)


# ---------------------------------------------------------------------------- redaction
async def test_a_token_echoed_by_the_server_is_redacted_everywhere(caplog):
    caplog.set_level(logging.DEBUG, logger="kairos_sdk")
    server = FaultServer(mode="echo401")
    url = await server.start()
    try:
        c = client(POOL1.with_endpoints([url]), token=Auth(token=TOKEN, headers={"X-Api-Key": KEY}))
        async with c:
            res = await c.submit(batch_size=5)
            assert isinstance(res, QueryFailed) and res.kind == "client_error"
            with pytest.raises(EndpointError) as info:
                await c.infer(batch_size=5)
            text = " ".join([res.reason, repr(res), str(res.error), str(info.value), repr(c), c._repr_html_(),
                             repr(c.stats()), caplog.text])
        assert server.n_infer == 2  # the server did see (and echo) the credentials
        assert "bad credentials" in res.reason  # the server's message is kept...
        assert TOKEN not in text and KEY not in text  # ...without the secrets
        assert "<hidden>" in res.reason
    finally:
        await server.stop()


async def test_a_url_password_is_hidden_in_messages_to_dict_and_html():
    port = closed_port()
    pool = POOL1.with_endpoints([f"http://alice:pa55-w0rd-x@127.0.0.1:{port}"])
    assert "pa55-w0rd-x" not in repr(pool.to_dict()) + pool._repr_html_()
    assert pool.to_dict(show_secrets=True)["instances"][0]["endpoint"].startswith("http://alice:pa55-w0rd-x@")
    with pytest.raises(EndpointError) as info:
        async with client(pool):
            pass
    assert "pa55-w0rd-x" not in str(info.value)


# ---------------------------------------------------------------------------- URL validation
@pytest.mark.parametrize(
    "url, why",
    [
        ("http://127.0.0.1:99999", "port out of range"),
        ("http://127.0.0.1:abc", "port is not a number"),
        ("http://127.0.0.1:8000?key=s3cret", "query string"),
        ("http://127.0.0.1:8000/#frag", "query string or fragment"),
        ("http://:8000", "no host"),
        ("ftp://127.0.0.1:8000", "not an http:// or https:// URL"),
    ],
)
def test_bad_endpoint_urls_are_refused_naming_the_instance(url, why):
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 1})
    with pytest.raises(CatalogError, match=f"instance r5n.large-0: .*{why}") as info:
        pool.with_endpoints(["http://127.0.0.1:8000", url])
    assert "s3cret" not in str(info.value) or "?key=s3cret" in url and "query string" in str(info.value)


def test_a_token_and_a_url_password_together_are_refused():
    pool = POOL1.with_endpoints(["http://bob:pw-123456@127.0.0.1:8000"])
    with pytest.raises(ArgumentError, match="instance g4dn.xlarge-0: .*user:password.*token") as info:
        client(pool, token=TOKEN)
    assert "pw-123456" not in str(info.value)


def test_a_client_given_a_pool_with_a_bad_url_raises_a_kairos_error():
    from kairos_sdk.pool import Instance

    pool = Pool([Instance("g4dn.xlarge-0", "g4dn.xlarge", "http://127.0.0.1:99999")])  # built by hand
    with pytest.raises(KairosError, match="g4dn.xlarge-0.*port out of range"):
        client(pool)


# ---------------------------------------------------------------------------- reasons
async def test_the_readiness_timeout_names_its_own_setting():
    silent = SilentServer()
    url = await silent.start()
    try:
        with pytest.raises(EndpointError, match=r"no answer within 0.2 s \(Timeouts.ready_s\)"):
            async with client(POOL1.with_endpoints([url]), timeout_s=Timeouts(request_s=10, ready_s=0.2)):
                pass
    finally:
        await silent.stop()


async def test_an_inference_timeout_names_timeout_s():
    server = FaultServer(mode="slow", slow_s=5)
    url = await server.start()
    try:
        async with client(POOL1.with_endpoints([url]), timeout_s=Timeouts(request_s=0.2, unavailable_s=0.1),
                          ) as c:
            with pytest.raises(EndpointError, match=r"no answer within 0.2 s \(timeout_s\)"):
                await c.infer(batch_size=1)
    finally:
        await server.stop()
