"""A small real filesystem (tmpfs) that tests fill up and free again."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class Disk:
    """A tmpfs mounted at :attr:`path`; :meth:`fill` leaves no byte free, :meth:`free` gives it back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fillers: list[Path] = []

    def fill(self, *top_up: Path, leave: int = 0, inodes: bool = True) -> None:
        """Fill the disk, its bytes and (``inodes``) its inodes, so that no file or directory can be
        made, but for ``leave`` bytes (in whole pages); then fill the free tail of the last page of
        each of ``top_up`` (files that are appended to, such as a log), so that their next write
        fails too."""
        reserve = self.path / ".reserve"
        if leave:
            reserve.write_bytes(b"\0" * leave)
        n = len(self._fillers)
        for size in (1 << 20, 1 << 12, 1):
            while True:
                path = self.path / f".filler-{n}"
                n += 1
                self._fillers.append(path)
                if not _write_until_full(path, size):
                    break
        while inodes:
            path = self.path / f".filler-{n}"
            n += 1
            try:
                path.touch()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
            self._fillers.append(path)
        for path in top_up:
            _write_until_full(path, 1, append=True)
        if leave:
            reserve.unlink()

    def free(self) -> None:
        for path in self._fillers:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._fillers.clear()


def _write_until_full(path: Path, chunk: int, *, append: bool = False) -> bool:
    """Write ``chunk``-byte blocks to ``path`` until the disk is full; True if at least one went in."""
    wrote = False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0), 0o644)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            return False
        raise
    try:
        while True:
            os.write(fd, b"\0" * chunk)
            wrote = True
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    return wrote


@contextlib.contextmanager
def small_disk(directory: Path, size: str = "4m", inodes: int = 2000) -> Iterator[Disk]:
    """Mount a tmpfs of ``size`` and at most ``inodes`` files at ``directory``; skips the test where
    this process may not mount (it needs root or CAP_SYS_ADMIN), saying so."""
    directory.mkdir(parents=True, exist_ok=True)
    options = f"size={size},nr_inodes={inodes}"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs to fill up here ({done.stderr.strip()}); needs root or CAP_SYS_ADMIN"
        )
    try:
        yield Disk(directory)
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True)
