"""Tests of torchfit/saving/atomic.py: atomic writes, crash safety, stale temp files."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest
import torch

import saving_kill_script
from saving_helpers import _net, assert_tree_equal
from torchfit import saving
from torchfit.saving import atomic, hdf5


def test_atomic_write_failure_keeps_previous_file(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"previous")

    def half_write(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half of the new")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        saving.atomic_write(path, half_write)
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["file.bin"]


def test_interrupted_pt_save_keeps_previous_weights(tmp_path, net, monkeypatch):
    path = tmp_path / "w.pt"
    saving.save_state_dict(net.state_dict(), path)
    before = path.read_bytes()

    def killed_torch_save(obj, tmp):  # as if the process were interrupted mid-write
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_torch_save)
    with pytest.raises(KeyboardInterrupt):
        saving.save_state_dict(_net().state_dict(), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.pt"]


def test_interrupted_h5_save_keeps_previous_weights(tmp_path, net, monkeypatch):
    path = tmp_path / "w.h5"
    saving.save_state_dict(net.state_dict(), path)
    before = path.read_bytes()
    written = []
    real_write_tensor = hdf5._write_tensor

    def killed_after_two(group, name, tensor):  # two datasets written, then interrupted
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(name)
        real_write_tensor(group, name, tensor)

    monkeypatch.setattr(hdf5, "_write_tensor", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        saving.save_state_dict(_net().state_dict(), path)
    assert written == ["0.weight", "0.bias"]
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.h5"]


def test_atomic_write_creates_folders_and_respects_umask(tmp_path):
    path = tmp_path / "a" / "b" / "new.bin"
    saving.atomic_write(path, lambda tmp: open(tmp, "wb").close())
    plain = tmp_path / "plain.bin"
    plain.touch()
    assert path.is_file()
    assert path.stat().st_mode == plain.stat().st_mode


# ---------------------------------------------------------------------------------------------
# Crash safety: a child process SIGKILLs itself at several points of a save


KILL_SCRIPT = os.path.join(os.path.dirname(__file__), "saving_kill_script.py")


@pytest.fixture(scope="module")
def killed_saves(tmp_path_factory):
    """One child process imports torch once, then forks a writer per kill point and format."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [root, os.environ.get("PYTHONPATH", "")])}
    paths = {(point, suffix): tmp_path_factory.mktemp(f"killed_{point}_{suffix[1:]}")
             / f"weights{suffix}"
             for suffix in (".pt", ".h5") for point in saving_kill_script.POINTS}
    args = [str(arg) for (point, _), path in paths.items() for arg in (path, point)]
    child = subprocess.run([sys.executable, KILL_SCRIPT, *args], env=env, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    ends = json.loads(child.stdout)
    return {key: (path, ends[f"{path} {key[0]}"], child.stderr) for key, path in paths.items()}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX fork and signals")
@pytest.mark.parametrize("suffix", [".pt", ".h5"])
@pytest.mark.parametrize("point", saving_kill_script.POINTS)
def test_killed_save_leaves_the_old_or_the_new_file(killed_saves, tmp_path, point, suffix):
    path, end, stderr = killed_saves[point, suffix]
    assert end == signal.SIGKILL, stderr  # the writer died at `point`, not before, not after
    old, new = saving_kill_script.make_state(1), saving_kill_script.make_state(2)

    # The target is always complete: the old version, or the new one once os.replace ran.
    assert_tree_equal(saving.load_state_dict(path), new if point == "replaced" else old)
    left = sorted(set(os.listdir(path.parent)) - {path.name})
    if point == "replaced":
        assert left == []
        return

    # Before the rename, the dead writer's temp file stays: hidden, recognizable, never the target.
    assert len(left) == 1 and left[0].startswith(f".{path.name}.tmp-"), left
    temp = tmp_path / f"temp{suffix}"
    shutil.copyfile(path.parent / left[0], temp)
    if point == "created":
        assert temp.stat().st_size == 0
    elif point == "half" and suffix == ".pt":
        with pytest.raises(ValueError, match="truncated or corrupt"):
            saving.load_state_dict(temp)
    elif point == "half":  # flushed HDF5: a valid file holding half the tensors
        assert list(saving.load_state_dict(temp)) == ["layer0.weight", "layer1.weight"]
    else:  # synced: the complete new version, just never renamed
        assert_tree_equal(saving.load_state_dict(temp), new)

    # The next successful save of the same target removes it: its writer is gone.
    saving.save_state_dict(saving_kill_script.make_state(3), path)
    assert os.listdir(path.parent) == [path.name]
    assert_tree_equal(saving.load_state_dict(path), saving_kill_script.make_state(3))


def test_stale_temp_cleanup_spares_live_writers_and_other_hosts(tmp_path):
    path = tmp_path / "w.pt"
    prefix = f".w.pt.tmp-{atomic._HOST_TAG}"
    names = {
        "dead": f"{prefix}-99999999-0123abcd",  # above any pid_max: that process cannot exist
        "live": f"{prefix}-{os.getppid()}-0123abcd",
        "mine": f"{prefix}-{os.getpid()}-0123abcd",  # maybe a save in another thread
        "other host": ".w.pt.tmp-ffffffff-99999999-0123abcd",
        "other target": f".x.pt.tmp-{atomic._HOST_TAG}-99999999-0123abcd",
        "not ours": ".w.pt.tmp-something-else",
    }
    for name in names.values():
        (tmp_path / name).touch()
    saving.save_state_dict({"w": torch.ones(1)}, path)
    expected = {"w.pt"} | set(names.values()) - {names["dead"]}
    if os.name != "posix":
        expected.add(names["dead"])
    assert set(os.listdir(tmp_path)) == expected



# ---------------------------------------------------------------- signals during a write
def _write_with_a_signal(signum):
    """A writer that gets ``signum`` from its own process halfway through the file."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(b"first half ")
            os.kill(os.getpid(), signum)
            f.write(b"second half")
    return write


def test_a_ctrl_c_mid_write_waits_for_the_renamed_file_then_raises(tmp_path):
    path = tmp_path / "file.bin"
    with pytest.raises(KeyboardInterrupt):
        saving.atomic_write(path, _write_with_a_signal(signal.SIGINT))
    assert path.read_bytes() == b"first half second half"
    assert os.listdir(tmp_path) == ["file.bin"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_negative_control_a_ctrl_c_mid_write_without_atomic_write_tears_the_file(tmp_path):
    path = tmp_path / "file.bin"
    with pytest.raises(KeyboardInterrupt):
        _write_with_a_signal(signal.SIGINT)(path)
    assert path.read_bytes() == b"first half "


def test_a_sigterm_mid_write_reaches_the_previous_handler_once_after_the_rename(tmp_path):
    path = tmp_path / "file.bin"
    seen = []

    def handler(signum, frame):
        seen.append((signum, path.read_bytes()))

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        saving.atomic_write(path, _write_with_a_signal(signal.SIGTERM))
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [(signal.SIGTERM, b"first half second half")]


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("atomic_write, code, content", [
    (True, -signal.SIGTERM, b"first half second half"),
    (False, -signal.SIGTERM, b"first half "),  # the negative control: a plain write
])
def test_a_default_sigterm_mid_write_ends_the_process_after_the_file_is_complete(
        tmp_path, atomic_write, code, content):
    path = tmp_path / "file.bin"
    script = (
        "import os, signal, sys\n"
        "from torchfit.saving import atomic_write\n"
        "def write(tmp):\n"
        "    with open(tmp, 'wb') as f:\n"
        "        f.write(b'first half '); f.flush()\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        f.write(b'second half')\n"
        f"atomic_write(sys.argv[1], write) if {atomic_write} else write(sys.argv[1])\n"
        "print('not reached')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert "not reached" not in proc.stdout
    assert path.read_bytes() == content


def test_a_ctrl_c_mid_h5_save_completes_the_save_then_raises(tmp_path, net, monkeypatch):
    path = tmp_path / "w.h5"
    saving.save_state_dict(net.state_dict(), path)
    written = []
    real_write_tensor = hdf5._write_tensor

    def ctrl_c_after_two(group, name, tensor):
        if len(written) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        written.append(name)
        real_write_tensor(group, name, tensor)

    monkeypatch.setattr(hdf5, "_write_tensor", ctrl_c_after_two)
    new = _net().state_dict()
    with pytest.raises(KeyboardInterrupt):
        saving.save_state_dict(new, path)
    assert len(written) == len(new)
    assert_tree_equal(saving.load_state_dict(path), new)


def test_atomic_write_off_the_main_thread_touches_no_handler(tmp_path):
    errors = []

    def write():
        try:
            saving.atomic_write(tmp_path / "file.bin", lambda tmp: open(tmp, "wb").close())
        except Exception as error:  # signal.signal raises ValueError off the main thread
            errors.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(timeout=30)
    assert errors == [] and (tmp_path / "file.bin").exists()


def test_handlers_are_restored_when_the_writer_raises(tmp_path):
    def fails(tmp):
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        saving.atomic_write(tmp_path / "file.bin", fails)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
