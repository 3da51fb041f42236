"""Snapshots: garage's modes and file names, loading rules, and writes that are complete or absent."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestra.errors import UserError
from orchestra.runtime.context import RunContext
from orchestra.runtime.snapshot import NotAFileError, Snapshotter
from tests.runtime.harness import REPO, process_gone, wait_for


def saved(tmp_path: Path, mode: str, gap: int, itrs: range) -> list[str]:
    s = Snapshotter(tmp_path / mode, mode, gap)
    for itr in itrs:
        s.save_itr_params(itr, {"itr": itr})
    return sorted(os.listdir(tmp_path / mode), key=lambda n: (len(n), n))


@pytest.mark.parametrize(
    ("mode", "gap", "files"),
    [
        ("all", 1, ["itr_0.pkl", "itr_1.pkl", "itr_2.pkl", "itr_3.pkl", "itr_4.pkl", "itr_5.pkl"]),
        ("last", 1, ["params.pkl"]),
        ("gap", 2, ["itr_0.pkl", "itr_2.pkl", "itr_4.pkl"]),
        ("gap_and_last", 3, ["itr_0.pkl", "itr_3.pkl", "params.pkl"]),
        ("gap_overwrite", 2, ["params.pkl"]),
        ("none", 1, []),
    ],
)
def test_modes_write_garages_files(tmp_path: Path, mode: str, gap: int, files: list[str]) -> None:
    assert saved(tmp_path, mode, gap, range(6)) == sorted(files, key=lambda n: (len(n), n))


def test_params_pkl_holds_the_last_saved_iteration_per_mode(tmp_path: Path) -> None:
    for mode, gap, newest in [("last", 1, 5), ("gap_and_last", 3, 5), ("gap_overwrite", 2, 4)]:
        s = Snapshotter(tmp_path / mode, mode, gap)
        for itr in range(6):
            s.save_itr_params(itr, {"itr": itr})
        assert s.load(tmp_path / mode) == {"itr": newest}
        assert s.load_newest() == (newest, {"itr": newest})
        with open(tmp_path / mode / "params.pkl", "rb") as f:
            assert pickle.load(f) == {"itr": newest}  # a plain pickle of the object, as garage writes it


@pytest.mark.parametrize(
    ("mode", "gap", "message"),
    [
        ("last", 5, "snapshot_gap must be 1"),
        ("gap_overwrite", 1, "needs snapshot_gap > 1"),
        ("sometimes", 1, "is not one of"),
        ("gap", 0, "positive integer"),
    ],
)
def test_conflicting_settings_fail_at_construction(tmp_path: Path, mode: str, gap: int, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        Snapshotter(tmp_path / "s", mode, gap)
    assert isinstance(err.value, UserError)
    assert not (tmp_path / "s").exists()


def test_load_orders_iterations_by_number_not_by_name(tmp_path: Path) -> None:
    s = Snapshotter(tmp_path, "all")
    for itr in (80, 120, 9):
        s.save_itr_params(itr, itr)
    (tmp_path / "notes.pkl").write_bytes(pickle.dumps("not a snapshot"))
    assert s.load(tmp_path, "last") == 120
    assert s.load(tmp_path, "first") == 9
    assert s.load(tmp_path, 80) == 80 and s.load(tmp_path, "80") == 80
    assert s.load_newest() == (120, 120)


def test_load_errors_are_garages(tmp_path: Path) -> None:
    s = Snapshotter(tmp_path, "all")
    with pytest.raises(FileNotFoundError):
        s.load(tmp_path, "last")
    assert s.load_newest() is None
    s.save_itr_params(1, "x")
    with pytest.raises(NotAFileError):
        s.load(tmp_path, 2)
    with pytest.raises(ValueError, match="'last' or 'first'"):
        s.load(tmp_path, "newest")


def test_iterations_must_be_non_negative_integers(tmp_path: Path) -> None:
    s = Snapshotter(tmp_path, "all")
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(TypeError):
            s.save_itr_params(bad, "x")  # type: ignore[arg-type]


def test_resume_returns_the_next_iteration_and_the_newest_object(tmp_path: Path) -> None:
    ctx = RunContext(logdir=tmp_path, seed=0, config={}, snapshot_mode="gap", snapshot_gap=10)
    assert ctx.resume() is None
    for itr in range(25):
        ctx.snapshot(itr, {"at": itr})
    assert ctx.resume() == (21, {"at": 20})


def test_resume_of_a_garage_params_pkl_without_an_iteration_starts_at_zero(tmp_path: Path) -> None:
    (tmp_path / "snapshots").mkdir()
    (tmp_path / "snapshots" / "params.pkl").write_bytes(pickle.dumps({"from": "garage"}))
    ctx = RunContext(logdir=tmp_path, seed=0, config={})
    assert ctx.resume() == (0, {"from": "garage"})


SNAPSHOT_THEN_LIMIT = """
import os, resource, signal, sys
from orchestra.runtime.snapshot import Snapshotter
s = Snapshotter(sys.argv[1], sys.argv[2], 1)
s.save_itr_params(0, {"weights": b"a" * 1000})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # so that writing past the limit is an error, not a kill
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
try:
    s.save_itr_params(0 if sys.argv[2] == "all" else 1, {"weights": b"b" * (4 << 20)})
