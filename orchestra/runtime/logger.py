"""lagom's ``Logger``, which also streams what it dumps into the run's ``metrics.jsonl``.

>>> logger = Logger()
>>> logger('iteration', 1)
>>> logger('train_loss', 0.12)
>>> logger.dump()
<BLANKLINE>
Iteration: [1]
Train Loss: [0.12]
<BLANKLINE>

The API and the printed text are those of lagom's ``lagom.logger.Logger``, except that
``dump(index=[1])`` prints a one-element list (lagom's ``itemgetter`` returned a scalar and
crashed), a dump is printed in one write (an unknown key raises KeyError before anything is
printed), and ``repr`` is ``OrderedDict([...])`` on every Python version (3.12 changed
OrderedDict's). ``save(f)`` writes ``f + '.pkl'`` (the extension is always appended, as in
lagom), atomically.

Inside a run every Logger writes metrics: each ``dump()`` appends one record per row of values
logged since that logger's previous dump, one JSON line each, visible to readers at once::

    {"step": 12, "time": 1763700004.51, "attempt": 1, "values": {"iteration": 12, "loss": 0.031}}

Row ``i`` holds the ``i``-th value of each key logged since the last dump (keys logged fewer times
are absent from later rows). ``keys``, ``index``, ``indent`` and ``border`` shape only what is
printed. So lagom code that makes a ``Logger()`` per iteration streams its metrics unchanged.
Outside a run a Logger only prints and saves, like lagom's.

The run's own logger, ``ctx.logger``, is a :class:`RunLogger`: it lives as long as the run, so its
``dump()`` prints only what was logged since the previous dump (one value as itself, several as a
list) instead of lagom's whole, ever-growing lists; ``dump(index=...)`` still picks from the whole
history, and ``logs``/``save`` hold all of it.
"""

from __future__ import annotations

import os
import pickle
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cloudpickle

from orchestra.atomic import atomic_file
from orchestra.rundir.steps import row_step
from orchestra.runtime.jsonsafe import metric_value

if TYPE_CHECKING:
    from orchestra.rundir.jsonio import JsonlWriter


