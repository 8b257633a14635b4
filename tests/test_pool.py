from __future__ import annotations

import re

import pytest

from kairos_sdk import ArgumentTypeError, Catalog, CatalogError, Instance, InstanceType, Pool

from .conftest import PAPER_PRICES


@pytest.mark.shared_data
def test_catalog_from_shared_prices(kairos_data):
    cat = Catalog.from_csv(kairos_data / "prices.csv", caps={"g4dn.xlarge": 5})
    assert len(cat) == 16
    assert cat["g4dn.xlarge"].cost_per_hour == 0.526 and cat["g4dn.xlarge"].cap == 5
    small = cat.restrict(["g4dn.xlarge", "r5n.large"])
    assert small.names == ("g4dn.xlarge", "r5n.large")


def test_restrict_unknown_type():
    cat = Catalog.from_prices(PAPER_PRICES)
    with pytest.raises(CatalogError, match="no price for p3.2xlarge"):
        cat.restrict(["p3.2xlarge"])
    with pytest.raises(CatalogError, match="unknown instance type 'x'"):
        cat["x"]
    assert "x" not in cat and "r5n.large" in cat
    assert cat.get("x") is None


@pytest.mark.parametrize("price", [0, -1, float("nan"), float("inf")])
def test_non_positive_price(price):
    with pytest.raises(CatalogError, match=rf"cost_per_hour of a must be .*got {re.escape(repr(price))}"):
        InstanceType("a", price)


@pytest.mark.parametrize("price", ["cheap", "0.5", None, True])
def test_price_of_the_wrong_type(price):
    with pytest.raises(ArgumentTypeError, match=rf"cost_per_hour of a must be a number, got {re.escape(repr(price))}"):
        InstanceType("a", price)


def test_bad_cap():
    with pytest.raises(CatalogError, match="cap of a must be a non-negative integer, got -1"):
        InstanceType("a", 1.0, -1)
    for cap in (1.5, "3", True):
        with pytest.raises(ArgumentTypeError, match=rf"cap of a must be an integer, got {re.escape(repr(cap))}"):
            InstanceType("a", 1.0, cap)
    assert InstanceType("a", 1.0, 3.0).cap == 3


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="instance type name must be a str, got int"):
        InstanceType(3, 1.0)
    with pytest.raises(TypeError, match="a Catalog entry must be a kairos_sdk.InstanceType, got dict"):
        Catalog([{"name": "a"}])
    with pytest.raises(TypeError, match="counts must be a .*Mapping.*got list"):
        Pool.from_counts([("a", 1)])
    with pytest.raises(TypeError, match="catalog must be a kairos_sdk.Catalog, got dict"):
        Pool.from_counts({"a": 1}, {"a": 1.0})
    with pytest.raises(TypeError, match=r"count of 'a' must be an integer, got '1'"):
        Pool.from_counts({"a": "1"})


@pytest.mark.parametrize(
    "text, match",
    [
        ("instance,price\na,0\n", "line 2: price of a must be positive"),
        ("instance,price\na,x\n", "line 2: price 'x' is not a number"),
        ("instance,cost\na,1\n", "needs columns instance and price"),
        ("instance,price\n", "no instance types"),
        ("instance,price\na,1\na,2\n", "line 3: a is listed again with a different price"),
    ],
)
def test_prices_csv_validation(tmp_path, text, match):
    p = tmp_path / "prices.csv"
    p.write_text(text)
    with pytest.raises(CatalogError, match=match):
        Catalog.from_csv(p)


def test_caps_for_unknown_type():
    with pytest.raises(CatalogError, match="caps name unknown instance type"):
        Catalog.from_prices({"a": 1.0}, caps={"b": 2})


def test_pool_from_counts_cost_and_endpoints():
    cat = Catalog.from_prices(PAPER_PRICES, caps={"g4dn.xlarge": 5})
    pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 13, "t3.xlarge": 0}, cat)
    assert pool.counts == {"g4dn.xlarge": 1, "r5n.large": 13}
    assert len(pool) == 14
    assert pool.cost_per_hour == pytest.approx(0.526 + 13 * 0.149)
    assert repr(pool) == "Pool(1 x g4dn.xlarge + 13 x r5n.large, $2.463/h)"
    urls = [f"http://127.0.0.1:{9000 + k}" for k in range(14)]
    live = pool.with_endpoints(urls)
    assert live.endpoints == tuple(urls) and pool.endpoints == (None,) * 14
    one = pool.with_endpoints({"r5n.large-3": "http://127.0.0.1:1"})
    assert one[4].endpoint == "http://127.0.0.1:1" and one[0].endpoint is None


def test_pool_validation():
    cat = Catalog.from_prices(PAPER_PRICES, caps={"g4dn.xlarge": 2})
    with pytest.raises(CatalogError, match="exceeds its cap of 2"):
        Pool.from_counts({"g4dn.xlarge": 3}, cat)
    with pytest.raises(CatalogError, match="every count is zero"):
        Pool.from_counts({"g4dn.xlarge": 0}, cat)
    with pytest.raises(CatalogError, match="non-negative integer"):
        Pool.from_counts({"g4dn.xlarge": -1}, cat)
    with pytest.raises(CatalogError, match="unknown instance type"):
        Pool.from_counts({"tpu": 1}, cat)
    with pytest.raises(CatalogError, match="unique"):
        Pool([Instance("a", "g4dn.xlarge"), Instance("a", "g4dn.xlarge")])
    with pytest.raises(CatalogError, match="no prices"):
        _ = Pool.from_counts({"x": 1}).cost_per_hour
    pool = Pool.from_counts({"g4dn.xlarge": 1}, cat)
    with pytest.raises(CatalogError, match="2 endpoint URLs for a pool of 1"):
        pool.with_endpoints(["http://a", "http://b"])
    with pytest.raises(CatalogError, match="not an http"):
        pool.with_endpoints(["ftp://a"])
    with pytest.raises(CatalogError, match="unknown instance id"):
        pool.with_endpoints({"nope": "http://a"})


def test_catalog_repr_and_html():
    cat = Catalog.from_prices({"a": 1.0}, caps={"a": 3})
    assert repr(cat) == "Catalog(a=$1/h≤3)"
    assert "<table>" in cat._repr_html_()
    with pytest.raises(CatalogError, match="listed twice"):
        Catalog([InstanceType("a", 1.0), InstanceType("a", 2.0)])


@pytest.mark.shared_data
def test_builtin_default_prices_match_the_shared_price_list(kairos_data):
    from kairos_sdk import defaults

    shared = Catalog.from_csv(kairos_data / "prices.csv")
    for name, price in defaults.PAPER_PRICES_PER_HOUR.items():
        assert shared[name].cost_per_hour == price


# ---------------------------------------------------------------------------- catalog gaps
@pytest.mark.parametrize("cap", [float("nan"), float("inf"), -1, 2.5])
def test_a_bad_cap_is_a_kairos_error_naming_the_type(cap):
    from kairos_sdk.errors import KairosError

    with pytest.raises(KairosError, match="cap of g4dn.xlarge"):
        Catalog.from_prices({"g4dn.xlarge": 0.5}, caps={"g4dn.xlarge": cap})


def test_an_empty_price_list_is_refused():
    from kairos_sdk.errors import CatalogError

    with pytest.raises(CatalogError, match="prices is empty"):
        Catalog.from_prices({})
