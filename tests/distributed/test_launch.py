"""The test launcher's one rerun: only after gloo's abort at exit, into emptied directories."""

import os
import textwrap

import pytest

from launch import GLOO_EXIT_ABORT, run_script

# Aborts like gloo on its first run (counted in COUNT), leaves a file in OUT, exits 0 the next.
SCRIPT = textwrap.dedent("""
    import os, sys
    out, count, message = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = len(open(count).read()) if os.path.exists(count) else 0
    open(count, "a").write("x")
    print("left over:", sorted(os.listdir(out)))
    open(os.path.join(out, f"run{runs}.txt"), "w").write("")
    if runs == 0:
        sys.stderr.write(message + "\\n")
        sys.stderr.flush()
        os._exit(134)
""")


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "abort_once.py"
    path.write_text(SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    return str(path), out, str(tmp_path / "count")


def test_gloo_abort_at_exit_runs_once_more_into_an_emptied_directory(script):
    path, out, count = script
    with pytest.warns(RuntimeWarning, match="gloo's abort"):
        result = run_script(path, out, count, GLOO_EXIT_ABORT)
    assert open(count).read() == "xx"
    assert "left over: []" in result.stdout  # the first run's run0.txt was removed
    assert os.listdir(out) == ["run1.txt"]


def test_any_other_failure_fails_at_once(script):
    path, out, count = script
    with pytest.raises(AssertionError, match="exited with 134"):
        run_script(path, out, count, "Segmentation fault")
    assert open(count).read() == "x"


def test_an_abort_twice_fails(script):
    path, out, count = script
    with open(path, "a") as f:
        f.write("sys.stderr.write(message)\nsys.stderr.flush()\nos._exit(134)\n")  # every run
    with pytest.warns(RuntimeWarning), pytest.raises(AssertionError, match="exited with 134"):
        run_script(path, out, count, GLOO_EXIT_ABORT)
    assert open(count).read() == "xx"
