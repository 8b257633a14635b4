"""Exploration-free instance-mix planning: a mixed-integer program solved by HiGHS via cvxpy.

The :class:`Planner` picks how many instances of each type to rent so that the pool
sustains the highest query rate within a budget (:meth:`Planner.plan` with ``budget=``), or
the cheapest pool that sustains a rate (``target_qps=``), under a tail-latency target. It
never tries a pool online: it solves one MILP over the whole catalog.

Model (see ``docs/planner.md`` for the full derivation):

* **Batch classes** ``b`` come from the workload's batch-size pmf (every support point is
  a class up to ``max_classes``; beyond that, adjacent points with the same eligibility are
  merged conservatively).
* **Eligibility**: type ``i`` may serve class ``b`` only if its service time at the QoS
  percentile fits the target, ``latency(i, b, q=percentile/100) <= qos_ms``.
* **Variables**: integer counts ``n_i``; continuous routed rates ``x_ib >= 0`` (qps) on
  eligible pairs; the total rate ``lam``; an unserved rate ``u_b`` allowed only for classes
  no *rented* type can serve, at most ``(100 - percentile)%`` of the queries in total.
* **Capacity with headroom**: ``sum_b x_ib * mean_ms_ib / (1000 * rho_ib) <= n_i``, where
  ``rho_ib`` (see :class:`Headroom`) leaves room for queueing: the less slack between the
  QoS target and the service time, the more room is kept.
* **Budget** ``sum_i price_i n_i <= budget``; caps ``n_i <= cap_i``.

Examples
--------
>>> from kairos_sdk import Catalog, Planner, Profile, Workload
>>> profile = Profile.builtin("rm2")
>>> catalog = Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149},
...                               caps={"g4dn.xlarge": 5, "r5n.large": 17})
>>> planner = Planner(profile, catalog, Workload.deeprecsys(), qos_ms=350)
>>> plan = planner.plan(budget=2.5)
>>> plan.counts
{'g4dn.xlarge': 1, 'r5n.large': 13}
>>> plan.cost_per_hour <= 2.5
True
"""

from .banner import silence_solver_banner
from .headroom import Headroom
from .lp import capacity_prices as capacity_prices  # the routing LP, also used by distribute
from .lp import fluid_model as fluid_model
from .lp import route as route
from .plan import Plan
from .planner import Planner

__all__ = ["Headroom", "Plan", "Planner", "silence_solver_banner"]
