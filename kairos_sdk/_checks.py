"""Argument checks shared by every public entry point (private).

Each check takes the value and the argument's name, returns the value normalised (a plain
``float`` or ``int``) and raises with a message naming the argument and the bad value:

- a value of the wrong type raises :class:`~kairos_sdk.errors.ArgumentTypeError`
  (a ``TypeError``);
- a value of the right type but out of range raises ``error`` (default
  :class:`~kairos_sdk.errors.ArgumentError`, a ``ValueError``); an entry point passes its own
  subclass (``PlanningError``, ``CatalogError``, ...) so callers can catch by area.

``bool`` is never accepted as a number (``True`` is an ``int`` to Python, never a sensible
budget). NumPy scalars are accepted and converted.

Examples
--------
>>> from kairos_sdk._checks import positive_float, percentile
>>> positive_float(350, "qos_ms", unit="milliseconds")
350.0
>>> percentile(0.99)
Traceback (most recent call last):
...
kairos_sdk.errors.ArgumentError: percentile is in percent, got 0.99: did you mean 99?
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable
from typing import Any

from .errors import ArgumentError, ArgumentTypeError

__all__ = [
    "finite_float",
    "instance_of",
    "int_at_least",
    "int_in_range",
    "non_negative_float",
    "non_negative_int",
    "one_of",
    "percentile",
    "positive_float",
    "positive_int",
    "probability",
    "quantile",
]

ErrorClass = type[ArgumentError]


def _what(unit: str | None) -> str:
    return f" ({unit})" if unit else ""


def _real(value: Any, name: str) -> float:
    """``value`` as a float when it is a real number (bool excluded), else a type error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def _integer(value: Any, name: str) -> int:
    """``value`` as an int when it is an integer (bool excluded; ``3.0`` accepted), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if isinstance(value, numbers.Integral):
        return int(value)
    v = float(value)
    if not v.is_integer():  # also rejects nan and inf
        raise ArgumentTypeError(f"{name} must be an integer, got {value!r}")
    return int(v)


def finite_float(value: Any, name: str, *, unit: str | None = None, error: ErrorClass = ArgumentError) -> float:
    """A finite real number.

    >>> finite_float(-2, "offset")
    -2.0
    """
    v = _real(value, name)
    if not math.isfinite(v):
        raise error(f"{name} must be a finite number{_what(unit)}, got {value!r}")
    return v


def positive_float(value: Any, name: str, *, unit: str | None = None, error: ErrorClass = ArgumentError) -> float:
    """A finite number > 0, e.g. ``qos_ms``, ``budget``, ``rate``.

    >>> positive_float(2.5, "budget", unit="USD/hour")
    2.5
    """
    v = _real(value, name)
    if not (math.isfinite(v) and v > 0):
        raise error(f"{name} must be a positive number{_what(unit)}, got {value!r}")
    return v


def non_negative_float(value: Any, name: str, *, unit: str | None = None, error: ErrorClass = ArgumentError) -> float:
    """A finite number >= 0, e.g. a delay that may be zero.

    >>> non_negative_float(0, "extra_delay_ms", unit="milliseconds")
    0.0
    """
    v = _real(value, name)
    if not (math.isfinite(v) and v >= 0):
        raise error(f"{name} must be a non-negative number{_what(unit)}, got {value!r}")
    return v


def positive_int(value: Any, name: str, *, error: ErrorClass = ArgumentError) -> int:
    """An integer >= 1, e.g. ``n_queries``, ``workers``.

    >>> positive_int(4, "workers")
    4
    """
    v = _integer(value, name)
    if v < 1:
        raise error(f"{name} must be a positive integer, got {value!r}")
    return v


def non_negative_int(value: Any, name: str, *, error: ErrorClass = ArgumentError) -> int:
    """An integer >= 0, e.g. a count or a cap.

    >>> non_negative_int(0, "cap")
    0
    """
    v = _integer(value, name)
    if v < 0:
        raise error(f"{name} must be a non-negative integer, got {value!r}")
    return v


def int_at_least(value: Any, name: str, lo: int, *, what: str = "", error: ErrorClass = ArgumentError) -> int:
    """An integer >= ``lo``, e.g. a window of at least two queries.

    >>> int_at_least(8, "window", 2)
    8
    """
    v = _integer(value, name)
    if v < lo:
        raise error(f"{name} must be an integer >= {lo}{what}, got {value!r}")
    return v


def int_in_range(value: Any, name: str, lo: int, hi: int, *, what: str = "", error: ErrorClass = ArgumentError) -> int:
    """An integer in ``[lo, hi]``, e.g. a port or an HTTP status.

    >>> int_in_range(8080, "port", 0, 65535)
    8080
    """
    v = _integer(value, name)
    if not lo <= v <= hi:
        raise error(f"{name} must be an integer in {lo}..{hi}{what}, got {value!r}")
    return v


def probability(value: Any, name: str, *, error: ErrorClass = ArgumentError) -> float:
    """A probability in ``[0, 1]``.

    >>> probability(0.25, "probability")
    0.25
    """
    v = _real(value, name)
    if not 0.0 <= v <= 1.0:  # nan fails too
        raise error(f"{name} must be a probability in [0, 1], got {value!r}")
    return v


def quantile(value: Any, name: str = "q", *, error: ErrorClass = ArgumentError) -> float:
    """A quantile level in ``[0, 1]`` (``0.99`` is the p99).

    >>> quantile(0.99)
    0.99
    """
    v = _real(value, name)
    if not 0.0 <= v <= 1.0:
        hint = f": did you mean {v / 100:g}?" if 1.0 < v <= 100.0 else ""
        raise error(f"{name} must be a quantile in [0, 1], got {value!r}{hint}")
    return v


def percentile(value: Any, name: str = "percentile", *, error: ErrorClass = ArgumentError) -> float:
    """A percentile in percent, in ``(1, 100]`` (``99`` is the p99).

    Values in ``(0, 1]`` are refused rather than read as the 0.99th percentile: they are
    almost always a quantile given where a percentile is due, and the message says so.

    >>> percentile(99)
    99.0
    >>> percentile(1.0)
    Traceback (most recent call last):
    ...
    kairos_sdk.errors.ArgumentError: percentile is in percent, got 1.0: did you mean 100?
    """
    v = _real(value, name)
    if 0.0 < v <= 1.0:
        raise error(f"{name} is in percent, got {value!r}: did you mean {v * 100:g}?")
    if not 0.0 < v <= 100.0:
        raise error(f"{name} must be in percent, in (1, 100] (e.g. 99), got {value!r}")
    return v


def one_of(value: Any, name: str, choices: Iterable[Any], *, error: ErrorClass = ArgumentError) -> Any:
    """``value`` when it is one of ``choices``.

    >>> one_of("fcfs", "policy", ("fcfs", "kairos"))
    'fcfs'
    """
    options = tuple(choices)
    try:
        ok = value in options
    except TypeError:  # unhashable or incomparable
        ok = False
    if not ok:
        raise error(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value


def instance_of(value: Any, name: str, kind: type | tuple[type, ...], *, hint: str = "") -> Any:
    """``value`` when it is an instance of ``kind``, else an :class:`ArgumentTypeError`.

    >>> instance_of(3, "n", int)
    3
    """
    if not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(_type_name(k) for k in kinds)
        article = "an" if expected[0] in "aeiouAEIOU" else "a"
        raise ArgumentTypeError(f"{name} must be {article} {expected}{hint}, got {type(value).__name__}")
    return value


def _type_name(k: type) -> str:
    """The name a user imports ``k`` by: ``kairos_sdk.Profile``, ``numpy.random.Generator``."""
    if k.__module__ == "builtins":
        return k.__qualname__
    parts = k.__module__.split(".")
    if parts[0] == "kairos_sdk" and getattr(sys.modules.get("kairos_sdk"), k.__qualname__, None) is k:
        return f"kairos_sdk.{k.__qualname__}"  # re-exported at the package root
    keep = []
    for p in parts:
        if p.startswith("_"):  # stop at the first private submodule
            break
        keep.append(p)
    return ".".join([*keep, k.__qualname__])
