"""Files that are complete or absent: write a temp file beside the target, fsync, rename over it.

A reader (or a retried run) sees the previous file or the new one, never a mix. When the write
fails part-way (a full disk, a file-size limit, an exception while pickling) the temp file is
removed and the previous file is left as it was. A process killed mid-write leaves at worst a
``.<name>.<pid>.tmp`` file, which no reader of the target ever looks at.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import BinaryIO


def temp_name(path: str) -> str:
    """The temp file used while ``path`` is being written (hidden, ends in ``.tmp``; one per thread)."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, durable: bool = True) -> Iterator[BinaryIO]:
    """Open a binary file whose content replaces ``path`` only if the block finishes.

    ``durable=False`` skips the fsyncs: still atomic against a crashed process, not against a
    power loss (for files that are rebuilt anyway).

    >>> with atomic_file("snapshots/itr_3.pkl") as f:
    ...     cloudpickle.dump(obj, f)
    """
    path = os.fspath(path)
    tmp = temp_name(path)
    f = open(tmp, "wb")  # noqa: SIM115 - closed below on every path
    try:
        yield f
        f.flush()
        if durable:
            os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            f.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        sync_directory(os.path.dirname(path) or ".")


def write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_file(path, durable=durable) as f:
        f.write(data)


def sync_directory(directory: str) -> None:
    """fsync a directory so that a rename in it survives a crash of the machine."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(directory: str | os.PathLike[str]) -> None:
    """Remove temp files left in ``directory`` by writers that were killed mid-write."""
    try:
        entries = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    with entries:
        for e in entries:
            if e.name.startswith(".") and e.name.endswith(".tmp") and e.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(e.path)