except OSError as exc:
    print("failed:", exc.errno)
"""


@pytest.mark.parametrize("mode", ["last", "all"])
def test_a_write_that_hits_the_file_size_limit_leaves_the_previous_snapshot(
    tmp_path: Path, mode: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SNAPSHOT_THEN_LIMIT, str(tmp_path), mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "failed: 27", out.stderr  # EFBIG
    assert Snapshotter(tmp_path, mode).load_newest() == (0, {"weights": b"a" * 1000})
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []


def test_a_full_disk_leaves_the_previous_snapshot(tmp_path: Path) -> None:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip(
            "mounting a 1 MiB tmpfs needs root (CAP_SYS_ADMIN); the RLIMIT_FSIZE test covers this path"
        )
    try:
        s = Snapshotter(mount, "last")
        s.save_itr_params(3, {"weights": b"a" * 1000})
        with pytest.raises(OSError) as err:
            s.save_itr_params(4, {"weights": b"b" * (2 << 20)})
        assert err.value.errno == 28  # ENOSPC
        assert s.load_newest() == (3, {"weights": b"a" * 1000})
        assert os.listdir(mount) == ["params.pkl"]
    finally:
        subprocess.run(["umount", str(mount)], check=True)


KILLED_MID_WRITE = """
import sys, time
from orchestra.runtime.snapshot import Snapshotter

class Slow:
    def __reduce__(self):
        open(sys.argv[2], "w").close()
        time.sleep(600)

s = Snapshotter(sys.argv[1], "last")
s.save_itr_params(0, "complete")
s.save_itr_params(1, [b"x" * (1 << 20), Slow()])
"""


def test_a_process_killed_mid_write_leaves_the_previous_snapshot(tmp_path: Path) -> None:
    flag = tmp_path / "writing"
    snaps = tmp_path / "snapshots"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_WRITE, str(snaps), str(flag)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        wait_for(flag.exists, what="the second snapshot to be half written")
        temps = [n for n in os.listdir(snaps) if n.endswith(".tmp")]
        assert len(temps) == 1 and (snaps / temps[0]).stat().st_size > 0
    finally:
        proc.kill()
        proc.wait()
    assert process_gone(proc.pid)
    assert Snapshotter(snaps, "last").load_newest() == (0, "complete")


def test_snapshots_work_in_a_fresh_interpreter() -> None:
    code = textwrap.dedent(
        """
        import tempfile
        from orchestra.runtime.snapshot import Snapshotter
        d = tempfile.mkdtemp()
        s = Snapshotter(d, "gap_and_last", 2)
        for i in range(5):
            s.save_itr_params(i, {"i": i, "f": lambda: i})
        itr, obj = s.load_newest()
        print(itr, obj["i"], obj["f"]())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["4", "4", "4"]