class MetricsWriter:
    """Appends Logger rows to ``metrics.jsonl`` (opened at the first write).

    A record's ``step`` is the row's value of the declared step key (the logger's ``step``, else
    the sweep's ``step``), or without a declaration of the best step name it logged
    (:func:`orchestra.rundir.steps.row_step`). A row without one is at the last step a row of
    this attempt logged; before any, at the record's number in the file: records already there
    (earlier attempts) count, so a retried run's implicit steps continue where the last attempt stopped.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        attempt: int,
        step: str | None = None,
        *,
        opener: Callable[[], int] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.attempt = attempt
        self.step = step
        # opener: returns ``path`` opened for reading and appending (the run opens it without following links)
        self._opener = opener
        self._writer: JsonlWriter | None = None
        self._count = 0
        self._last: int | None = None  # the last step a row of this attempt logged

    def write_rows(self, rows: list[dict[str, Any]], step: str | None = None) -> None:
        if self._writer is None:
            self._writer = self._open()
        now = time.time()
        declared = step or self.step
        for values in rows:
            at = row_step(values, declared)
            if at is not None:
                self._last = at
            else:
                at = self._count if self._last is None else self._last
            self._count += 1
            self._writer.write({"step": at, "time": now, "attempt": self.attempt, "values": values})

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _open(self) -> JsonlWriter:
        from orchestra.rundir.jsonio import JsonlWriter  # orjson: paid at the first dump, not at start-up

        if self._opener is not None:
            fd = self._opener()
        else:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            self._count, complete = _count_lines(fd)
            if not complete:  # an earlier writer died mid-line: end that line, so ours stay whole
                os.write(fd, b"\n")
        except BaseException:
            os.close(fd)
            raise
        return JsonlWriter(self.path, fd=fd)


_RUN_METRICS: list[MetricsWriter] = []  # the run's writer, set by the runtime: every Logger uses it


def use_run_metrics(writer: MetricsWriter) -> None:
    """Make every Logger of this process write its dumps to ``writer`` (called once by the runtime)."""
    _RUN_METRICS[:] = [writer]


class Logger:
    """Log values by key; repeated keys collect lists (lagom's ``Logger``).

    ``logger(key, value)`` appends (values are stored by reference); ``dump`` prints;
    ``save(f)`` pickles ``logs`` to ``f + '.pkl'``; ``clear()`` empties it. ``step`` names the key
    whose value is each dumped row's step in ``metrics.jsonl`` (``Logger(step="env_steps")``, or
    ``ctx.logger.step = "env_steps"``); None: the sweep's ``step``, else a recognised step name.
    """

    recent_only = False  # RunLogger: dump() prints what is new since the previous dump

    def __init__(self, *, metrics: MetricsWriter | None = None, step: str | None = None) -> None:
        self.logs: OrderedDict[str, list[Any]] = OrderedDict()
        self.step = step
        self._metrics = metrics
        self._dumped: dict[str, int] = {}  # per key: how many values earlier dumps covered

    def __call__(self, key: str, value: Any) -> None:
        """Log ``value`` under ``key`` (use words separated by ``_``: ``train_loss``)."""
        if key not in self.logs:
            self.logs[key] = []
        self.logs[key].append(value)

    def dump(
        self,
        keys: list[str] | None = None,
        index: int | list[int] | None = None,
        indent: int = 0,
        border: str = "",
    ) -> None:
        """Print the logs: ``border``, one ``Title Case Key: value`` line per key, ``border``.

        ``keys`` (a list) picks keys; ``index`` picks values: None all of them, an int one
        (``-1`` the last), a list several. ``indent`` is a number of tabs. A run's logger also
        appends the rows logged since the last dump to ``metrics.jsonl``.
        """
        before = dict(self._dumped)
        self._write_metrics()
        if keys is None:
            recent = self.recent_only and index is None
            keys = [k for k in self.logs if not recent or len(self.logs[k]) > before.get(k, 0)]
        if not isinstance(keys, list):
            raise TypeError(f"expected list, got {type(keys)}")
        lines = [border]
        tabs = "\t" * indent
        for key in keys:
            values = self.logs[key]
            if index is None and self.recent_only:
                new = values[before.get(key, 0) :]
                value: Any = new[0] if len(new) == 1 else new
            elif index is None:
                value = values
            elif isinstance(index, int):
                value = values[index]
            elif isinstance(index, list):
                value = [values[i] for i in index]
            else:
                raise TypeError(f"index must be None, an int or a list of ints, got {type(index)}")
            lines.append(f"{tabs}{key.strip().replace('_', ' ').title()}: {value}")
        lines.append(border)
        print("\n".join(lines))  # one write: a dump is one line-buffered flush, not one per key

    def save(self, f: str | os.PathLike[str]) -> None:
        """Pickle ``logs`` (cloudpickle) to ``f`` with ``.pkl`` appended."""
        with atomic_file(os.fspath(f) + ".pkl") as out:
            cloudpickle.dump(self.logs, out, protocol=pickle.HIGHEST_PROTOCOL)

    def clear(self) -> None:
        """Remove all logged values."""
        self.logs.clear()
        self._dumped.clear()

    def __repr__(self) -> str:
        return f"OrderedDict({list(self.logs.items())!r})" if self.logs else "OrderedDict()"

    def _write_metrics(self) -> None:
        """Send the rows logged since the previous dump to the run's metrics (if in a run)."""
        sink = self._metrics or (_RUN_METRICS[0] if _RUN_METRICS else None)
        rows: list[dict[str, Any]] = []
        for key, values in self.logs.items():
            start = min(self._dumped.get(key, 0), len(values))
            if sink is not None:
                for i, v in enumerate(values[start:]):
                    if i == len(rows):
                        rows.append({})
                    rows[i][key] = metric_value(v)
            self._dumped[key] = len(values)
        if rows and sink is not None:
            sink.write_rows(rows, self.step)


class RunLogger(Logger):
    """``ctx.logger``: a Logger whose ``dump()`` prints only what was logged since the previous dump."""

    recent_only = True


def _count_lines(fd: int) -> tuple[int, bool]:
    """Complete lines in the file open as ``fd``, and whether it ends with a newline (or is empty).

    Read in blocks with ``pread``, so a large file costs little memory and the offset is untouched.
    """
    count, last, offset = 0, b"\n", 0
    while block := os.pread(fd, 1 << 20, offset):
        count += block.count(b"\n")
        last = block[-1:]
        offset += len(block)
    return count, last == b"\n"
