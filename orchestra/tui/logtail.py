"""Following one run's ``output.log`` for display: by offset, bounded, terminal-aware.

A run's output is whatever its code printed: progress bars that redraw a line with ``\\r``, colour
codes, cursor movements. :class:`LogTail` reads only the bytes appended since its last poll and
keeps the last ``max_lines`` display lines, so memory stays bounded however loud the run is and a
poll costs what was written since the previous one. A line holding ``\\r`` shows what a terminal
would show last (the bar's final state); :func:`clean_line` keeps colour (SGR) codes for the
renderer and drops every other escape and control code, so raw escapes never reach the screen.
"""

from __future__ import annotations

import os
import re
from collections import deque
from pathlib import Path

# Escape sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), two-byte escapes (ESC c).
_CSI = r"\x1b\[[0-?]*[ -/]*[@-~]"
_OSC = r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
_ESC2 = r"\x1b[^\[\]]?"
_ANY_ESCAPE = re.compile(f"{_CSI}|{_OSC}|{_ESC2}")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_MARK = 64  # bytes of what was read that must still precede the offset
# C0 controls and DEL, except TAB and ESC (handled above); a lone ESC left over is dropped too.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1a\x1c-\x1f\x7f]|\x1b(?!\[[0-9;:]*m)")


def collapse_cr(line: str) -> str:
    """What a terminal shows of a line redrawn with ``\\r``: its last non-empty segment."""
    if "\r" not in line:
        return line
    for segment in reversed(line.split("\r")):
        if segment:
            return segment
    return ""


def clean_line(raw: str) -> str:
    """A display line: ``\\r`` redraws collapsed, tabs expanded, only colour codes kept."""
    line = collapse_cr(raw)
    if "\x1b" in line:
        line = _ANY_ESCAPE.sub(lambda m: m.group(0) if _SGR.fullmatch(m.group(0)) else "", line)
    line = _CONTROLS.sub("", line)
    return line.expandtabs(8) if "\t" in line else line


def plain_text(line: str) -> str:
    """A cleaned line without its colour codes (for searching and measuring)."""
    return _SGR.sub("", line) if "\x1b" in line else line


class LogTail:
    """The last ``max_lines`` lines of a growing file, read incrementally by offset.

    Lines are numbered from the start of what was read (``first`` is the number of the oldest line
    kept), so a renderer can cache by line number while old lines fall off the front. The
    unterminated last line (a progress bar being redrawn) is ``partial``; it is shown as a line and
    replaced as it grows.

    A first poll of a big file reads only its last ``start_bytes``; a poll that finds more than
    ``max_read`` new bytes skips to the newest ``max_read`` of them (``skipped`` counts the bytes
    never read), so a run that writes faster than the screen can show never stalls the dashboard.

    The file may shrink under it: the orchestrator cuts the middle out of a log past its bound
    (:mod:`orchestra.scheduler.logcap`), and a user may truncate one. Before reading on, a poll
    checks that the bytes just before its offset are still the ones it read last; if the file is
    shorter or they differ, it starts again from the file's end. Line numbers go on from where
    they were, so a renderer's cache keyed by line number never shows an old line for a new one.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_lines: int = 5000,
        start_bytes: int = 1 << 20,
        max_read: int = 4 << 20,
        partial_limit: int = 64 << 10,
    ) -> None:
        self.path = Path(path)
        self.max_lines = max_lines
        self.start_bytes = start_bytes
        self.max_read = max_read
        self.partial_limit = partial_limit
        self.lines: deque[bytes] = deque(maxlen=max_lines)
        self.partial = ""
        self.total = 0  # complete lines seen so far (the number the next one gets)
        self.offset = 0
        self.skipped = 0
        self._pending = b""  # bytes of the unterminated last line
        self._started = False
        self._mark = b""  # the last bytes read, which must still precede ``offset`` in the file
        self.restarts = 0  # times the file was found shrunk or rewritten

    @property
    def first(self) -> int:
        """The number of the oldest line still kept."""
        return self.total - len(self.lines)

    @property
    def count(self) -> int:
        """Lines to show: the kept complete lines and the partial one, if any."""
        return len(self.lines) + (1 if self.partial else 0)

    def line(self, number: int) -> str:
        """Display line ``number`` (``first <= number < first + count``)."""
        i = number - self.first
        if i == len(self.lines):
            return self.partial
        return clean_line(self.lines[i].decode("utf-8", "replace"))

    def poll(self) -> int:
        """Read what was appended; returns how many complete lines arrived (-1: only the partial line changed, 0: nothing)."""
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size != self.offset and self._moved(f.fileno(), size):
                    self._reset()
                if not self._started:
                    self._started = True
                    if size > self.start_bytes:
                        self.skipped += size - self.start_bytes
                        self.offset = size - self.start_bytes
                        self._pending = self._mark = b""
                        f.seek(self.offset)
                        data = f.read(size - self.offset)
                        cut = data.find(b"\n") + 1  # the first line is cut off: drop it
                        self.offset += cut
                        data = data[cut:]
                        return self._feed(data)
                if size == self.offset:
                    return 0
                if size - self.offset > self.max_read:
                    self.skipped += size - self.max_read - self.offset
                    self.offset = size - self.max_read
                    self._pending = self._mark = b""
                    f.seek(self.offset)
                    data = f.read(self.max_read)
                    cut = data.find(b"\n") + 1
                    self.offset += cut
                    return self._feed(data[cut:])
                f.seek(self.offset)
                data = f.read(size - self.offset)
        except (FileNotFoundError, NotADirectoryError):
            return 0
        return self._feed(data)

    def _moved(self, fd: int, size: int) -> bool:
        """Whether what was read is no longer where it was (a cut, a truncation)."""
        if size < self.offset:
            return True
        n = len(self._mark)
        return n > 0 and os.pread(fd, n, self.offset - n) != self._mark

    def _feed(self, data: bytes) -> int:
        self.offset += len(data)
        self._mark = (self._mark + data)[-_MARK:]
        end = data.rfind(b"\n")
        if end < 0:
            if not data:
                return 0
            self._pending = _bound_partial(self._pending + data, self.partial_limit)
            self.partial = clean_line(self._pending.decode("utf-8", "replace"))
            return -1
        raw = (self._pending + data[:end]).split(b"\n")
        self._pending = _bound_partial(data[end + 1 :], self.partial_limit)
        self.partial = clean_line(self._pending.decode("utf-8", "replace")) if self._pending else ""
        # Lines are kept as bytes and cleaned when shown: a loud run costs a split per poll, and
        # only the few lines on screen are ever decoded.
        self.lines.extend(raw[-self.max_lines :])
        self.total += len(raw)
        return len(raw)

    def _reset(self) -> None:
        self.lines.clear()
        self.partial = ""
        self.total += 1  # numbers go on: the next line is not the one a cache holds
        self.offset = 0
        self._pending = b""
        self._started = False
        self._mark = b""
        self.restarts += 1


def _bound_partial(pending: bytes, limit: int) -> bytes:
    """Keep an endless redraw (``\\r`` without ``\\n``) bounded: drop segments already overwritten."""
    if len(pending) <= limit:
        return pending
    cut = pending.rfind(b"\r", 0, len(pending) - 1)
    if cut > 0:
        pending = pending[cut:]
    return pending[-limit:]
