"""The public namespace: what __init__ imports and what __all__ lists agree."""

from __future__ import annotations

import inspect

import kairos_sdk
from kairos_sdk import errors


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

    code = "import sys, kairos_sdk; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_py_typed_shipped():
    from importlib import resources

    assert (resources.files("kairos_sdk") / "py.typed").is_file()
