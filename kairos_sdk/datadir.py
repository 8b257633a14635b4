"""Find the full KAIROS measurements on disk (an edge helper for the CLI, tests, benchmarks
and examples; the library core never searches the filesystem).

The measurements (``latency.csv.gz`` and ``prices.csv`` of the public KAIROS artifact) are
looked for in ``$KAIROS_DATA``, then in ``shared/data/kairos_aws`` beside the project
checkout, beside the current directory and under it.

Examples
--------
>>> from kairos_sdk.datadir import find_data_dir
>>> d = find_data_dir()
>>> d is None or (d / "prices.csv").exists()
True
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV", "find_data_dir"]

#: Environment variable naming the directory of the measurements.
DATA_ENV = "KAIROS_DATA"

_FILES = ("latency.csv.gz", "prices.csv")


def find_data_dir() -> Path | None:
    """Directory of the full KAIROS measurements (``latency.csv.gz`` and ``prices.csv``), or ``None``.

    Looks at ``$KAIROS_DATA``, then ``shared/data/kairos_aws`` next to the project checkout,
    next to the current directory and in it.
    """
    cands = []
    env = os.environ.get(DATA_ENV)
    if env:
        cands.append(Path(env))
    here = Path(__file__).resolve().parents[1]
    for base in (here.parent, Path.cwd().parent, Path.cwd()):
        cands.append(base / "shared" / "data" / "kairos_aws")
    for c in cands:
        if all((c / f).exists() for f in _FILES):
            return c
    return None
