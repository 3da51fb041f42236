"""One run's ``metrics.jsonl`` as columns: step, time and one numpy array per metric.

The file is read in one go and parsed by orjson as a single JSON array (one C call instead of one
per line); only when that fails does the line-by-line reader of :mod:`orchestra.rundir` take over,
so a damaged line costs that file the slow path and nothing more. A truncated last line (a run
killed mid-write) and unreadable lines are skipped and reported in :attr:`Metrics.problems`.

Records are reduced to one per step: a record is kept only when every later record has a larger
step. For repeated steps this keeps the last record of each (the run-directory contract); after a
retry resumed from an older snapshot it also drops what the failed attempt logged past the resume
point, so a retried run that has not caught up yet does not show a stale tail.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

from orchestra.rundir import parse_jsonl

_NUMBER_TYPES = frozenset({int, float, bool})
NON_FINITE = frozenset({"nan", "inf", "-inf"})
"""How the runtime writes non-finite floats, which JSON cannot hold; read back as floats."""
_ABSENT = object()


@dataclass(frozen=True, eq=False)
class Metrics:
    """The metrics a run logged, as columns of equal length (one row per step, steps increasing).

    ``values[name]`` is int64 for a metric every record logged as an integer, float64 for other
    numbers (NaN where a record did not log ``name`` or logged null; booleans as 0/1; the strings
    ``"nan"``, ``"inf"``, ``"-inf"`` among numbers as those floats), and an object array for
    anything else (text). ``present[name]`` is a bool mask, only for
    metrics that some records lack. ``exists`` is False when the run has no metrics file.
    """

    step: np.ndarray
    time: np.ndarray
    values: Mapping[str, np.ndarray]
    present: Mapping[str, np.ndarray] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    exists: bool = True

    @classmethod
    def empty(cls, *, exists: bool = True, problems: tuple[str, ...] = ()) -> Metrics:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float64), {}, {}, problems, exists)

    @property
    def names(self) -> tuple[str, ...]:
        """The metric names in the order they were first logged."""
        return tuple(self.values)

    def __len__(self) -> int:
        return len(self.step)

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __getitem__(self, name: str) -> np.ndarray:
        """A column: ``"step"``, ``"time"`` or a metric name."""
        if name == "step":
            return self.step
        if name == "time":
            return self.time
        return self.values[name]

    def curve(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of the records that logged ``name`` (empty arrays if none did)."""
        if name not in self.values:
            return self.step[:0], np.zeros(0, np.float64)
        mask = self.present.get(name)
        if mask is None:
            return self.step, self.values[name]
        return self.step[mask], self.values[name][mask]

    def final(self, name: str) -> Any:
        """The last value logged for ``name`` (a Python scalar; NaN for a logged null); None if never."""
        _, values = self.curve(name)
        if not len(values):
            return None
        last = values[-1]
        return last.item() if isinstance(last, np.generic) else last


