"""Bounding output.log under a real child (and its grandchild) writing fast, on the real filesystem and tmpfs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra.scheduler.logcap import Cut, cap_log, read_marker

LINE = 100  # every line the writers print is this long, in one write(2): O_APPEND keeps it whole

WRITER = r"""
import os, subprocess, sys
who, n = sys.argv[1], int(sys.argv[2])
if who == "c":  # the run starts a grandchild that shares its output, as a DataLoader worker would
    helper = subprocess.Popen([sys.executable, __file__, "g", str(n // 4)])
for i in range(n):
    bar = f"{who}{i:09d} " + "\r".join(f"{p:3d}%|" for p in (10, 50, 90))
    os.write(1, (bar + " " * (99 - len(bar)) + "\n").encode())
if who == "c":
    helper.wait()
    os.write(1, b"END".ljust(99) + b"\n")
"""


def tmpfs_dir() -> Iterator[Path]:
    """A directory on tmpfs: /dev/shm where it is one, else a tmpfs mounted for the test."""
    mounts = Path("/proc/mounts").read_text().split("\n") if Path("/proc/mounts").exists() else []
    if any(m.split(" ")[1:3] == ["/dev/shm", "tmpfs"] for m in mounts if m) and os.access(
        "/dev/shm", os.W_OK
    ):
        with tempfile.TemporaryDirectory(dir="/dev/shm") as d:
            yield Path(d)
        return
    with tempfile.TemporaryDirectory() as d:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", d], capture_output=True)
        if mounted.returncode != 0:
            pytest.skip(
                f"no tmpfs: /dev/shm is not one and mounting is not allowed here ({mounted.stderr!r})"
            )
        try:
            yield Path(d)
        finally:
            subprocess.run(["umount", d], check=False)


@pytest.fixture(params=["disk", "tmpfs"])
def log_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    if request.param == "disk":
        yield tmp_path, "collapse"
    else:
        for d in tmpfs_dir():
            yield d, "copy"


def test_a_fast_writer_is_cut_to_its_head_and_tail_with_one_marker(log_dir: tuple[Path, str], tmp_path: Path):
    directory, method = log_dir
    log = directory / "output.log"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    limit = 1 << 20
    lines = 200_000  # the run writes 20 MB, the grandchild 5 MB more
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    child = subprocess.Popen([sys.executable, str(script), "c", str(lines)], stdout=fd)
    os.close(fd)
    cuts: list[Cut] = []
    while child.poll() is None:
        cut = cap_log(log, limit)
        if cut is not None:
            cuts.append(cut)
            assert cut.dropped >= limit // 2, "a cut takes the log well under its bound, not just under it"
        time.sleep(0.005)
    assert child.returncode == 0
    final = cap_log(log, limit)
    cuts += [final] if final else []
    data = log.read_bytes()
    assert len(data) <= limit
    assert len(cuts) >= 3 and {c.method for c in cuts} == {method}

    written = (lines + lines // 4 + 1) * LINE
    head = limit // 8 // os.stat(log).st_blksize * os.stat(log).st_blksize
    with open(log, "rb") as f:
        total, marker_len = read_marker(f.fileno(), head)
    assert total == cuts[-1].total == sum(c.dropped for c in cuts)
    assert data.count(b"[orchestra] output.log:") == 1, "one marker, however many cuts"
    marker = data[head : head + marker_len].decode()
    assert re.fullmatch(
        r"\n\[orchestra\] output\.log: \d+ bytes \(\d+\.\dMiB\) of this run's output were dropped here, "
        r"to keep the log under 1\.0MiB\n",
        marker,
    ), marker
    if method == "collapse":
        assert len(data) - marker_len + total == written, "collapsing loses no byte the writers wrote"
    else:
        lost = written - (len(data) - marker_len + total)
        assert 0 <= lost <= 64 * LINE, (
            f"copy-truncate loses at most what was written during a truncate ({lost})"
        )

    kept_head, kept_tail = data[:head], data[head + marker_len :]
    assert kept_head == b"".join(_line("c", i) for i in range(head // LINE + 1))[:head], (
        "the head is the run's start"
    )
    tail_lines = kept_tail.split(b"\n")[1:-1]  # the first is cut off by the marker
    assert tail_lines[-1].strip() == b"END"
    numbers: dict[str, list[int]] = {"c": [], "g": []}
    for line in tail_lines[:-1]:
        assert line + b"\n" == _line(chr(line[0]), int(line[1:10])), f"an intact line: {line!r}"
        numbers[chr(line[0])].append(int(line[1:10]))
    assert numbers["c"][-1] == lines - 1, (
        "the run's last line is kept (the grandchild's show when it ran late)"
    )
    for seq in numbers.values():
        assert seq == sorted(seq)
        if method == "collapse" and seq:
            assert seq == list(range(seq[0], seq[0] + len(seq))), "the tail is whole"


def _line(who: str, i: int) -> bytes:
    bar = f"{who}{i:09d} " + "\r".join(f"{p:3d}%|" for p in (10, 50, 90))
    return (bar + " " * (99 - len(bar)) + "\n").encode()


def test_under_the_bound_nothing_changes_and_no_file_is_fine(tmp_path: Path):
    log = tmp_path / "output.log"
    assert cap_log(log, 1 << 20) is None
    log.write_bytes(b"x" * 1000)
    assert cap_log(log, 1 << 20) is None and cap_log(log, None) is None
    assert log.read_bytes() == b"x" * 1000
