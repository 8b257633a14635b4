"""Shared fixtures.

Tests that need the full KAIROS measurements take the ``kairos_data`` fixture: it looks in
``$KAIROS_DATA``, else ``../shared/data/kairos_aws`` next to the project, and skips with the
reason when neither holds the data. Everything else runs on the built-in profile or on
synthetic data, so the suite passes on any clone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kairos_sdk import Catalog, Profile, defaults
from kairos_sdk.datadir import find_data_dir

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("ncf", "rm2", "wnd", "mtwnd", "dien")
QOS_MS = dict(defaults.PAPER_QOS_MS)
PAPER_CAPS = dict(defaults.PAPER_CAPS)
PAPER_PRICES = dict(defaults.PAPER_PRICES_PER_HOUR)


@pytest.fixture(scope="session")
def kairos_data() -> Path:
    """Directory holding latency.csv.gz and prices.csv of the KAIROS measurements."""
    d = find_data_dir()
    if d is None:
        pytest.skip("full KAIROS data not found: set KAIROS_DATA or place it at ../shared/data/kairos_aws")
    return d


_PROFILE_CACHE: dict[str, Profile] = {}


@pytest.fixture(scope="session")
def shared_profile(kairos_data):
    """``shared_profile("rm2")`` → Profile from the full data (largest sample per series dropped)."""

    def load(model: str) -> Profile:
        if model not in _PROFILE_CACHE:
            _PROFILE_CACHE[model] = Profile.from_csv(kairos_data / "latency.csv.gz", model=model, drop_outliers=True)
        return _PROFILE_CACHE[model]

    return load


@pytest.fixture
def paper_catalog() -> Catalog:
    """The paper's four instance types with their prices and caps."""
    return Catalog.from_prices(PAPER_PRICES, caps=PAPER_CAPS)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
