"""Status files written in order on one background thread, so fsync never blocks the event loop.

A status write costs a few milliseconds of fsync on an ordinary disk; on the event loop that is
time in which no run can be started or noticed. The scheduler hands each new record to this
writer and goes on. Records for the same file that pile up are coalesced (only the newest is
written); files are written in the order they were first queued. ``flush`` waits until
everything queued is on disk.

A write that fails (a full disk, a read-only filesystem) is not dropped: the record stays pending
and is retried every ``retry_delay`` seconds until it is written or replaced by a newer record
for the same file. :meth:`StatusWriter.failing` tells the scheduler, which pauses launching and
says so; :meth:`StatusWriter.close` returns what could never be written, so ``orchestra up`` does
not report what it could not record.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, NamedTuple

from orchestra.atomic import fsync_file, sync_directory
from orchestra.errors import RunDirError
from orchestra.rundir import write_json
from orchestra.rundir.files import ensure_run_dir

LAZY_SYNC = 1.0  # seconds a lazy record may wait for its fsync


class _Record(NamedTuple):
    """One record queued for a file, with how to write it (see :meth:`StatusWriter.write`)."""

    obj: Any
    make_dir: bool
    sync_first: str | None
    lazy: bool


class StatusWriter:
    def __init__(self, *, retry_delay: float = 1.0, lazy_sync: float = LAZY_SYNC) -> None:
        self.retry_delay = retry_delay
        self.lazy_sync = lazy_sync
        self._pending: dict[str, _Record] = {}
        self._failed: dict[str, tuple[_Record, str]] = {}  # path -> (record, error), retried later
        self._retry_at = 0.0
        self._unsynced: dict[str, float] = {}  # lazy records written, by when to fsync them
        self._sync_now = False  # flush: fsync the lazy records without waiting
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="orchestra-status-writer", daemon=True)
        self._thread.start()

    def write(
        self,
        path: str | os.PathLike[str],
        obj: Any,
        *,
        make_dir: bool = False,
        sync_first: str | os.PathLike[str] | None = None,
        lazy: bool = False,
    ) -> None:
        """Queue ``obj`` for ``path``; ``make_dir``: make its directory if it is missing (a run that
        ended before it started, whose directory could not be made then: a full disk);
        ``sync_first``: a file beside it to fsync before (a run's result.json, which the local
        backend's runs leave unsynced: the record of its end must not outlive it); ``lazy``: fsync
        it within :data:`LAZY_SYNC` seconds rather than now (see the module docstring)."""
        record = _Record(obj, make_dir, None if sync_first is None else os.fspath(sync_first), lazy)
        with self._cond:
            key = os.fspath(path)
            self._failed.pop(key, None)
            self._pending[key] = record
            self._cond.notify_all()

    def failing(self) -> dict[str, str]:
        """Files whose newest record could not be written yet, with the error."""
        with self._cond:
            return {path: error for path, (_, error) in self._failed.items()}

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued record is written (or failed once) and fsynced, lazy ones too;
        False if ``timeout`` passed first."""
        with self._cond:
            self._sync_now = True
            self._cond.notify_all()
            done = self._cond.wait_for(
                lambda: not self._pending and not self._busy and not self._unsynced, timeout
            )
            self._sync_now = False
            return done

    def close(self, timeout: float = 5.0) -> dict[str, str]:
        """Write what is queued, let failed writes be retried until ``timeout``, fsync the lazy
        records, stop; returns what was never written."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy or (self._failed and time.monotonic() < deadline):
                self._cond.wait(0.05)
            self._closed = True
            self._cond.notify_all()
            left = {path: error for path, (_, error) in self._failed.items()}
        self._thread.join()
        return left

    def _retry_failed(self) -> None:
        """Queue the failed records again; they count as failing until a write of theirs succeeds."""
        for path, (record, _) in self._failed.items():
            self._pending.setdefault(path, record)
        self._retry_at = time.monotonic() + self.retry_delay
        self._cond.notify_all()

    def _due(self) -> list[str]:
        """Lazy records whose fsync is due (all of them when closing or flushing)."""
        if not self._unsynced:
            return []
        if self._closed or self._sync_now:
            return list(self._unsynced)
        now = time.monotonic()
        return [path for path, at in self._unsynced.items() if at <= now]

    def _timeout(self) -> float | None:
        """How long the thread may sleep: until the next failed write's retry or lazy fsync."""
        wake = []
        if self._failed:
            wake.append(self._retry_at)
        if self._unsynced:
            wake.append(min(self._unsynced.values()))
        return max(0.0, min(wake) - time.monotonic()) if wake else None

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    due = self._due()
                    if due:
                        break
                    if self._closed:
                        return
                    if self._failed and time.monotonic() >= self._retry_at:
                        self._retry_failed()
                        continue
                    self._cond.wait(self._timeout())
                self._busy = True
                if self._pending:
                    path = next(iter(self._pending))
                    record: _Record | None = self._pending.pop(path)
                else:
                    record = None
                    for path in due:
                        del self._unsynced[path]
            if record is not None:
                self._write(path, record)
                continue
            _sync(due)
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _write(self, path: str, record: _Record) -> None:
        try:
            if record.make_dir:
                ensure_run_dir(os.path.dirname(path))  # never through a planted link
            if record.sync_first is not None:
                fsync_file(record.sync_first)
            write_json(path, record.obj, fsync=not record.lazy)
            error = None
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc.strerror or exc}"
        except RunDirError as exc:
            error = str(exc)
        with self._cond:
            if error is None:
                self._failed.pop(path, None)
                if record.lazy:
                    self._unsynced.setdefault(path, time.monotonic() + self.lazy_sync)
                else:
                    self._unsynced.pop(path, None)  # the durable record covers the lazy one
            elif path not in self._pending:
                if not self._failed:
                    self._retry_at = time.monotonic() + self.retry_delay
                self._failed[path] = (record, error)
            self._busy = False
            self._cond.notify_all()


def _sync(paths: list[str]) -> None:
    """fsync lazily written files and then their directories (each directory once)."""
    for path in paths:
        fsync_file(path)
    for directory in dict.fromkeys(os.path.dirname(p) for p in paths):
        sync_directory(directory)
