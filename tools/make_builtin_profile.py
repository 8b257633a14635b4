"""Regenerate ``kairos_sdk/data/builtin_profiles.json.gz`` from the public KAIROS measurements.

Source: latency measurements of five DeepRecSys models on four AWS instance types published by
the KAIROS authors (Li, Samsi, Gadepally, Tiwari, HPDC'23) in ``boringlee24/hpdc23-kairos``
(MIT licence), read from ``../shared/data/kairos_aws/latency.csv.gz`` (or ``$KAIROS_DATA``).

What is kept per model, instance type and batch size (10..1000 in steps of 10): the latency
(``exec_ms + load_ms``) at 18 quantile levels and the mean, after dropping the largest sample
of each series as the original authors did. Values are rounded to 6 significant digits.

Run: ``python tools/make_builtin_profile.py``
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kairos_sdk.profile import Profile  # noqa: E402

LEVELS = [0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
          0.95, 0.97, 0.98, 0.99, 0.995, 1.0]
MODELS = ["ncf", "rm2", "wnd", "mtwnd", "dien"]
SOURCE = ("summary of the KAIROS AWS measurements (Li et al., HPDC'23; "
          "github.com/boringlee24/hpdc23-kairos, MIT licence): exec_ms+load_ms, largest sample "
          "of each series dropped, 18 quantile levels and the mean per batch size")


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def main() -> None:
    data = Path(os.environ.get("KAIROS_DATA", ROOT.parent / "shared" / "data" / "kairos_aws"))
    csv_path = data / "latency.csv.gz"
    profiles = {}
    for model in MODELS:
        prof = Profile.from_csv(csv_path, model=model, drop_outliers=True)
        doc = prof.to_dict()
        doc["source"] = SOURCE
        for name, s in prof.series.items():
            values = [[_round(float(prof.latency(name, b, q))) for q in LEVELS] for b in s.batches]
            doc["instances"][name] = {
                "batch": s.batches.tolist(),
                "levels": LEVELS,
                "values": values,
                "mean_ms": [_round(float(m)) for m in s.mean_ms],
                "counts": [0] * len(s.batches),
            }
        profiles[model] = doc
    out = ROOT / "kairos_sdk" / "data" / "builtin_profiles.json.gz"
    payload = json.dumps({"source": SOURCE, "profiles": profiles}, separators=(",", ":"))
    with gzip.GzipFile(out, "wb", mtime=0) as fh:
        fh.write(payload.encode())
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
