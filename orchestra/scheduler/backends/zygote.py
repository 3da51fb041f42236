"""Warm starts for the local backend: runs forked from a zygote that imported the sweep's ``preload``.

The process side is :mod:`orchestra.runtime.zygote`; this is the orchestrator's side. The local
backend builds a run's command, environment, cwd and ``output.log`` descriptor as for a cold start,
and gives them to :meth:`ZygoteLauncher.start` instead of ``anyio.open_process``; what comes back
has the face of anyio's ``Process`` that ``LocalHandle`` uses (``pid``, ``await wait()``,
``returncode``), so the handle, its reaping and its signals stay as they are::

    async with ZygoteLauncher(sweep.preload, log_path=sweep_dir.path / "zygote.log") as zygote:
        ...
        process = await zygote.start(argv, env=env, cwd=cwd, log_fd=log, cold=open_cold)

Enter it before the scheduler runs and leave it after: the runs' exits come through it. The
zygote is started at the first ``start`` (it needs a run's environment), and every ``start``
waits until it has preloaded; then each run is a fork of it.

Exit statuses: the zygote, not the orchestrator, is a forked run's parent, so only it can reap
the run. It reports ``{"op": "exited", "pid", "status"}`` over the socket and the process's
``wait()`` returns it, decoded as ``Popen.wait`` would (the exit code, or minus the signal). A
zygote that dies takes its runs with it (their parent-death signal): the launcher notices the
socket's end, kills what is left of each run's process group, appends a line to each run's
``output.log``, sets ``process.lost`` and resolves ``wait()`` with ``-SIGKILL``; every later run
starts cold. No run is lost silently.

Cold starts (``cold()``, the local backend's own spawn) happen, each reason said once through
``notify``, when: the zygote reported it cannot fork safely (see the process side), it did not
become ready within ``ready_timeout``, it died, or a run's launch differs from the one the zygote
was made for in something fixed at interpreter start-up (the command, cwd, or an environment
variable other than the per-run ones in :data:`PER_RUN` and the thread-pool sizes in
:data:`POOL_VARS`, which each forked run applies to its own pools).

Finding forked processes: ``/proc/<pid>/environ`` shows the environment a process image was
exec'd with, so a forked run (and whatever it forks without exec) shows the zygote's. The zygote's
environment therefore names ``<sweep>/runs/.zygote`` as ``ORCHESTRA_RUN_DIR``: whatever looks for
a sweep's processes by that variable (the local backend's recovery after an orchestrator died)
finds the zygote and every process forked from it. What a forked run starts with exec carries
the run's own directory, as in a cold run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import anyio
import anyio.abc

from orchestra import proc

# Per-run variables: read at the run's start or at CUDA's initialisation, never by a preload's
# import, so a fork may change them. Anything else must equal the zygote's own environment.
PER_RUN = frozenset(
    {
        "ORCHESTRA_RUN_DIR",
        "ORCHESTRA_ATTEMPT",
        "ORCHESTRA_PARENT_PID",
        "ORCHESTRA_CGROUP",
        "ORCHESTRA_DEVICE",
        "ORCHESTRA_GPUS",
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
    }
)
# Thread-pool sizes: the zygote imports with each at 1, so no pool starts a thread before a fork,
# and each forked run resizes the pools it inherited to its own (orchestra.runtime.zygote.POOLS):
# they too may differ by run.
POOL_VARS = frozenset(
    {
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "GOTO_NUM_THREADS",
        "BLIS_NUM_THREADS",
        "FLEXIBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    }
)
RUNTIME_MODULE = "orchestra.runtime"
MAX_MESSAGE = 1 << 20
ZYGOTE_DIR = ".zygote"  # the zygote's ORCHESTRA_RUN_DIR: <sweep>/runs/.zygote (see the module docstring)


def _notify_stderr(message: str) -> None:
    print(f"orchestra: {message}", file=sys.stderr, flush=True)


class ForkedProcess:
    """A run forked by the zygote, with the face of anyio's ``Process`` that ``LocalHandle`` uses.

    ``lost`` says why, when the run was killed because its zygote died.
    """

    def __init__(self, pid: int, log_fd: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.lost: str | None = None
        self._log_fd = log_fd  # a copy of its output.log, for the line a dying zygote leaves there
        self._done = anyio.Event()

    async def wait(self) -> int:
        """The exit status: >= 0 an exit code, < 0 the number of the signal that killed it."""
        await self._done.wait()
        assert self.returncode is not None
        return self.returncode

    def _resolve(self, status: int, line: str = "") -> None:
        if self._done.is_set():
            return
        if line:
            with contextlib.suppress(OSError):
                os.write(self._log_fd, line.encode())
        os.close(self._log_fd)
        self.returncode = status
        self._done.set()


class ZygoteLauncher:
    """Starts a sweep's runs as forks of one zygote that preloaded ``preload`` (see the module docstring)."""

    def __init__(
        self,
        preload: Iterable[str],
        *,
        log_path: str | os.PathLike[str],
        notify: Callable[[str], None] = _notify_stderr,
        ready_timeout: float = 300.0,
    ) -> None:
        self.preload = tuple(preload)
        self.log_path = Path(log_path)
        self.notify = notify
        self.ready_timeout = ready_timeout
        self.pid: int | None = None
        self.ready_info: dict[str, Any] = {}
        self._cold_reason: str | None = None
        self._told: set[str] = set()
        self._process: anyio.abc.Process | None = None
        self._sock: socket.socket | None = None
        self._base: tuple[tuple[str, ...], str, dict[str, str]] | None = None
        self._marker: str | None = None
        self._ready = anyio.Event()
        self._starting = False
        self._next_id = 0
        self._pending: dict[int, tuple[anyio.Event, list[Any]]] = {}
        self._forked: dict[int, ForkedProcess] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self._send_lock = anyio.Lock()

    async def __aenter__(self) -> ZygoteLauncher:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._tg is not None
        with anyio.CancelScope(shield=True):
            await self._shutdown()
        self._tg.cancel_scope.cancel()
        return await self._tg.__aexit__(exc_type, exc, tb)

    @property
    def warm(self) -> bool:
        """Whether runs are being forked (False before the zygote is ready and after a fallback)."""
        return self._ready.is_set() and self._cold_reason is None

    async def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | os.PathLike[str],
        log_fd: int,
        cold: Callable[[], Awaitable[Any]],
    ) -> Any:
        """Start the run ``argv`` (``python -m orchestra.runtime <run-dir>``): forked when the zygote
        can, else ``await cold()``. ``log_fd`` is its ``output.log``, opened by the caller, who keeps
        (and closes) it. Returns a process: ``pid``, ``await wait()``, ``returncode``."""
        spec = _Spec(tuple(os.fspath(a) for a in argv), dict(env), os.fspath(cwd))
        if self._cold_reason is None and not self._starting:
            self._starting = True
            await self._start_zygote(spec)
        if self._cold_reason is None:
            with anyio.move_on_after(self.ready_timeout) as scope:
                await self._ready.wait()
            if scope.cancelled_caught:
                self._fall_back(f"the warm-start zygote did not finish preloading in {self.ready_timeout:g}s")
                await self._stop_zygote()
        if self._cold_reason is not None:
            self._tell(self._cold_reason)
            return await cold()
        mismatch = self._mismatch(spec)
        if mismatch is not None:
            self._tell(f"warm start: {mismatch}; such runs start cold")
            return await cold()
        try:
            return await self._fork(spec, log_fd)
        except _ZygoteGone:
            assert self._cold_reason is not None
            self._tell(self._cold_reason)
            return await cold()

    # ------------------------------------------------------------------ the zygote's life

    async def _start_zygote(self, spec: _Spec) -> None:
        base_env = _shared(spec.env)
        self._base = (spec.argv, spec.cwd, base_env)
        if not _is_runtime_command(spec.argv):
            self._fall_back("warm start: runs are not started as `python -m orchestra.runtime`")
            return
        env = dict(base_env)
        env.update(dict.fromkeys(POOL_VARS, "1"))  # each run resizes its pools (see POOL_VARS)
        env["CUDA_VISIBLE_DEVICES"] = ""  # the zygote sees no GPU: nothing it imports can take one
        runs = os.path.dirname(os.path.dirname(os.path.abspath(spec.argv[-1])))
        self._marker = env["ORCHESTRA_RUN_DIR"] = os.path.join(runs, ZYGOTE_DIR)  # see the module docstring
        if "ORCHESTRA_PARENT_PID" in spec.env:
            env["ORCHESTRA_PARENT_PID"] = str(os.getpid())  # the zygote dies with the orchestrator
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        log_fd = os.open(
            self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
        try:
            self._process = await anyio.open_process(
                [spec.argv[0], "-m", f"{RUNTIME_MODULE}.zygote", str(theirs.fileno()), *self.preload],
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                cwd=spec.cwd,
                env=env,
                start_new_session=True,
                pass_fds=(theirs.fileno(),),
            )
        except OSError as exc:
            ours.close()
            self._fall_back(f"warm start: the zygote could not be started ({exc})")
            return
        finally:
            theirs.close()
            os.close(log_fd)
        ours.setblocking(False)
        self._sock = ours
        self.pid = self._process.pid
        assert self._tg is not None
        self._tg.start_soon(self._read)

    async def _read(self) -> None:
        """Every message of the zygote, until its end of the socket closes."""
        sock = self._sock
        assert sock is not None
        while True:
            try:
                data = sock.recv(MAX_MESSAGE)
            except BlockingIOError:
                await _wait_readable(sock)
                continue
            except OSError:
                data = b""
            if not data:
                await self._zygote_gone()
                return
            self._dispatch(json.loads(data))

    def _dispatch(self, message: Mapping[str, Any]) -> None:
        op = message.get("op")
        if op == "ready":
            self.ready_info = dict(message)
            self._ready.set()
        elif op == "unsafe":
            self._fall_back(f"warm start off, runs start cold: {message.get('reason')}")
            self._ready.set()
        elif op in ("forked", "fork_failed"):
            waiting = self._pending.pop(int(message.get("id", -1)), None)
            if waiting is not None:
                waiting[1].append(message)
                waiting[0].set()
        elif op == "exited":
            forked = self._forked.pop(int(message["pid"]), None)
            if forked is not None:
                forked._resolve(os.waitstatus_to_exitcode(int(message["status"])))

    async def _zygote_gone(self) -> None:
        """The zygote's end closed: it died, or exited when told to stop. Account for every run."""
        process = self._process
        status = None
        if process is not None:
            with anyio.move_on_after(5):
                status = await process.wait()
        how = _describe_status(status)
        if self._cold_reason is None:
            self._fall_back(f"the warm-start zygote (pid {self.pid}) {how}; later runs start cold")
        if not self._ready.is_set():
            self._ready.set()
        for waiting in self._pending.values():
            waiting[1].append({"op": "gone"})
            waiting[0].set()
        self._pending.clear()
        forked = dict(self._forked)
        self._forked.clear()
        for pid, run in forked.items():
            reason = f"its warm-start zygote (pid {self.pid}) {how}, and the run was killed with it"
            run.lost = reason
            # the parent-death signal got the run; this gets what it started
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with anyio.move_on_after(5):
                while proc.group_members(pid):
                    await anyio.sleep(0.01)
            run._resolve(-signal.SIGKILL, f"[orchestra] {reason}\n")

    async def _shutdown(self) -> None:
        """Tell the zygote to stop (it exits once its runs have), close our end, reap it; then end
        whatever was forked from it and is still alive (a run's child that left the run's process
        group without exec shows the zygote's environment, so no run's reaping found it)."""
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            await self._send({"op": "stop"})
        await self._stop_zygote(grace=10.0)
        if self._marker is not None:
            marker = self._marker
            with anyio.move_on_after(5):
                while left := proc.with_environ("ORCHESTRA_RUN_DIR", lambda d: d == marker):
                    for pid in left:
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(pid, signal.SIGKILL)
                    await anyio.sleep(0.01)

    async def _stop_zygote(self, grace: float = 0.0) -> None:
        process = self._process
        if process is None:
            return
        with anyio.move_on_after(grace):
            await process.wait()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if self._sock is not None:
            self._sock.close()

    def _fall_back(self, reason: str) -> None:
        if self._cold_reason is None:
            self._cold_reason = reason

    def _tell(self, message: str) -> None:
        if message not in self._told:
            self._told.add(message)
            self.notify(message)

    # ------------------------------------------------------------------ forking a run

    def _mismatch(self, spec: _Spec) -> str | None:
        """Why the run of ``spec`` cannot be a fork of this zygote, or None."""
        assert self._base is not None
        argv, cwd, env = self._base
        if spec.argv[:-1] != argv[:-1] or not _is_runtime_command(spec.argv):
            return f"run {spec.argv[-1]} is started by another command ({' '.join(spec.argv[:3])} ...)"
        if spec.cwd != cwd:
            return f"run {spec.argv[-1]} starts in another directory ({spec.cwd})"
        fixed = _shared(spec.env)
        if fixed != env:
            names = sorted(k for k in fixed.keys() | env.keys() if fixed.get(k) != env.get(k))
            return f"a run's environment differs from the zygote's in {', '.join(names[:3])}"
        return None

    async def _fork(self, spec: _Spec, log_fd: int) -> ForkedProcess:
        self._next_id += 1
        request_id = self._next_id
        done, reply = anyio.Event(), list[dict[str, Any]]()
        self._pending[request_id] = (done, reply)
        message = {"op": "fork", "id": request_id, "run_dir": spec.argv[-1], "env": spec.env, "cwd": spec.cwd}
        # shielded: a request the zygote answers with a fork must find its process here, or the run
        # would go on with nobody to watch it
        with anyio.CancelScope(shield=True):
            try:
                await self._send(message, log_fd)
            except OSError:
                self._pending.pop(request_id, None)
                raise _ZygoteGone from None
            await done.wait()
        answer = reply[0]
        if answer.get("op") == "gone":
            raise _ZygoteGone
        if answer.get("op") != "forked":
            error = answer.get("error", "the zygote could not fork")
            raise OSError(int(answer.get("errno") or 0), f"warm start: {error}")
        pid = int(answer["pid"])
        forked = ForkedProcess(pid, os.dup(log_fd))
        self._forked[pid] = forked
        return forked

    async def _send(self, message: Mapping[str, Any], fd: int | None = None) -> None:
        sock = self._sock
        if sock is None or self._cold_reason is not None:
            raise BrokenPipeError("the zygote is gone")
        data = json.dumps(message).encode()
        async with self._send_lock:
            while True:
                try:
                    if fd is None:
                        sock.send(data)
                    else:
                        socket.send_fds(sock, [data], [fd])
                    return
                except BlockingIOError:
                    await _wait_writable(sock)


def _shared(env: Mapping[str, str]) -> dict[str, str]:
    """What of a run's environment must equal the zygote's: all but the per-run variables."""
    return {k: v for k, v in env.items() if k not in PER_RUN and k not in POOL_VARS}


class _Spec(NamedTuple):
    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str


class _ZygoteGone(Exception):
    """The zygote died before it could fork a run: that run starts cold."""


async def _wait_readable(sock: socket.socket) -> None:
    await anyio.wait_readable(sock)


async def _wait_writable(sock: socket.socket) -> None:
    await anyio.wait_writable(sock)


def _is_runtime_command(argv: Sequence[str]) -> bool:
    return len(argv) == 4 and argv[1] == "-m" and argv[2] == RUNTIME_MODULE


def _describe_status(status: int | None) -> str:
    if status is None:
        return "is gone"
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"
