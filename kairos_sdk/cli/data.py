"""The data arguments every verb shares, resolved once into profile, catalog, workload and QoS.

Defaults are the KAIROS paper's setting (:mod:`kairos_sdk.defaults`); ``--profile``,
``--prices``, ``--caps``, ``--batch-mix``, ``--trace`` and ``--max-batch`` switch to a user's
own data, and a plan file given as ``--pool plan.json`` supplies model, QoS, percentile and
prices that were not given on the command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import defaults
from ..errors import KairosError
from ..planner import Planner
from ..pool import Catalog, Pool
from ..workload import Workload
from .args import (
    PlanFile,
    UsageError,
    looks_like_file,
    parse_caps,
    parse_pool,
    percentile,
    positive,
    read_batch_mix,
    read_plan_file,
    read_trace,
)
from .common import silence_solver_banner

PRICES_HELP = ("prices CSV with columns instance,price (USD/hour) and an optional cap column; "
               "default: the paper's four types")


def add_data_args(p: argparse.ArgumentParser, *, qos: bool = True, workload: bool = True) -> None:
    g = p.add_argument_group("data (defaults: built-in KAIROS profile and the paper's AWS catalog)")
    g.add_argument("--model", default=None,
                   help="model to take from the profile: ncf, rm2, wnd, mtwnd or dien (default: the plan "
                        f"file's, else {defaults.DEFAULT_MODEL}); also the model name requests address")
    g.add_argument("--profile", metavar="FILE",
                   help="latency measurements: CSV (instance,batch,latency_ms or exec_ms,load_ms; "
                        "optional model column; .gz ok; 'kairos profile' writes one) or a profile JSON")
    g.add_argument("--prices", metavar="FILE", help=PRICES_HELP)
    g.add_argument("--caps", metavar="TYPE=N,...",
                   help="most instances of each type that may be rented, e.g. g4dn.xlarge=8 "
                        "(overrides the prices file and the paper's caps)")
    if workload:
        w = g.add_mutually_exclusive_group()
        w.add_argument("--batch-mix", metavar="FILE",
                       help="batch-size distribution: CSV size,probability (default: the DeepRecSys mix)")
        w.add_argument("--trace", metavar="FILE",
                       help="batch sizes, one per line; their empirical distribution is used")
        g.add_argument("--max-batch", type=positive(int, "--max-batch"), metavar="N",
                       help="only queries up to batch N (the distribution conditioned on batch <= N), "
                            "e.g. when the profile was measured up to N")
    if qos:
        g.add_argument("--qos", type=positive(float, "--qos"), metavar="MS",
                       help="tail-latency target in ms, queueing included (default: the plan file's, "
                            "else the paper's target for the model)")
        g.add_argument("--percentile", type=percentile, default=None, metavar="P",
                       help=f"share of queries that must meet --qos, in %% (default "
                            f"{defaults.PAPER_PERCENTILE:g}; 100 means every query)")


class Setup:
    """Profile, catalog, workload and QoS resolved from the data arguments (and a plan file)."""

    def __init__(self, args: argparse.Namespace, plan_file: PlanFile | None = None) -> None:
        self.plan_file = plan_file
        pf = plan_file or PlanFile("", {})
        self.model = args.model or pf.model or defaults.DEFAULT_MODEL
        if args.model and pf.model and args.model != pf.model:
            print(f"note: {pf.path} was planned for model {pf.model}; using --model {args.model}", file=sys.stderr)
        self.profile_path = args.profile
        self.profile = _load_profile(args.profile, self.model)
        self.catalog = self._catalog(args, pf)
        self.workload = _workload(args, self.profile)
        qos = getattr(args, "qos", None)
        if qos is not None:
            self.qos_ms = float(qos)
        elif pf.qos_ms is not None and (args.model is None or args.model == pf.model):
            self.qos_ms = pf.qos_ms
        else:
            self.qos_ms = defaults.qos_for(self.model)
        pct = getattr(args, "percentile", None)
        self.percentile = float(pct if pct is not None else pf.percentile or defaults.PAPER_PERCENTILE)

    def _catalog(self, args: argparse.Namespace, pf: PlanFile):

        types = self.profile.instance_types
        if args.prices:
            cat = Catalog.from_csv(args.prices)
            # the paper's caps for the paper's types the file gives no cap for
            cat = cat.with_caps({t: c for t, c in defaults.PAPER_CAPS.items() if t in cat and cat[t].cap is None})
            src = args.prices
        elif pf.prices:
            caps = {t: c for t, c in pf.caps.items() if t in pf.prices}
            cat = Catalog.from_prices(pf.prices, caps=caps)
            src = pf.path
        else:
            cat = defaults.default_catalog()
            src = "the built-in prices"
        priced = [t for t in types if t in cat]
        if not priced:
            raise UsageError(f"{src} has no price for any type of the profile ({', '.join(types)}); "
                             "give --prices FILE with rows instance,price (USD/hour)")
        if len(priced) < len(types):
            left = [t for t in types if t not in cat]
            print(f"note: {src} prices {len(priced)} of the profile's {len(types)} types; planning over "
                  f"{', '.join(priced)} (no price for {', '.join(left)})", file=sys.stderr)
        cat = cat.restrict(priced)
        if getattr(args, "caps", None) is not None:
            caps = parse_caps(args.caps)
            unknown = [t for t in caps if t not in cat]
            if unknown:
                raise UsageError(f"--caps names {', '.join(unknown)}, which is not priced for this profile; "
                                 f"use {', '.join(cat.names)}")
            cat = cat.with_caps(caps)
        return cat

    def planner(self):

        silence_solver_banner()
        return Planner(self.profile, self.catalog, self.workload, qos_ms=self.qos_ms, percentile=self.percentile)

    def pool(self, counts: dict[str, int]):
        """A priced pool of ``counts``, checked against the profile and the caps."""

        unknown = [t for t in counts if t not in self.profile.instance_types]
        if unknown:
            raise UsageError(
                f"--pool names {', '.join(unknown)}, which the profile does not cover; "
                f"use {', '.join(self.profile.instance_types)}"
            )
        unpriced = [t for t in counts if t not in self.catalog]
        if unpriced:
            raise UsageError(f"--pool names {', '.join(unpriced)}, which has no price; add it to --prices FILE")
        for t, n in counts.items():
            cap = self.catalog[t].cap
            if cap is not None and n > cap:
                raise UsageError(f"{n} x {t} exceeds its cap of {cap}; raise it with --caps {t}={n}")
        return Pool.from_counts(counts, self.catalog)

    def describe(self) -> str:
        src = "built-in profile" if self.profile_path is None else f"profile {self.profile_path}"
        mix = "" if self.workload.name == "deeprecsys" else f", workload {self.workload.name}"
        return f"model {self.model}, QoS p{self.percentile:g} <= {self.qos_ms:g} ms, {src}{mix}"


def pool_arg(args: argparse.Namespace) -> tuple[dict[str, int] | None, PlanFile | None]:
    """``--pool``: ``TYPE=N,...`` or a plan file; ``(None, None)`` when not given. An empty
    value is an error, never the planned pool."""
    text = getattr(args, "pool", None)
    if text is None:
        return None, None
    if text.strip() and looks_like_file(text.strip()):
        pf = read_plan_file(text.strip())
        return pf.counts, pf
    return parse_pool(text), None


def setup_with_pool(args: argparse.Namespace, *, budget_default: float = defaults.PAPER_BUDGET_PER_HOUR):
    """``(setup, pool, how)``: the pool of ``--pool`` (counts or plan file), else the plan for
    ``--budget``; ``how`` says which, with the plan's cost and predicted rate."""
    counts, pf = pool_arg(args)
    s = Setup(args, pf)
    if counts is not None:
        pool = s.pool(counts)
        how = f"the pool of {pf.path}" if pf else "the given pool"
        return s, pool, how
    budget = args.budget if getattr(args, "budget", None) is not None else budget_default
    plan = s.planner().plan(budget=budget)
    how = (f"the plan for budget ${budget:g}/h: {plan.describe()}, ${plan.cost_per_hour:.3f}/h, "
           f"predicted {plan.predicted_qps:.1f} qps (give --pool to choose another)")
    return s, plan.pool(), how


