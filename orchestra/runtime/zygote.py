"""The warm-start zygote: imports a sweep's ``preload`` modules once, then forks each run from itself.

A cold run is a fresh interpreter that imports what its entry function needs (seconds for torch,
hundreds of milliseconds for numpy and gymnasium). The zygote pays that once per sweep; each run
is a ``fork()`` of it that becomes exactly what a cold run is before any user code runs:

- its own session and process group (``setsid``), so the orchestrator signals the whole run;
- ``output.log`` on fds 1 and 2 (the orchestrator passes it as a descriptor), stdin on /dev/null,
  cwd, ``sys.argv`` and ``__main__`` as ``python -m orchestra.runtime <run-dir>`` has them;
- its own environment (``CUDA_VISIBLE_DEVICES`` and friends included) set before anything can
  initialise CUDA: the zygote itself never initialises it, and sees no GPU (``CUDA_VISIBLE_DEVICES``
  is empty in its environment);
- fresh seeds: the runtime seeds ``random``/numpy/torch from the run's seed as in a cold run
  (``random``'s fork hook reseeds it from the OS first);
- the parent-death link: each run dies with the zygote; the zygote, when the orchestrator dies,
  kills its runs' whole process groups (what they started included), then itself;
- then :func:`orchestra.runtime.entrypoint.main` runs the attempt, so result.json, exit statuses
  and their classification are a cold run's.

Thread pools: OpenBLAS (and OpenMP, MKL, BLIS) size their pools from ``OMP_NUM_THREADS`` and
friends when they load, and OpenBLAS starts its pool threads right then; a forked child inherits
one thread and whatever locks the others held. So the zygote imports with every pool at one thread
(the launcher sets the variables of :data:`POOLS` to 1 in its environment), and a run that wants
more (``cpus`` > 1, or the variables set in the sweep's env) resizes each loaded pool to what its
own environment says, as a cold run's would have been sized at import (threadpoolctl, whose
controllers the zygote finds once; a pool a run loads later reads the run's environment itself).

Every run is forked from the clean zygote, never from a run. The zygote refuses to serve (and
the orchestrator starts runs cold, saying so once) where forking cannot be safe: not Linux, a
preload that fails to import, a preload that started threads anyway, or one that initialised
CUDA or opened an NVIDIA device.

What a fork cannot give a run: preloaded modules are imported once, when the sweep starts, so
an edit to them reaches only later sweeps; and Python's string-hash seed is the zygote's
(``PYTHONHASHSEED`` is read at interpreter start-up), the same in every warm run of a sweep.

Protocol, over a ``SOCK_SEQPACKET`` socket pair (one JSON object per packet), started as
``python -m orchestra.runtime.zygote <socket-fd> <module>...`` by
:mod:`orchestra.scheduler.backends.zygote`:

- zygote to launcher: ``{"op": "ready", "pid", "preloaded", "seconds"}`` or ``{"op": "unsafe",
  "reason"}`` once; then ``{"op": "forked", "id", "pid"}`` or ``{"op": "fork_failed", "id",
  "error", "errno"}`` per request; ``{"op": "exited", "pid", "status"}`` (the raw wait status)
  when a run it forked has exited and been reaped;
- launcher to zygote: ``{"op": "fork", "id", "run_dir", "env", "cwd"}`` with ``output.log``'s
  descriptor attached; ``{"op": "stop"}``: fork nothing more, exit once every run has exited.

The zygote exits when the launcher's end of the socket closes, or when the orchestrator dies
(its parent-death signal), killing its runs' whole process groups first; were it killed itself,
its runs die by their own parent-death signal and the launcher kills what they started and
reports each of them, so none is lost silently.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import select
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from orchestra.rundir.names import EXIT_SETUP
from orchestra.runtime import entrypoint, seeding
from orchestra.runtime.process import die_with_parent, signal

MAX_MESSAGE = 1 << 20
SAFE_PLATFORMS = ("linux",)
# a pool (threadpoolctl's internal_api) and the variables its library reads at load, first found wins
POOLS: dict[str, tuple[str, ...]] = {
    "openblas": ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"),
    "mkl": ("MKL_NUM_THREADS", "OMP_NUM_THREADS"),
    "blis": ("BLIS_NUM_THREADS", "OMP_NUM_THREADS"),
    "flexiblas": ("FLEXIBLAS_NUM_THREADS", "OMP_NUM_THREADS"),
    "openmp": ("OMP_NUM_THREADS",),
}


class Request:
    """A fork request, as the child needs it after the fork."""

    __slots__ = ("cwd", "env", "id", "log_fd", "run_dir")

    def __init__(self, message: dict[str, Any], log_fd: int) -> None:
        self.id = message["id"]
        self.run_dir: str = message["run_dir"]
        self.env: dict[str, str] = message["env"]
        self.cwd: str = message["cwd"]
        self.log_fd = log_fd


def main(argv: Sequence[str]) -> int:
    """Preload, report, serve; in a forked child, run the attempt and return its exit status."""
    sock = socket.socket(fileno=int(argv[0]))
    modules = list(argv[1:])
    parent = os.environ.get("ORCHESTRA_PARENT_PID")
    if parent:
        # SIGTERM, not SIGKILL: the zygote first kills its runs' whole process groups (see _serve)
        die_with_parent(int(parent), signal.SIGTERM)
    started = time.perf_counter()
    for module in ("orchestra.runtime.__main__", "orchestra.runtime.context"):  # what cold runs import late
        importlib.import_module(module)
    reason = _preload(modules)
    if reason is None:
        seeding.import_what_seeding_needs()  # else every run would import numpy.random itself
        reason = _unsafe_after("seeding's imports")
    pools: list[Any] = []
    if reason is None:
        pools = _thread_pools()
        reason = _unsafe_after("finding the thread pools")
    if reason is not None:
        _send(sock, {"op": "unsafe", "reason": reason})
        _wait_for_close(sock)
        return 0
    gc.collect()
    gc.freeze()  # what the zygote made stays out of the children's collections: fewer pages copied
    _send(
        sock,
        {"op": "ready", "pid": os.getpid(), "preloaded": modules, "seconds": time.perf_counter() - started},
    )
    request = _serve(sock)
    if request is None:
        return 0
    _size_pools(pools, os.environ)  # as a cold run's were sized when its libraries loaded
    start = {"mode": "warm", "zygote_pid": os.getppid(), "preload": modules}
    return entrypoint.main([request.run_dir], start=start)


def _preload(modules: list[str]) -> str | None:
    """Import ``modules``; the reason forking would be unsafe, or None."""
    if not sys.platform.startswith(SAFE_PLATFORMS):
        return f"warm starts need Linux (this is {sys.platform})"
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            return f"preloading {name!r} failed ({type(exc).__name__}: {exc})"
        reason = _unsafe_after(f"importing {name!r}")
        if reason is not None:
            return reason
    return None


def _thread_pools() -> list[Any]:
    """threadpoolctl's controllers of the thread pools loaded now (empty when it cannot tell)."""
    try:
        from threadpoolctl import ThreadpoolController

        return [c for c in ThreadpoolController().lib_controllers if c.internal_api in POOLS]
    except Exception as exc:  # a run then keeps one thread a pool, and says so
        print(f"[orchestra] warm start: cannot find the preloaded thread pools ({exc})", file=sys.stderr)
        return []


