"""``kairos serve-replay``: loopback replay endpoints for a pool, until Ctrl-C (or a time limit)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys

from .args import positive
from .data import add_data_args, setup_with_pool
from .plan import add_budget_arg

EXAMPLES = """examples:
  kairos serve-replay                                  # the planned pool for the paper's setting
  kairos serve-replay --pool plan.json --write endpoints.json
  kairos serve-replay --pool g4dn.xlarge=1,r5n.large=2 --write endpoints.json --port 8100"""


def add_parser(sub) -> None:
    q = sub.add_parser("serve-replay", help="start replay endpoints for a pool and print their URLs",
                       description="Start one loopback Open Inference Protocol server per instance that "
                                   "answers after the profile's latency for its type (one request at a "
                                   "time, like a single-worker server). Says which pool it serves and what "
                                   "it costs. Serves until Ctrl-C.")
    add_data_args(q)
    add_budget_arg(q, "; the pool is the plan for it unless --pool is given")
    q.add_argument("--pool", metavar="TYPE=N,... | FILE",
                   help="the pool, or a 'kairos plan --json' file (default: the plan for --budget)")
    q.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    q.add_argument("--port", type=int, default=0,
                   help="first port; endpoint k listens on PORT+k (default 0: any free ports)")
    q.add_argument("--seed", type=int, default=0, help="seed of the service-time draws (default %(default)s)")
    q.add_argument("--time-scale", type=positive(float, "--time-scale"), default=1.0, metavar="X",
                   help="real seconds per profile second (below 1: faster than real time; give 'kairos run' "
                        "the same value)")
    q.add_argument("--token", metavar="TOKEN",
                   help="require 'Authorization: Bearer TOKEN' on every request (default: $KAIROS_TOKEN if set; "
                        "pass the same --token to 'kairos run')")
    q.add_argument("--write", metavar="FILE", help="also write the endpoints as JSON for 'kairos run FILE'")
    q.add_argument("--for-seconds", type=positive(float, "--for-seconds"), metavar="S",
                   help="stop after S seconds instead of waiting for Ctrl-C")
    q.epilog = EXAMPLES
    q.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    from ..endpoints import serve_until_cancelled

    s, pool, how = setup_with_pool(args)
    print(f"kairos serve-replay — serving {how}; {pool!r}, {s.describe()}", flush=True)
    options = dict(host=args.host, port=args.port, model=s.model, seed=args.seed, time_scale=args.time_scale,
                   token=args.token or os.environ.get("KAIROS_TOKEN") or None)

    async def serve() -> None:
        task = serve_until_cancelled(pool, s.profile, announce=_announce(s.model, args), pool_file=args.write,
                                     **options)
        if args.for_seconds:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(task, args.for_seconds)
        else:
            await task

    with contextlib.suppress(KeyboardInterrupt):  # the signal handler normally catches it first
        asyncio.run(serve())
    return 0


def _announce(model: str, args: argparse.Namespace):
    def announce(live) -> None:
        width = max(len(i.id) for i in live)
        scale = f", time scale {args.time_scale:g}" if args.time_scale != 1 else ""
        stop = f"for {args.for_seconds:g} s" if args.for_seconds else "until Ctrl-C"
        print(f"replay endpoints (model {model!r}{scale}), serving {stop}:")
        for inst in live:
            print(f"  {inst.id:<{width}}  {inst.type:<14} {inst.endpoint}")
        if args.write:
            extra = f" --time-scale {args.time_scale:g}" if args.time_scale != 1 else ""
            print(f"endpoints written to {args.write}; drive them with: kairos run {args.write} --rate QPS{extra}")
        sys.stdout.flush()

    return announce
