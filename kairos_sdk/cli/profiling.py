"""``kairos profile``: measure live endpoints' latency per batch size and write a profile CSV
(round trips, what a query sees) or a profile JSON (the servers' compute, with the rest of
each round trip kept apart as the profile's per-query overhead)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import io
import sys
from pathlib import Path

from .. import defaults
from .args import UsageError, parse_batches, positive, read_endpoints
from .common import ms, print_table, progress_wanted
from .run import add_connection_args, client_options, make_protocol

EXAMPLES = """examples:
  kairos serve-replay --pool g4dn.xlarge=1,r5n.large=1 --write endpoints.json   # other terminal
  kairos profile endpoints.json --batches 10,100,500,1000 --samples 20 --out latency.csv
  kairos plan --profile latency.csv --qos 350
  kairos profile endpoints.json --batches 10,100,500,1000 --samples 20 --out profile.json

  kairos profile my_servers.csv --model my-model --batches 10:200:10 --samples 30 --out my.csv \\
      --protocol torchserve --token "$TOKEN"
  kairos plan --model my-model --profile my.csv --prices prices.csv --qos 100 --max-batch 200"""


def add_parser(sub) -> None:
    q = sub.add_parser("profile", help="measure live endpoints and write a latency CSV the other verbs read",
                       description="Send queries of each batch size to each endpoint, one at a time (no "
                                   "queueing), and write the --profile FILE of plan, simulate, run and demo. "
                                   "A CSV (instance,batch,latency_ms,model) holds every measured round trip: "
                                   "what a query sees, HTTP and the server's framing included. A profile "
                                   "JSON holds the servers' compute (when they report it in Server-Timing) "
                                   "and carries the rest of each round trip as the profile's per-query "
                                   "overhead, which plan, simulate and the policies add back.")
    q.add_argument("endpoints", metavar="ENDPOINTS", help="JSON or CSV file of instance type + URL")
    q.add_argument("--model", default=defaults.DEFAULT_MODEL,
                   help="model name the requests address, and the CSV's model column (default %(default)s)")
    q.add_argument("--batches", type=parse_batches, required=True, metavar="B,B,... | START:STOP:STEP",
                   help="batch sizes to measure, e.g. 10,100,500 or 10:1000:10")
    q.add_argument("--samples", type=positive(int, "--samples"), default=10, metavar="N",
                   help="measurements per instance type and batch size (default %(default)s)")
    q.add_argument("--warmup", type=non_negative_int, default=1, metavar="N",
                   help="unrecorded requests per endpoint first (default %(default)s)")
    q.add_argument("--out", required=True, metavar="FILE",
                   help="profile to write: .csv or .csv.gz (round trips), .json or .json.gz (compute + overhead)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_connection_args(q, concurrency=False)
    q.epilog = EXAMPLES
    q.set_defaults(func=cmd)


def non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"--warmup must be a whole number >= 0, got {text!r}")
    return v


def cmd(args: argparse.Namespace) -> int:
    from ..client import measure_profile

    out = Path(args.out)
    as_json = out.name.lower().endswith((".json", ".json.gz"))
    if not as_json and not out.name.lower().endswith((".csv", ".csv.gz")):
        raise UsageError(f"--out {out}: use a .csv, .csv.gz, .json or .json.gz name (the other verbs read it "
                         "with --profile)")
    urls: dict[str, list[str]] = {}
    for t, u in read_endpoints(args.endpoints):
        urls.setdefault(t, []).append(u)
    n = sum(len(v) for v in urls.values())
    print(f"kairos profile — {n} endpoint(s) of {len(urls)} type(s), batches {_batches(args.batches)}, "
          f"{args.samples} samples each", flush=True)
    prof = asyncio.run(measure_profile(urls, args.batches, args.samples, protocol=make_protocol(args, args.model),
                                       warmup=args.warmup, progress=progress_wanted(args), split_overhead=as_json,
                                       **client_options(args)))
    if as_json:
        out.parent.mkdir(parents=True, exist_ok=True)
        prof.to_json(out)
        rows = sum(int(prof.series[t].counts.sum()) for t in prof.instance_types)
        print(f"per-query overhead: {prof.overhead!r}")
    else:
        rows = write_csv(prof, out, args.model)
    print_table([[t, b, ms(float(prof.latency(t, b, q=0.5))), ms(float(prof.latency(t, b, q=0.99)))]
                 for t in prof.instance_types for b in prof.batch_sizes(t)],
                ["instance type", "batch", "median ms", "p99 ms"])
    print(f"{rows} measurements written to {out}; use it with --profile {out}"
          + ("" if args.model in defaults.PAPER_QOS_MS else " --qos MS"))
    return 0


def _batches(sizes: list[int]) -> str:
    return ", ".join(map(str, sizes)) if len(sizes) <= 8 else f"{sizes[0]}..{sizes[-1]} ({len(sizes)} sizes)"


def write_csv(profile, path: Path, model: str) -> int:
    """Every sample of a measured profile as rows ``instance,batch,latency_ms,model``; returns
    the number of rows. A profile built from raw samples keeps each sample as one level of its
    quantile table, so the rows are exactly the measurements (sorted per batch size)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["instance", "batch", "latency_ms", "model"])
    rows = 0
    for t in profile.instance_types:
        s = profile.series[t]
        for i, b in enumerate(s.batches):
            n = int(s.counts[i])
            values = s.values[i] if n == len(s.levels) else s.values[i][:1] if n == 1 else s.values[i]
            for v in values:
                w.writerow([t, int(b), f"{float(v):.4f}", model])
                rows += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    data = buf.getvalue().encode()
    path.write_bytes(gzip.compress(data) if path.name.lower().endswith(".gz") else data)
    if rows == 0:  # pragma: no cover - measure_profile always records
        print("warning: no measurements", file=sys.stderr)
    return rows
