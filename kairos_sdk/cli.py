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
import contextlib
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
from .distribute import policy_from_name, policy_names
from .errors import KairosError, UsageError

__all__ = ["main", "parse_pool", "read_endpoints"]

PROG = "kairos"
POLICIES = policy_names()


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


def _time_scale(text: str) -> float | str:
    if text == "auto":
        return text
    return _positive(float, "--time-scale")(text)


def _percentile(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"percentile must be a number, got {text!r}") from None
    if not 0 < v < 100:
        raise argparse.ArgumentTypeError(f"percentile must be between 0 and 100 (e.g. 99), got {text!r}")
    return v


class _Formatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions; keeps multi-line texts (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors that point at ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

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
        self.profile_path = args.profile
        self.profile = defaults.load_profile(args.profile, args.model)
        self.catalog = defaults.load_catalog(args.prices, self.profile.instance_types)
        self.workload = Workload.deeprecsys()
        qos = getattr(args, "qos", None)
        self.qos_ms = float(qos) if qos is not None else defaults.qos_for(args.model)
        self.percentile = float(getattr(args, "percentile", defaults.PAPER_PERCENTILE))

    def planner(self):
        from .planner import Planner

        _silence_solver_banner()
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
        src = "built-in profile" if self.profile_path is None else f"profile {self.profile_path}"
        return f"model {self.model}, QoS p{self.percentile:g} <= {self.qos_ms:g} ms, {src}"


def _silence_solver_banner() -> None:
    """HiGHS prints a banner on stdout the first time a solver is created in a process; create
    it once with stdout pointed at /dev/null so that ``--json`` output stays pure JSON."""
    global _BANNER_DONE
    if _BANNER_DONE:
        return
    _BANNER_DONE = True
    try:
        import highspy
    except ImportError:  # pragma: no cover - cvxpy then reports the missing solver
        return
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # stdout is not a real file (tests)
        highspy.Highs()
        return
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            highspy.Highs()
    finally:
        os.dup2(saved, fd)
        os.close(saved)


_BANNER_DONE = False


def _ms(x: float) -> str:
    """Milliseconds for a table: whole above 100, three significant digits below."""
    return f"{x:.0f}" if not math.isfinite(x) or abs(x) >= 100 else f"{x:.3g}"


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("%x").replace(",", ""))
    except ValueError:
        return False
    return True


