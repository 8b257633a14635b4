"""Plan a pool from your own CSV files: measured latencies and a price list.

    python examples/plan_from_csv.py [LATENCY_CSV PRICES_CSV] [--model rm2] [--budget 2.5] [--small]

Without arguments it uses the KAIROS AWS measurements when they are present (``$KAIROS_DATA``
or ``../shared/data/kairos_aws`` beside the project); otherwise it writes a small CSV drawn from
the built-in profile to a temporary directory and plans from that, so it always runs.

The files:

* latencies: one row per measured query, columns ``instance,batch,latency_ms`` (or
  ``exec_ms,load_ms``, summed), optionally ``model`` and ``sample``; ``.csv`` or ``.csv.gz``;
* prices: columns ``instance,price`` in USD per hour.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

import kairos_sdk as ks
from kairos_sdk.baselines import homogeneous_best
from kairos_sdk.datadir import find_data_dir
from kairos_sdk.defaults import PAPER_CAPS, PAPER_PRICES_PER_HOUR, PAPER_QOS_MS


def write_small_csvs(model: str, out: Path, samples: int = 20) -> tuple[Path, Path]:
    """Latency samples drawn from the built-in profile, and the paper's prices."""
    profile = ks.Profile.builtin(model)
    rng = np.random.default_rng(0)
    lat, prices = out / "latency.csv", out / "prices.csv"
    with open(lat, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "instance", "batch", "latency_ms"])
        for inst in profile.instance_types:
            for batch in range(50, 1001, 50):
                for x in profile.sample(inst, batch, rng, size=samples):
                    w.writerow([model, inst, batch, f"{x:.4f}"])
    with open(prices, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["instance", "price"])
        w.writerows(PAPER_PRICES_PER_HOUR.items())
    return lat, prices


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", metavar="CSV", help="LATENCY_CSV PRICES_CSV")
    ap.add_argument("--model", default="rm2")
    ap.add_argument("--budget", type=float, default=2.5, help="USD per hour")
    ap.add_argument("--small", action="store_true",
                    help="plan from a small CSV drawn from the built-in profile even when the measurements are here")
    args = ap.parse_args()

    tmp = None
    if len(args.files) == 2:
        lat, prices = map(Path, args.files)
    elif args.files:
        ap.error("give both LATENCY_CSV and PRICES_CSV, or neither")
    elif not args.small and (found := find_data_dir()) is not None:
        lat, prices = found / "latency.csv.gz", found / "prices.csv"
    else:
        tmp = tempfile.TemporaryDirectory()
        lat, prices = write_small_csvs(args.model, Path(tmp.name))
    print(f"latencies: {lat}\nprices:    {prices}")

    profile = ks.Profile.from_csv(lat, model=args.model, drop_outliers=True)
    caps = {k: v for k, v in PAPER_CAPS.items() if k in profile.instance_types}
    catalog = ks.Catalog.from_csv(prices, caps=caps).restrict(profile.instance_types)
    workload = ks.Workload.deeprecsys()
    qos_ms = PAPER_QOS_MS.get(args.model, 350.0)

    planner = ks.Planner(profile, catalog, workload, qos_ms=qos_ms, percentile=99)
    plan = planner.plan(budget=args.budget)
    print()
    print(plan.explain())

    homo = homogeneous_best(planner, budget=args.budget)
    print(f"\nbest homogeneous pool: {homo.describe()}, ${homo.cost_per_hour:.3f}/h, "
          f"predicted {homo.score:.1f} qps")
    print(f"planned / homogeneous (predicted): {plan.predicted_qps / homo.score:.2f}x")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    try:
        main()
    except ks.KairosError as exc:  # bad files or settings: say what to change, no traceback
        raise SystemExit(f"plan_from_csv: error: {exc}") from None
