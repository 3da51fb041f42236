"""The sweep lock: one live orchestrator per sweep."""

from __future__ import annotations

import fcntl
import os
from typing import IO

from orchestra.rundir.layout import SweepDir


class SweepLock:
    """An exclusive ``flock`` on ``orchestra.lock``: one live orchestrator per sweep.

    The kernel drops the lock when its holder dies, ``kill -9`` included, so a stale lock never
    blocks the next ``orchestra up``.
    """

    def __init__(self, sweep: SweepDir) -> None:
        self.path = sweep.lock
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another live process holds it."""
        # 0o644 whatever the umask; O_NOFOLLOW: a link planted at its name is refused, not written through
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        f = os.fdopen(fd, "a+b")  # held open for the lock's lifetime
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n".encode())
        f.flush()
        self._file = f
        return True

    def holder(self) -> int | None:
        """The pid written by the holder, if the lock is held by a live process."""
        try:
            with open(self.path, "rb") as f:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    text = f.read().decode(errors="replace").strip()
                    return int(text) if text.isdigit() else -1
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
                return None
        except FileNotFoundError:
            return None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> SweepLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def live_holder(sweep: SweepDir) -> int | None:
    """The pid of the live orchestrator running this sweep, or None."""
    return SweepLock(sweep).holder()
