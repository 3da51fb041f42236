"""One cgroup (v2) per run, where this process may make them: what no session or environment escapes.

A process group, the environment variable ``ORCHESTRA_RUN_DIR`` and the orchestrator's
subreaper find a run's processes in every case but one: a grandchild that starts a session of its
own *and* clears its environment, while the orchestrator is dead (nothing links it to the run any
more). A cgroup does: every descendant of a process in it stays in it, whatever it does, unless it
has the rights to move itself out. So where cgroup v2 is mounted and the orchestrator's own cgroup
lets it make children (root, or a unit with ``Delegate=yes``), each attempt of a run gets
``<own cgroup>/orchestra-<sweep hash>/<run hash>-<random>``, which its leader joins itself
(:meth:`RunCgroups.make`) before its Python has run a line of the user's code, and the
run's processes are ended by the cgroup as well.

An orchestrator that ends removes its cgroups; one that is killed leaves them (empty once its runs
are dead) until the next ``up`` of its sweep, or until any orchestrator making cgroups beside them
finds them empty and a minute old (:func:`prune_stale`), so that they do not pile up.

Where cgroups cannot be made (most unprivileged sessions), :meth:`RunCgroups.make` returns None from
then on and the backend goes on with process groups, the environment and the subreaper alone. The
environment variable ``ORCHESTRA_CGROUPS=off`` asks for that everywhere (a site whose own tools
manage cgroups).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from collections.abc import Iterable


def _mount() -> str | None:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup``, or ``.../unified`` in hybrid
    mode)."""
    try:
        with open("/proc/self/mountinfo") as f:
            return parse_mountinfo(f.read())
    except OSError:
        return None


def parse_mountinfo(text: str) -> str | None:
    """The mount point of the cgroup v2 hierarchy's root in the text of ``/proc/self/mountinfo``
    (fields: id, parent, device, root, mount point, ..., ``-``, type, ...)."""
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] == ["cgroup2"] and left.split()[3] == "/":
            return left.split()[4]
    return None


