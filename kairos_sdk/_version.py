"""The package version, in a module of its own so that edge modules (the HTTP transport, the
replay endpoints, the CLI) can name it without importing the package root."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