def _pool_size(env: Mapping[str, str], names: Sequence[str]) -> int:
    """The threads a library reading ``names`` at load gives its pool (all the CPUs it may use if none is set)."""
    for name in names:
        value = env.get(name, "").split(",")[0].strip()
        if value:
            try:
                return max(1, int(value))
            except ValueError:
                break
    return len(os.sched_getaffinity(0))


def _size_pools(pools: Sequence[Any], env: Mapping[str, str]) -> None:
    """In a forked run: resize each preloaded pool (loaded at one thread) to what ``env`` asks for."""
    numexpr = sys.modules.get("numexpr")  # its own pool, which threadpoolctl does not know
    if numexpr is not None:
        try:
            numexpr.set_num_threads(_pool_size(env, ("NUMEXPR_NUM_THREADS", "OMP_NUM_THREADS")))
        except Exception as exc:
            print(f"[orchestra] warm start: cannot size numexpr's pool ({exc})", file=sys.stderr)
    for pool in pools:
        want = _pool_size(env, POOLS[pool.internal_api])
        if pool.internal_api == "openblas":  # as OpenBLAS sizes itself at load: no more than its CPUs
            want = min(want, len(os.sched_getaffinity(0)))
        if want == pool.num_threads:
            continue
        try:
            pool.set_num_threads(want)
        except Exception as exc:
            print(
                f"[orchestra] warm start: cannot give the {pool.internal_api} pool {want} threads ({exc}); "
                f"it has {pool.num_threads}",
                file=sys.stderr,
            )


