"""Progress bars on long work: shown when asked, never when told not to, and the answer is
the same either way."""

from __future__ import annotations

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


def test_default_shows_no_bar_when_stderr_is_not_a_terminal(capsys):
    # pytest captures stderr (not a terminal) and no Jupyter kernel is loaded here
    assert want_progress(None) is False
    _search(None)
    assert capsys.readouterr().err == ""
