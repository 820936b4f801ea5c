"""scripts/reliability.py: each measurement runs, and tells the safe path from the unsafe one."""

import importlib.util
import json
import os

import pytest
import torch

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                       "scripts")

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the trials fork")


@pytest.fixture(scope="module")
def reliability():
    spec = importlib.util.spec_from_file_location(
        "reliability", os.path.join(SCRIPTS, "reliability.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as run() does before forking
    yield module
    torch.set_num_threads(threads)


def test_kill_trials_leave_torchfit_files_whole(reliability):
    results = reliability.measure_kill(3)
    assert results["torchfit .pt"] == {"trials": 3, "torn": 0}
    assert results["torchfit .h5"] == {"trials": 3, "torn": 0}
    assert results["torch.save .pt"]["trials"] == 3  # torn or not depends on the timing


def test_flip_trials_tell_detected_from_silently_different(reliability):
    results = reliability.measure_flip(30)
    assert results["torchfit .pt"]["detected"] == 30
    # the negative control: the same flips in a plain torch.save file go undetected
    plain = results["torch.save .pt"]
    assert plain["detected"] == 0 and plain["different"] > 0
    assert sum(plain[key] for key in ("identical", "different", "raw")) == 30


def test_resume_trials_are_exact(reliability):
    results = reliability.measure_resume(2)["BackupAndRestore"]
    assert results["exact"] == 2 and results["not killed"] == 0


def test_load_cases_untouched_by_torchfit_half_loaded_by_torch(reliability):
    results = reliability.measure_load()
    ours, theirs = results["torchfit load_weights"], results["module.load_state_dict"]
    assert ours["cases"] == 8 and len(ours["refused, untouched"]) == 8
    assert "later layer's shape (.pt)" in theirs["refused, changed"]  # torch's partial copy
    assert "float64 weights (.pt)" in theirs["accepted"]  # torch casts silently
    bomb = results["h5 declaring 64 MB"]
    assert bomb["peak bytes"] < bomb["declared bytes"] // 16


def test_main_writes_json(reliability, tmp_path, monkeypatch, capsys):
    fake = {"kill": {}, "flip": {}, "resume": {}, "load": {}, "seconds": 0.0}
    monkeypatch.setattr(reliability, "run", lambda quick: fake)
    assert reliability.main(["--quick", "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text()) == fake
    assert "kill: {}" in capsys.readouterr().out
