"""One check that Ray Serve is importable, with the fix in the message."""

from __future__ import annotations

from ..errors import KairosError

__all__ = ["RayNotInstalled", "require_ray"]


class RayNotInstalled(KairosError, ImportError):
    """``ray[serve]`` is not installed (``pip install "kairos-sdk[ray]"``)."""


def require_ray() -> None:
    """Raise :class:`RayNotInstalled` unless ``ray.serve`` imports."""
    try:
        import ray.serve  # noqa: F401
    except ImportError as exc:
        raise RayNotInstalled(
            f"this needs Ray Serve, which is not installed ({exc}); "
            "install it with: pip install \"kairos-sdk[ray]\""
        ) from None
