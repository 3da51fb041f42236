"""JSON and JSON-lines files of the run directory: atomic JSON replaces, whole-line appends, live tails."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import orjson

from orchestra.atomic import write_bytes
from orchestra.errors import RunDirError


def dumps(obj: Any, *, indent: bool = True) -> bytes:
    """orjson bytes of ``obj`` (numpy arrays and scalars allowed), indented for humans by default."""
    option = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(obj, option=option)


def write_json(path: str | os.PathLike[str], obj: Any, *, indent: bool = True, fsync: bool = True) -> None:
    """Replace ``path`` atomically with ``obj`` as JSON (temp file, fsync, rename: see orchestra.atomic).

    A reader sees the old file or the new one, never a mix; a failed write leaves the old file.
    ``fsync=False`` keeps the atomic rename but not durability across a power loss.
    """
    write_bytes(path, dumps(obj, indent=indent) + b"\n", durable=fsync)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file with orjson; a missing file raises FileNotFoundError, bad JSON RunDirError."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RunDirError(f"{os.fspath(path)}: not valid JSON ({exc}); delete or repair it") from exc


def read_json_or_none(path: str | os.PathLike[str]) -> Any:
    """Like :func:`read_json` but ``None`` for a missing or unreadable file."""
    try:
        return read_json(path)
    except (FileNotFoundError, NotADirectoryError, RunDirError):
        return None


class JsonlWriter:
    """Append one JSON object per line; each line is one ``write`` on an ``O_APPEND`` descriptor.

    ``flush=True`` (the default) makes every record visible to readers at once and safe from a
    later kill of the writing process.
    """

    def __init__(self, path: str | os.PathLike[str], *, fd: int | None = None) -> None:
        self.path = os.fspath(path)
        # fd: ``path`` already opened for appending by the caller (e.g. without following links)
        self._fd = fd if fd is not None else os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, obj: Any) -> None:
        data = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def append_jsonl(path: str | os.PathLike[str], obj: Any) -> None:
    """Append one record to a JSONL file (opens and closes it; use JsonlWriter in loops)."""
    with JsonlWriter(path) as w:
        w.write(obj)


@dataclass
class JsonlRead:
    """Records parsed from a JSONL file, with how many lines could not be parsed."""

    records: list[Any]
    bad_lines: int = 0
    truncated_tail: bool = False


def parse_jsonl(data: bytes, *, final: bool = True) -> tuple[JsonlRead, int]:
    """Parse complete lines of ``data``; returns the records and the number of bytes consumed.

    With ``final=False`` an unterminated last line is left unconsumed (a writer may be mid-line);
    with ``final=True`` it is parsed if it is valid and otherwise counted as a truncated tail.
    """
    out = JsonlRead([])
    end = data.rfind(b"\n") + 1
    body, tail = data[:end], data[end:]
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            out.records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            out.bad_lines += 1
    consumed = end
    if final and tail.strip():
        try:
            out.records.append(orjson.loads(tail))
        except orjson.JSONDecodeError:
            out.truncated_tail = True
        consumed = len(data)
    return out, consumed


def read_jsonl(path: str | os.PathLike[str]) -> JsonlRead:
    """All records of a JSONL file; a truncated last line (a writer killed mid-write) is skipped."""
    with open(path, "rb") as f:
        data = f.read()
    return parse_jsonl(data, final=True)[0]


class JsonlTail:
    """Read the records appended to a JSONL file since the last call (for live runs).

    A line the writer has not finished yet is left for the next call. When the file is replaced
    (a new inode, or a shorter file) reading starts over from its beginning. Each call reads at
    most ``max_bytes``, but always at least one whole line.
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = 4 << 20) -> None:
        self.path = os.fspath(path)
        self.offset = 0
        self.max_bytes = max_bytes
        self._file_id: tuple[int, int] | None = None

    def read_new(self) -> list[Any]:
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                file_id = (st.st_dev, st.st_ino)
                if file_id != self._file_id or st.st_size < self.offset:
                    self._file_id = file_id
                    self.offset = 0
                if st.st_size == self.offset:
                    return []
                f.seek(self.offset)
                data = f.read(self.max_bytes)
                if b"\n" not in data and len(data) == self.max_bytes:
                    data += f.readline()
        except FileNotFoundError:
            return []
        parsed, consumed = parse_jsonl(data, final=False)
        self.offset += consumed
        return parsed.records


def last_record(path: str | os.PathLike[str], tail_bytes: int = 1 << 16) -> Any:
    """The last complete JSONL record of a file, or None (reads only its end)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - tail_bytes))
            data = f.read()
    except FileNotFoundError:
        return None
    for line in reversed(data.split(b"\n")):
        if line.strip():
            try:
                return orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
    return None


def last_records(path: str | os.PathLike[str], tail_bytes: int = 1 << 16) -> list[Any]:
    """The complete JSONL records in the last ``tail_bytes`` of a file (oldest first); [] when missing."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = max(0, size - tail_bytes)
            f.seek(start)
            data = f.read()
    except FileNotFoundError:
        return []
    if start:
        data = data[data.find(b"\n") + 1 :]  # the first line is cut: skip it
    return parse_jsonl(data, final=True)[0].records