def read_metrics(path: str | os.PathLike[str]) -> Metrics:
    """Read and parse one ``metrics.jsonl``; a missing file gives an empty Metrics with ``exists=False``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return Metrics.empty(exists=False)
    with _gc_paused():
        records, problems = _parse(data)
        metrics = _columns(records, problems)
        del records  # freed before the collector is back, so it never sees them
    return metrics


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Keep the cycle collector out of a parse: it makes thousands of acyclic dicts that die at once.

    Left on, every few hundred of them trigger a collection that also walks everything already
    cached, which doubled the time to read a 10,000-run sweep (bench/bench_results.py).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _parse(data: bytes) -> tuple[list[Any], list[str]]:
    problems: list[str] = []
    end = data.rfind(b"\n") + 1
    body, tail = data[:end], data[end:]
    records: list[Any] = []
    if body:
        try:
            records = orjson.loads(b"[" + body[:-1].replace(b"\n", b",") + b"]")
        except orjson.JSONDecodeError:
            read, _ = parse_jsonl(body)
            records = read.records
            if read.bad_lines:
                problems.append(f"skipped {read.bad_lines} unreadable line(s)")
    if tail.strip():
        read, _ = parse_jsonl(tail)
        records.extend(read.records)
        if read.truncated_tail:
            problems.append("skipped a truncated last line (a write cut short)")
    return records, problems


def _columns(records: list[Any], problems: list[str]) -> Metrics:
    try:
        return _build(records, problems)
    except (KeyError, TypeError, ValueError):
        good = [r for r in records if _valid(r)]
        problems.append(
            f"skipped {len(records) - len(good)} record(s) without an integer step, a time and values"
        )
        return _build(good, problems)


def _build(records: list[Any], problems: list[str]) -> Metrics:
    """Columns of well-formed records; KeyError/TypeError/ValueError when some record is not."""
    if not records:
        return Metrics.empty(problems=tuple(problems))
    # numpy infers the types in C: an integer step array has kind "i"; floats, None or text do not
    step = np.array(list(map(itemgetter("step"), records)))
    time = np.array(list(map(itemgetter("time"), records)))
    if step.ndim != 1 or step.dtype.kind != "i" or time.ndim != 1 or time.dtype.kind not in "if":
        raise TypeError("step must be an integer and time a number")
    values, present = _value_columns(list(map(itemgetter("values"), records)))
    step, time = step.astype(np.int64, copy=False), time.astype(np.float64, copy=False)
    if len(step) > 1 and not bool((step[1:] > step[:-1]).all()):
        keep = _superseded_dropped(step)
        step, time = step[keep], time[keep]
        kept = {k: m[keep] for k, m in present.items()}
        values = {k: v[keep] for k, v in values.items() if k not in kept or kept[k].any()}
        present = {k: m for k, m in kept.items() if k in values and not m.all()}
    return Metrics(step, time, values, present, tuple(problems))


def _valid(r: Any) -> bool:
    return (
        isinstance(r, dict)
        and type(r.get("step")) is int
        and -(2**63) <= r["step"] < 2**63
        and type(r.get("time")) in (int, float)
        and isinstance(r.get("values"), dict)
    )


def _value_columns(rows: list[dict[str, Any]]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    n = len(rows)
    keys = list(rows[0])
    if sum(map(len, rows)) == n * len(keys):
        try:  # the common case: every record logged the same metrics
            return {k: _array(list(map(itemgetter(k), rows))) for k in keys}, {}
        except KeyError:
            pass
    order: dict[str, None] = {}
    for r in rows:
        order.update(dict.fromkeys(r))
    values: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    for k in order:
        col = [r.get(k, _ABSENT) for r in rows]
        mask = np.fromiter((x is not _ABSENT for x in col), dtype=bool, count=n)
        values[k] = _array([None if x is _ABSENT else x for x in col])
        if not mask.all():
            present[k] = mask
    return values, present


def _array(col: list[Any]) -> np.ndarray:
    """int64 for integers, float64 for numbers (null -> NaN), else an object array (strings, lists)."""
    try:
        a = np.array(col)
    except (ValueError, OverflowError):  # lists of different lengths
        a = None
    if a is not None and a.ndim == 1:
        if a.dtype.kind == "i":
            return a.astype(np.int64, copy=False)
        if a.dtype.kind in "fb":
            return a.astype(np.float64, copy=False)
    types = set(map(type, col))
    if types <= _NUMBER_TYPES | {type(None)}:  # null among numbers, or huge integers
        return np.array([np.nan if x is None else x for x in col], dtype=np.float64)
    if types <= _NUMBER_TYPES | {type(None), str} and all(x in NON_FINITE for x in col if type(x) is str):
        return np.array([np.nan if x is None else float(x) for x in col], dtype=np.float64)
    out = np.empty(len(col), dtype=object)
    for i, x in enumerate(col):  # element by element: numpy would try to broadcast logged lists
        out[i] = x
    return out


def _superseded_dropped(step: np.ndarray) -> np.ndarray:
    """Mask of records whose step is below the step of every later record."""
    later_min = np.minimum.accumulate(step[::-1])[::-1]
    keep = np.ones(len(step), dtype=bool)
    keep[:-1] = step[:-1] < later_min[1:]
    return keep


def is_numeric(values: np.ndarray) -> bool:
    """Whether a metric column holds numbers (int64 or float64) rather than text."""
    return values.dtype.kind in "iuf"


def union_names(metrics: Iterable[Metrics]) -> list[str]:
    """Every metric name logged by any of the runs, in first-seen order."""
    order: dict[str, None] = {}
    for m in metrics:
        order.update(dict.fromkeys(m.values))
    return list(order)
