"""Progress bars on long work: shown when asked, never when told not to, and the answer is
the same either way."""

from __future__ import annotations

import sys

from kairos_sdk import Pool, Profile, Workload, allowable_throughput
from kairos_sdk._progress import want_progress
from kairos_sdk.distribute import FCFSPolicy


def _search(progress):
    return allowable_throughput(Pool.from_counts({"g4dn.xlarge": 2}), Profile.builtin("rm2"),
                                Workload.deeprecsys(), FCFSPolicy(), qos_ms=350, n_queries=1500,
                                n_seeds=2, progress=progress)


def test_allowable_throughput_shows_a_bar_over_its_seeds_only_when_asked(capsys):
    quiet = _search(False)
    assert capsys.readouterr().err == ""
    shown = _search(True)
    err = capsys.readouterr().err
    assert "allowable throughput (2 instances)" in err and "2/2" in err
    assert shown.per_seed_qps == quiet.per_seed_qps  # the bar changes nothing


def test_default_shows_no_bar_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)  # as in a plain script, not Jupyter
    # pytest captures stderr: not a terminal
    assert want_progress(None) is False
    _search(None)
    assert capsys.readouterr().err == ""


def test_the_default_follows_whether_stderr_is_a_terminal(monkeypatch):
    import io

    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert want_progress(None) is False and want_progress(True) is True

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    assert want_progress(None) is True and want_progress(False) is False


def test_jupyter_shows_a_bar_by_default(monkeypatch):
    import io
    import types

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert want_progress(None) is True
