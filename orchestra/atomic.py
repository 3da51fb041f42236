"""Files that are complete or absent: write a temp file beside the target, fsync, rename over it.

A reader (or a retried run) sees the previous file or the new one, never a mix. When the write
fails part-way (a full disk, a file-size limit, an exception while pickling) the temp file is
removed and the previous file is left as it was. A process killed mid-write leaves at worst a
``.<name>.<pid>.<thread>.tmp`` file, which no reader of the target ever looks at and
:func:`remove_stale_temps` clears.

Files are created with an explicit mode (``0o644`` unless told otherwise, narrowed further by the
umask, never widened): under ``umask 000`` a payload every run executes must still not be
writable by others. The temp file is created with ``O_EXCL | O_NOFOLLOW``, so a link planted at its
name is never followed; the rename replaces a link at the target's name instead of writing
through it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from typing import BinaryIO

FILE_MODE = 0o644


def temp_name(path: str) -> str:
    """The temp file used while ``path`` is being written (hidden, ends in ``.tmp``; one per thread)."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")


def temp_target(name: str) -> str | None:
    """The target whose temp file ``name`` is (``.status.json.12.34.tmp`` -> ``status.json``), or None."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    parts = name[1:-4].split(".")
    numbers = 0
    while numbers < 2 and len(parts) > numbers + 1 and parts[-1 - numbers].isdigit():
        numbers += 1
    if numbers == 0:
        return None
    return ".".join(parts[:-numbers])


@contextlib.contextmanager
def atomic_file(
    path: str | os.PathLike[str],
    *,
    durable: bool = True,
    sync_dir: bool = True,
    mode: int = FILE_MODE,
    dir_fd: int | None = None,
) -> Iterator[BinaryIO]:
    """Open a binary file whose content replaces ``path`` only if the block finishes.

    ``durable=False`` skips the fsyncs: still atomic against a crashed process, not against a
    power loss (for files that are rebuilt anyway). ``sync_dir=False`` fsyncs the file's data but
    not the rename, for a writer whose directory someone else fsyncs right after (a run's
    result.json: the orchestrator's status.json write beside it). With ``dir_fd``, ``path`` is a
    name in that directory (opened by the caller, e.g. without following links).

    >>> with atomic_file("snapshots/itr_3.pkl") as f:
    ...     cloudpickle.dump(obj, f)
    """
    path = os.fspath(path)
    tmp = temp_name(path)
    fd = _create(tmp, mode, dir_fd)
    f = os.fdopen(fd, "wb")
    try:
        yield f
        f.flush()
        if durable:
            os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            f.close()
        _discard(tmp, dir_fd)
        raise
    if durable and sync_dir:
        _sync_rename(path, dir_fd)


def _discard(tmp: str, dir_fd: int | None) -> None:
    """Remove the temp file of a write that failed (the target stays as it was)."""
    with contextlib.suppress(OSError):
        os.unlink(tmp, dir_fd=dir_fd)


def _sync_rename(path: str, dir_fd: int | None) -> None:
    """Make the rename onto ``path`` durable: fsync its directory."""
    if dir_fd is not None:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    else:
        sync_directory(os.path.dirname(path) or ".")


def _create(tmp: str, mode: int, dir_fd: int | None) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(tmp, flags, mode, dir_fd=dir_fd)
    except FileExistsError:
        # left by a writer of this pid and thread id that died mid-write (pids are reused), or
        # planted: either way it is not ours to follow or append to
        os.unlink(tmp, dir_fd=dir_fd)
        return os.open(tmp, flags, mode, dir_fd=dir_fd)


def write_bytes(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    durable: bool = True,
    sync_dir: bool = True,
    mode: int = FILE_MODE,
    dir_fd: int | None = None,
) -> None:
    """Replace ``path`` with ``data`` atomically (as :func:`atomic_file` does, on the descriptor
    itself: no file object, so a few system calls fewer, each of which a thread that writes
    status files would give the GIL up and take it back for)."""
    path = os.fspath(path)
    tmp = temp_name(path)
    fd = _create(tmp, mode, dir_fd)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)  # a network filesystem may report a failed write only here
        os.replace(tmp, path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        _discard(tmp, dir_fd)
        raise
    if durable and sync_dir:
        _sync_rename(path, dir_fd)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """fsync a file another process wrote (a run's result.json), if it is there: not through a link."""
    _fsync_path(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)


def sync_directory(directory: str) -> None:
    """fsync a directory so that a rename in it survives a crash of the machine."""
    _fsync_path(directory, os.O_RDONLY | os.O_DIRECTORY)


def _fsync_path(path: str | os.PathLike[str], flags: int) -> None:
    """Open ``path`` with ``flags`` and fsync it; nothing when it cannot be opened or synced."""
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(directory: str | os.PathLike[str] | int, names: Iterable[str] | None = None) -> int:
    """Remove temp files that writers killed mid-write left in ``directory``; returns how many.

    ``names`` limits it to the temps of those targets (e.g. ``["status.json"]``: only what the
    caller's side writes, never a live writer's on the other side); None removes every one.
    ``directory`` may be an open directory descriptor. Links are removed, never followed.
    """
    wanted = None if names is None else set(names)
    try:
        entries = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = 0
    dir_fd = directory if isinstance(directory, int) else None
    with entries:
        for e in entries:
            target = temp_target(e.name)
            if target is None or (wanted is not None and target not in wanted):
                continue
            if e.is_dir(follow_symlinks=False):
                continue
            try:
                os.unlink(e.name if dir_fd is not None else e.path, dir_fd=dir_fd)
            except OSError:  # gone already, or not ours to remove: the next clean-up tries again
                continue
            removed += 1
    return removed
