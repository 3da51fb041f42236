"""A run's metrics, from a columnar cache beside its ``metrics.jsonl`` when that cache is current.

Parsing JSON lines is what a big sweep's results cost (about a millisecond per 1,000 records);
reading a binary copy of one column costs a hundredth of that. So the first read of a finished
run writes its columns, its returned scalars included, to a NumPy ``.npy`` file in the run
directory, and later reads take what they need from that file instead of parsing::

    runs/<variant>/<seed>/.metrics-cache.v1.a<attempt>.s<size>.m<mtime_ns>.npy

The name is the cache's key: the run's attempt (``status.json``), and the size and modification
time of ``metrics.jsonl``. A write to ``metrics.jsonl`` or a new attempt (which also rewrites
``result.json``) changes the key, so a stale cache is never read; it is deleted when its
replacement is written. Only finished runs are cached (a running run's file grows while it is
read); runs whose files had problems (a truncated line) and metrics that hold anything but
numbers and text are not cached, so their warnings stay visible. Writing is best effort: on a
read-only or full filesystem the run is read from its JSON lines every time, and nothing else
changes.

The file is one structured NumPy scalar (``np.load`` reads it) whose fields are whole columns,
each contiguous: ``step``, ``time``, ``v:<metric>`` for each metric, ``p:<metric>`` (logged or
not) for metrics some records lack. Scoring a sweep reads the header and one column of each run
with ``pread``, not the file; the header is parsed once per distinct header (``np.load``
re-parses it with ``ast.literal_eval`` on every call, most of its cost on small files).
Chosen by measurement (bench/bench_results.py, one column from each of 10,000 runs in a fresh
process, medians): 35 µs a run this way, 175 µs with ``np.load``, 210 µs from Arrow IPC files
with pyarrow (which also takes a tenth of a second to import), 800 µs from Parquet.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from orchestra.atomic import atomic_file
from orchestra.results.metrics import Metrics, read_metrics, returned_scalars
from orchestra.rundir import METRICS_JSONL, RESULT_JSON, read_json_or_none

VERSION = 1
PREFIX = ".metrics-cache."
_MAGIC = b"\x93NUMPY"
_HEAD = 4096  # bytes read first: the header of a run with a few dozen metrics
_HEADERS: dict[bytes, np.dtype[Any]] = {}  # header bytes -> the record's dtype, parsed once
_KINDS: dict[np.dtype[Any], dict[str, str]] = {}  # record dtype -> its metrics' kinds


def cache_name(attempt: int, st: os.stat_result) -> str:
    """The cache file's name for this attempt and this state of ``metrics.jsonl``."""
    return f"{PREFIX}v{VERSION}.a{attempt}.s{st.st_size}.m{st.st_mtime_ns}.npy"


class CacheFile:
    """A current cache file: its path, the record's dtype and where the data starts."""

    __slots__ = ("dtype", "offset", "path")

    def __init__(self, path: str, dtype: np.dtype[Any], offset: int) -> None:
        self.path = path
        self.dtype = dtype
        self.offset = offset

    def kinds(self) -> dict[str, str]:
        """``{metric: dtype kind}`` in the order first logged (``i``, ``f``, ``U`` for text); shared, do not change."""
        kinds = _KINDS.get(self.dtype)
        if kinds is None:
            fields: Mapping[str, Any] = self.dtype.fields or {}
            names = self.dtype.names or ()
            kinds = _KINDS[self.dtype] = {f[2:]: fields[f][0].base.kind for f in names if f.startswith("v:")}
        return kinds

    def read(self, names: list[str] | None = None, fd: int | None = None) -> dict[str, np.ndarray]:
        """Fields by name (all of them by default; unknown names are left out), each read from its
        place in the file (through ``fd`` when given). OSError when the file is gone or cut short.
        """
        if fd is None:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                return self.read(names, fd)
            finally:
                os.close(fd)
        if names is None:
            data = os.pread(fd, self.dtype.itemsize, self.offset)
            if len(data) != self.dtype.itemsize:
                raise OSError(f"{self.path}: cut short")
            record = np.frombuffer(data, dtype=self.dtype, count=1)[0]
            return {n: record[n] for n in self.dtype.names or ()}
        fields: Mapping[str, Any] = self.dtype.fields or {}
        out: dict[str, np.ndarray] = {}
        for n in names:
            if n not in fields:
                continue
            sub, at = fields[n][0], fields[n][1]
            data = os.pread(fd, sub.itemsize, self.offset + at)
            if len(data) != sub.itemsize:
                raise OSError(f"{self.path}: cut short")
            out[n] = (
                np.frombuffer(data, dtype=sub.base, count=sub.shape[0])
                if sub.shape[0]
                else np.zeros(0, sub.base)
            )
        return out

    def metrics(self) -> Metrics:
        """All columns as Metrics (text as object arrays, as parsed metrics have it)."""
        return _metrics(self.read())


def curve_fields(name: str, *, steps: bool = True) -> list[str]:
    """The fields :func:`curve_from` needs for ``name``."""
    return [*(["step"] if steps else []), f"v:{name}", f"p:{name}"]


