"""Jupyter widgets: :class:`PlannerWidget` and :class:`RunDashboard`.

``ipywidgets`` and ``matplotlib`` are imported here only, when a widget is built; importing
``kairos_sdk`` never imports them. Plots are rendered with matplotlib's Agg backend into an
``ipywidgets.Image``, so they show the same in JupyterLab, classic notebooks and VS Code, and
the widgets can be built and driven headlessly (tests do so).

Examples
--------
>>> import kairos_sdk as ks
>>> from kairos_sdk.widgets import PlannerWidget
>>> planner = ks.Planner(ks.Profile.builtin("rm2"), ks.defaults.default_catalog(),
...                      ks.Workload.deeprecsys(), qos_ms=350)
>>> w = PlannerWidget(planner, debounce_s=0)
>>> w.budget.value = 1.5
>>> w.plan.cost_per_hour <= 1.5
True
"""

from .dashboard import RunDashboard
from .planner_widget import PlannerWidget

__all__ = ["PlannerWidget", "RunDashboard"]
