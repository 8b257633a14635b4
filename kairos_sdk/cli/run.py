"""``kairos run``: drive live endpoints at one rate or a sweep of rates, with a QoS verdict.

The connection flags mirror :class:`~kairos_sdk.client.KairosClient`'s options and defaults;
``kairos profile`` shares them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from ..errors import KairosError
from ..overhead import Overhead, format_breakdown
from ..pool import Instance, Pool
from .args import UsageError, non_negative, parse_headers, parse_rates, positive, read_endpoints
from .common import POLICIES, ms, policy, print_table, progress_wanted, verdict, warn
from .data import Setup, add_data_args, pool_arg
from .simulate import reach

EXAMPLES = """examples:
  kairos serve-replay --pool g4dn.xlarge=1,r5n.large=2 --write endpoints.json   # other terminal
  kairos run endpoints.json --rate 20 --duration 10
  kairos run endpoints.json --rates 5,10,15,20 --duration 5 --plot load.png
  kairos run endpoints.json --pool plan.json --rate 50        # model, QoS and prices from the plan
  kairos run endpoints.json --rate 20 --save-profile at20.json # then: kairos simulate --profile at20.json ...
  kairos run my_servers.csv --model my-model --profile latency.csv --qos 100 --rate 50 \\
      --protocol torchserve --token "$TOKEN" --ca-file ca.pem --timeout 5

