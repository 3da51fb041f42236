"""`orchestra up` when a write it makes before the first run fails (a full disk, a socket path taken):
one line that names the file and says what to do, exit 2 (nothing started: like every refusal
before the first run), never a traceback; a new sweep leaves nothing behind, an existing one keeps
its files as they were."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.hardening.disk import Disk, small_disk
from tests.helpers import orchestra, write_sweep

# A small entry function and a large plan: the payload fits one page, sweep.json does not.
SWEEP = """
    from orchestra import Sweep, Config, Grid
    def train(i):
        return i
    sweep = Sweep(train, Config({"i": Grid([0, 1]), "notes": "x" * 3000}))
"""
PAGE = 4096
ADVICE = "free some space, then run `orchestra up` again"
NO_SPACE = "No space left on device"


def _pages(path: Path) -> int:
    return math.ceil(path.stat().st_size / PAGE)


def _new_sweep_fails_at_the_directory(disk: Disk, f: Path, root: Path) -> str:
    disk.fill()
    return f"{root}/sweep: cannot make the sweep directory ({NO_SPACE}); {ADVICE}"


def _new_sweep_fails_at_the_lock(disk: Disk, f: Path, root: Path) -> str:
    (root / "sweep").mkdir(parents=True)
    disk.fill()
    return f"{root}/sweep/orchestra.lock: cannot make the sweep's lock ({NO_SPACE}); free some space, then try again"


def _new_sweep_fails_at_the_payload(disk: Disk, f: Path, root: Path) -> str:
    disk.fill(inodes=False)
    return f"{root}/sweep/payload.pkl: cannot write the entry function ({NO_SPACE}); {ADVICE}"


def _new_sweep_fails_at_launch(disk: Disk, f: Path, root: Path) -> str:
    reference = f.parent / "reference"  # the same sweep on a disk with room: what each file takes
    assert orchestra("up", f, "--root", reference, "--dry-run").returncode == 0
    made = orchestra("up", f, "--root", reference, "--workers", "4")
    assert made.returncode == 0, made.stderr
    ref = reference / "sweep"
    lock = 1  # the holder's name
    disk.fill(leave=(lock + _pages(ref / "payload.pkl") + _pages(ref / "sweep.json")) * PAGE, inodes=False)
    return f"{root}/sweep/launch: cannot record what launched the sweep ({NO_SPACE}); {ADVICE}"


def _existing_sweep_fails_at_the_plan(disk: Disk, f: Path, root: Path) -> str:
    made = orchestra("up", f, "--root", root, "--workers", "4")
    assert made.returncode == 0, made.stderr
    sweep = root / "sweep"
    assert _pages(sweep / "payload.pkl") == 1 < _pages(sweep / "sweep.json")
    disk.fill(leave=2 * PAGE)  # the lock's holder name, the payload's new copy; not sweep.json's
    return f"{sweep}/sweep.json: cannot write the plan ({NO_SPACE}); {ADVICE}"


def _existing_sweep_fails_at_the_service_log(disk: Disk, f: Path, root: Path) -> str:
    made = orchestra("up", f, "--root", root, "--workers", "4")
    assert made.returncode == 0, made.stderr
    disk.fill()
    return f"{root}/sweep/service.log: cannot open the service's log ({NO_SPACE}); {ADVICE}"


def _existing_sweep_fails_at_the_control_socket(disk: Disk, f: Path, root: Path) -> str:
    made = orchestra("up", f, "--root", root, "--workers", "4")
    assert made.returncode == 0, made.stderr
    (root / "sweep" / "runs" / "i=0" / "0" / "status.json").unlink()  # one run to start
    taken = root / "sweep" / "control.sock" / "by something else"
    taken.mkdir(parents=True)
    return (
        f"{root}/sweep/control.sock: cannot make the control socket (Is a directory); "
        "fix the path (or choose another --root), then run `orchestra up` again"
    )


CASES = {
    "sweep directory": (_new_sweep_fails_at_the_directory, ()),
    "lock": (_new_sweep_fails_at_the_lock, ()),
    "payload": (_new_sweep_fails_at_the_payload, ()),
    "launch": (_new_sweep_fails_at_launch, ()),
    "sweep.json": (_existing_sweep_fails_at_the_plan, ()),
    "service.log": (_existing_sweep_fails_at_the_service_log, ("-d",)),
    "control socket": (_existing_sweep_fails_at_the_control_socket, ()),
}


def _files(root: Path) -> dict[str, object]:
    """The sweep's files (sweep.json but the time it was last planned: a later write may redo it)."""
    out: dict[str, object] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "orchestra.lock":
            out[str(p.relative_to(root))] = p.read_bytes()
            if p.name == "sweep.json":
                out[str(p.relative_to(root))] = {**json.loads(p.read_bytes()), "updated": None}
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_up_refuses_in_one_line_when_it_cannot_write_what_comes_before_the_first_run(
    tmp_path: Path, case: str
):
    setup, flags = CASES[case]
    f = write_sweep(tmp_path, SWEEP)
    with small_disk(tmp_path / "disk", size="1m") as disk:
        root = disk.path / "sweeps"
        expected = setup(disk, f, root)
        before = _files(root) if root.exists() else {}
        out = orchestra("up", f, "--root", root, "--workers", "4", *flags, cwd=tmp_path)
        assert out.returncode == 2, out.stdout + out.stderr
        assert out.stderr.splitlines() == [f"orchestra: error: {expected}"], out.stderr
        assert "Traceback" not in out.stdout + out.stderr
        if not before:
            assert not (root / "sweep").exists() or not any((root / "sweep").iterdir()), "a half-made sweep"
        else:
            after = _files(root)
            assert after == before, "the sweep's files changed"
