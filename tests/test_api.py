"""The public namespace: what __init__ imports and what __all__ lists agree."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

import kairos_sdk
from kairos_sdk import errors

ROOT = Path(__file__).resolve().parents[1]


def test_all_is_sorted_and_complete():
    assert list(kairos_sdk.__all__) == sorted(kairos_sdk.__all__)
    for name in kairos_sdk.__all__:
        assert hasattr(kairos_sdk, name), name
    public = {
        n for n, v in vars(kairos_sdk).items()
        if not n.startswith("_") and not inspect.ismodule(v) and n not in {"annotations"}
    }
    assert public <= set(kairos_sdk.__all__) | {"__version__"}, public - set(kairos_sdk.__all__)


def test_every_error_is_a_kairos_error_and_exported():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.KairosError)
        assert getattr(kairos_sdk, name) is cls


def test_builtin_exception_bases():
    assert issubclass(errors.ProfileError, ValueError)
    assert issubclass(errors.EndpointTimeout, TimeoutError)
    assert issubclass(errors.EndpointTimeout, errors.EndpointError)
    assert issubclass(errors.InfeasibleError, errors.PlanningError)


def test_importing_the_package_does_not_import_ipywidgets_or_aiohttp_client():
    import subprocess
    import sys

    heavy = ("ipywidgets", "aiohttp", "kairos_sdk.client", "kairos_sdk.widgets", "kairos_sdk.endpoints")
    code = (f"import sys, kairos_sdk; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} "
            f"or m.startswith({heavy!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    # (and the check can see them: the client does import aiohttp)
    code = "import sys, kairos_sdk.client; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_py_typed_shipped():
    from importlib import resources

    assert (resources.files("kairos_sdk") / "py.typed").is_file()


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11),
    reason="docs/api.md is generated with Python 3.11; other versions render some signatures "
    "differently",
)
def test_api_reference_is_current():
    spec = importlib.util.spec_from_file_location("make_api_doc", ROOT / "tools" / "make_api_doc.py")
    make_api_doc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_api_doc)
    committed = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert committed == make_api_doc.render(), (
        "docs/api.md does not match the code: run python tools/make_api_doc.py and commit it"
    )
