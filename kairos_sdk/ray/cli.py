"""``kairos ray config|deploy``: a plan as a Ray cluster config, or deployed on a running one.

The main CLI wires :func:`add_ray_parser` into its sub-commands and calls the function it
sets as ``func`` (:func:`run_ray`). ``config`` needs no Ray; ``deploy`` connects to the
cluster at ``--address`` (``ray.init(address=...)``) and runs the plan as one Serve
application with :class:`~kairos_sdk.ray.ReplayModel` (or ``--app module:Deployment``).

Examples
--------
::

    kairos ray config --budget 2.5                      # launcher YAML for the plan
    kairos ray config --budget 2.5 --kuberay            # a KubeRay RayCluster
    kairos ray config --pool g4dn.xlarge=1,r5n.large=3 --validate
    kairos ray deploy --budget 2.5 --address auto       # on a cluster made from the config
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from .. import defaults
from ..errors import KairosError
from ..planner import silence_solver_banner

__all__ = ["add_ray_parser", "run_ray"]


def _pool(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, n = part.partition("=")
        if not name.strip() or not n.strip().isdigit():
            raise argparse.ArgumentTypeError(f"--pool expects TYPE=N,TYPE=N (e.g. g4dn.xlarge=1,r5n.large=3), got {text!r}")
        out[name.strip()] = int(n)
    return out


def add_ray_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ray`` (with ``config`` and ``deploy``) to an ``argparse`` sub-parser set; the
    parsed namespace's ``func`` is :func:`run_ray`."""
    p = subparsers.add_parser("ray", help="a plan as a Ray cluster config, or deployed on Ray Serve",
                              description="Turn a plan into a Ray cluster (launcher YAML or KubeRay) or deploy it "
                                          "on a running Ray cluster as one Serve app routed by KAIROS. Needs the "
                                          "[ray] extra for deploy and --validate.")
    verbs = p.add_subparsers(dest="ray_verb", metavar="{config,deploy}")
    verbs.required = True
    for verb, help_ in (("config", "print the Ray cluster for the plan (launcher YAML, or --kuberay)"),
                        ("deploy", "deploy the plan on a running Ray cluster (Serve app + KairosRequestRouter)")):
        q = verbs.add_parser(verb, help=help_)
        g = q.add_argument_group("the plan")
        g.add_argument("--model", default=defaults.DEFAULT_MODEL, help="model of the built-in profile (default %(default)s)")
        g.add_argument("--profile", metavar="FILE", help="latency CSV or profile JSON (default: built-in)")
        g.add_argument("--prices", metavar="FILE", help="prices CSV instance,price (default: the paper's)")
        g.add_argument("--budget", type=float, default=defaults.PAPER_BUDGET_PER_HOUR, help="USD/hour (default %(default)s)")
        g.add_argument("--qos", type=float, default=None, metavar="MS", help="latency target (default: the model's)")
        g.add_argument("--percentile", type=float, default=99.0, help="share within --qos, %% (default %(default)s)")
        g.add_argument("--pool", type=_pool, metavar="TYPE=N,...", help="use this pool instead of planning")
        q.add_argument("--name", default="kairos", help="cluster / deployment name (default %(default)s)")
        if verb == "config":
            q.add_argument("--kuberay", action="store_true", help="print a KubeRay RayCluster instead")
            q.add_argument("--json", action="store_true", help="print JSON instead of YAML")
            q.add_argument("--validate", action="store_true", help="check against Ray's cluster schema (needs Ray)")
            q.add_argument("--head-type", default="m5.large", help="head node instance type (default %(default)s)")
        else:
            q.add_argument("--address", default="auto", help="Ray cluster address (default %(default)s)")
            q.add_argument("--app", metavar="MODULE:ATTR", help="your deployment (default: ReplayModel)")
            q.add_argument("--policy", default="kairos", help="routing policy (default %(default)s)")
            q.add_argument("--time-scale", type=float, default=1.0, help="ReplayModel wall time per profile time")
        q.set_defaults(func=run_ray)
    return p


def _plan(args: argparse.Namespace) -> tuple[Any, Any, float]:
    prof = defaults.load_profile(args.profile, args.model)
    qos = args.qos if args.qos is not None else defaults.qos_for(args.model)
    if args.pool:
        return args.pool, prof, qos
    from ..planner import Planner
    from ..workload import Workload

    cat = defaults.load_catalog(args.prices, prof.instance_types)
    plan = Planner(prof, cat, Workload.deeprecsys(), qos_ms=qos, percentile=args.percentile).plan(budget=args.budget)
    return plan.raise_for_status(), prof, qos


def run_ray(args: argparse.Namespace) -> int:
    """Run ``kairos ray config`` or ``kairos ray deploy``; returns the exit status."""
    silence_solver_banner()  # the YAML/JSON on stdout must be only the config
    try:
        plan, prof, qos = _plan(args)
        counts = getattr(plan, "counts", plan)
        if args.ray_verb == "config":
            from .cluster import to_ray_cluster

            cfg = to_ray_cluster(plan, cluster_name=args.name, head_instance_type=args.head_type)
            if args.validate:
                cfg.validate()
            doc = cfg.kuberay if args.kuberay else cfg.launcher
            if args.json:
                print(json.dumps(doc, indent=2))
            else:
                print(cfg.kuberay_yaml() if args.kuberay else cfg.launcher_yaml(), end="")
            return 0
        import ray

        from .app import deploy
        from .model import ReplayModel

        model: Any = ReplayModel
        if args.app:
            mod, _, attr = args.app.partition(":")
            model = getattr(importlib.import_module(mod), attr)
        ray.init(address=args.address)
        deploy(plan, prof, model, name=args.name, qos_ms=qos, percentile=args.percentile, policy=args.policy,
               time_scale=args.time_scale)
        print(f"deployed {args.name!r}: {', '.join(f'{n} x {t}' for t, n in counts.items())}, "
              f"routed by KairosRequestRouter ({args.policy}, {qos:g} ms at p{args.percentile:g})")
        return 0
    except KairosError as exc:
        print(f"kairos ray: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"kairos ray: {exc}; install the extra: pip install 'kairos-sdk[ray]'", file=sys.stderr)
        return 2
