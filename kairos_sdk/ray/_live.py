"""The routers alive in this process.

A module of its own: Ray Serve ships the router class to each process by value (a copy of
``router.py``), so a registry kept in that module would be a different one per copy; this
module is imported by reference, so every copy shares it.
"""

from __future__ import annotations

import weakref

ROUTERS: weakref.WeakSet = weakref.WeakSet()
