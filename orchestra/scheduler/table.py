"""The scheduler's table of runs, as frontends see it: rows, a version, events and change feeds.

Rows are frozen: the scheduler replaces a row when the run changes, and a frontend that holds a
snapshot can read it at leisure without locks. Everything a row says about the run's state comes
from its :class:`~orchestra.rundir.Status` (one truth, :func:`status_fields`); the rest is what only
the live scheduler knows (metrics read so far, a note, the backend's name for the attempt).

Three ways to follow the table, for three kinds of reader:

- :meth:`RunTable.snapshot` plus :attr:`RunTable.version`: timers that repaint when the version moved
  (the dashboard in process);
- :meth:`RunTable.events`: one event per change of state (headless output, the search);
- :meth:`RunTable.feed`: the rows changed since the last take (the control socket's changes feed:
  a busy sweep of 10,000 runs costs each attached dashboard only what changed).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PosixPath
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from orchestra.rundir import Exit, State, Status


@dataclass(frozen=True)
class RunRow:
    """One run as the scheduler knows it now."""

    index: int
    id: str
    variant: str
    seed: int
    params: Mapping[str, Any]
    dir: Path
    state: State
    attempt: int = 0
    exit: Exit | None = None
    pid: int | None = None
    gpus: tuple[Mapping[str, Any], ...] = ()
    queued_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    step: int | None = None
    records: int = 0
    note: str = ""
    where: str = ""  # the backend's name for the live attempt: "pid 4242", "job 1234_7 on node3"
    labels: Mapping[str, Any] = field(default_factory=dict)  # e.g. a search's generation or trial

    def elapsed(self, now: float) -> float | None:
        """Seconds the current or last attempt ran."""
        if self.started_at is None:
            return None
        end = self.ended_at if self.state is not State.RUNNING and self.ended_at else now
        return max(0.0, end - self.started_at)

    def to_json(self) -> dict[str, Any]:
        """The row as JSON data (the control socket's wire format)."""
        return {
            "index": self.index,
            "id": self.id,
            "variant": self.variant,
            "seed": self.seed,
            "params": self.params,
            "dir": str(self.dir),
            "state": self.state.value,
            "attempt": self.attempt,
            "exit": self.exit.to_json() if self.exit else None,
            "pid": self.pid,
            "gpus": list(self.gpus),
            "queued_at": self.queued_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "metrics": self.metrics,
            "step": self.step,
            "records": self.records,
            "note": self.note,
            "where": self.where,
            "labels": self.labels,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunRow:
        """The row back from :meth:`to_json` (an attached dashboard reads 10,000 of them at once).

        Built without the generated ``__init__``: a frozen dataclass of 21 fields sets each through
        ``object.__setattr__``, which made a 10,000-run attach 4x slower. The fields are the same.
        """
        row = object.__new__(cls)
        values = {**_ROW_DEFAULTS, **d}
        values["dir"] = PosixPath(d["dir"])
        values["state"] = State(d["state"])
        values["exit"] = Exit.from_json(d["exit"]) if d.get("exit") else None
        values["gpus"] = tuple(d.get("gpus") or ())
        values["metrics"] = d.get("metrics") or {}
        values["labels"] = d.get("labels") or {}
        row.__dict__.update({name: values[name] for name in _ROW_FIELDS})
        return row


_ROW_FIELDS = tuple(RunRow.__dataclass_fields__)
_ROW_DEFAULTS = {
    f.name: f.default for f in RunRow.__dataclass_fields__.values() if f.default is not dataclasses.MISSING
}


def status_fields(status: Status) -> dict[str, Any]:
    """The row fields a status decides."""
    return {
        "state": status.state,
        "attempt": status.attempt,
        "exit": status.exit,
        "pid": status.pid,
        "gpus": status.gpus,
        "queued_at": status.queued_at,
        "started_at": status.started_at,
        "ended_at": status.ended_at,
    }


@dataclass(frozen=True)
class Snapshot:
    """The whole table at one moment: ``version`` grows with every change.

    ``waiting`` says why queued runs are not starting ("" when nothing holds them back);
    ``alerts`` are sweep-wide problems a user must see (status files that cannot be written).
    """

    version: int
    rows: tuple[RunRow, ...]
    paused: bool
    stopping: bool
    started_at: float
    done: bool = False
    waiting: str = ""
    alerts: tuple[str, ...] = ()

    @property
    def counts(self) -> Counter[State]:
        return Counter(r.state for r in self.rows)

    def flags(self) -> dict[str, Any]:
        """The sweep-wide part, as the control protocol carries it (:meth:`with_flags` reads it back)."""
        return {
            "paused": self.paused,
            "stopping": self.stopping,
            "done": self.done,
            "started_at": self.started_at,
            "waiting": self.waiting,
            "alerts": list(self.alerts),
        }

    @classmethod
    def with_flags(cls, version: int, rows: Iterable[RunRow], flags: Mapping[str, Any]) -> Snapshot:
        return cls(
            version,
            tuple(rows),
            bool(flags.get("paused")),
            bool(flags.get("stopping")),
            float(flags.get("started_at") or 0.0),
            bool(flags.get("done")),
            str(flags.get("waiting") or ""),
            tuple(flags.get("alerts") or ()),
        )


@dataclass(frozen=True)
class RunEvent:
    """A run moved to another state (metrics updates are not events; read snapshots for those)."""

    row: RunRow
    previous: State


class ChangeFeed:
    """The ids of rows changed since the last :meth:`take` (see :meth:`RunTable.feed`)."""

    def __init__(self, table: RunTable) -> None:
        self._table = table
        self._dirty: set[str] = set()
        self.closed = False

    def mark(self, run_id: str) -> None:
        self._dirty.add(run_id)

    def take(self) -> list[RunRow]:
        """The changed rows (newest version of each), in run order; empties the feed."""
        ids, self._dirty = self._dirty, set()
        rows = self._table.rows
        return sorted((rows[i] for i in ids if i in rows), key=lambda r: r.index)

    def close(self) -> None:
        self.closed = True
        self._table.drop_feed(self)


class RunTable:
    """Rows by run id, in the order they were added, with a version and subscribers."""

    def __init__(self) -> None:
        self.rows: dict[str, RunRow] = {}
        self.version = 0
        self._changed = anyio.Event()
        self._subscribers: list[MemoryObjectSendStream[RunEvent]] = []
        self._feeds: list[ChangeFeed] = []

    def add(self, row: RunRow) -> None:
        self.rows[row.id] = row
        self._mark(row.id)

    def set(self, run_id: str, **changes: Any) -> RunRow:
        """Replace run ``run_id``'s row with ``changes`` applied; an event when its state moved."""
        old = self.rows[run_id]
        row = replace(old, **changes)
        self.rows[run_id] = row
        if row.state is not old.state:
            self._publish(RunEvent(row, old.state))
        self._mark(run_id)
        return row

    def touch(self) -> None:
        """Something outside the rows changed (paused, stopping, alerts)."""
        self.version += 1
        self._changed.set()
        self._changed = anyio.Event()

    async def changed(self, since: int) -> int:
        """Wait until the version passes ``since``; returns the new version."""
        while self.version <= since:
            await self._changed.wait()
        return self.version

    def events(self, buffer: float = math.inf) -> MemoryObjectReceiveStream[RunEvent]:
        """A stream of state changes of runs, from now on (closed when the scheduler ends)."""
        send, receive = anyio.create_memory_object_stream[RunEvent](buffer)
        self._subscribers.append(send)
        return receive

    def feed(self, rows: Iterable[str] = ()) -> ChangeFeed:
        """A change feed; ``rows`` start out marked (e.g. all of them, for a first full paint)."""
        feed = ChangeFeed(self)
        for run_id in rows:
            feed.mark(run_id)
        self._feeds.append(feed)
        return feed

    def drop_feed(self, feed: ChangeFeed) -> None:
        if feed in self._feeds:
            self._feeds.remove(feed)

    def close(self) -> None:
        for s in self._subscribers:
            s.close()
        self._subscribers.clear()
        self.touch()

    def _mark(self, run_id: str) -> None:
        for feed in self._feeds:
            feed.mark(run_id)
        self.touch()

    def _publish(self, event: RunEvent) -> None:
        alive = []
        for s in self._subscribers:
            try:
                s.send_nowait(event)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                continue  # that reader is gone: drop it
            except anyio.WouldBlock:
                pass  # a bounded reader that fell behind misses this event; it reads snapshots too
            alive.append(s)
        self._subscribers = alive
