"""The SDK's default policy, :class:`KairosPolicy`, one module per step: :mod:`.costs`,
:mod:`.set_aside`, :mod:`.match`, :mod:`.shed`, with :mod:`.weights` for the price of each
type's time and :mod:`.policy` running them."""

from .policy import KairosPolicy

__all__ = ["KairosPolicy"]
