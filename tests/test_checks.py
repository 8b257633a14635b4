"""The shared argument checks: what they accept, what they return, what they say when they refuse."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kairos_sdk import ArgumentError, ArgumentTypeError, CatalogError, KairosError, Profile
from kairos_sdk import _checks as c

NOT_NUMBERS = st.one_of(st.booleans(), st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=2),
                        st.just(1 + 2j))
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


def _refused(error, name, value, call):
    """``call()`` raises ``error`` whose message names the argument and shows the value."""
    with pytest.raises(error) as info:
        call()
    msg = str(info.value)
    assert msg.startswith(name), msg
    assert repr(value) in msg, msg
    assert isinstance(info.value, KairosError)
    return msg


def test_the_two_error_kinds_are_kairos_errors_and_builtin_errors():
    assert issubclass(ArgumentError, KairosError) and issubclass(ArgumentError, ValueError)
    assert issubclass(ArgumentTypeError, KairosError) and issubclass(ArgumentTypeError, TypeError)
    assert not issubclass(ArgumentTypeError, ValueError)  # a wrong type is not a bad value


# ------------------------------------------------------------------ real numbers
@given(ANY_FLOAT)
def test_positive_float(v):
    if math.isfinite(v) and v > 0:
        assert c.positive_float(v, "budget") == v
    else:
        _refused(ArgumentError, "budget", v, lambda: c.positive_float(v, "budget"))


@given(ANY_FLOAT)
def test_non_negative_float(v):
    if math.isfinite(v) and v >= 0:
        assert c.non_negative_float(v, "delay_ms") == v
    else:
        _refused(ArgumentError, "delay_ms", v, lambda: c.non_negative_float(v, "delay_ms"))


@given(ANY_FLOAT)
def test_finite_float(v):
    if math.isfinite(v):
        assert c.finite_float(v, "offset") == v
    else:
        _refused(ArgumentError, "offset", v, lambda: c.finite_float(v, "offset"))


@given(ANY_FLOAT)
def test_probability(v):
    if 0 <= v <= 1:
        assert c.probability(v, "p") == v
    else:
        _refused(ArgumentError, "p", v, lambda: c.probability(v, "p"))


@pytest.mark.parametrize("check", [c.positive_float, c.non_negative_float, c.finite_float, c.probability,
                                   c.percentile, c.quantile])
@given(v=NOT_NUMBERS)
def test_a_non_number_is_a_type_error(check, v):
    _refused(ArgumentTypeError, "x", v, lambda: check(v, "x"))


@pytest.mark.parametrize("v", [np.float32(0.5), np.float64(0.5), np.int64(1), np.int8(1)])
def test_numpy_scalars_are_numbers_and_come_back_as_plain_floats(v):
    out = c.positive_float(v, "x")
    assert type(out) is float and out == float(v)


def test_the_unit_is_part_of_the_message():
    with pytest.raises(ArgumentError, match=r"^qos_ms must be a positive number \(milliseconds\), got -1$"):
        c.positive_float(-1, "qos_ms", unit="milliseconds")


# ------------------------------------------------------------------ integers
@given(st.integers(-10**6, 10**6))
def test_positive_and_non_negative_int(n):
    if n >= 1:
        assert c.positive_int(n, "n") == n
    else:
        _refused(ArgumentError, "n", n, lambda: c.positive_int(n, "n"))
    if n >= 0:
        assert c.non_negative_int(n, "cap") == n
    else:
        _refused(ArgumentError, "cap", n, lambda: c.non_negative_int(n, "cap"))


@given(st.floats(-1e6, 1e6))
def test_a_whole_float_is_an_integer_and_a_fraction_is_a_type_error(v):
    if v.is_integer() and v >= 0:
        out = c.non_negative_int(v, "cap")
        assert type(out) is int and out == v
    elif not v.is_integer():
        _refused(ArgumentTypeError, "cap", v, lambda: c.non_negative_int(v, "cap"))


@pytest.mark.parametrize("v", [True, False, "3", None, float("nan"), float("inf"), 2.5])
def test_not_an_integer(v):
    _refused(ArgumentTypeError, "workers", v, lambda: c.positive_int(v, "workers"))


@given(st.integers(-10, 70_000))
def test_int_in_range(n):
    if 0 <= n <= 65535:
        assert c.int_in_range(n, "port", 0, 65535) == n
    else:
        msg = _refused(ArgumentError, "port", n, lambda: c.int_in_range(n, "port", 0, 65535, what=" (0: any)"))
        assert "0..65535 (0: any)" in msg


# ------------------------------------------------------------------ percent and quantile
@given(st.floats(0.0, 200.0, exclude_min=True))
def test_percentile_is_in_percent(v):
    if 1 < v <= 100:
        assert c.percentile(v) == v
    elif v <= 1:
        msg = _refused(ArgumentError, "percentile", v, lambda: c.percentile(v))
        assert msg.endswith(f"did you mean {v * 100:g}?")
    else:
        _refused(ArgumentError, "percentile", v, lambda: c.percentile(v))


@pytest.mark.parametrize("v, hint", [(0.99, "99"), (0.5, "50"), (0.999, "99.9"), (1, "100")])
def test_a_quantile_given_as_percentile_gets_the_percent_it_probably_meant(v, hint):
    with pytest.raises(ArgumentError, match=rf"^percentile is in percent, got {re.escape(repr(v))}: did you mean {hint}\?$"):
        c.percentile(v)


@pytest.mark.parametrize("v", [0, -5, 100.5, float("nan"), float("inf")])
def test_percentile_out_of_range(v):
    _refused(ArgumentError, "percentile", v, lambda: c.percentile(v))


@given(st.floats(-1.0, 200.0))
def test_quantile(v):
    if 0 <= v <= 1:
        assert c.quantile(v) == v
    else:
        msg = _refused(ArgumentError, "q", v, lambda: c.quantile(v))
        assert ("did you mean" in msg) == (1 < v <= 100)


def test_a_percentile_given_as_quantile_gets_the_quantile_it_probably_meant():
    with pytest.raises(ArgumentError, match=r"did you mean 0.99\?$"):
        c.quantile(99)


# ------------------------------------------------------------------ error class, choices, types
@pytest.mark.parametrize("check, bad", [(c.positive_float, -1.0), (c.non_negative_float, -1.0), (c.finite_float, math.inf),
                                        (c.probability, 2.0), (c.percentile, 0.5), (c.quantile, 2.0),
                                        (c.positive_int, 0), (c.non_negative_int, -1)])
def test_an_entry_point_chooses_the_value_error_class_but_not_the_type_error_class(check, bad):
    with pytest.raises(CatalogError):
        check(bad, "x", error=CatalogError)
    with pytest.raises(ArgumentTypeError):
        check("1", "x", error=CatalogError)


def test_one_of():
    assert c.one_of("fcfs", "policy", ("fcfs", "kairos")) == "fcfs"
    msg = _refused(ArgumentError, "policy", "fifo", lambda: c.one_of("fifo", "policy", ("fcfs", "kairos")))
    assert "'fcfs', 'kairos'" in msg
    _refused(ArgumentError, "policy", [1], lambda: c.one_of([1], "policy", ("fcfs",)))  # unhashable


def test_instance_of_names_the_expected_and_the_given_type():
    p = Profile.builtin("ncf")
    assert c.instance_of(p, "profile", Profile) is p
    with pytest.raises(ArgumentTypeError, match=r"^profile must be a kairos_sdk.Profile, got str$"):
        c.instance_of("ncf", "profile", Profile)
    with pytest.raises(ArgumentTypeError, match=r"^rng must be a numpy.random.Generator \(seeded\), got int$"):
        c.instance_of(0, "rng", np.random.Generator, hint=" (seeded)")
    with pytest.raises(ArgumentTypeError, match=r"^x must be an int or str, got float$"):
        c.instance_of(1.5, "x", (int, str))
