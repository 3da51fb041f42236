"""The local backend: each run is a process in its own session on this machine.

- **Placement:** ``--workers`` CPU slots (:class:`~orchestra.scheduler.resources.CpuSlots`) and, when
  runs ask for GPUs, the GPU ledger over live NVML readings (:class:`~orchestra.scheduler.gpu.GpuLedger`).
- **Environment:** :func:`~orchestra.scheduler.runenv.run_env`, the GPU devices of the placement, and
  the parent-death link (``ORCHESTRA_PARENT_PID``): a run dies with its orchestrator.
- **Output:** the child's stdout and stderr are ``output.log`` itself (opened for append, never
  through a symlink) and handed over as a file descriptor: the orchestrator never copies a run's bytes.
- **Liveness:** its own session makes the run a process group that is signalled as a whole,
  grandchildren (DataLoader workers) included. The orchestrator is a child subreaper
  (``PR_SET_CHILD_SUBREAPER``), so a grandchild whose parent died, even one that started a
  session of its own, becomes the orchestrator's child and is found by the run directory in its
  environment (``ORCHESTRA_RUN_DIR``). :meth:`LocalHandle.wait` returns only when no process of
  the run is left.
- **Cgroups:** where cgroup v2 lets the orchestrator make cgroups, each run is in one of its own
  (:mod:`~orchestra.scheduler.backends.cgroup`), which holds every descendant whatever its session
  or environment.
- **Recovery:** after an orchestrator died (``kill -9``), nothing of its runs may live on: every
  process whose environment names one of the sweep's run directories, every process left in a
  recorded run's process group and everything in the runs' cgroups is killed, and the next ``up``
  starts nothing before they are gone. What cannot be found without cgroups: a grandchild that
  started its own session *and* cleared its environment, once the orchestrator that would have
  adopted it is dead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from orchestra import proc
from orchestra.errors import PlanError
from orchestra.rundir import OUTPUT_LOG, Status
from orchestra.rundir.files import PlantedLinkError, open_run_file
from orchestra.scheduler.backends import Ended, Placement, RunLaunch, cgroup
from orchestra.scheduler.gpu import GpuGrant, GpuLedger
from orchestra.scheduler.resources import CpuSlots
from orchestra.scheduler.runenv import run_env
from orchestra.sweep import Resources

if TYPE_CHECKING:
    from orchestra.scheduler.backends.zygote import ForkedProcess, ZygoteLauncher

PR_SET_CHILD_SUBREAPER = 36
REAP_TIMEOUT = 5.0  # seconds a SIGKILLed process may take to vanish before we call it stuck


def become_subreaper() -> bool:
    """Make this process adopt orphaned descendants (Linux); False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def me() -> dict[str, Any]:
    """This process as status records name it: pid, its start time and the host."""
    st = proc.stat(os.getpid())
    return {"pid": os.getpid(), "start": st.start if st else None, "host": socket.gethostname()}


def is_alive(record: Mapping[str, Any]) -> bool:
    """Whether the process a record (see :func:`me`) names is alive on this host."""
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return False
    st = proc.stat(record["pid"])
    return st is not None and st.alive and (record.get("start") in (None, st.start))


class SpawnedProcess:
    """A cold run's process, with the face of anyio's ``Process`` that :class:`LocalHandle` uses.

    Spawned with ``subprocess.Popen`` (vfork, then exec) on the event loop, as asyncio itself
    would, and waited for through a pidfd in the event loop (Linux >= 5.3): neither a thread per
    process (asyncio's child watcher before Python 3.12, which also waits for that thread to start)
    nor a transport. Where there is no pidfd, a worker thread waits.
    """

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.returncode: int | None = None
        self._pidfd: int | None = None
        if hasattr(os, "pidfd_open"):
            try:
                self._pidfd = os.pidfd_open(self.pid)
            except OSError:  # a kernel older than 5.3, or a seccomp filter
                pass

    @classmethod
    def spawn(cls, argv: Sequence[str], *, log: int, cwd: Path, env: Mapping[str, str]) -> SpawnedProcess:
        return cls(
            subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        )

    async def wait(self) -> int:
        """The exit status: >= 0 an exit code, < 0 the number of the signal that killed it."""
        if self.returncode is None:
            if self._pidfd is not None:
                await anyio.wait_readable(self._pidfd)  # readable once the process has exited
                self.returncode = self._popen.wait()  # reaps it: at once
                os.close(self._pidfd)
                self._pidfd = None
            else:
                self.returncode = await anyio.to_thread.run_sync(self._popen.wait, abandon_on_cancel=True)
        return self.returncode


