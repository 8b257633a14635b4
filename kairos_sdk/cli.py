"""The ``kairos`` command: demo, plan, simulate, run, serve-replay, bench.

Every subcommand works with no files: it takes the built-in profile of the KAIROS
measurements and the paper's catalog, budget and QoS targets (:mod:`kairos_sdk.defaults`).
``--profile FILE`` and ``--prices FILE`` switch to real data. Bad input gives one line
``kairos: error: ...`` saying what to change, and exit status 2.

Examples
--------
>>> from kairos_sdk.cli import parse_pool
>>> parse_pool("g4dn.xlarge=1,r5n.large=13")
{'g4dn.xlarge': 1, 'r5n.large': 13}
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import defaults
from .errors import KairosError

__all__ = ["main", "parse_pool", "read_endpoints"]

PROG = "kairos"
POLICIES = ("kairos", "fcfs", "round-robin", "least-work", "paper")


class UsageError(KairosError):
    """A command-line argument is wrong."""


# ---------------------------------------------------------------------------- parsing helpers
def parse_pool(text: str) -> dict[str, int]:
    """``"g4dn.xlarge=1,r5n.large=13"`` → ``{"g4dn.xlarge": 1, "r5n.large": 13}``.

    ``TYPE:COUNT`` and ``COUNTxTYPE`` are accepted as well; separators are commas, ``+`` or
    spaces.

    Examples
    --------
    >>> parse_pool("1xg4dn.xlarge + 2xr5n.large")
    {'g4dn.xlarge': 1, 'r5n.large': 2}
    """
    hint = "e.g. --pool g4dn.xlarge=1,r5n.large=13"
    parts = [p.strip() for p in text.replace("+", ",").replace(" ", ",").split(",") if p.strip()]
    if not parts:
        raise UsageError(f"--pool is empty; {hint}")
    out: dict[str, int] = {}
    for p in parts:
        if "=" in p or ":" in p:
            name, _, n = p.replace(":", "=").partition("=")
        elif "x" in p and p.split("x", 1)[0].isdigit():
            n, _, name = p.partition("x")
        else:
            raise UsageError(f"--pool: {p!r} is not TYPE=COUNT; {hint}")
        name = name.strip()
        try:
            count = int(n)
        except ValueError:
            raise UsageError(f"--pool: count {n.strip()!r} of {name} is not a whole number; {hint}") from None
        if count < 0 or not name:
            raise UsageError(f"--pool: {p!r} needs a type name and a count >= 0; {hint}")
        out[name] = out.get(name, 0) + count
    return out


def read_endpoints(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Read ``(instance type, URL)`` pairs from a JSON or CSV file.

    JSON: a list of ``{"type": ..., "url": ...}`` objects (``instance``/``endpoint`` accepted
    too), or the ``{"instances": [...]}`` document written by ``kairos serve-replay --write``.
    CSV: a header with ``type`` (or ``instance``) and ``url`` (or ``endpoint``) columns.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("type,url\\nr5n.large,http://127.0.0.1:8001\\n")
    >>> read_endpoints(f.name)
    [('r5n.large', 'http://127.0.0.1:8001')]
    >>> os.unlink(f.name)
    """
    p = Path(path)
    fmt = "a JSON list of {\"type\": ..., \"url\": ...} or a CSV with columns type,url"
    if not p.exists():
        raise UsageError(f"endpoints file not found: {p}; give {fmt}")
    text = p.read_text()
    rows: list[dict[str, Any]]
    if p.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{p}: malformed JSON ({exc.msg}, line {exc.lineno}); expected {fmt}") from None
        if isinstance(doc, dict):
            doc = doc.get("instances", doc.get("endpoints"))
        if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
            raise UsageError(f"{p}: expected {fmt}")
        rows = doc
    else:
        rows = [dict(r) for r in csv.DictReader(text.splitlines())]
    out = []
    for k, r in enumerate(rows, start=1):
        r = {str(a).strip().lower(): b for a, b in r.items() if a is not None}
        t = r.get("type") or r.get("instance_type") or r.get("instance")
        u = r.get("url") or r.get("endpoint")
        if not t or not u:
            raise UsageError(f"{p}: entry {k} needs an instance type and a URL; expected {fmt}")
        u = str(u).strip()
        if not u.startswith(("http://", "https://")):
            raise UsageError(f"{p}: entry {k}: {u!r} is not an http:// or https:// URL")
        out.append((str(t).strip(), u))
    if not out:
        raise UsageError(f"{p}: no endpoints listed; expected {fmt}")
    return out