--model is also the model name the requests address on the endpoints.
Exit status: 0 when the run completes (the verdict says whether it met QoS), 1 when queries failed."""


def add_connection_args(q: argparse.ArgumentParser, *, concurrency: bool = True) -> None:
    g = q.add_argument_group("connection (as KairosClient's options)")
    g.add_argument("--protocol", choices=("oip", "torchserve", "json"), default="oip",
                   help="wire protocol: Open Inference Protocol (KServe V2, MLServer, Triton; default), "
                        "TorchServe, or a plain JSON POST")
    g.add_argument("--json-path", default="", metavar="PATH",
                   help="with --protocol json: path appended to each URL (default: the URL itself)")
    g.add_argument("--token", default=None,
                   help="bearer token (Authorization: Bearer ...); default: $KAIROS_TOKEN if set")
    g.add_argument("--header", action="append", metavar="'NAME: VALUE'",
                   help="extra request header, repeatable (e.g. --header 'X-Api-Key: abc')")
    g.add_argument("--timeout", type=positive(float, "--timeout"), default=10.0, metavar="SECONDS",
                   help="per-request timeout (default %(default)g)")
    if concurrency:
        g.add_argument("--concurrency", type=positive(int, "--concurrency"), default=1, metavar="N",
                       help="queries in flight per instance (default %(default)s: one at a time)")
    g.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                   help="verify TLS certificates (default: on)")
    g.add_argument("--ca-file", metavar="FILE", help="CA bundle to verify TLS certificates with")
    g.add_argument("--wait-ready", type=non_negative("--wait-ready"), default=0.0, metavar="SECONDS",
                   help="wait up to this long for endpoints to become ready (default 0: they must be)")
    g.add_argument("--time-scale", type=positive(float, "--time-scale"), default=1.0, metavar="X",
                   help="real seconds per profile second, as the replay endpoints were started with "
                        "(default 1)")


def make_protocol(args: argparse.Namespace, model: str):
    from ..client import JSONProtocol, OpenInferenceProtocol, TorchServeProtocol

    if args.protocol == "torchserve":
        return TorchServeProtocol(model)
    if args.protocol == "json":
        return JSONProtocol(args.json_path, model=model)
    return OpenInferenceProtocol(model)


def client_options(args: argparse.Namespace) -> dict:
    """KairosClient keyword arguments from the connection flags (its ``Auth``, ``Timeouts`` and
    ``Limits`` settings)."""
    from ..client import Auth, Limits, Timeouts

    if args.ca_file and not args.verify:
        raise UsageError("--ca-file and --no-verify contradict each other; give one")
    if args.ca_file and not os.path.exists(args.ca_file):
        raise UsageError(f"--ca-file {args.ca_file}: file not found")
    opts = {
        "token": Auth(token=args.token or os.environ.get("KAIROS_TOKEN") or None, headers=parse_headers(args.header),
                      verify=args.ca_file if args.ca_file else args.verify),
        "timeout_s": Timeouts(request_s=args.timeout, wait_ready_s=args.wait_ready),
        "time_scale": args.time_scale,
    }
    if hasattr(args, "concurrency"):
        opts["concurrency"] = Limits(concurrency=args.concurrency)
    return opts


def add_parser(sub) -> None:
    q = sub.add_parser("run", help="drive live endpoints listed in a file, with a QoS verdict",
                       description="Drive live endpoints with Poisson load and report throughput, tail "
                                   "latency, QoS attainment and whether the run meets the QoS target. "
                                   "ENDPOINTS is a JSON list of {\"type\": ..., \"url\": ...} or a CSV with "
                                   "columns type,url (as written by 'kairos serve-replay --write FILE'). "
                                   "--rates drives several rates in turn and --plot draws latency and "
                                   "attainment against load.")
    q.add_argument("endpoints", metavar="ENDPOINTS", help="JSON or CSV file of instance type + URL")
    add_data_args(q)
    q.add_argument("--pool", metavar="PLAN.json",
                   help="the plan these endpoints serve ('kairos plan --json' output): model, QoS, "
                        "percentile and prices default to the plan's")
    rate = q.add_mutually_exclusive_group(required=True)
    rate.add_argument("--rate", type=positive(float, "--rate"), metavar="QPS",
                      help="offered Poisson arrival rate, queries/second")
    rate.add_argument("--rates", type=parse_rates, metavar="QPS,QPS,...",
                      help="several rates, driven one after the other")
    q.add_argument("--duration", type=positive(float, "--duration"), default=10.0, metavar="SECONDS",
                   help="seconds of load per rate (default %(default)g)")
    q.add_argument("--policy", choices=POLICIES, default="kairos", help="distribution policy (default %(default)s)")
    q.add_argument("--plot", metavar="PNG", help="write latency and QoS attainment against load to this file")
    q.add_argument("--save-profile", metavar="PROFILE.json",
                   help="write the profile with the per-query overhead the (last) run measured "
                        "(Overhead.from_run; needs servers that report their compute in Server-Timing): "
                        "plan and simulate with it at this rate via --profile")
    q.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.add_argument("--json", action="store_true", help="print JSON")
    add_connection_args(q)
    q.epilog = EXAMPLES
    q.set_defaults(func=cmd)


def endpoint_pool(args: argparse.Namespace):
    """``(setup, pool with endpoints)`` from the ENDPOINTS file and the data arguments."""

    if args.pool is not None and not args.pool.strip():
        raise UsageError("--pool is empty; give the 'kairos plan --json' file the endpoints serve")
    counts, pf = pool_arg(args)
    if counts is not None and pf is None:
        raise UsageError("kairos run takes the pool from ENDPOINTS; --pool names a plan file (kairos plan --json)")
    s = Setup(args, pf)
    eps = read_endpoints(args.endpoints)
    unknown = sorted({t for t, _ in eps} - set(s.profile.instance_types))
    if unknown:
        raise UsageError(
            f"{args.endpoints} lists instance type(s) {', '.join(unknown)} that the profile does not cover "
            f"({', '.join(s.profile.instance_types)}); measure them ('kairos profile') or give --profile FILE"
        )
    unpriced = sorted({t for t, _ in eps} - set(s.catalog.names))
    if unpriced:
        raise UsageError(f"{args.endpoints} lists {', '.join(unpriced)}, which has no price; add it to --prices FILE")
    counters: dict[str, int] = {}
    inst = []
    for t, u in eps:
        k = counters.get(t, 0)
        counters[t] = k + 1
        inst.append(Instance(f"{t}-{k}", t, u))
    pool = Pool(inst, s.catalog)
    if pf is not None and pool.counts != pf.counts:
        warn(f"warning: {args.endpoints} has {pool.describe()}, but {pf.path} plans "
             f"{' + '.join(f'{n} x {t}' for t, n in pf.counts.items())}")
    return s, pool


def _warn_overload(pool, s: Setup, rates: list[float], duration: float) -> None:

    try:
        bound = s.planner().fluid_bound(pool.counts)
    except KairosError:
        return
    if bound <= 1e-9:
        warn(f"warning: by the profile this pool meets QoS at no rate: {reach(pool, s)}")
    elif max(rates) > 1.2 * bound:
        top = max(rates)
        backlog_s = duration * (top - bound) / max(bound, 1e-9)
        warn(f"warning: {top:g} qps is above what this pool can serve within QoS even when busy all the time "
             f"(~{bound:.0f} qps by the profile); queues will grow and the run needs about {backlog_s:.0f} s "
             "more to drain")


async def drive(pool, s: Setup, args: argparse.Namespace, rates: list[float], *, report=None):
    """One client, one run per rate; ``report(result)`` after each."""
    from ..client import KairosClient

    out = []
    async with KairosClient(pool, protocol=make_protocol(args, s.model), policy=policy(args.policy),
                            profile=s.profile, qos_ms=s.qos_ms, percentile=s.percentile,
                            **client_options(args)) as client:
        for k, rate in enumerate(rates):
            r = await client.run(s.workload, rate=rate, duration_s=args.duration, seed=args.seed + k,
                                 progress=progress_wanted(args))
            out.append(r)
            if report is not None:
                report(r)
    return out


def cmd(args: argparse.Namespace) -> int:
    s, pool = endpoint_pool(args)
    if args.save_profile and not args.save_profile.lower().endswith(".json"):
        raise UsageError(f"--save-profile {args.save_profile}: use a .json name (a profile JSON carries the overhead)")
    rates = [args.rate] if args.rate is not None else args.rates
    _warn_overload(pool, s, rates, args.duration)
    if not args.json:
        print(f"kairos run — {pool!r}, {s.describe()}, policy {args.policy}", flush=True)

    def report(r) -> None:
        if not args.json and len(rates) > 1:
            print(f"  offered {r.rate_qps:g} qps: measured {r.throughput_qps:.1f} qps — "
                  f"{verdict(r, s.qos_ms, s.percentile)}", flush=True)

    runs = asyncio.run(drive(pool, s, args, rates, report=report))
    best = max((r for r in runs if r.meets_qos and not r.n_failed), key=lambda r: r.rate_qps, default=None)
    if args.json:
        docs = [{**r.summary(), "meets_qos": r.meets_qos, "verdict": verdict(r, s.qos_ms, s.percentile)} for r in runs]
        doc = {"model": s.model, "pool": pool.counts, "cost_per_hour": pool.cost_per_hour, "qos_ms": s.qos_ms,
               "percentile": s.percentile, "policy": args.policy,
               "highest_rate_meeting_qos": best.rate_qps if best else None}
        print(json.dumps({**doc, **docs[0]} if len(runs) == 1 else {**doc, "runs": docs}, indent=2, default=float))
    else:
        rows = [[f"{r.rate_qps:g}", f"{r.throughput_qps:.1f}", ms(r.latency_quantile(s.percentile / 100)),
                 f"{r.qos_attainment:.2%}", r.n_failed, "yes" if r.meets_qos else "no"] for r in runs]
        print_table(rows, ["offered qps", "measured qps", f"p{s.percentile:g} ms", "QoS attainment", "failed",
                           "meets QoS"])
        if len(runs) == 1:
            print(verdict(runs[0], s.qos_ms, s.percentile))
        split = format_breakdown(runs[-1])  # where the time of the last run's queries went
        if split:
            print(split)
        if len(runs) > 1:
            print(f"highest offered rate meeting QoS: {best.rate_qps:g} qps" if best else
                  "no rate met QoS")
        failed = [r for r in runs if r.n_failed]
        if failed:
            print(f"{sum(r.n_failed for r in failed)} queries failed; first reasons: "
                  + "; ".join(x for _, x in failed[0].failures[:3]))
    if args.save_profile:
        _save_profile(s.profile, runs[-1], Path(args.save_profile), quiet=args.json)
    if args.plot:
        from .plot import load_plot

        path = load_plot([(f"{pool.describe()} (${pool.cost_per_hour:.2f}/h)", runs)], qos_ms=s.qos_ms,
                         percentile=s.percentile, title=f"kairos run — {s.model}, {args.endpoints}", path=args.plot)
        if not args.json:
            print(f"latency vs load plot: {path}")
    return 0 if not any(r.n_failed for r in runs) else 1


def _save_profile(profile, run, path: Path, *, quiet: bool) -> None:
    """Write ``profile`` carrying the overhead ``run`` measured (the client's own time, the wire
    and the server's queue and extra: what the profile's compute times do not hold)."""
    try:
        ov = Overhead.from_run(run)
    except KairosError as exc:
        raise UsageError(f"--save-profile: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    profile.with_overhead(ov).to_json(path)
    if not quiet:
        print(f"per-query overhead measured: {ov!r}; profile written to {path} (use it with --profile {path})")