class LocalHandle:
    """A run's process group on this machine."""

    def __init__(
        self,
        process: SpawnedProcess | ForkedProcess,
        run_dir: Path,
        backend: LocalBackend,
        cgroup: str | None,
    ) -> None:
        self._process = process
        self._run_dir = str(run_dir)
        self._backend = backend
        self.cgroup = cgroup
        self.pid: int = process.pid
        st = proc.stat(self.pid)
        self._start = st.start if st else None

    @property
    def id(self) -> str:
        return f"pid {self.pid}"

    def record(self) -> dict[str, Any]:
        return {
            "backend": "local",
            "pid": self.pid,
            "start": self._start,
            "host": socket.gethostname(),
            "orchestrator": self._backend.orchestrator,
            **({"cgroup": self.cgroup} if self.cgroup else {}),
        }

    async def wait(self) -> Ended:
        rc = await self._process.wait()
        await self._backend.reap_run(self.pid, self._run_dir, self.cgroup)
        return Ended(rc, message=getattr(self._process, "lost", None) or "")

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def members(self) -> list[int]:
        """Live processes of the run's group and cgroup (for the GPU ledger's attribution)."""
        members = proc.group_members(self.pid)
        if self.cgroup is not None:
            members += [p for p in cgroup.procs(self.cgroup) if p not in members]
        return members

    def _signal(self, sig: int) -> None:
        # The leader's descendants first, while their parent chain still leads to it: this finds
        # one in a session of its own with no environment, which nothing else does without a cgroup.
        for pid in proc.descendants(self.pid):
            _kill(pid, sig)
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cgroup is not None:
            cgroup.signal_all(self.cgroup, sig)
        self._backend.signal_escapees(self._run_dir, sig)


