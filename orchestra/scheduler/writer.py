"""Status files written in order on one background thread, so fsync never blocks the event loop.

A status write costs a few milliseconds of fsync on an ordinary disk; on the event loop that is
time in which no run can be started or noticed. The scheduler hands each new record to this
writer and goes on. Records for the same file that pile up are coalesced (only the newest is
written); files are written in the order they were first queued. ``flush`` waits until
everything queued is on disk.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from orchestra.rundir import write_json


class StatusWriter:
    def __init__(self) -> None:
        self._pending: dict[str, Any] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._work, name="orchestra-status-writer", daemon=True)
        self._thread.start()

    def write(self, path: str | os.PathLike[str], obj: Any) -> None:
        with self._cond:
            self._pending[os.fspath(path)] = obj
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued record is written; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def close(self) -> None:
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                path = next(iter(self._pending))
                obj = self._pending.pop(path)
                self._busy = True
            try:
                write_json(path, obj)
            except OSError as exc:
                self.errors.append(f"{path}: {exc}")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
