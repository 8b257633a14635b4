"""Built-in defaults: the KAIROS paper's evaluation setting, so everything runs with no files.

The paper (Li, Samsi, Gadepally, Tiwari, *KAIROS*, HPDC'23) evaluates five DeepRecSys models on
four AWS EC2 instance types at a budget of 2.5 USD/hour with a p99 latency target per model.
The prices below are the on-demand USD/hour figures of the public KAIROS artifact
(``boringlee24/hpdc23-kairos``, MIT licence; ``prices.csv`` of the shared measurements), and the
caps are the paper's (as many of each type as the budget could allow).

Helpers here also load a profile or a catalog from a file a user names, with errors that say
what to do. Finding the full measurements on disk is the job of :mod:`kairos_sdk.datadir`
(the CLI's, the tests' and the benchmarks' concern, not the library's).

Examples
--------
>>> from kairos_sdk.defaults import default_catalog, PAPER_QOS_MS, PAPER_BUDGET_PER_HOUR
>>> default_catalog()
Catalog(c5n.2xlarge=$0.432/h≤6, g4dn.xlarge=$0.526/h≤5, r5n.large=$0.149/h≤17, t3.xlarge=$0.1664/h≤15)
>>> PAPER_QOS_MS["rm2"], PAPER_BUDGET_PER_HOUR
(350.0, 2.5)
"""

from __future__ import annotations

import os
from pathlib import Path

from ._checks import instance_of
from .errors import ArgumentError, CatalogError, ProfileError
from .pool import Catalog
from .profile import Profile

__all__ = [
    "CATALOG_SOURCE",
    "DEFAULT_MODEL",
    "PAPER_BUDGET_PER_HOUR",
    "PAPER_CAPS",
    "PAPER_PERCENTILE",
    "PAPER_PRICES_PER_HOUR",
    "PAPER_QOS_MS",
    "default_catalog",
    "load_catalog",
    "load_profile",
    "qos_for",
]

#: Model used when none is named.
DEFAULT_MODEL = "rm2"

#: The paper's cost budget, USD per hour.
PAPER_BUDGET_PER_HOUR = 2.5

#: The paper's QoS percentile: a run meets QoS when 99% of queries finish within target.
PAPER_PERCENTILE = 99.0

#: The paper's p99 latency target per model, milliseconds (queueing included).
PAPER_QOS_MS: dict[str, float] = {"ncf": 5.0, "rm2": 350.0, "wnd": 25.0, "mtwnd": 25.0, "dien": 35.0}

#: On-demand prices (USD/hour) of the paper's four instance types.
PAPER_PRICES_PER_HOUR: dict[str, float] = {
    "g4dn.xlarge": 0.526,
    "c5n.2xlarge": 0.432,
    "r5n.large": 0.149,
    "t3.xlarge": 0.1664,
}

#: The paper's per-type instance caps.
PAPER_CAPS: dict[str, int] = {"g4dn.xlarge": 5, "c5n.2xlarge": 6, "r5n.large": 17, "t3.xlarge": 15}

#: Where the built-in prices and caps come from (shown with the catalog).
CATALOG_SOURCE = (
    "AWS on-demand prices from the KAIROS artifact (Li et al., HPDC'23; "
    "github.com/boringlee24/hpdc23-kairos, MIT licence), caps from the paper's evaluation"
)


def default_catalog() -> Catalog:
    """The paper's four instance types with their prices and caps."""
    return Catalog.from_prices(PAPER_PRICES_PER_HOUR, caps=PAPER_CAPS)


def qos_for(model: str | None) -> float:
    """The paper's QoS target for ``model``; raises when the model has none.

    Examples
    --------
    >>> qos_for("wnd")
    25.0
    """
    if model is not None:
        instance_of(model, "model", str)
    if model in PAPER_QOS_MS:
        return PAPER_QOS_MS[model]
    raise ArgumentError(
        f"no default QoS target for model {model!r} (known: {', '.join(PAPER_QOS_MS)}); "
        "give one with --qos MS (or qos_ms=...)"
    )


def load_profile(path: str | os.PathLike[str] | None = None, model: str = DEFAULT_MODEL) -> Profile:
    """A profile from ``path`` (CSV, CSV.gz or profile JSON), else the built-in one.

    CSV files hold one row per measured query (``instance,batch,latency_ms`` or
    ``exec_ms,load_ms``, optional ``model`` column); the largest sample of each series is
    dropped, as the KAIROS authors did, unless some series has a single sample. JSON files are written by ``Profile.to_json``.

    Examples
    --------
    >>> load_profile(None, "rm2").instance_types
    ('c5n.2xlarge', 'g4dn.xlarge', 'r5n.large', 't3.xlarge')
    """
    if path is None:
        return Profile.builtin(model)
    p = Path(path)
    if not p.exists():
        raise ProfileError(f"profile file not found: {p}; give a CSV (instance,batch,latency_ms) or a profile JSON")
    name = p.name.lower()
    if name.endswith((".json", ".json.gz")):
        return Profile.from_json(p)
    if name.endswith((".csv", ".csv.gz")):
        try:
            prof = Profile.from_csv(p, model=model, drop_outliers=True)
        except ProfileError:  # too few samples per series to drop one: keep them all
            prof = Profile.from_csv(p, model=model)
        return prof if prof.model else Profile(series=prof.series, model=model, source=prof.source)
    raise ProfileError(f"{p}: unknown profile format; use .csv, .csv.gz or .json")


def load_catalog(path: str | os.PathLike[str] | None, instance_types: tuple[str, ...]) -> Catalog:
    """The catalog for ``instance_types``: prices from ``path`` (CSV ``instance,price``) or the
    built-in paper prices; the paper's caps apply to the paper's types.

    Examples
    --------
    >>> load_catalog(None, ("g4dn.xlarge", "r5n.large")).names
    ('g4dn.xlarge', 'r5n.large')
    """
    if path is None:
        base = default_catalog()
        missing = [t for t in instance_types if t not in base.names]
        if missing:
            raise CatalogError(
                f"no built-in price for {', '.join(missing)}; give prices with --prices FILE "
                "(CSV with columns instance,price in USD/hour)"
            )
        return base.restrict(instance_types)
    cat = Catalog.from_csv(path)
    caps = {k: v for k, v in PAPER_CAPS.items() if k in cat.names}
    missing = [t for t in instance_types if t not in cat.names]
    if missing:
        raise CatalogError(f"{path} has no price for {', '.join(missing)}; add a row instance,price for each")
    return cat.with_caps(caps).restrict(instance_types)
