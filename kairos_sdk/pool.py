"""What can be rented (:class:`Catalog` of :class:`InstanceType`) and what is rented (:class:`Pool`).

Examples
--------
>>> from kairos_sdk import Catalog, Pool
>>> cat = Catalog.from_prices({"g4dn.xlarge": 0.526, "r5n.large": 0.149}, caps={"g4dn.xlarge": 5})
>>> pool = Pool.from_counts({"g4dn.xlarge": 1, "r5n.large": 2}, cat)
>>> pool.counts
{'g4dn.xlarge': 1, 'r5n.large': 2}
>>> round(pool.cost_per_hour, 3)
0.824
>>> [i.id for i in pool]
['g4dn.xlarge-0', 'r5n.large-0', 'r5n.large-1']
"""

from __future__ import annotations

import csv
import html
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._checks import instance_of, non_negative_int, positive_float
from .errors import CatalogError

__all__ = ["Catalog", "Instance", "InstanceType", "Pool"]


@dataclass(frozen=True)
class InstanceType:
    """A rentable instance type.

    Parameters
    ----------
    name : the provider's type name, e.g. ``"g4dn.xlarge"``; matches the profile's names.
    cost_per_hour : on-demand price in USD per hour (positive).
    cap : the most instances of this type that may be rented (``None``: no cap).
    """

    name: str
    cost_per_hour: float
    cap: int | None = None

    def __post_init__(self) -> None:
        instance_of(self.name, "instance type name", str)
        if not self.name.strip():
            raise CatalogError(f"instance type name must be a non-empty string, got {self.name!r}")
        price = positive_float(self.cost_per_hour, f"cost_per_hour of {self.name}", unit="USD/hour", error=CatalogError)
        object.__setattr__(self, "cost_per_hour", price)
        if self.cap is not None:
            object.__setattr__(self, "cap", non_negative_int(self.cap, f"cap of {self.name}", error=CatalogError))


class Catalog(Mapping[str, InstanceType]):
    """An immutable, name-ordered set of rentable :class:`InstanceType` s.

    Behaves as a read-only mapping from type name to :class:`InstanceType`.
    """

    __slots__ = ("_types",)

    def __init__(self, types: Iterable[InstanceType]) -> None:
        by_name: dict[str, InstanceType] = {}
        for t in types:
            instance_of(t, "a Catalog entry", InstanceType)
            if t.name in by_name:
                raise CatalogError(f"instance type {t.name!r} is listed twice; keep one row per type")
            by_name[t.name] = t
        self._types = dict(sorted(by_name.items()))

    @classmethod
    def from_prices(cls, prices: Mapping[str, float], *, caps: Mapping[str, int] | None = None) -> Catalog:
        """Build from ``{name: USD per hour}`` (at least one) and optional ``{name: cap}``."""
        instance_of(prices, "prices", Mapping, hint=" {instance type: USD per hour}")
        if not prices:
            raise CatalogError("prices is empty; give at least one {instance type: USD per hour}")
        caps = dict(caps or {})
        unknown = sorted(set(caps) - set(prices))
        if unknown:
            raise CatalogError(f"caps name unknown instance type(s) {', '.join(unknown)}; known: {', '.join(sorted(prices))}")
        return cls(InstanceType(n, p, caps.get(n)) for n, p in prices.items())

    @classmethod
    def from_csv(cls, path: str | Path, *, caps: Mapping[str, int] | None = None) -> Catalog:
        """Read prices from a CSV with columns ``instance,price`` (USD per hour).

        An optional ``cap`` column gives the most instances of each type that may be rented
        (empty: no cap); ``caps=`` overrides it.

        Examples
        --------
        >>> import tempfile, os
        >>> from kairos_sdk import Catalog
        >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        ...     _ = f.write("instance,price\\nr5n.large,0.149\\n")
        >>> Catalog.from_csv(f.name)["r5n.large"].cost_per_hour
        0.149
        >>> os.unlink(f.name)
        """
        path = Path(path)
        if not path.exists():
            raise CatalogError(f"prices file not found: {path}")
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip() for f in reader.fieldnames or []]
            price_col = next((c for c in ("price", "cost_per_hour", "price_per_hour") if c in fields), None)
            if "instance" not in fields or price_col is None:
                raise CatalogError(f"{path}: needs columns instance and price; found {', '.join(fields) or 'none'}")
            prices: dict[str, float] = {}
            file_caps: dict[str, int] = {}
            for line, row in enumerate(reader, start=2):
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                name = row["instance"]
                if not name:
                    raise CatalogError(f"{path}, line {line}: instance is empty")
                try:
                    price = float(row[price_col])
                except ValueError:
                    raise CatalogError(f"{path}, line {line}: price {row[price_col]!r} is not a number") from None
                if name in prices and prices[name] != price:
                    raise CatalogError(f"{path}, line {line}: {name} is listed again with a different price")
                if not math.isfinite(price) or price <= 0:
                    raise CatalogError(f"{path}, line {line}: price of {name} must be positive, got {row[price_col]!r}")
                prices[name] = price
                if row.get("cap"):
                    try:
                        file_caps[name] = int(row["cap"])
                    except ValueError:
                        raise CatalogError(f"{path}, line {line}: cap {row['cap']!r} of {name} is not a whole number") from None
                    if file_caps[name] < 0:
                        raise CatalogError(f"{path}, line {line}: cap of {name} must be >= 0, got {row['cap']!r}")
        if not prices:
            raise CatalogError(f"{path}: no instance types listed")
        return cls.from_prices(prices, caps={**file_caps, **(caps or {})})

    def restrict(self, names: Iterable[str]) -> Catalog:
        """Only the named types (e.g. ``profile.instance_types``); unknown names raise."""
        names = list(names)
        missing = [n for n in names if n not in self._types]
        if missing:
            raise CatalogError(f"catalog has no price for {', '.join(missing)}; known: {', '.join(self._types)}")
        return Catalog(self._types[n] for n in names)

    def with_caps(self, caps: Mapping[str, int | None]) -> Catalog:
        """A copy with the given caps replaced."""
        unknown = sorted(set(caps) - set(self._types))
        if unknown:
            raise CatalogError(f"caps name unknown instance type(s) {', '.join(unknown)}")
        return Catalog(replace(t, cap=caps.get(n, t.cap)) for n, t in self._types.items())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._types)

    def __getitem__(self, name: str) -> InstanceType:
        try:
            return self._types[name]
        except KeyError:
            raise CatalogError(f"unknown instance type {name!r}; catalog has {', '.join(self._types)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def get(self, name: str, default: InstanceType | None = None) -> InstanceType | None:  # type: ignore[override]
        return self._types.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Catalog) and self._types == other._types

    def __hash__(self) -> int:
        return hash(tuple(self._types.values()))

    def __repr__(self) -> str:
        items = ", ".join(
            f"{t.name}=${t.cost_per_hour:g}/h" + (f"≤{t.cap}" if t.cap is not None else "") for t in self._types.values()
        )
        return f"Catalog({items})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(t.name)}</td><td>{t.cost_per_hour:g}</td><td>{'' if t.cap is None else t.cap}</td></tr>"
            for t in self._types.values()
        )
        return f"<table><tr><th>instance type</th><th>USD/hour</th><th>cap</th></tr>{rows}</table>"