def curve_from(cols: Mapping[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of one metric from the fields :func:`curve_fields` named (empty if not logged).

    Without ``step`` among them the steps come back empty.
    """
    values = cols.get(f"v:{name}")
    if values is None:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    if values.dtype.kind == "U":
        values = values.astype(object)
    step = cols.get("step")
    mask = cols.get(f"p:{name}")
    if mask is not None:
        return (np.zeros(0, np.int64) if step is None else step[mask]), values[mask]
    return (np.zeros(0, np.int64) if step is None else step), values


def open_cache(
    run_dir: str, attempt: int, fields: list[str] | None = None
) -> tuple[CacheFile, dict[str, np.ndarray]] | None:
    """The run's current cache file and its ``fields`` read at once; None when there is no current cache
    (none written, a stale one, no ``metrics.jsonl``) or it cannot be read.
    """
    try:
        st = os.stat(f"{run_dir}/{METRICS_JSONL}")
    except (FileNotFoundError, NotADirectoryError):
        return None
    return open_npy(f"{run_dir}/{cache_name(attempt, st)}", fields)


def open_npy(path: str, fields: list[str] | None = None) -> tuple[CacheFile, dict[str, np.ndarray]] | None:
    """A cache file's layout from its header, and ``fields`` read through the same descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        head = os.pread(fd, _HEAD, 0)
        if head[:6] != _MAGIC or len(head) < 10:
            return None
        size = 2 if head[6] == 1 else 4
        end = 8 + size + int.from_bytes(head[8 : 8 + size], "little")
        if end > len(head):
            head = os.pread(fd, end, 0)
        dtype = _HEADERS.get(head[8:end]) or _parse_header(path, head[8:end])
        if dtype is None:
            return None
        found = CacheFile(path, dtype, end)
        return found, (found.read(fields, fd) if fields else {})
    except OSError:
        return None
    finally:
        os.close(fd)


def _parse_header(path: str, header: bytes) -> np.dtype[Any] | None:
    """The record dtype of a cache file whose header is new, parsed by NumPy and remembered."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if arr.shape != () or arr.dtype.names is None or "step" not in arr.dtype.names:
        return None
    if len(_HEADERS) > 1024:
        _HEADERS.clear()
        _KINDS.clear()
    _HEADERS[header] = arr.dtype
    return arr.dtype


def load_metrics(run_dir: str, attempt: int, finished: bool, *, use_cache: bool = True) -> Metrics:
    """The run's metrics with its returned scalars: from the cache when current, else parsed (and cached)."""
    metrics_path = f"{run_dir}/{METRICS_JSONL}"
    try:
        st: os.stat_result | None = os.stat(metrics_path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    key = cache_name(attempt, st) if use_cache and finished and st is not None else None
    if key is not None:
        found = open_npy(f"{run_dir}/{key}", None)
        if found is not None:
            try:
                return found[0].metrics()
            except OSError:
                pass  # replaced or cut short since: parse the JSON lines
    metrics = read_metrics(metrics_path) if st is not None else Metrics.empty(exists=False)
    result = read_json_or_none(os.path.join(run_dir, RESULT_JSON))
    if isinstance(result, dict):
        ended = result.get("ended_at")
        at = float(ended) if isinstance(ended, (int, float)) else None
        metrics = metrics.with_final(returned_scalars(result), at)
    if key is not None and not metrics.problems and len(metrics):
        write(run_dir, key, metrics)
    return metrics


def write(run_dir: str, name: str, metrics: Metrics) -> None:
    """Write ``metrics`` as the run's cache ``name`` and delete older caches; silently skip on failure."""
    record = to_record(metrics)
    if record is None:
        return
    path = os.path.join(run_dir, name)
    try:
        with atomic_file(path, durable=False) as f:
            np.save(f, record, allow_pickle=False)
        with os.scandir(run_dir) as entries:
            stale = [e.path for e in entries if e.name.startswith(PREFIX) and e.name != name]
    except OSError:
        return
    for old in stale:
        with contextlib.suppress(OSError):
            os.unlink(old)


def to_record(metrics: Metrics) -> np.ndarray | None:
    """The metrics as one structured scalar of whole columns; None when a column holds more than numbers and text."""
    n = len(metrics)
    fields: list[tuple[str, Any, tuple[int]]] = [("step", "<i8", (n,)), ("time", "<f8", (n,))]
    columns: dict[str, np.ndarray] = {"step": metrics.step, "time": metrics.time}
    for name, col in metrics.values.items():
        if col.dtype.kind in "if":
            dtype: Any = col.dtype.newbyteorder("<")
        elif all(type(x) is str for x in col):
            dtype = f"<U{max(1, max(map(len, col), default=1))}"
        else:
            return None
        fields.append((f"v:{name}", dtype, (n,)))
        columns[f"v:{name}"] = col
        if name in metrics.present:
            fields.append((f"p:{name}", "?", (n,)))
            columns[f"p:{name}"] = metrics.present[name]
    record = np.zeros((), dtype=fields)
    for field, col in columns.items():
        record[field] = col
    return record


def _metrics(cols: Mapping[str, np.ndarray]) -> Metrics:
    values: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    for field, col in cols.items():
        kind, name = field[:2], field[2:]
        if kind == "v:":
            values[name] = col.astype(object) if col.dtype.kind == "U" else col
        elif kind == "p:":
            present[name] = col
    return Metrics(cols["step"], cols["time"], values, present)