class LocalBackend:
    """Runs on this machine: see the module docstring."""

    name = "local"
    runs_outlive_orchestrator = False

    def __init__(
        self,
        workers: int,
        gpus: GpuLedger | None = None,
        *,
        gpu_interval: float = 0.5,
        reap_interval: float = 1.0,
    ) -> None:
        self.slots = CpuSlots(workers)
        self.gpus = gpus
        self.gpu_interval = gpu_interval
        self.reap_interval = reap_interval
        self.orchestrator = me()
        self.subreaper = become_subreaper()
        self.cgroups = cgroup.RunCgroups()
        self._handles: dict[str, LocalHandle] = {}  # run id -> its live attempt
        self._leaders: set[int] = set()
        self._launching = 0
        self.zygote: ZygoteLauncher | None = None  # warm starts (Sweep(preload=...)): set by the session
        if gpus is not None:
            gpus.pids_of = self.pids_of

    # ------------------------------------------------------------------ placement

    def describe(self) -> str:
        return f"{self.slots.total} workers"

    def problem(self, resources: Resources) -> str | None:
        problem = self.slots.feasible(resources.cpus)
        if problem is None and _wants_gpu(resources):
            problem = (
                "runs ask for GPUs but no GPUs are available"
                if self.gpus is None
                else self.gpus.feasible(resources)
            )
        return problem

    def place(self, run_id: str, resources: Resources) -> Placement | None:
        if not self.slots.fits(resources.cpus):
            return None
        grant: GpuGrant | None = None
        if _wants_gpu(resources):
            if self.gpus is None:
                return None
            grant = self.gpus.place(run_id, resources)
            if grant is None:
                return None
        self.slots.take(resources.cpus)
        return Placement(
            run_id,
            resources,
            gpus=tuple(grant.to_json()) if grant is not None else (),
            env=grant.env() if grant is not None else {},
            threads=self.slots.threads_per_run(resources.cpus),
            token=grant,
        )

    def waiting_reason(self, resources: Resources) -> str:
        if not self.slots.fits(resources.cpus):
            return f"waiting for {resources.cpus} free CPU slot(s) of {self.slots.total}"
        if _wants_gpu(resources) and self.gpus is not None:
            return self.gpus.waiting_reason(resources)
        return ""

    def release(self, placement: Placement) -> None:
        self.slots.give(placement.resources.cpus)
        if placement.token is not None and self.gpus is not None:
            self.gpus.release(placement.run_id)
            self.gpus.refresh()

    def pids_of(self, run_id: str) -> list[int]:
        handle = self._handles.get(run_id)
        return handle.members() if handle is not None else []

    def views(self) -> Sequence[Any]:
        return self.gpus.views() if self.gpus is not None else ()

    # ------------------------------------------------------------------ launching

    async def launch(self, batch: Sequence[tuple[RunLaunch, Placement]]) -> list[Any]:
        out: list[Any] = []
        for launch, placement in batch:
            try:
                out.append(await self._start(launch, placement))
            except (OSError, PlantedLinkError) as exc:  # it cannot start; the others still may
                out.append(exc)
        return out

    async def _start(self, launch: RunLaunch, placement: Placement) -> LocalHandle:
        env = run_env(
            base=os.environ,
            sweep_env=launch.sweep_env,
            run_dir=launch.run_dir,
            attempt=launch.attempt,
            threads=placement.threads,
            sweep_file=launch.sweep_file,
            device_env=placement.env or None,
        )
        env["ORCHESTRA_PARENT_PID"] = str(os.getpid())
        env["ORCHESTRA_RESULT_FSYNC"] = "orchestrator"  # the status writer fsyncs it before the end's record
        argv = [sys.executable, "-m", "orchestra.runtime", str(launch.run_dir)]
        log = open_run_file(launch.run_dir, OUTPUT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        group = self.cgroups.make(str(launch.run_dir))  # before the run starts: it joins it itself
        if group is not None:
            env["ORCHESTRA_CGROUP"] = group

        async def cold() -> SpawnedProcess:
            return SpawnedProcess.spawn(argv, log=log, cwd=launch.cwd, env=env)

        self._launching += 1
        try:
            zygote = self.zygote
            if zygote is not None:
                process = await zygote.start(argv, env=env, cwd=launch.cwd, log_fd=log, cold=cold)
                if zygote.pid:
                    self._leaders.add(zygote.pid)  # asyncio waits for it: never reap it behind its back
            else:
                process = await cold()
        except BaseException:
            if group is not None:
                cgroup.remove(group)
            raise
        finally:
            os.close(log)
            self._launching -= 1
        if (
            group is not None
            and not self.cgroups.proven
            and not self.cgroups.join(group, (process.pid, *proc.group_members(process.pid)))
        ):
            # The first run is moved from here as well (it joins its cgroup itself too, which
            # changes nothing): that proves that moves work here, else cgroups are off for good.
            group = None
        handle = LocalHandle(process, launch.run_dir, self, group)
        self._handles[launch.run_id] = handle
        self._leaders.add(handle.pid)
        return handle

    # ------------------------------------------------------------------ liveness

    async def reap_run(self, leader: int, run_dir: str, group: str | None = None) -> None:
        """After a run's leader exited: kill what is left of its group, its cgroup and its escapees;
        wait until gone."""
        self._leaders.discard(leader)
        for run_id, h in list(self._handles.items()):
            if h.pid == leader:
                del self._handles[run_id]
        with anyio.move_on_after(REAP_TIMEOUT):
            while True:
                adopted = self._adopted()  # one read of our children for both looks below
                left = proc.group_members(leader) + self._escapees(run_dir, adopted)
                if group is not None and cgroup.populated(group):
                    left += cgroup.procs(group)
                self.reap_zombies(adopted)
                if not left:
                    break
                for pid in left:
                    _kill(pid)
                try:
                    os.killpg(leader, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                await anyio.sleep(0.01)
        if group is not None:
            self.cgroups.release(group)

    def signal_escapees(self, run_dir: str, sig: int) -> None:
        """Signal the run's processes that left its process group and were adopted by us."""
        for pid in self._escapees(run_dir):
            _kill(pid, sig)

    def _adopted(self) -> list[int]:
        """Our children that are not run leaders: descendants of runs whose parents died (we are
        their subreaper), and the zygote."""
        if not self.subreaper:
            return []
        return [pid for pid in proc.children(all_threads=False) if pid not in self._leaders]

    def _escapees(self, run_dir: str, adopted: list[int] | None = None) -> list[int]:
        """Our adopted children (not run leaders) that belong to ``run_dir``."""
        return [
            pid
            for pid in (self._adopted() if adopted is None else adopted)
            if proc.alive(pid) and proc.environ_value(pid, "ORCHESTRA_RUN_DIR") == run_dir
        ]

    def reap_zombies(self, adopted: list[int] | None = None) -> None:
        """Collect the exit status of adopted descendants (never of a run leader: asyncio waits for those)."""
        if not self.subreaper or self._launching:
            return
        for pid in self._adopted() if adopted is None else adopted:
            if pid in self._leaders:
                continue
            st = proc.stat(pid)
            if st is not None and not st.alive:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    async def watch(self, wake: Callable[[], None]) -> None:
        """GPU readings twice a second (placement may become possible), and adopted zombies reaped."""
        try:
            async with anyio.create_task_group() as tg:
                if self.gpus is not None:
                    tg.start_soon(self._gpu_loop, wake)
                while True:
                    await anyio.sleep(self.reap_interval)
                    self.reap_zombies()
                    if self.cgroups.released:
                        await anyio.to_thread.run_sync(self.cgroups.remove_released)
        finally:
            self.cgroups.close()

    async def _gpu_loop(self, wake: Callable[[], None]) -> None:
        assert self.gpus is not None
        while True:
            await anyio.sleep(self.gpu_interval)
            self.gpus.refresh()
            wake()

    # ------------------------------------------------------------------ recovery

    async def recover(self, sweep_runs: Path, running: Mapping[str, Status]) -> dict[str, Any]:
        """Kill every process of the sweep's runs that a dead orchestrator left; no run is re-attached."""
        for run_id, status in running.items():
            boss = (status.handle or {}).get("orchestrator")
            if isinstance(boss, Mapping) and is_alive(boss) and boss.get("pid") != os.getpid():
                raise PlanError(
                    f"run {run_id} belongs to a live orchestrator (pid {boss.get('pid')}) although the "
                    "sweep's lock is free (was orchestra.lock removed?); stop that orchestrator first"
                )
        survivors = await kill_leftovers(sweep_runs, running.values())
        if survivors:
            raise PlanError(
                f"cannot end {len(survivors)} process(es) left by a dead orchestrator of this sweep "
                f"(pids {', '.join(map(str, survivors[:5]))}); kill them, then run `orchestra up` again"
            )
        return {run_id: None for run_id in running}


async def kill_leftovers(sweep_runs: Path, statuses: Iterable[Status] = ()) -> list[int]:
    """SIGKILL every live process of a sweep's runs whose orchestrator is dead; returns those still
    alive after :data:`REAP_TIMEOUT` seconds (none, unless they belong to someone we may not signal).

    The caller holds the sweep's lock, so no live orchestrator owns any of them. They are found by
    the run directory in their environment, by the process group of each run ``statuses`` recorded
    as running here (what cleared its environment stays in it), and by the runs' cgroups (the ones
    recorded, and the one this process would give the sweep). Found again on every round, so that
    what forks while it is being killed is killed too.
    """
    prefixes = tuple({os.path.abspath(sweep_runs) + os.sep, os.path.realpath(sweep_runs) + os.sep})
    groups: list[tuple[int, int | None]] = []
    cgroups: set[str] = set()
    mine = cgroup.sweep_cgroup(os.path.abspath(sweep_runs))
    if mine is not None:
        cgroups.add(mine)
    for status in statuses:
        handle = status.handle or {}
        if handle.get("host") == socket.gethostname() and isinstance(handle.get("pid"), int):
            groups.append((handle["pid"], handle.get("start")))
        if isinstance(handle.get("cgroup"), str):
            cgroups.add(handle["cgroup"])

    def targets() -> list[int]:
        found = set(proc.with_environ("ORCHESTRA_RUN_DIR", lambda d: d.startswith(prefixes)))
        for pgid, start in groups:
            found.update(_left_in_group(pgid, start))
        for group in cgroups:
            found.update(cgroup.procs(group))
        found.discard(os.getpid())
        return [p for p in found if proc.alive(p)]

    left = targets()
    with anyio.move_on_after(REAP_TIMEOUT):
        while left:
            for group in cgroups:
                cgroup.signal_all(group, signal.SIGKILL)
            for pid in left:
                _kill(pid)
            await anyio.sleep(0.02)
            left = targets()
    for group in cgroups:
        cgroup.remove(group)
    return left


def _left_in_group(pgid: int, start: int | None) -> list[int]:
    """Live members of a dead run's process group ``pgid`` (its leader started at ``start``).

    The group's number is its leader's pid, which the kernel does not hand out again while the group
    has members; a leader alive with another start time means the group is gone and the pid reused.
    """
    leader = proc.stat(pgid)
    if leader is not None and start is not None and leader.start != start:
        return []
    out = []
    for pid in proc.group_members(pgid):
        st = proc.stat(pid)
        if st is not None and (start is None or st.start >= start):
            out.append(pid)
    return out


def _kill(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wants_gpu(resources: Resources) -> bool:
    return resources.gpus > 0 or resources.gpu_mem is not None