# ---------------------------------------------------------------------------- loaders
def _load_profile(path: str | None, model: str):
    """The profile of ``--profile`` (or the built-in one); errors name the file."""
    try:
        return defaults.load_profile(path, model)
    except KairosError as exc:
        if path is None or str(path) in str(exc) or Path(path).name in str(exc):
            raise
        raise UsageError(f"{path}: {exc}") from None


def _workload(args: argparse.Namespace, profile):

    if getattr(args, "batch_mix", None):
        w = Workload.from_distribution(read_batch_mix(args.batch_mix), name=Path(args.batch_mix).name)
    elif getattr(args, "trace", None):
        w = Workload.from_trace(read_trace(args.trace), name=Path(args.trace).name)
    else:
        w = Workload.deeprecsys()
    max_batch = getattr(args, "max_batch", None)
    if max_batch is not None:
        if max_batch < int(w.batch_sizes[0]):
            raise UsageError(f"--max-batch {max_batch} is below the smallest batch size of the workload "
                             f"({int(w.batch_sizes[0])})")
        w = w.restrict(1, max_batch)
    measured = max(int(profile.batch_sizes(t)[-1]) for t in profile.instance_types)
    largest = int(w.batch_sizes[-1])
    if largest > measured and max_batch is None:
        raise UsageError(f"the profile measures batch sizes up to {measured} but the workload has batches up to "
                         f"{largest}; add --max-batch {measured} (only queries up to batch {measured}), or "
                         "give --batch-mix FILE / --trace FILE")
    return w