def _print_table(rows: Sequence[Sequence[Any]], header: Sequence[str], out=None) -> None:
    """A plain-text table: numeric columns right-aligned, text left-aligned."""
    out = out or sys.stdout
    cells = [[str(h) for h in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    numeric = [all(_is_number(r[k]) for r in cells[1:] if r[k]) and any(r[k] for r in cells[1:])
               for k in range(len(header))]
    for i, r in enumerate(cells):
        line = "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric))
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
    goal = f"target {args.target_qps:g} qps" if args.target_qps is not None else f"budget ${args.budget:g}/h"
    print(f"kairos plan — {s.describe()}, {goal}")
    if args.explain:
        print(plan.explain())
        return 0
    print_plan_table(plan)
    print("(--explain says why these types and what binds; --json prints everything)")
    return 0


def print_plan_table(plan, out=None) -> None:
    """The plan as a plain-text table: count, price, rate and utilization per type."""
    rows = []
    for t, n in plan.counts.items():
        price = plan.catalog[t].cost_per_hour if plan.catalog is not None else float("nan")
        rate = sum(plan.routing.get(t, {}).values())
        rows.append([t, n, f"{price:.4g}", f"{n * price:.3f}", f"{rate:.1f}", f"{plan.utilization.get(t, 0.0):.0%}"])
    rows.append(["total", sum(plan.counts.values()), "", f"{plan.cost_per_hour:.3f}", f"{plan.predicted_qps:.1f}", ""])
    _print_table(rows, ["instance type", "count", "USD/h each", "USD/h", "rate qps", "utilization"], out=out)
    print(f"predicted allowable throughput {plan.predicted_qps:.1f} qps (fluid bound {plan.fluid_qps:.1f}), "
          f"{plan.status}, solved in {plan.total_seconds * 1000:.0f} ms", file=out or sys.stdout)


# ---------------------------------------------------------------------------- simulate
def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import allowable_throughput, simulate

    s = _Setup(args)
    if args.pool:
        pool = s.pool(parse_pool(args.pool))
    else:
        pool = s.planner().plan(budget=args.budget).pool()
    hint = None
    if args.rate is None:  # the planner's estimate is a good first rate for the bisection
        try:
            hint = s.planner().predicted_qps(pool.counts) or None
        except KairosError:
            hint = None
    policies = list(POLICIES) if args.policy == "all" else [args.policy]
    if not args.json:
        print(f"kairos simulate — {pool!r}, {s.describe()}")
        if args.rate is None:
            print(f"allowable throughput: highest Poisson rate meeting QoS, {args.n_queries} queries x "
                  f"{args.n_seeds} seed(s) per trial (bisection to 1%)…", flush=True)
    rows, docs = [], []
    for name in policies:
        pol = policy_from_name(name)
        if args.rate is not None:
            r = simulate(pool, s.profile, s.workload, policy=pol, rate=args.rate,
                         n_queries=args.n_queries, qos_ms=s.qos_ms, percentile=s.percentile,
                         seed=args.seed)
            rows.append([name, f"{args.rate:g}", f"{r.throughput_qps:.1f}", f"{r.p99_ms:.1f}",
                         f"{r.qos_attainment:.2%}", f"{r.n_shed}", "yes" if r.meets_qos else "no"])
            docs.append({"policy": name, **r.summary(), "meets_qos": r.meets_qos})
        else:
            qps = float(allowable_throughput(pool, s.profile, s.workload, policy=pol, qos_ms=s.qos_ms,
                                             percentile=s.percentile, seed=args.seed, n_seeds=args.n_seeds,
                                             n_queries=args.n_queries, start_qps=hint))
            rows.append([name, f"{qps:.1f}"])
            docs.append({"policy": name, "allowable_qps": qps})
    if args.json:
        print(json.dumps({"pool": pool.counts, "cost_per_hour": pool.cost_per_hour,
                          "qos_ms": s.qos_ms, "percentile": s.percentile, "results": docs},
                         indent=2, default=float))
        return 0
    if args.rate is not None:
        _print_table(rows, ["policy", "rate qps", "throughput qps", "p99 ms", "QoS attainment", "shed", "meets QoS"])
    else:
        _print_table(rows, ["policy", "allowable throughput qps"])
        if any(d["allowable_qps"] <= 0 for d in docs):
            print(f"0 means the pool meets QoS at no rate under that policy. {_reach(pool, s)}")
    return 0


def _reach(pool, s: _Setup) -> str:
    """Which batch sizes each type of ``pool`` serves within QoS, and the share of queries above."""
    parts = []
    for t in pool.counts:
        b = s.profile.max_batch(t, s.qos_ms, q=s.percentile / 100)
        share = s.workload.probability(lo=b + 1)
        parts.append(f"{t} serves batches up to {b} within {s.qos_ms:g} ms at p{s.percentile:g} "
                     f"({share:.1%} of queries are larger)")
    return "; ".join(parts) + "."


# ---------------------------------------------------------------------------- live helpers
def _progress_bars_wanted(args: argparse.Namespace) -> bool:
    return not getattr(args, "no_progress", False)


async def _drive(pool, s: _Setup, *, policy, rate: float, duration_s: float, seed: int, progress):
    """Drive ``pool`` (with endpoints) at ``rate`` for ``duration_s`` seconds with the client."""
    from .client import KairosClient, OpenInferenceProtocol

    async with KairosClient(pool, protocol=OpenInferenceProtocol(s.model), policy=policy,
                            profile=s.profile, qos_ms=s.qos_ms, percentile=s.percentile) as client:
        return await client.run(s.workload, rate=rate, duration_s=duration_s, seed=seed, progress=progress)


def _run_row(label: str, pool, r) -> list[str]:
    return [label, pool.describe(), f"{pool.cost_per_hour:.3f}", f"{r.rate_qps:.1f}",
            f"{r.throughput_qps:.1f}", _ms(r.p99_ms), f"{r.qos_attainment:.2%}"]


RUN_HEADER = ["policy", "pool", "USD/h", "offered qps", "measured qps", "p99 ms", "QoS attainment"]


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
    policy = policy_from_name(args.policy)
    try:
        bound = s.planner().fluid_bound(pool.counts)
    except KairosError:
        bound = None
    if bound is not None and bound <= 1e-9:
        print(f"kairos: warning: by the profile this pool meets QoS at no rate: {_reach(pool, s)}",
              file=sys.stderr, flush=True)
    elif bound is not None and args.rate > 1.2 * bound:
        backlog_s = args.duration * (args.rate - bound) / max(bound, 1e-9)
        print(f"kairos: warning: {args.rate:g} qps is above what this pool can serve within QoS even when busy "
              f"all the time (~{bound:.0f} qps by the profile); queues will grow and the run needs about "
              f"{backlog_s:.0f} s more to drain", file=sys.stderr, flush=True)
    progress = None if _progress_bars_wanted(args) else False
    r = asyncio.run(_drive(pool, s, policy=policy, rate=args.rate, duration_s=args.duration,
                           seed=args.seed, progress=progress))
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
    from .endpoints import serve_forever, serve_until_cancelled

    s = _Setup(args)
    pool = s.pool(parse_pool(args.pool)) if args.pool else s.planner().plan(budget=args.budget).pool()
    if args.write:
        print(f"endpoints will be written to {args.write}; drive them with: kairos run {args.write} --rate QPS")
    if args.for_seconds:
        async def timed() -> None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    serve_until_cancelled(pool, s.profile, announce=_announce(s.model), pool_file=args.write,
                                          host=args.host, port=args.port, model=s.model, seed=args.seed),
                    args.for_seconds)

        asyncio.run(timed())
        return 0
    return serve_forever(pool, s.profile, host=args.host, port=args.port, model=s.model, seed=args.seed,
                         pool_file=args.write)


def _announce(model: str):
    def announce(live) -> None:
        print(f"kairos replay endpoints (model {model!r})")
        for inst in live:
            print(f"  {inst.id:<20} {inst.type:<14} {inst.endpoint}")
        sys.stdout.flush()

    return announce


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
    from .simulate import allowable_throughput

    s = _Setup(args)
    t0 = time.perf_counter()
    planner = s.planner()
    plan = planner.plan(budget=args.budget)
    t_plan = time.perf_counter() - t0
    homo = _homogeneous(planner, args.budget)
    print(f"kairos bench quick — {s.describe()}, budget ${args.budget:g}/h (plan solved in {t_plan * 1000:.0f} ms)")
    print(f"simulated allowable throughput, {args.n_queries} queries x {args.n_seeds} seed(s) per trial, "
          "KairosPolicy for both pools…", flush=True)
    rows, qps = [], []
    for label, pool, predicted in (("planned", plan.pool(), plan.predicted_qps),
                                   ("homogeneous", homo.pool(), homo.score)):
        t1 = time.perf_counter()
        res = allowable_throughput(pool, s.profile, s.workload, policy=policy_from_name("kairos"), qos_ms=s.qos_ms,
                                   percentile=s.percentile, seed=args.seed, n_seeds=args.n_seeds,
                                   n_queries=args.n_queries, start_qps=max(predicted, 1e-3))
        qps.append(float(res))
        rows.append([label, pool.describe(), f"{pool.cost_per_hour:.3f}", f"{predicted:.1f}", f"{float(res):.1f}",
                     f"{time.perf_counter() - t1:.1f}"])
    _print_table(rows, ["", "pool", "USD/h", "predicted qps", "simulated qps", "sim seconds"])
    if qps[1] > 0:
        print(f"planned / homogeneous (simulated): {qps[0] / qps[1]:.2f}x at the same budget")
    print("Full benchmarks: 'kairos bench list' in a source checkout.")
    return 0


# ---------------------------------------------------------------------------- demo
DEMO_FRACTIONS = (0.6, 0.85, 0.95, 1.1)
DEMO_MAX_REAL_QPS = 150.0


def _homogeneous(planner, budget: float):
    from .baselines import homogeneous_best

    return homogeneous_best(planner, budget=budget)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .simulate import allowable_throughput

    s = _Setup(args)
    budget = float(args.budget)
    t_start = time.perf_counter()
    planner = s.planner()
    plan = planner.plan(budget=budget)
    homo = _homogeneous(planner, budget)
    print(f"kairos demo — {s.describe()}, budget ${budget:g}/h")
    print("Planning, then simulating each pool's allowable throughput (KairosPolicy)…", flush=True)
    pools = []
    for label, pool, predicted in (("heterogeneous", plan.pool(), float(plan.predicted_qps)),
                                   ("homogeneous", homo.pool(), float(homo.score))):
        sim = float(allowable_throughput(pool, s.profile, s.workload, policy=policy_from_name("kairos"), qos_ms=s.qos_ms,
                                         percentile=s.percentile, seed=args.seed, n_seeds=1, n_queries=5000,
                                         start_qps=max(predicted, 1e-3)))
        if not sim > 0:
            raise KairosError(f"the {label} pool {pool.describe()} meets QoS at no rate in simulation; "
                              "loosen --qos or raise --budget")
        pools.append((label, pool, predicted, sim))
        print(f"  {label:13s} {pool.describe():34s} ${pool.cost_per_hour:.3f}/h  planned {predicted:6.1f} qps, "
              f"simulated {sim:6.1f} qps", flush=True)
    n_runs = len(pools) * len(DEMO_FRACTIONS)
    peak_qps = max(sim for *_, sim in pools) * max(DEMO_FRACTIONS)
    if args.time_scale == "auto":
        # keep the real request rate within what one Python process on a small machine serves
        # and drives without its own overhead (~1 ms per request) weighing on the QoS target
        time_scale = max(1.0, peak_qps / DEMO_MAX_REAL_QPS)
    else:
        time_scale = float(args.time_scale)
    per_run_real_s = max(1.0, args.duration / n_runs)
    per_run_s = per_run_real_s / time_scale  # profile seconds per run
    print(f"Driving each pool live (loopback replay endpoints, async client, KairosPolicy) at "
          f"{', '.join(f'{f:g}' for f in DEMO_FRACTIONS)} x its simulated rate, {per_run_real_s:.1f} s each…",
          flush=True)
    if time_scale != 1.0:
        print(f"(time scale {time_scale:.3g}: endpoints and client run {time_scale:.3g}x "
              f"{'slower' if time_scale > 1 else 'faster'} than real time; latencies are reported in the "
              "profile's milliseconds)", flush=True)
    progress = None if _progress_bars_wanted(args) else False
    results = asyncio.run(_demo_live(s, pools, per_run_s, args.seed, progress, time_scale))

    best: dict[str, Any] = {}
    for (label, *_), runs in zip(pools, results):
        for r in runs:
            if r.meets_qos and r.n_failed == 0 and (label not in best or r.throughput_qps > best[label].throughput_qps):
                best[label] = r
    print()
    print(f"Same budget (${budget:g}/h), measured live: throughput at QoS = the highest measured rate with "
          f">= {s.percentile:g}% of queries within {s.qos_ms:g} ms")
    summary = []
    for label, pool, predicted, sim in pools:
        r = best.get(label)
        summary.append([label, pool.describe(), f"{pool.cost_per_hour:.3f}", f"{predicted:.1f}", f"{sim:.1f}",
                        f"{r.throughput_qps:.1f}" if r else "none", _ms(r.p99_ms) if r else "",
                        f"{r.qos_attainment:.2%}" if r else ""])
    _print_table(summary, ["", "pool", "USD/h", "planned qps", "simulated qps", "measured qps at QoS",
                           f"p{s.percentile:g} ms", "QoS attainment"])
    het, hom = best.get("heterogeneous"), best.get("homogeneous")
    if het and hom:
        c_het, c_hom = pools[0][1].cost_per_hour, pools[1][1].cost_per_hour
        print(f"\nheterogeneous / homogeneous: {het.throughput_qps / hom.throughput_qps:.2f}x the throughput at QoS "
              f"({het.throughput_qps / c_het:.1f} vs {hom.throughput_qps / c_hom:.1f} qps per USD/h: "
              f"{(het.throughput_qps / c_het) / (hom.throughput_qps / c_hom):.2f}x)")
    else:
        print("\nA pool met QoS at none of its rates: this machine may be too busy for live timing; "
              "run the demo again, or with a longer --duration.")
    if not args.no_plot:
        path = _demo_plot(pools, results, s, budget, Path(args.out))
        print(f"latency vs load plot: {path}")
    print(f"demo finished in {time.perf_counter() - t_start:.0f} s")
    return 0


async def _demo_live(s: _Setup, pools, per_run_s: float, seed: int, progress, time_scale: float = 1.0):
    from .client import KairosClient, OpenInferenceProtocol
    from .distribute import KairosPolicy
    from .endpoints import serve_pool

    out = []
    k = 0
    for label, pool, _predicted, qps in pools:
        runs = []
        async with serve_pool(pool, s.profile, model=s.model, seed=seed, time_scale=time_scale) as live, KairosClient(
            live, protocol=OpenInferenceProtocol(s.model), policy=KairosPolicy(), profile=s.profile,
            qos_ms=s.qos_ms, percentile=s.percentile, time_scale=time_scale,
        ) as client:
            for f in DEMO_FRACTIONS:
                rate = round(qps * f, 1)
                r = await client.run(s.workload, rate=rate, duration_s=per_run_s, seed=seed + k, progress=progress)
                k += 1
                mark = "meets" if r.meets_qos else "misses"
                fail = f", {r.n_failed} failed" if r.n_failed else ""
                print(f"  {label:13s} offered {rate:6.1f} qps: measured {r.throughput_qps:6.1f} qps, "
                      f"p{s.percentile:g} {_ms(r.p99_ms):>6s} ms, {r.qos_attainment:7.2%} within {s.qos_ms:g} ms "
                      f"({mark} QoS{fail})", flush=True)
                runs.append(r)
        out.append(runs)
    return out


def _demo_plot(pools, results, s: _Setup, budget: float, out_dir: Path) -> Path:
    from matplotlib.figure import Figure

    out_dir.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(11, 4.2))
    ax, ax2 = fig.subplots(1, 2)
    for k, ((label, pool, _pred, _sim), runs) in enumerate(zip(pools, results)):
        x = [r.rate_qps for r in runs]
        color = f"C{k}"
        name = f"{label}: {pool.describe()} (${pool.cost_per_hour:.2f}/h)"
        ax.plot(x, [r.p99_ms for r in runs], "-", color=color, label=name)
        ax2.plot(x, [100 * r.qos_attainment for r in runs], "-", color=color, label=name)
        for r in runs:
            mfc = color if r.meets_qos else "white"
            ax.plot([r.rate_qps], [r.p99_ms], "o", color=color, mfc=mfc)
            ax2.plot([r.rate_qps], [100 * r.qos_attainment], "o", color=color, mfc=mfc)
    ax.axhline(s.qos_ms, color="C3", ls="--", lw=1, label=f"QoS {s.qos_ms:g} ms")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (queries/s)")
    ax.set_ylabel(f"measured p{s.percentile:g} latency (ms)")
    ax.set_title("tail latency vs load (filled: QoS met)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax2.axhline(s.percentile, color="C3", ls="--", lw=1, label=f"target: {s.percentile:g}% within QoS")
    ax2.set_xlabel("offered load (queries/s)")
    ax2.set_ylabel(f"% of queries within {s.qos_ms:g} ms")
    ax2.set_title("QoS attainment vs load", fontsize=10)
    ax2.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(handles + h2[-1:], labels + l2[-1:], loc="lower center", ncol=2, fontsize=8,
               bbox_to_anchor=(0.5, -0.12))
    fig.suptitle(f"kairos demo — {s.model}, live replay endpoints, budget ${budget:g}/h", fontsize=11)
    path = out_dir / f"kairos_demo_{s.model}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Plan, simulate and drive ML inference on heterogeneous cloud instance pools "
                    "(KAIROS). With no files it uses the built-in KAIROS measurements and the "
                    "paper's AWS catalog, budget (2.5 USD/h) and QoS targets.",
        epilog="Start with 'kairos demo'. Each command has --help.",
    )
    from ._version import __version__

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
                   help="total seconds of live load over all 8 runs (default %(default)g)")
    q.add_argument("--out", default=".", metavar="DIR", help="directory for the PNG plot (default: current)")
    q.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    q.add_argument("--no-progress", action="store_true", help="no progress bars")
    q.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    q.add_argument("--time-scale", type=_time_scale, default="auto", metavar="X",
                   help="real seconds per profile second for the replay endpoints and the client; "
                        "default 'auto': 1, or slower than real time when a fast model's rates exceed "
                        f"{DEMO_MAX_REAL_QPS:g} requests/s")
    q.epilog = 'examples:\n  kairos demo\n  kairos demo --model wnd --duration 30\n  kairos demo --profile latency.csv.gz --prices prices.csv --budget 3 --out plots/'
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
    q.epilog = 'examples:\n  kairos plan\n  kairos plan --budget 1.5 --explain\n  kairos plan --target-qps 80 --json\n  kairos plan --model mymodel --profile latency.csv --prices prices.csv --qos 100'
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
                   help="queries per simulated run (default %(default)s)")
    q.add_argument("--n-seeds", type=_positive(int, "--n-seeds"), default=3, metavar="K",
                   help="without --rate: seeds the allowable throughput is averaged over (default %(default)s)")
    q.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.epilog = 'examples:\n  kairos simulate\n  kairos simulate --pool g4dn.xlarge=1,r5n.large=13 --policy all --n-seeds 1\n  kairos simulate --pool g4dn.xlarge=4 --rate 40 --policy fcfs'
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
    q.epilog = 'examples:\n  kairos serve-replay --pool g4dn.xlarge=1,r5n.large=2 --write endpoints.json   # other terminal\n  kairos run endpoints.json --rate 20 --duration 10\n  kairos run my_servers.csv --model my-model --profile latency.csv --qos 100 --rate 50\n\n--model is also the model name the requests address on the endpoints.'
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
    q.add_argument("--port", type=int, default=0,
                   help="first port; endpoint k listens on PORT+k (default 0: any free ports)")
    q.add_argument("--seed", type=int, default=0, help="seed of the service-time draws (default %(default)s)")
    q.add_argument("--write", metavar="FILE", help="also write the endpoints as JSON for 'kairos run FILE'")
    q.add_argument("--for-seconds", type=_positive(float, "--for-seconds"), metavar="S",
                   help="stop after S seconds instead of waiting for Ctrl-C")
    q.epilog = "examples:\n  kairos serve-replay                                  # the planned pool for the paper's setting\n  kairos serve-replay --pool g4dn.xlarge=1,r5n.large=2 --write endpoints.json --port 8100"
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
    q.add_argument("--n-queries", type=_positive(int, "--n-queries"), default=5000, metavar="N",
                   help="queries per simulated trial in 'quick' (default %(default)s)")
    q.add_argument("--n-seeds", type=_positive(int, "--n-seeds"), default=1, metavar="K",
                   help="seeds averaged in 'quick' (default %(default)s)")
    q.epilog = 'examples:\n  kairos bench\n  kairos bench --model dien --n-seeds 3 --n-queries 20000\n  kairos bench list\n  kairos bench planner_speed --repeats 3'
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