@dataclass(frozen=True)
class Instance:
    """One rented instance: a stable id, its type name and, once deployed, an endpoint URL."""

    id: str
    type: str
    endpoint: str | None = None


@dataclass(frozen=True, init=False)
class Pool:
    """An immutable, ordered set of rented :class:`Instance` s.

    Create with :meth:`from_counts` (or ``Plan.pool()``); iterate for the instances.
    """

    instances: tuple[Instance, ...]
    catalog: Catalog | None

    def __init__(self, instances: Iterable[Instance], catalog: Catalog | None = None) -> None:
        inst = tuple(instances)
        for i in inst:
            instance_of(i, "a Pool entry", Instance)
        if catalog is not None:
            instance_of(catalog, "catalog", Catalog)
        if not inst:
            raise CatalogError("a pool needs at least one instance")
        ids = [i.id for i in inst]
        if len(set(ids)) != len(ids):
            raise CatalogError("instance ids in a pool must be unique")
        if catalog is not None:
            for i in inst:
                if i.type not in catalog:
                    raise CatalogError(f"instance {i.id}: type {i.type!r} is not in the catalog")
        object.__setattr__(self, "instances", inst)
        object.__setattr__(self, "catalog", catalog)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], catalog: Catalog | None = None) -> Pool:
        """``{type name: count}`` → a pool with ids ``"<type>-<k>"`` (zero counts skipped)."""
        instance_of(counts, "counts", Mapping, hint=" {type name: count}")
        if catalog is not None:
            instance_of(catalog, "catalog", Catalog)
        inst = []
        for name, n in counts.items():
            n = non_negative_int(n, f"count of {name!r}", error=CatalogError)
            if catalog is not None:
                t = catalog[name]
                if t.cap is not None and n > t.cap:
                    raise CatalogError(f"{n} x {name} exceeds its cap of {t.cap}")
            inst.extend(Instance(f"{name}-{k}", name) for k in range(n))
        if not inst:
            raise CatalogError("a pool needs at least one instance; every count is zero")
        return cls(inst, catalog)

    @property
    def counts(self) -> dict[str, int]:
        """``{type name: count}`` in first-seen order."""
        out: dict[str, int] = {}
        for i in self.instances:
            out[i.type] = out.get(i.type, 0) + 1
        return out

    @property
    def types(self) -> tuple[str, ...]:
        """Type name of every instance, in pool order."""
        return tuple(i.type for i in self.instances)

    @property
    def cost_per_hour(self) -> float:
        """Total price in USD per hour (needs a catalog)."""
        if self.catalog is None:
            raise CatalogError("this pool has no prices; build it with Pool.from_counts(counts, catalog)")
        return float(sum(self.catalog[i.type].cost_per_hour for i in self.instances))

    @property
    def endpoints(self) -> tuple[str | None, ...]:
        return tuple(i.endpoint for i in self.instances)

    def with_endpoints(self, endpoints: Sequence[str] | Mapping[str, str]) -> Pool:
        """A copy with endpoint URLs: a sequence in pool order, or ``{instance id: url}``."""
        if isinstance(endpoints, Mapping):
            unknown = sorted(set(endpoints) - {i.id for i in self.instances})
            if unknown:
                raise CatalogError(f"endpoints name unknown instance id(s) {', '.join(unknown)}")
            urls = [endpoints.get(i.id, i.endpoint) for i in self.instances]
        else:
            urls = list(endpoints)
            if len(urls) != len(self.instances):
                raise CatalogError(f"got {len(urls)} endpoint URLs for a pool of {len(self.instances)} instances")
        for inst, u in zip(self.instances, urls):
            if u is not None:
                _check_url(inst.id, u)
        return Pool((replace(i, endpoint=u) for i, u in zip(self.instances, urls)), self.catalog)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.instances)

    def __len__(self) -> int:
        return len(self.instances)

    def __getitem__(self, k: int) -> Instance:
        return self.instances[k]

    def describe(self) -> str:
        """``"1 x g4dn.xlarge + 2 x r5n.large"``."""
        return " + ".join(f"{n} x {t}" for t, n in self.counts.items())

    def __repr__(self) -> str:
        cost = f", ${self.cost_per_hour:.3f}/h" if self.catalog is not None else ""
        return f"Pool({self.describe()}{cost})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(i.id)}</td><td>{html.escape(i.type)}</td><td>{html.escape(masked_url(i.endpoint or ''))}</td></tr>"
            for i in self.instances
        )
        cost = f" — ${self.cost_per_hour:.3f}/h" if self.catalog is not None else ""
        return f"<table><caption>{html.escape(self.describe())}{cost}</caption><tr><th>id</th><th>type</th><th>endpoint</th></tr>{rows}</table>"

    def to_dict(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """``{"instances": [{"id", "type", "endpoint"}, ...]}``; a password in an endpoint URL
        is shown as ``<hidden>`` unless ``show_secrets=True`` (to write a file the client
        reads back with its credentials)."""
        show = (lambda u: u) if show_secrets else masked_url
        return {"instances": [{"id": i.id, "type": i.type, "endpoint": None if i.endpoint is None else show(i.endpoint)}
                              for i in self.instances]}


def masked_url(url: str) -> str:
    """``url`` with the password of its user info replaced by ``<hidden>``.

    >>> masked_url("https://me:s3cret@host:8443/v2")
    'https://me:<hidden>@host:8443/v2'
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        password = None
        parts = None
    if parts is None or password is None:
        at = url.rfind("@", 0, url.find("/", url.find("//") + 2) % (len(url) + 1))
        if at > 0 and ":" in url[url.find("//") + 2:at]:  # unparsable, but user:pw@ shaped
            head, rest = url.split("//", 1)
            user = rest[: rest.find(":")]
            return f"{head}//{user}:<hidden>{url[at:]}"
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"{user}:<hidden>@{host}", parts.path, parts.query, parts.fragment))


def _check_url(instance_id: str, url: Any) -> None:
    """An endpoint URL the client can use, else a CatalogError naming the instance."""
    if not isinstance(url, str):
        raise CatalogError(f"instance {instance_id}: endpoint must be a URL string, got {type(url).__name__}")
    shown = masked_url(url)
    if not url.startswith(("http://", "https://")):
        raise CatalogError(f"instance {instance_id}: endpoint {shown!r} is not an http:// or https:// URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        why = "port out of range 0..65535" if "out of range" in str(exc) else "port is not a number"
        raise CatalogError(f"instance {instance_id}: endpoint {shown!r} has a bad port ({why})") from None
    if not parts.hostname:
        raise CatalogError(f"instance {instance_id}: endpoint {shown!r} has no host")
    if port == 0:
        raise CatalogError(f"instance {instance_id}: endpoint {shown!r} has port 0; give the port the server listens on")
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise CatalogError(
            f"instance {instance_id}: endpoint {shown!r} has a query string or fragment; the client appends "
            "paths (/v2/...) to the URL, so give the base URL only (pass API keys with token= or Auth(headers=...))"
        )
    if any(ch.isspace() for ch in url):
        raise CatalogError(f"instance {instance_id}: endpoint {shown!r} contains whitespace")
