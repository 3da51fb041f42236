"""A run's metrics, from a columnar cache beside its ``metrics.jsonl`` when that cache is current.

Parsing JSON lines is what a big sweep's results cost (about a millisecond per 1,000 records);
reading a binary copy of the columns costs a hundredth of that. So the first read of a finished
run writes its columns, its returned scalars included, to a NumPy ``.npy`` file in the run
directory, and later reads take that file instead of parsing::

    runs/<variant>/<seed>/.metrics-cache.v1.a<attempt>.s<size>.m<mtime_ns>.npy

The name is the cache's key: the run's attempt (``status.json``), and the size and modification
time of ``metrics.jsonl``. A write to ``metrics.jsonl`` or a new attempt (which also rewrites
``result.json``) changes the key, so a stale cache is never read; it is deleted when its
replacement is written. Only finished runs are cached (a running run's file grows while it is
read); runs whose files had problems (a truncated line) and metrics that hold anything but
numbers and text are not cached, so their warnings stay visible. The file is a plain structured
array (``np.load`` reads it): ``step``, ``time``, ``v:<metric>`` per metric and ``p:<metric>``
(logged or not) for metrics some records lack. Writing is best effort: on a read-only or full
filesystem the run is read from its JSON lines every time, and nothing else changes.

Why ``.npy`` (bench/bench_results.py prints the comparison): reading one column from each of
10,000 cached runs, a ``.npy`` whose header is parsed once per distinct header takes about
15 µs a run, Arrow IPC 35 µs plus 0.1 s to import pyarrow, ``np.load`` 80 µs and Parquet 700 µs.
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
_HEADERS: dict[bytes, tuple[np.dtype[Any], int]] = {}  # header bytes -> (dtype, rows), parsed once


def cache_name(attempt: int, st: os.stat_result) -> str:
    """The cache file's name for this attempt and this state of ``metrics.jsonl``."""
    return f"{PREFIX}v{VERSION}.a{attempt}.s{st.st_size}.m{st.st_mtime_ns}.npy"


def load(run_dir: str, attempt: int, finished: bool, *, use_cache: bool = True) -> Metrics:
    """The run's metrics with its returned scalars: from the cache when current, else parsed (and cached)."""
    metrics_path = os.path.join(run_dir, METRICS_JSONL)
    try:
        st: os.stat_result | None = os.stat(metrics_path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    key = cache_name(attempt, st) if use_cache and finished and st is not None else None
    if key is not None:
        arr = read_npy(os.path.join(run_dir, key))
        if arr is not None:
            return from_array(arr)
    metrics = read_metrics(metrics_path) if st is not None else Metrics.empty(exists=False)
    result = read_json_or_none(os.path.join(run_dir, RESULT_JSON))
    if isinstance(result, dict):
        ended = result.get("ended_at")
        at = float(ended) if isinstance(ended, (int, float)) else None
        metrics = metrics.with_final(returned_scalars(result), at)
    if key is not None and not metrics.problems:
        write(run_dir, key, metrics)
    return metrics


def read_cached(run_dir: str, attempt: int) -> np.ndarray | None:
    """The current cached array of a finished run, or None (no cache, a stale one, no metrics file)."""
    try:
        st = os.stat(os.path.join(run_dir, METRICS_JSONL))
    except (FileNotFoundError, NotADirectoryError):
        return None
    return read_npy(os.path.join(run_dir, cache_name(attempt, st)))


def read_npy(path: str) -> np.ndarray | None:
    """A ``.npy`` file's array (read-only, over the file's bytes); None when missing or unreadable.

    ``np.load`` parses the header with ``ast.literal_eval`` on every call, which is most of its
    cost on small files; the runs of a sweep share a handful of headers, so each distinct header
    is parsed once (by ``np.load`` itself) and remembered.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if data[:6] != _MAGIC:
        return None
    size = 2 if data[6] == 1 else 4
    start = 8 + size
    end = start + int.from_bytes(data[8:start], "little")
    header = data[8:end]
    known = _HEADERS.get(header)
    if known is None:
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if arr.ndim != 1 or arr.dtype.names is None:
            return None
        if len(_HEADERS) > 1024:
            _HEADERS.clear()
        _HEADERS[header] = known = (arr.dtype, len(arr))
    dtype, rows = known
    if len(data) - end != dtype.itemsize * rows:
        return None
    return np.frombuffer(data, dtype=dtype, count=rows, offset=end)


def write(run_dir: str, name: str, metrics: Metrics) -> None:
    """Write ``metrics`` as the run's cache ``name`` and delete older caches; silently skip on failure."""
    arr = to_array(metrics)
    if arr is None:
        return
    path = os.path.join(run_dir, name)
    try:
        with atomic_file(path, durable=False) as f:
            np.save(f, arr, allow_pickle=False)
        with os.scandir(run_dir) as entries:
            stale = [e.path for e in entries if e.name.startswith(PREFIX) and e.name != name]
    except OSError:
        return
    for old in stale:
        with contextlib.suppress(OSError):
            os.unlink(old)


def to_array(metrics: Metrics) -> np.ndarray | None:
    """The metrics as one structured array; None when some column holds more than numbers and text."""
    fields: list[tuple[str, Any]] = [("step", "<i8"), ("time", "<f8")]
    columns: dict[str, np.ndarray] = {"step": metrics.step, "time": metrics.time}
    for name, col in metrics.values.items():
        if col.dtype.kind in "if":
            dtype: Any = col.dtype.newbyteorder("<")
        elif all(type(x) is str for x in col):
            dtype = f"<U{max(1, max(map(len, col), default=1))}"
        else:
            return None
        fields.append((f"v:{name}", dtype))
        columns[f"v:{name}"] = col
        if name in metrics.present:
            fields.append((f"p:{name}", "?"))
            columns[f"p:{name}"] = metrics.present[name]
    arr = np.empty(len(metrics), dtype=fields)
    for field, col in columns.items():
        arr[field] = col
    return arr


def from_array(arr: np.ndarray) -> Metrics:
    """Metrics over a cached array (numeric columns are views of it; text becomes object arrays)."""
    values: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    for field in arr.dtype.names or ():
        kind, name = field[:2], field[2:]
        if kind == "v:":
            col = arr[field]
            values[name] = col.astype(object) if col.dtype.kind == "U" else col
        elif kind == "p:":
            present[name] = arr[field]
    return Metrics(arr["step"], arr["time"], values, present)


def names_of(arr: np.ndarray) -> list[str]:
    """The metric names of a cached array, in the order they were first logged."""
    return [f[2:] for f in arr.dtype.names or () if f.startswith("v:")]


def curve_of(arr: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of one metric of a cached array, copied out of it (empty if not logged)."""
    fields: Mapping[str, Any] = arr.dtype.fields or {}
    if f"v:{name}" not in fields:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    col = arr[f"v:{name}"]
    if col.dtype.kind == "U":
        col = col.astype(object)
    if f"p:{name}" in fields:
        mask = arr[f"p:{name}"]
        return arr["step"][mask], col[mask]
    return np.array(arr["step"]), np.array(col)