def _unsafe_after(what: str) -> str | None:
    """Why forking this process is unsafe now (threads, CUDA), or None."""
    threads = _threads()
    if threads > 1:
        return (
            f"after {what} the zygote runs {threads} threads, and a forked run would inherit "
            "only one of them with whatever locks the others held (the zygote imports with OMP_NUM_THREADS "
            "and the other pool sizes at 1; a module that starts its own thread at import cannot be preloaded)"
        )
    cuda = _cuda_in_use()
    if cuda:
        return f"after {what} the zygote has {cuda}; a forked run could not use its own GPU"
    return None


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _cuda_in_use() -> str | None:
    """What shows that CUDA (or NVML) was initialised in this process, or None."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        if cuda is not None and cuda.is_initialized():
            return "initialised CUDA (torch.cuda.is_initialized())"
    except Exception:
        pass
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/nvidia"):
            return f"opened {target} (the NVIDIA driver)"
    return None


def _serve(sock: socket.socket) -> Request | None:
    """Fork runs on request and report their exits; returns a Request only in a forked child."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a handler, so the wakeup fd hears it
    children: set[int] = set()
    stopping = False

    def orphaned(signum: int, frame: Any) -> None:
        # the orchestrator died (this is the parent-death signal)
        _kill_groups(children)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, orphaned)
    try:
        while True:
            _reap(sock, children)
            if stopping and not children:
                return None
            ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
            if wake_r in ready:
                _drain(wake_r)
            if sock.fileno() not in ready:
                continue
            message, fds = _receive(sock)
            if message is None:  # the launcher is gone (often before the parent-death signal comes)
                _kill_groups(children)
                return None
            op = message.get("op")
            if op == "stop":
                stopping = True
            elif op == "fork":
                if stopping or not fds:
                    for fd in fds:
                        os.close(fd)
                    _send(sock, {"op": "fork_failed", "id": message.get("id"), "error": "not accepting runs"})
                    continue
                request = Request(message, fds[0])
                for fd in fds[1:]:
                    os.close(fd)
                pid = _fork(sock, request, (wake_r, wake_w))
                if pid == 0:
                    return request
                if pid > 0:
                    children.add(pid)
    except BrokenPipeError:
        return None


def _kill_groups(children: set[int]) -> None:
    """End every run's whole process group: the runs would die by their parent-death signal when
    the zygote exits, but what they started would not."""
    for pid in list(children):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def _fork(sock: socket.socket, request: Request, private: tuple[int, int]) -> int:
    """Fork a run; in the child, become it and return 0. A failure is reported, not raised."""
    if not os.path.isdir(request.cwd):
        os.close(request.log_fd)
        _send(
            sock,
            {"op": "fork_failed", "id": request.id, "error": f"no such directory: {request.cwd}", "errno": 2},
        )
        return -1
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(request.log_fd)
        _send(sock, {"op": "fork_failed", "id": request.id, "error": str(exc), "errno": exc.errno})
        return -1
    if pid == 0:
        try:
            _become_run(sock, request, private)
        except BaseException as exc:  # nothing of the run has happened yet: say why, as a spawn would
            os.write(
                2, f"[orchestra] warm start failed in the forked run: {type(exc).__name__}: {exc}\n".encode()
            )
            os._exit(EXIT_SETUP)
        return 0
    os.close(request.log_fd)
    _send(sock, {"op": "forked", "id": request.id, "pid": pid})
    return pid


def _become_run(sock: socket.socket, request: Request, private: tuple[int, int]) -> None:
    """In the forked child: turn the zygote's copy into the run's process, before any user code."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sock.close()
    for fd in private:
        os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(request.log_fd, 1)
    os.dup2(request.log_fd, 2)
    os.close(request.log_fd)
    os.chdir(request.cwd)
    env = dict(request.env)
    if "ORCHESTRA_PARENT_PID" in env:  # the link the backend asked for is to this run's real parent
        env["ORCHESTRA_PARENT_PID"] = str(os.getppid())
    os.environ.clear()
    os.environ.update(env)
    main_module = importlib.import_module("orchestra.runtime.__main__")
    sys.modules["__main__"] = main_module
    sys.argv = [main_module.__file__ or "-m", request.run_dir]
    importlib.invalidate_caches()  # files added since the zygote started must be importable


def _reap(sock: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)
        _send(sock, {"op": "exited", "pid": pid, "status": status})


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.send(json.dumps(message).encode())


def _receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    try:
        data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 4)
    except ConnectionResetError:
        return None, []
    if not data:
        return None, list(fds)
    return json.loads(data), list(fds)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _wait_for_close(sock: socket.socket) -> None:
    """Stay until the launcher closes its end (it reads ``unsafe`` first), then exit."""
    try:
        while True:
            data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 4)
            for fd in fds:
                os.close(fd)
            if not data:
                return
            message = json.loads(data)
            if message.get("op") == "fork":
                _send(
                    sock, {"op": "fork_failed", "id": message.get("id"), "error": "the zygote is not serving"}
                )
    except OSError:
        return


if __name__ == "__main__":
    entrypoint.exit_with(main(sys.argv[1:]))
