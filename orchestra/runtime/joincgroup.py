"""The run's move into the cgroup its backend made for it (``ORCHESTRA_CGROUP``).

A move waits in the kernel for an RCU grace period wherever the cgroup v2 hierarchy is not mounted
with ``favordynmods`` (systemd's default): around 10 ms on a busy 2-core machine, a quarter of a
no-op run's life. So a cold run begins it on a thread of its own as the first thing
``python -m orchestra.runtime`` does (:func:`begin`), and its interpreter imports the runtime
meanwhile; the runtime waits for it (:func:`finish`) after the banner, before anything loads the
user's code, so that everything the run starts is in the cgroup. A run forked from a zygote has
imported everything already: it moves at :func:`finish`, on its own thread of control.

Nothing but ``os`` and ``_thread``: it runs before the runtime's imports.
"""

from __future__ import annotations

import _thread
import os

ENV = "ORCHESTRA_CGROUP"


class _Join:
    def __init__(self, group: str) -> None:
        self.group = group
        self.error: OSError | None = None
        self._done = _thread.allocate_lock()
        self._done.acquire()

    def run(self) -> None:
        try:
            fd = os.open(os.path.join(self.group, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"0")  # 0: the writer's process, all its threads
            finally:
                os.close(fd)
        except OSError as exc:
            self.error = exc
        finally:
            self._done.release()

    def wait(self) -> OSError | None:
        with self._done:
            return self.error


_begun: list[_Join] = []


def begin() -> None:
    """Start moving this process into ``$ORCHESTRA_CGROUP`` on a thread (nothing when it is unset)."""
    group = os.environ.get(ENV)
    if group and not _begun:
        join = _Join(group)
        _begun.append(join)
        try:
            _thread.start_new_thread(join.run, ())
        except RuntimeError:  # no thread to be had: finish() moves it
            _begun.clear()


def finish() -> tuple[str, OSError] | None:
    """Wait for the move :func:`begin` started, or move now; ``(cgroup, error)`` where it failed,
    None where it worked or there is no cgroup to join."""
    if _begun:
        join = _begun.pop()
    else:
        group = os.environ.get(ENV)
        if not group:
            return None
        join = _Join(group)
        join.run()
    error = join.wait()
    return None if error is None else (join.group, error)