def _positive(kind: type, what: str):
    def conv(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise argparse.ArgumentTypeError(f"{what} must be positive, got {text!r}")
        return v

    conv.__name__ = what
    return conv


def _percentile(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"percentile must be a number, got {text!r}") from None
    if not 0 < v < 100:
        raise argparse.ArgumentTypeError(f"percentile must be between 0 and 100 (e.g. 99), got {text!r}")
    return v


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors that point at ``--help``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------- shared setup
def _add_data_args(p: argparse.ArgumentParser, *, qos: bool = True) -> None:
    g = p.add_argument_group("data (defaults: built-in KAIROS profile and the paper's AWS catalog)")
    g.add_argument("--model", default=defaults.DEFAULT_MODEL,
                   help="model to take from the profile: ncf, rm2, wnd, mtwnd or dien (default %(default)s)")
    g.add_argument("--profile", metavar="FILE",
                   help="latency measurements: CSV (instance,batch,latency_ms or exec_ms,load_ms; "
                        "optional model column; .gz ok) or a profile JSON")
    g.add_argument("--prices", metavar="FILE",
                   help="prices CSV with columns instance,price (USD/hour); default: the paper's four types")
    if qos:
        g.add_argument("--qos", type=_positive(float, "--qos"), metavar="MS",
                       help="tail-latency target in ms, queueing included (default: the paper's target for the model)")
        g.add_argument("--percentile", type=_percentile, default=defaults.PAPER_PERCENTILE,
                       help="share of queries that must meet --qos, in %% (default %(default)g)")


class _Setup:
    """Profile, catalog, workload and QoS resolved from the data arguments."""

    def __init__(self, args: argparse.Namespace) -> None:
        from .workload import Workload

        self.model = args.model
        self.profile = defaults.load_profile(args.profile, args.model)
        self.catalog = defaults.load_catalog(args.prices, self.profile.instance_types)
        self.workload = Workload.deeprecsys()
        qos = getattr(args, "qos", None)
        self.qos_ms = float(qos) if qos is not None else defaults.qos_for(args.model)
        self.percentile = float(getattr(args, "percentile", defaults.PAPER_PERCENTILE))

    def planner(self):
        from .planner import Planner

        return Planner(self.profile, self.catalog, self.workload, qos_ms=self.qos_ms,
                       percentile=self.percentile)

    def pool(self, counts: dict[str, int]):
        from .pool import Pool

        unknown = [t for t in counts if t not in self.profile.instance_types]
        if unknown:
            raise UsageError(
                f"--pool names {', '.join(unknown)}, which the profile does not cover; "
                f"use {', '.join(self.profile.instance_types)}"
            )
        return Pool.from_counts(counts, self.catalog)

    def describe(self) -> str:
        src = "built-in profile" if self.profile.source is None or "KAIROS" in str(self.profile.source) else self.profile.source
        return f"model {self.model}, QoS p{self.percentile:g} <= {self.qos_ms:g} ms, {src}"


def _policy(name: str):
    from . import distribute

    table = {
        "kairos": "KairosPolicy",
        "fcfs": "FCFSPolicy",
        "round-robin": "RoundRobinPolicy",
        "least-work": "LeastWorkPolicy",
        "paper": "PaperPolicy",
    }
    cls = getattr(distribute, table[name], None)
    if cls is None:
        raise UsageError(f"policy {name!r} is not available in this version; use fcfs")
    return cls()


def _print_table(rows: Sequence[Sequence[Any]], header: Sequence[str], out=None) -> None:
    out = out or sys.stdout
    cells = [[str(h) for h in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    for i, r in enumerate(cells):
        line = "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths)))
        print(line.rstrip(), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)


# ---------------------------------------------------------------------------- plan
def _cmd_plan(args: argparse.Namespace) -> int:
    s = _Setup(args)
    planner = s.planner()
    if args.target_qps is not None:
        plan = planner.plan(target_qps=args.target_qps)
    else:
        plan = planner.plan(budget=args.budget)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2, default=float))
        return 0
    print(f"kairos plan — {s.describe()}")
    print(repr(plan))
    if args.explain and hasattr(plan, "explain"):
        print(plan.explain())
    return 0


# ---------------------------------------------------------------------------- simulate
def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import allowable_throughput, simulate

    s = _Setup(args)
    if args.pool:
        pool = s.pool(parse_pool(args.pool))
    else:
        pool = s.planner().plan(budget=args.budget).pool()
    policies = list(POLICIES) if args.policy == "all" else [args.policy]
    rows, docs = [], []
    for name in policies:
        pol = _policy(name)
        if args.rate is not None:
            r = simulate(pool, s.profile, s.workload, policy=pol, rate=args.rate,
                         n_queries=args.n_queries, qos_ms=s.qos_ms, percentile=s.percentile,
                         seed=args.seed)
            rows.append([name, f"{args.rate:g}", f"{r.throughput_qps:.1f}", f"{r.p99_ms:.1f}",
                         f"{r.qos_attainment:.2%}", "yes" if r.meets_qos else "no"])
            docs.append({"policy": name, **r.summary(), "meets_qos": r.meets_qos})
        else:
            qps = allowable_throughput(pool, s.profile, s.workload, policy=pol, qos_ms=s.qos_ms,
                                       percentile=s.percentile, seed=args.seed)
            rows.append([name, f"{qps:.1f}"])
            docs.append({"policy": name, "allowable_qps": qps})
    if args.json:
        print(json.dumps({"pool": pool.counts, "cost_per_hour": pool.cost_per_hour,
                          "qos_ms": s.qos_ms, "percentile": s.percentile, "results": docs},
                         indent=2, default=float))
        return 0
    print(f"kairos simulate — {pool!r}, {s.describe()}")
    if args.rate is not None:
        _print_table(rows, ["policy", "rate qps", "throughput qps", "p99 ms", "QoS attainment", "meets QoS"])
    else:
        _print_table(rows, ["policy", "allowable throughput qps"])
    return 0


# ---------------------------------------------------------------------------- live helpers
def _progress_bars_wanted(args: argparse.Namespace) -> bool:
    return not getattr(args, "no_progress", False)


async def _drive(pool, s: _Setup, *, policy, rate: float, duration_s: float, seed: int,
                 progress: bool, label: str = ""):
    """Drive ``pool`` (with endpoints) at ``rate`` for ``duration_s`` seconds with the client."""
    from .client import KairosClient, OpenInferenceProtocol

    n = max(1, int(round(rate * duration_s)))
    async with KairosClient(pool, protocol=OpenInferenceProtocol(model=s.model), policy=policy,
                            profile=s.profile, qos_ms=s.qos_ms, percentile=s.percentile) as client:
        return await client.run(s.workload, rate=rate, n_queries=n, seed=seed, progress=progress,
                                desc=label)


def _run_row(label: str, pool, r) -> list[str]:
    return [label, pool.describe(), f"{pool.cost_per_hour:.3f}", f"{r.rate_qps:.1f}",
            f"{r.throughput_qps:.1f}", f"{r.p99_ms:.0f}", f"{r.qos_attainment:.2%}"]


RUN_HEADER = ["", "pool", "USD/h", "offered qps", "measured qps", "p99 ms", "QoS attainment"]


# ---------------------------------------------------------------------------- run
def _cmd_run(args: argparse.Namespace) -> int:
    from .pool import Instance, Pool

    s = _Setup(args)
    eps = read_endpoints(args.endpoints)
    unknown = sorted({t for t, _ in eps} - set(s.profile.instance_types))
    if unknown:
        raise UsageError(
            f"{args.endpoints} lists instance type(s) {', '.join(unknown)} that the profile does not cover "
            f"({', '.join(s.profile.instance_types)}); measure them or give --profile FILE"
        )
    counters: dict[str, int] = {}
    inst = []
    for t, u in eps:
        k = counters.get(t, 0)
        counters[t] = k + 1
        inst.append(Instance(f"{t}-{k}", t, u))
    pool = Pool(inst, s.catalog)
    policy = _policy(args.policy)
    r = asyncio.run(_drive(pool, s, policy=policy, rate=args.rate, duration_s=args.duration,
                           seed=args.seed, progress=_progress_bars_wanted(args), label="run"))
    if args.json:
        print(json.dumps({"pool": pool.counts, **r.summary(), "meets_qos": r.meets_qos}, indent=2, default=float))
        return 0
    print(f"kairos run — {pool!r}, {s.describe()}")
    _print_table([_run_row(args.policy, pool, r)], RUN_HEADER)
    if r.n_failed:
        print(f"{r.n_failed} queries failed; first reasons: " + "; ".join(x for _, x in r.failures[:3]))
    return 0 if r.n_failed == 0 else 1


# ---------------------------------------------------------------------------- serve-replay
def _cmd_serve_replay(args: argparse.Namespace) -> int:
    s = _Setup(args)
    pool = s.pool(parse_pool(args.pool)) if args.pool else s.planner().plan(budget=args.budget).pool()

    async def serve() -> None:
        from .endpoints import serve_pool

        async with serve_pool(pool, s.profile, host=args.host) as live:
            doc = {"model": s.model, "instances": [
                {"id": i.id, "type": i.type, "url": i.endpoint} for i in live]}
            for i in live:
                print(f"{i.id:24s} {i.type:16s} {i.endpoint}", flush=True)
            if args.write:
                Path(args.write).write_text(json.dumps(doc, indent=2) + "\n")
                print(f"wrote {args.write}  (drive it with: kairos run {args.write} --rate QPS)", flush=True)
            print(f"serving {len(pool)} replay endpoints for {s.model}; press Ctrl-C to stop", flush=True)
            if args.for_seconds:
                await asyncio.sleep(args.for_seconds)
            else:
                await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- bench
def _cmd_bench(args: argparse.Namespace) -> int:
    import subprocess

    bench_dir = Path(__file__).resolve().parents[1] / "benchmarks"
    scripts = sorted(p.stem for p in bench_dir.glob("*.py") if not p.name.startswith("_")) if bench_dir.is_dir() else []
    if args.name in (None, "quick"):
        return _bench_quick(args)
    if args.name == "list":
        print("quick  (built-in: planned vs best homogeneous pool, simulated)")
        for n in scripts:
            print(n)
        return 0
    if args.name not in scripts:
        where = f"available: quick, {', '.join(scripts)}" if scripts else (
            "the benchmarks/ scripts come with a source checkout; only 'quick' is built in")
        raise UsageError(f"no benchmark {args.name!r}; {where}")
    cmd = [sys.executable, str(bench_dir / f"{args.name}.py"), *args.extra]
    return subprocess.call(cmd)


def _bench_quick(args: argparse.Namespace) -> int:
    from .baselines import homogeneous_best
    from .simulate import allowable_throughput

    s = _Setup(args)
    t0 = time.perf_counter()
    plan = s.planner().plan(budget=args.budget)
    t_plan = time.perf_counter() - t0
    homo = homogeneous_best(s.profile, s.catalog, s.workload, qos_ms=s.qos_ms,
                            percentile=s.percentile, budget=args.budget)
    rows = []
    for label, pool, pol in (("kairos_sdk", plan.pool(), _policy("kairos")),
                             ("homogeneous", homo.pool(), _policy("fcfs"))):
        t0 = time.perf_counter()
        qps = allowable_throughput(pool, s.profile, s.workload, policy=pol, qos_ms=s.qos_ms,
                                   percentile=s.percentile, seed=args.seed)
        rows.append([label, pool.describe(), f"{pool.cost_per_hour:.3f}", f"{qps:.1f}",
                     f"{time.perf_counter() - t0:.1f}"])
    print(f"kairos bench quick — {s.describe()}, budget {args.budget:g} USD/h (plan solved in {t_plan * 1000:.0f} ms)")
    _print_table(rows, ["", "pool", "USD/h", "allowable qps (simulated)", "sim s"])
    ratio = float(rows[0][3]) / max(float(rows[1][3]), 1e-9)
    print(f"ratio kairos_sdk / homogeneous: {ratio:.2f}x")
    return 0


# ---------------------------------------------------------------------------- demo
def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Plan, simulate and drive ML inference on heterogeneous cloud instance pools "
                    "(KAIROS). With no files it uses the built-in KAIROS measurements and the "
                    "paper's AWS catalog, budget (2.5 USD/h) and QoS targets.",
        epilog="Start with 'kairos demo'. Each command has --help.",
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"kairos_sdk {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def budget_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--budget", type=_positive(float, "--budget"), default=defaults.PAPER_BUDGET_PER_HOUR,
                       metavar="USD_PER_HOUR", help="cost budget in USD/hour (default %(default)g)")

    # demo
    q = sub.add_parser("demo", help="plan a heterogeneous pool, drive it live against the best homogeneous one",
                       description="Plan the heterogeneous pool with the most allowable throughput within the "
                                   "budget, start loopback replay endpoints that answer with the profile's "
                                   "latencies, drive it with the async client at a few rates, do the same for "
                                   "the best homogeneous pool at the same budget, and print a side-by-side "
                                   "table and a latency-vs-load PNG.")
    _add_data_args(q)
    budget_arg(q)
    q.add_argument("--duration", type=_positive(float, "--duration"), default=60.0, metavar="SECONDS",
                   help="total seconds of live load over all runs (default %(default)g)")
    q.add_argument("--out", default=".", metavar="DIR", help="directory for the PNG plot (default: current)")
    q.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    q.add_argument("--no-progress", action="store_true", help="no progress bars")
    q.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    q.set_defaults(func=_cmd_demo)

    # plan
    q = sub.add_parser("plan", help="choose the instance mix (prints the plan table)",
                       description="Choose how many instances of each type to rent: the most allowable "
                                   "throughput within --budget, or the cheapest pool sustaining --target-qps.")
    _add_data_args(q)
    budget_arg(q)
    q.add_argument("--target-qps", type=_positive(float, "--target-qps"), metavar="QPS",
                   help="instead of a budget: the cheapest pool that sustains this rate")
    q.add_argument("--explain", action="store_true", help="say why these types and what binds")
    q.add_argument("--json", action="store_true", help="print the plan as JSON")
    q.set_defaults(func=_cmd_plan)

    # simulate
    q = sub.add_parser("simulate", help="allowable throughput of a pool under a policy (simulated)",
                       description="Simulate a pool under a distribution policy. Without --rate: the "
                                   "allowable throughput (highest Poisson rate meeting QoS). With --rate: "
                                   "one run's throughput, p99 and QoS attainment.")
    _add_data_args(q)
    budget_arg(q)
    q.add_argument("--pool", metavar="TYPE=N,...",
                   help="the pool, e.g. g4dn.xlarge=1,r5n.large=13 (default: the plan for --budget)")
    q.add_argument("--policy", choices=(*POLICIES, "all"), default="kairos",
                   help="distribution policy, or 'all' to compare (default %(default)s)")
    q.add_argument("--rate", type=_positive(float, "--rate"), metavar="QPS", help="simulate one run at this rate")
    q.add_argument("--n-queries", type=_positive(int, "--n-queries"), default=20_000, metavar="N",
                   help="queries per run with --rate (default %(default)s)")
    q.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_cmd_simulate)

    # run
    q = sub.add_parser("run", help="drive live endpoints listed in a file",
                       description="Drive live Open Inference Protocol endpoints with Poisson load and "
                                   "report throughput, p99 and QoS attainment. ENDPOINTS is a JSON list of "
                                   "{\"type\": ..., \"url\": ...} or a CSV with columns type,url (as written "
                                   "by 'kairos serve-replay --write FILE').")
    q.add_argument("endpoints", metavar="ENDPOINTS", help="JSON or CSV file of instance type + URL")
    _add_data_args(q)
    q.add_argument("--rate", type=_positive(float, "--rate"), required=True, metavar="QPS",
                   help="offered Poisson arrival rate, queries/second")
    q.add_argument("--duration", type=_positive(float, "--duration"), default=10.0, metavar="SECONDS",
                   help="seconds of load (default %(default)g)")
    q.add_argument("--policy", choices=POLICIES, default="kairos", help="distribution policy (default %(default)s)")
    q.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_cmd_run)

    # serve-replay
    q = sub.add_parser("serve-replay", help="start replay endpoints for a pool and print their URLs",
                       description="Start one loopback Open Inference Protocol server per instance that "
                                   "answers after the profile's latency for its type (one request at a "
                                   "time, like a single-worker server). Serves until Ctrl-C.")
    _add_data_args(q, qos=True)
    budget_arg(q)
    q.add_argument("--pool", metavar="TYPE=N,...", help="the pool (default: the plan for --budget)")
    q.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    q.add_argument("--write", metavar="FILE", help="also write the endpoints as JSON for 'kairos run FILE'")
    q.add_argument("--for-seconds", type=_positive(float, "--for-seconds"), metavar="S",
                   help="stop after S seconds instead of waiting for Ctrl-C")
    q.set_defaults(func=_cmd_serve_replay)

    # bench
    q = sub.add_parser("bench", help="quick built-in comparison, or run a benchmark script",
                       description="'kairos bench' (or 'kairos bench quick') plans the pool and compares its "
                                   "simulated allowable throughput with the best homogeneous pool's. "
                                   "'kairos bench list' lists the benchmarks/ scripts of a source checkout; "
                                   "'kairos bench NAME [ARGS...]' runs one.")
    q.add_argument("name", nargs="?", metavar="NAME", help="quick (default), list, or a script name")
    q.add_argument("extra", nargs=argparse.REMAINDER, metavar="ARGS", help="arguments for the script")
    _add_data_args(q)
    budget_arg(q)
    q.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    q.set_defaults(func=_cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kairos`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    debug = bool(os.environ.get("KAIROS_DEBUG"))
    try:
        return int(args.func(args) or 0)
    except KairosError as exc:
        if debug:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if debug:
            raise
        print(f"{PROG}: error: {exc.strerror or exc} ({getattr(exc, 'filename', '') or 'I/O'})", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
