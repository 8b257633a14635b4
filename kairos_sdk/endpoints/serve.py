"""Serving a whole pool of replay endpoints: :class:`ReplayPool`, :func:`serve_pool`, and
:func:`serve_forever` behind ``kairos serve-replay``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .._checks import instance_of, int_in_range
from ..errors import ArgumentError, KairosError
from ..pool import Pool
from ..profile import Profile
from .replay import Faults, ReplayEndpoint

__all__ = ["ReplayPool", "serve_forever", "serve_pool", "serve_until_cancelled"]


def _seeds(seed: int | None, n: int) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence(seed).spawn(n)


class ReplayPool:
    """One :class:`ReplayEndpoint` per instance of ``pool``; an async context manager.

    Inside ``async with``, ``.pool`` is the pool with endpoint URLs filled in and
    ``.endpoints`` the servers (also ``replay[i]`` / ``replay["r5n.large-0"]``), so a test
    can inject faults or kill one.

    Parameters
    ----------
    pool, profile : the instances to serve and their latency profile.
    model : the model name served.
    seed : seeds every endpoint's service-time draws (one child seed each).
    time_scale, workers, host : as for :class:`ReplayEndpoint`.
    port : 0 for free ports, else endpoint ``k`` listens on ``port + k``.
    faults : ``{instance id or index: Faults}`` to inject from the start.
    token, max_body_bytes : as for :class:`ReplayEndpoint` (one token for every endpoint).
    """

    def __init__(
        self,
        pool: Pool,
        profile: Profile,
        *,
        model: str = "model",
        seed: int | None = 0,
        time_scale: float = 1.0,
        workers: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Mapping[int | str, Faults] | None = None,
        token: str | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        instance_of(pool, "pool", Pool)
        instance_of(faults or {}, "faults", Mapping, hint=" {instance id or index: Faults}")
        faults = dict(faults or {})
        ids = [i.id for i in pool]
        unknown = [k for k in faults if not (k in ids or (isinstance(k, int) and 0 <= k < len(ids)))]
        if unknown:
            raise ArgumentError(f"faults name unknown instance(s) {unknown}; ids: {', '.join(ids)}")
        port = int_in_range(port, "port", 0, 65535 - (len(ids) - 1), what=f" (0 = free ports; else a base port with room for {len(ids)} endpoints)")
        seeds = _seeds(seed, len(ids))
        self._source = pool
        self.endpoints: tuple[ReplayEndpoint, ...] = tuple(
            ReplayEndpoint(
                profile,
                inst.type,
                model=model,
                host=host,
                port=port + k if port else 0,
                seed=seeds[k],
                time_scale=time_scale,
                workers=workers,
                faults=faults.get(inst.id, faults.get(k)),
                instance_id=inst.id,
                token=token,
                max_body_bytes=max_body_bytes,
            )
            for k, inst in enumerate(pool)
        )
        self.pool: Pool = pool

    async def start(self) -> Pool:
        try:
            urls = await asyncio.gather(*(ep.start() for ep in self.endpoints))
        except BaseException:
            await self.stop()
            raise
        self.pool = self._source.with_endpoints(list(urls))
        return self.pool

    async def stop(self) -> None:
        await asyncio.gather(*(ep.stop() for ep in self.endpoints), return_exceptions=True)

    async def __aenter__(self) -> ReplayPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __getitem__(self, key: int | str) -> ReplayEndpoint:
        if isinstance(key, str):
            for ep in self.endpoints:
                if ep.instance_id == key:
                    return ep
            raise KeyError(key)
        return self.endpoints[key]

    def __len__(self) -> int:
        return len(self.endpoints)

    def __repr__(self) -> str:
        return f"ReplayPool({self._source.describe()}, {sum(ep.running for ep in self.endpoints)} running)"


@asynccontextmanager
async def serve_pool(pool: Pool, profile: Profile, **options: Any) -> AsyncIterator[Pool]:
    """Start a :class:`ReplayEndpoint` per instance on free loopback ports; yields the pool
    with endpoints filled in and stops the servers on exit. Options as for :class:`ReplayPool`."""
    async with ReplayPool(pool, profile, **options) as replay:
        yield replay.pool


async def serve_until_cancelled(
    pool: Pool,
    profile: Profile,
    *,
    announce: Callable[[Pool], None] | None = None,
    pool_file: str | Path | None = None,
    **options: Any,
) -> None:
    """Serve replay endpoints for ``pool`` until the task is cancelled (or SIGINT/SIGTERM)."""
    async with ReplayPool(pool, profile, **options) as replay:
        if pool_file is not None:
            Path(pool_file).write_text(json.dumps(replay.pool.to_dict(), indent=2) + "\n")
        if announce is not None:
            announce(replay.pool)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows / non-main thread
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)


def serve_forever(
    pool: Pool | Mapping[str, int],
    profile: Profile,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    model: str = "model",
    seed: int | None = 0,
    time_scale: float = 1.0,
    workers: int = 1,
    pool_file: str | Path | None = None,
    out: Any = None,
    token: str | None = None,
) -> int:
    """Blocking entry point of ``kairos serve-replay``: serve until Ctrl-C or SIGTERM.

    Prints one line per endpoint (instance id, type, URL) to ``out`` (stdout) and, with
    ``pool_file``, writes the pool with its endpoints as JSON (``Pool.to_dict()``). With
    ``token``, every request must carry it as a bearer token. Returns the exit status (0).
    Must not be called from inside a running event loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise KairosError("serve_forever blocks; inside an event loop use `await serve_until_cancelled(...)` instead")
    instance_of(pool, "pool", (Pool, Mapping))
    if isinstance(pool, Mapping):
        pool = Pool.from_counts(pool)
    stream = out if out is not None else sys.stdout

    def announce(live: Pool) -> None:
        width = max(len(i.id) for i in live)
        print(f"kairos replay endpoints (model {model!r}, time_scale {time_scale:g}); Ctrl-C to stop", file=stream)
        for inst in live:
            print(f"  {inst.id:<{width}}  {inst.type:<14} {inst.endpoint}", file=stream)
        if pool_file is not None:
            print(f"pool written to {pool_file}", file=stream)
        stream.flush()

    # asyncio's loop, not uvloop: with the endpoints' yield-until-due timer it keeps the replay
    # timer's overshoot p99 under 0.05 ms where uvloop's timer alone gives 0.75 ms, for the same
    # per-query overhead (benchmarks/replay_timer.py on an idle machine)
    with contextlib.suppress(KeyboardInterrupt):  # the signal handler normally catches it first
        asyncio.run(serve_until_cancelled(
            pool, profile, announce=announce, pool_file=pool_file, host=host, port=port, model=model,
            seed=seed, time_scale=time_scale, workers=workers, token=token,
        ))
    return 0
