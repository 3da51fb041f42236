"""What Linux's ``/proc`` tells about processes: one reader for the scheduler, the GPU probe and tests.

Everything here is cheap and never raises for a process that vanished while it was being read.
On a system without ``/proc`` the functions fall back to what signals can tell (or to nothing).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` orchestra uses."""

    pid: int
    state: str  # R, S, D, Z, X, ...
    ppid: int
    pgid: int
    sid: int
    start: int  # clock ticks after boot: with the pid, it names a process for good (pids are reused)

    @property
    def alive(self) -> bool:
        """Running or sleeping: a zombie (or a dying process) holds no memory and runs no code."""
        return self.state not in ("Z", "X")


def stat(pid: int) -> ProcStat | None:
    """The stat of ``pid``, or None when it does not exist (or /proc cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return ProcStat(
            pid, fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])
        )
    except (IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    st = stat(pid)
    return st is not None and st.alive


def pids() -> Iterator[int]:
    """Every process id in /proc (none when /proc is missing)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    for name in names:
        if name.isdigit():
            yield int(name)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []  # the common case once a run has exited: no scan of /proc needed
    except PermissionError:
        pass
    if not os.path.isdir("/proc"):  # not Linux: all a signal can tell is that something is there
        return [pgid]
    out = []
    for pid in pids():
        st = stat(pid)
        if st is not None and st.pgid == pgid and st.alive:
            out.append(pid)
    return out


def environ_value(pid: int, name: str) -> str | None:
    """The value of environment variable ``name`` that process ``pid`` started with, or None.

    None as well for processes of other users (their environ is unreadable) and for kernel threads.
    """
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return None
    key = name.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(key):
            return item[len(key) :].decode(errors="replace")
    return None


def with_environ(name: str, predicate: Callable[[str], bool]) -> list[int]:
    """Live processes whose environment has ``name`` with a value for which ``predicate`` holds."""
    out = []
    me = os.getpid()
    for pid in pids():
        if pid == me:
            continue
        value = environ_value(pid, name)
        if value is not None and predicate(value) and alive(pid):
            out.append(pid)
    return out


def children(pid: int | None = None, *, all_threads: bool = True) -> list[int]:
    """Direct children of ``pid`` (default: this process), from ``/proc/<pid>/task/*/children``.

    ``all_threads=False`` reads the main thread's list alone: where orphans adopted by a subreaper
    appear (the kernel hands them to its thread-group leader while it lives), and one read
    instead of one per thread.
    """
    pid = os.getpid() if pid is None else pid
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task") if all_threads else [str(pid)]
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(p) for p in f.read().split()]
        except OSError:
            continue
    return out


def descendants(pid: int) -> list[int]:
    """Children of ``pid``, their children, and so on (those alive now; a reparented one is not)."""
    out: list[int] = []
    todo = children(pid)
    while todo:
        p = todo.pop()
        if p not in out:
            out.append(p)
            todo += children(p)
    return out