def _own() -> str | None:
    """This process's cgroup v2 path (``0::/user.slice/...``)."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None


def sweep_cgroup(sweep_runs: str) -> str | None:
    """The cgroup directory this process would give the runs of ``sweep_runs`` (None: no cgroup v2,
    or ``ORCHESTRA_CGROUPS=off``)."""
    if os.environ.get("ORCHESTRA_CGROUPS") == "off":
        return None
    mount, own = _mount(), _own()
    if mount is None or own is None:
        return None
    key = hashlib.sha256(os.fsencode(sweep_runs)).hexdigest()[:16]
    return os.path.join(mount, own.lstrip("/"), f"orchestra-{key}")


def procs(cgroup: str) -> list[int]:
    """Processes in ``cgroup`` and its descendants (none when it does not exist)."""
    out: list[int] = []
    for directory, _, _ in os.walk(cgroup):
        try:
            with open(os.path.join(directory, "cgroup.procs")) as f:
                out += [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            continue
    return out


def populated(cgroup: str) -> bool:
    """Whether a process is left in ``cgroup`` or its descendants: one read of ``cgroup.events``
    instead of a walk (True when it cannot be read and the cgroup is there: look with :func:`procs`)."""
    try:
        with open(os.path.join(cgroup, "cgroup.events"), "rb") as f:
            return b"populated 0" not in f.read()
    except FileNotFoundError:
        return False
    except OSError:
        return True


def signal_all(cgroup: str, sig: int) -> None:
    """Send ``sig`` to every process in ``cgroup`` (SIGKILL through ``cgroup.kill`` where the kernel has it)."""
    if sig == signal.SIGKILL:
        try:
            with open(os.path.join(cgroup, "cgroup.kill"), "w") as f:
                f.write("1")
            return
        except OSError:
            pass
    for pid in procs(cgroup):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


STALE_AFTER = 60.0  # seconds: a run's cgroup is filled within milliseconds of being made


def prune_stale(parent: str) -> None:
    """Remove the sweep cgroups (``orchestra-*``) under ``parent`` that killed orchestrators left:
    no process in them, and none of their directories made in the last :data:`STALE_AFTER` seconds
    (a live orchestrator makes its own again when it next starts a run)."""
    try:
        names = [n for n in os.listdir(parent) if n.startswith("orchestra-")]
    except OSError:
        return
    now = time.time()
    for name in names:
        base = os.path.join(parent, name)
        try:
            fresh = any(now - os.stat(d).st_mtime < STALE_AFTER for d, _, _ in os.walk(base))
        except OSError:
            continue
        if not fresh and not procs(base):
            remove(base)


def remove(cgroup: str) -> None:
    """Remove ``cgroup`` and its children, those that are empty (a populated one stays)."""
    for directory, _, _ in os.walk(cgroup, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(directory)


class RunCgroups:
    """The cgroups of one orchestrator's runs, made on first use; off for good after one failure."""

    def __init__(self) -> None:
        self.base: str | None = None
        self.off = False
        self.closed = False
        self.proven = False  # a process was moved into one of them: moves work here
        self._released: list[str] = []

    def make(self, run_dir: str) -> str | None:
        """A new, empty cgroup directory for an attempt of the run in ``run_dir``, made before its
        process starts; None where cgroups cannot be used.

        The backend gives the run the directory in ``ORCHESTRA_CGROUP`` and the run joins it
        itself before it loads the user's code (:mod:`orchestra.runtime.joincgroup`): a move may
        wait in the kernel for an RCU grace period (milliseconds) where the hierarchy is not
        mounted with ``favordynmods``, and the run's own thread waits for it while its interpreter
        starts, not the orchestrator's event loop, a thread of its or the next launch.
        """
        if self.off:
            return None
        if self.base is None:
            self.base = sweep_cgroup(os.path.dirname(os.path.dirname(run_dir)))
            if self.base is None:
                self.off = True
                return None
            prune_stale(os.path.dirname(self.base))
        key = hashlib.sha256(os.fsencode(run_dir)).hexdigest()[:16]
        while True:
            cgroup = os.path.join(self.base, f"{key}-{os.urandom(4).hex()}")  # one per attempt
            try:
                os.makedirs(cgroup)
                return cgroup
            except FileExistsError:
                continue
            except OSError:
                self.off = True
                return None

    def join(self, cgroup: str, pids: Iterable[int]) -> bool:
        """Move ``pids`` into ``cgroup`` (made by :meth:`make`), in order; False, and off for
        good, when that cannot be done. Each move may wait in the kernel for an RCU grace period
        (see :meth:`make`): the local backend moves its first run alone, which proves that moves
        work here."""
        try:
            for p in pids:
                try:
                    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                        f.write(str(p))
                except ProcessLookupError:
                    continue  # it has exited already: nothing of it to keep track of
                self.proven = True
        except OSError:
            self.off = True
            remove(cgroup)
            return False
        return True

    def release(self, cgroup: str) -> None:
        """A run's processes are all gone: its cgroup goes with the next :meth:`remove_released`
        (removing one takes the kernel a millisecond or more: not on the event loop at each run's
        end); once closed, at once, with the sweep's when empty."""
        self._released.append(cgroup)
        if self.closed:
            self.remove_released()

    @property
    def released(self) -> bool:
        return bool(self._released)

    def remove_released(self) -> None:
        """Remove the released runs' cgroups (the local backend calls this from a worker thread)."""
        todo, self._released = self._released, []
        for cgroup in todo:
            remove(cgroup)
        if self.closed and self.base is not None:
            remove(self.base)

    def close(self) -> None:
        """At the orchestrator's end: remove the released cgroups and the sweep's now if it is empty,
        else when its last run's is released (runs are still being stopped while the scheduler winds
        down)."""
        self.closed = True
        self.remove_released()
