"""The sweep lock: one live orchestrator per sweep."""

from __future__ import annotations

import fcntl
import os
import socket

from orchestra.errors import RunDirError, fix_for
from orchestra.rundir.layout import SweepDir


class SweepLock:
    """An exclusive ``flock`` on the sweep directory and on ``orchestra.lock``: one orchestrator per sweep.

    The kernel drops both when their holder dies, ``kill -9`` included, so a stale lock never blocks
    the next ``orchestra up``. The lock on the directory itself means that deleting
    ``orchestra.lock`` under a live orchestrator does not let a second one in (where the filesystem
    cannot lock a directory, NFS say, the file's lock alone holds). ``orchestra.lock`` names the
    holder: ``<pid> <host>``; a holder that releases the lock empties it, so the next one can tell a
    clean end from a death (:attr:`unclean`).
    """

    def __init__(self, sweep: SweepDir) -> None:
        self.sweep = sweep
        self.path = sweep.lock
        self._fd: int | None = None
        self._dir: int | None = None
        self.unclean = False  # the last holder died holding it (or the lock file was removed)

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another live process holds it.

        A lock file that cannot be made (a full disk, a read-only directory) is a RunDirError.
        """
        dir_fd = _lock_dir(self.sweep, fcntl.LOCK_EX)
        if dir_fd == -1:
            return False
        existed = self.path.exists()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            _close(dir_fd)
            raise RunDirError(
                f"{self.path}: cannot make the sweep's lock ({exc.strerror or exc}); {fix_for(exc, 'try again')}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            _close(dir_fd)
            return False
        # Unbuffered writes: nothing is left over to fail later, when the file is closed.
        try:
            previous = os.pread(fd, 256, 0)
        except OSError:
            previous = b""
        try:
            name = f"{os.getpid()} {socket.gethostname()}\n".encode()
            os.pwrite(fd, name, 0)
            os.ftruncate(fd, len(name))
        except OSError:
            pass  # the holder's name is a courtesy (a full disk); the lock itself is held
        self.unclean = bool(previous.strip()) if existed else self.sweep.sweep_json.exists()
        self._fd, self._dir = fd, dir_fd
        return True

    def holder(self) -> int | None:
        """The pid written by the holder if the lock is held by a live process (-1: held, pid unknown)."""
        dir_fd = _lock_dir(self.sweep, fcntl.LOCK_SH)
        held = dir_fd == -1
        _close(dir_fd)
        try:
            with open(self.path, "rb") as f:
                if not held:
                    try:
                        fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
                        return None
                    except BlockingIOError:
                        pass
                words = f.read().decode(errors="replace").split()
        except FileNotFoundError:
            return -1 if held else None
        return int(words[0]) if words and words[0].isdigit() else -1

    def recovered(self) -> None:
        """What the last holder left has been dealt with (:attr:`unclean` no longer holds)."""
        self.unclean = False

    def release(self) -> None:
        """Let the lock go. The file is emptied, which tells the next holder that this one ended
        cleanly, unless a dead holder's leftovers were never :meth:`recovered` (``orchestra run``
        takes the lock but recovers nothing): then the next ``up`` still looks for them."""
        if self._fd is not None:
            try:
                if not self.unclean:
                    os.ftruncate(self._fd, 0)
            except OSError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        _close(self._dir)
        self._dir = None

    def __enter__(self) -> SweepLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock_dir(sweep: SweepDir, how: int) -> int | None:
    """Lock the sweep directory: its fd (held), -1 when someone else holds it, None where directories
    cannot be locked (or the directory does not exist yet)."""
    try:
        fd = os.open(sweep.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return -1
    except OSError:
        os.close(fd)
        return None
    if how == fcntl.LOCK_SH:
        fcntl.flock(fd, fcntl.LOCK_UN)
    return fd


def _close(fd: int | None) -> None:
    if fd is not None and fd >= 0:
        os.close(fd)


def describe_holder(pid: int | None) -> str:
    """``pid 4242``, or what is known when the holder's name went with a removed lock file."""
    return f"pid {pid}" if pid is not None and pid > 0 else "pid unknown: orchestra.lock was removed"


def live_holder(sweep: SweepDir) -> int | None:
    """The pid of the live orchestrator running this sweep, or None."""
    return SweepLock(sweep).holder()
