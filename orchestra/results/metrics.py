"""One run's ``metrics.jsonl`` as columns: step, time and one numpy array per metric.

The file is read in one go and parsed by orjson as a single JSON array (one C call instead of one
per line); only when that fails does the line-by-line reader of :mod:`orchestra.rundir` take over,
so a damaged line costs that file the slow path and nothing more. A truncated last line (a run
killed mid-write) and unreadable lines are skipped and reported in :attr:`Metrics.problems`.

Attempts: the newest wins. A retry (or a resume after ``orchestra up``) that restarts from an
older snapshot logs steps the failed attempt already logged; every record of an earlier attempt
whose step is at or past the first step a later attempt logged is dropped, so a retried run has
no saw-tooth and no stale tail even before it catches up. Within one attempt nothing is dropped:
consecutive records at the same step whose metrics do not overlap (a training dump and an
evaluation dump of one iteration) become one record, and anything else is kept as logged.
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

    def with_final(self, finals: Mapping[str, float], at_time: float | None = None) -> Metrics:
        """These metrics with ``finals`` as the values of the last record (a run's returned scalars).

        A metric the run also logged gets its last value replaced; one it did not gets a single
        point at the last step. Without records, ``finals`` make one record at step 0 (``at_time``).
        """
        if not finals:
            return self
        if not len(self):
            when = np.array([np.nan if at_time is None else at_time], dtype=np.float64)
            values = {k: np.array([v]) for k, v in finals.items()}
            return Metrics(np.zeros(1, np.int64), when, values, {}, self.problems, self.exists)
        n = len(self)
        values = dict(self.values)
        present = dict(self.present)
        for name, value in finals.items():
            col = values.get(name)
            mask: np.ndarray | None
            if col is None:
                col = np.full(n, np.nan)
                mask = np.zeros(n, dtype=bool)
            elif not is_numeric(col):
                continue  # text logged under the name: the number does not replace it
            else:
                kind = np.int64 if col.dtype.kind == "i" and type(value) is int else np.float64
                col = col.astype(kind, copy=True)
                mask = present.get(name)
                mask = None if mask is None else mask.copy()
            col[-1] = value
            values[name] = col
            if mask is not None:
                mask[-1] = True
                if mask.all():
                    present.pop(name, None)
                else:
                    present[name] = mask
        return Metrics(self.step, self.time, values, present, self.problems, self.exists)

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
        attempt = np.array([r.get("attempt", 1) for r in records])
        if attempt.dtype.kind != "i":
            attempt = np.ones(len(step), dtype=np.int64)
        return _newest_attempt_wins(step, time, attempt, values, present, problems)
    return Metrics(step, time, values, present, tuple(problems))


def _newest_attempt_wins(
    step: np.ndarray,
    time: np.ndarray,
    attempt: np.ndarray,
    values: dict[str, np.ndarray],
    present: dict[str, np.ndarray],
    problems: list[str],
) -> Metrics:
    """Drop what later attempts logged again, then join same-step records that do not overlap."""
    n = len(step)
    later_min = np.minimum.accumulate(step[::-1])[::-1]  # min step from each record on
    starts = np.flatnonzero(np.r_[True, attempt[1:] != attempt[:-1]])
    ends = np.r_[starts[1:], n]
    threshold = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    for s, e in zip(starts[:-1], ends[:-1]):
        threshold[s:e] = later_min[e]  # the lowest step any later attempt logged
    keep = step < threshold
    if not keep.all():
        step, time, attempt = step[keep], time[keep], attempt[keep]
        kept = {k: m[keep] for k, m in present.items()}
        values = {k: v[keep] for k, v in values.items() if k not in kept or kept[k].any()}
        present = {k: m for k, m in kept.items() if k in values}
    same = np.flatnonzero((step[1:] == step[:-1]) & (attempt[1:] == attempt[:-1])) + 1
    if len(same) and len(present) == len(values):  # a metric logged everywhere overlaps every pair
        step, time, values, present = _join_disjoint(same, step, time, values, present)
    present = {k: m for k, m in present.items() if not m.all()}
    return Metrics(step, time, values, present, tuple(problems))


def _join_disjoint(
    same: np.ndarray,
    step: np.ndarray,
    time: np.ndarray,
    values: dict[str, np.ndarray],
    present: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Fold each record at ``same`` into the one before it when no metric is logged in both."""
    values = {k: v.copy() for k, v in values.items()}
    present = {k: m.copy() for k, m in present.items()}
    drop = np.zeros(len(step), dtype=bool)
    target = -1
    for i in same.tolist():
        if not drop[i - 1]:
            target = i - 1
        if any(present[k][target] and present[k][i] for k in present):
            continue
        for k, mask in present.items():
            if mask[i]:
                values[k][target] = values[k][i]
                mask[target] = True
        time[target] = time[i]
        drop[i] = True
    keep = ~drop
    return (
        step[keep],
        time[keep],
        {k: v[keep] for k, v in values.items()},
        {k: m[keep] for k, m in present.items()},
    )


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


def returned_scalars(result: Any) -> dict[str, float]:
    """The numbers a run returned: its ``result.json``'s ``return`` dict (nested dicts as dotted names).

    Integers, floats, booleans (as 0/1) and the strings ``"nan"``, ``"inf"``, ``"-inf"`` count;
    text, lists and a return value that is not a dict are not metrics.
    """
    returned = result.get("return") if isinstance(result, dict) else None
    out: dict[str, float] = {}
    if isinstance(returned, dict):
        _scalars(returned, "", out)
    return out


def _scalars(d: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _scalars(value, name + ".", out)
        elif type(value) in (int, float):
            out[name] = value
        elif type(value) is bool or (type(value) is str and value in NON_FINITE):
            out[name] = float(value)


def is_numeric(values: np.ndarray) -> bool:
    """Whether a metric column holds numbers (int64 or float64) rather than text."""
    return values.dtype.kind in "iuf"


def union_names(metrics: Iterable[Metrics]) -> list[str]:
    """Every metric name logged by any of the runs, in first-seen order."""
    order: dict[str, None] = {}
    for m in metrics:
        order.update(dict.fromkeys(m.values))
    return list(order)
