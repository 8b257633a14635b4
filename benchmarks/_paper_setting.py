"""The paper's evaluation setting on the shared data, for the benchmark scripts: each model's
planned pool at 2.5 USD/h with its p99 target and the pool's fluid bound."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from kairos_sdk import Catalog, Plan, Planner, Profile, Workload
from kairos_sdk.datadir import find_data_dir
from kairos_sdk.defaults import (
    PAPER_BUDGET_PER_HOUR,
    PAPER_CAPS,
    PAPER_PRICES_PER_HOUR,
    PAPER_QOS_MS,
)


@dataclass(frozen=True)
class PlannedModel:
    model: str
    qos_ms: float
    profile: Profile
    plan: Plan
    counts: dict[str, int]  # the plan's pool, types with at least one instance
    fluid_qps: float  # fluid bound of that pool


def planned_models(models: Sequence[str], workload: Workload) -> Iterator[PlannedModel]:
    """Each model's plan at the paper's budget, planned as the iteration reaches it; exits
    with status 2 at once when the shared data is missing."""
    d = find_data_dir()
    if d is None:
        print("shared data not found: set KAIROS_DATA or place it at ../shared/data/kairos_aws", file=sys.stderr)
        raise SystemExit(2)
    cat = Catalog.from_prices(PAPER_PRICES_PER_HOUR, caps=PAPER_CAPS)

    def plans() -> Iterator[PlannedModel]:
        for model in models:
            qos = PAPER_QOS_MS[model]
            prof = Profile.from_csv(d / "latency.csv.gz", model=model, drop_outliers=True)
            planner = Planner(prof, cat, workload, qos_ms=qos)
            plan = planner.plan(budget=PAPER_BUDGET_PER_HOUR)
            counts = {t: n for t, n in plan.counts.items() if n}
            yield PlannedModel(model, qos, prof, plan, counts, planner.fluid_bound(counts))

    return plans()
