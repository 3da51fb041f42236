"""Bounding a run's ``output.log`` while the run writes it: keep the head and the tail, say what went.

A run writes ``output.log`` through its own file descriptors (opened with ``O_APPEND``, inherited
by its children), so only the orchestrator can bound it, from outside, while the run keeps
writing. :func:`cap_log` is meant to be called on each running run's log at every metrics tick::

    cut = cap_log(run_dir.output_log, sweep.max_log)   # None: under the bound (one stat) or no file
    if cut is not None:
        row.note = cut.describe()                      # e.g. "output.log: 1.2GiB dropped"

Past ``limit`` bytes it keeps the first ``limit // 8`` (rounded down to the filesystem block: the
start of a run says what it is) and about the last ``limit // 4`` (what it does now), and leaves
one line where the middle was::

    [orchestra] output.log: 1288490188 bytes (1.2GiB) of this run's output were dropped here, to keep the log under 1.0GiB

Later cuts drop from the same place and replace that line with one counting every byte dropped so
far, so a log holds one marker however often it was cut. After a cut the log is about 3/8 of the
bound, so a run writing without pause is cut once per 5/8 of the bound it writes, not every tick.

Two ways to cut, chosen per call:

- ``fallocate(FALLOC_FL_COLLAPSE_RANGE)`` (ext4, XFS): the filesystem removes whole blocks from
  the middle of the file in one atomic step. Writers appending with ``O_APPEND`` lose nothing and
  keep appending to the (new) end; nothing is copied. The marker is then written over the first
  bytes after the cut (counted as dropped).
- Elsewhere (tmpfs, btrfs, NFS, or when the block arithmetic is refused): copy the tail down
  behind the head and the marker, then ``ftruncate``. Bytes the run appends between the last read
  of the copy and the truncate are lost: a window of microseconds, once per cut, and only on these
  filesystems. Readers that look during the copy may see a half-moved tail.

Readers of a log that may shrink (the dashboard's log pane, ``orchestra logs -f``) must notice
that what they read is no longer where they left it; see :mod:`orchestra.tui.logtail`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from orchestra.units import format_bytes

FALLOC_FL_COLLAPSE_RANGE = 0x08
HEAD_FRACTION = 8  # keep limit // 8 bytes of the start
TAIL_FRACTION = 4  # and about limit // 4 of the end
_COPY_CHUNK = 1 << 20
_MARKER = re.compile(rb"\n\[orchestra\] output\.log: (\d+) bytes [^\n]*\n")
_MARKER_MAX = 512


@dataclass(frozen=True)
class Cut:
    """What one call of :func:`cap_log` did."""

    dropped: int  # bytes of the run's output this cut dropped
    total: int  # bytes of output dropped from this log so far, this cut included
    size: int  # the log's size right after the cut
    method: str  # "collapse" (in place, nothing lost) or "copy" (copy-truncate)

    def describe(self) -> str:
        return f"output.log: {format_bytes(self.total)} dropped (kept its start and its newest output)"


def cap_log(path: str | os.PathLike[str], limit: int | None) -> Cut | None:
    """Cut the middle out of the log at ``path`` if it is larger than ``limit`` bytes.

    Returns None when there is nothing to do: no bound, no file, or not over the bound (one
    ``stat``, the cost of every call of a run that stays under it). Other ``OSError``s propagate.
    """
    if limit is None:
        return None
    try:
        if os.stat(path).st_size <= limit:
            return None
        fd = os.open(path, os.O_RDWR)  # not O_APPEND: pwrite must write where it is told
    except FileNotFoundError:
        return None
    try:
        return _cut(fd, limit)
    finally:
        os.close(fd)


def _cut(fd: int, limit: int) -> Cut | None:
    st = os.fstat(fd)
    block = max(st.st_blksize, 512)
    head = limit // HEAD_FRACTION // block * block
    before, old_marker = read_marker(fd, head)
    keep = limit // TAIL_FRACTION
    drop = (st.st_size - head - keep) // block * block
    if drop < max(block, old_marker + _MARKER_MAX):
        return None  # the bound is too close to the head to gain anything (a tiny limit)
    try:
        _collapse(fd, head, drop)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
        return _copy_cut(fd, head, keep, before, old_marker, limit)
    dropped = drop - old_marker  # the old marker was ours, not output
    marker = _marker(lambda length: before + dropped + length, limit)
    os.pwrite(fd, marker, head)  # over the first bytes after the cut: they are dropped as well
    return Cut(dropped + len(marker), before + dropped + len(marker), os.fstat(fd).st_size, "collapse")


def _copy_cut(fd: int, head: int, keep: int, before: int, old_marker: int, limit: int) -> Cut | None:
    size = os.fstat(fd).st_size
    src = max(head + old_marker, size - keep)
    dropped = src - head - old_marker
    marker = _marker(lambda length: before + dropped, limit)
    if dropped <= len(marker):
        return None
    os.pwrite(fd, marker, head)
    dst = head + len(marker)
    while True:
        chunk = os.pread(fd, _COPY_CHUNK, src)
        if not chunk:
            break
        os.pwrite(fd, chunk, dst)
        src += len(chunk)
        dst += len(chunk)
    os.ftruncate(fd, dst)  # what was appended since the last pread is lost (documented above)
    return Cut(dropped, before + dropped, dst, "copy")


def read_marker(fd: int, offset: int) -> tuple[int, int]:
    """``(bytes dropped so far, length of the marker)`` of the marker at ``offset``; ``(0, 0)`` if none."""
    data = os.pread(fd, _MARKER_MAX, offset)
    m = _MARKER.match(data)
    if m is None:
        return 0, 0
    return int(m.group(1)), m.end()


def _marker(total_for_length: Callable[[int], int], limit: int) -> bytes:
    """The marker line; its count may include its own length (it overwrites output), so settle it."""
    length = 0
    for _ in range(4):
        total = total_for_length(length)
        text = (
            f"\n[orchestra] output.log: {total} bytes ({format_bytes(total)}) of this run's output were dropped "
            f"here, to keep the log under {format_bytes(limit)}\n"
        ).encode()
        if len(text) == length:
            break
        length = len(text)
    return text


def _collapse(fd: int, offset: int, length: int) -> None:
    fallocate = getattr(ctypes.CDLL(None, use_errno=True), "fallocate", None)
    if fallocate is None:
        raise OSError(errno.ENOSYS, "fallocate is not available here")
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    if fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
