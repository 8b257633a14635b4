"""Doctest collection: the modules that need Ray Serve are skipped where it is not installed
(the ``[ray]`` extra); ``cluster.py`` is pure and always collected."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("ray") else ["app.py", "local.py", "model.py", "router.py"]
