"""Replay endpoints: aiohttp servers that answer like real single-worker inference servers,
taking each query's service time from a :class:`~kairos_sdk.Profile`.

A :class:`ReplayEndpoint` speaks the subset of the Open Inference Protocol (KServe V2 REST)
the client uses — ``/v2/health/live``, ``/v2/health/ready``, ``/v2``,
``/v2/models/{model}[/versions/{v}]``, ``.../ready`` and ``.../infer`` — and serves one
request at a time (``workers=1``): a request that arrives while another is being served
waits, as on a single-worker server. Each request sleeps for a service time drawn (seeded)
from the profile of its instance type at the request's batch size (the first dimension of
its first input) and answers a FP32 tensor ``[batch, 1]`` holding each row's sum.

Faults can be injected for tests (:class:`Faults`: HTTP errors, malformed JSON, extra
delay, failing readiness), and :meth:`ReplayEndpoint.kill` drops the server abruptly, as a
crashed machine would.

:func:`serve_pool` starts one endpoint per instance of a pool on free loopback ports and
yields the pool with its endpoint URLs filled in; :class:`ReplayPool` does the same and
also gives access to the endpoint objects. :func:`serve_forever` runs them until
interrupted (the ``kairos serve-replay`` command).

Examples
--------
>>> import asyncio
>>> from kairos_sdk import Pool, Profile
>>> from kairos_sdk.endpoints import serve_pool
>>> async def main():
...     pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2})
...     async with serve_pool(pool, Profile.builtin("rm2"), model="rm2") as live:
...         return [u.startswith("http://127.0.0.1:") for u in live.endpoints]
>>> asyncio.run(main())
[True, True, True]
"""

from __future__ import annotations

from .replay import Faults, ReplayEndpoint
from .serve import ReplayPool, serve_forever, serve_pool, serve_until_cancelled

for _cls in (Faults, ReplayEndpoint, ReplayPool):
    _cls.__module__ = __name__  # named by their public path in messages and docs
del _cls

__all__ = ["Faults", "ReplayEndpoint", "ReplayPool", "serve_forever", "serve_pool", "serve_until_cancelled"]
