"""``python -m orchestra.runtime <run-dir>``: one attempt of one run.

The orchestrator starts it in a new session with stdout and stderr on ``output.log`` and the
environment of ``docs/run-directory.md`` (or forks it from a warm-start zygote, which then calls
:func:`main` in the child). In order, it:

1. makes stdout/stderr line-buffered, enables faulthandler (a segfault leaves a Python traceback
   in ``output.log``), sets the parent-death signal when ``ORCHESTRA_PARENT_PID`` asks for it, and
   turns SIGTERM into :class:`~orchestra.runtime.process.Terminated`;
2. opens the run directory, which must be ``<sweep>/runs/<variant>/<seed>`` of a sweep reached
   without a symbolic link below the sweep directory; every file it reads or writes from here on
   is opened relative to that directory without following links (:mod:`orchestra.rundir.files`;
   a bad path: a message on stderr, exit 3, nothing written);
3. removes the previous attempt's ``result.json`` (and temp files a killed attempt left) and
   prints the banner ``[orchestra] run <variant>/<seed> attempt N pid P host H device D``;
4. setup: reads ``config.json``, seeds ``random``/numpy/torch, writes ``metadata.json``, loads the
   payload (refused when others could have written it) and matches the entry function's
   parameters (a failure: ``result.json`` with phase ``setup``, exit 3);
5. calls the entry function (an ``async def`` one in an event loop) and writes ``result.json``:
   exit 0 completed, 1 it raised, the user's own code for ``sys.exit(n)``, 143 terminated by
   SIGTERM;
6. ends: a run whose entry returned ends even if it left non-daemon threads behind
   (:func:`exit_with`).

A run that dies from a signal (a segfault, SIGKILL) writes no ``result.json``; its exit status
says what happened, and the stale one of an earlier attempt is gone.

Start-up cost is the point of this module's shape: it imports only what a no-op run uses (no
``orchestra.space``, no dataclasses, no orjson, no subprocess); what every run of a sweep shares
(git, packages) was recorded once in ``launch/`` by the orchestrator.
"""

from __future__ import annotations

import faulthandler
import gc
import inspect
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from orchestra.atomic import remove_stale_temps
from orchestra.errors import RunDirError, UserError
from orchestra.rundir.files import RunFiles
from orchestra.rundir.names import (
    CONFIG_JSON,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_SETUP,
    EXIT_TERMINATED,
    EXIT_UNRECORDED,
    METADATA_JSON,
    METRICS_JSONL,
    PAYLOAD,
    RESULT_JSON,
    SNAPSHOTS,
)
from orchestra.runtime import joincgroup
from orchestra.runtime.arguments import Call, bind
from orchestra.runtime.jsonsafe import to_jsonable
from orchestra.runtime.logger import MetricsWriter, RunLogger, use_run_metrics
from orchestra.runtime.metadata import launch_records, run_metadata
from orchestra.runtime.payload import load_payload_file
from orchestra.runtime.process import Terminated, TermSignal, die_with_parent, line_buffer_stdio
from orchestra.runtime.seeding import seed_everything

USAGE = "usage: python -m orchestra.runtime <run-dir>  (started by `orchestra up`; see docs/run-directory.md)"
ATEXIT_GRACE = 5  # seconds atexit handlers get when the run left threads behind


class SetupError(UserError):
    """The run directory's records cannot start this run."""


class Attempt:
    """What this attempt has learnt so far, for result.json and metadata.json."""

    __slots__ = ("files", "metadata", "metrics", "number", "start", "started_at", "term")

    def __init__(
        self, files: RunFiles, number: int, started_at: float, term: TermSignal, start: Mapping[str, Any]
    ) -> None:
        self.files = files
        self.number = number
        self.started_at = started_at
        self.term = term
        self.start = start
        self.metadata: dict[str, Any] | None = None
        self.metrics: MetricsWriter | None = None


_LOG_FD: list[int] = []  # a private copy of the run's stderr (output.log), for when the user closed theirs


def main(argv: list[str] | None = None, *, start: Mapping[str, Any] | None = None) -> int:
    """Run one attempt; returns the process's exit status (end the process with :func:`exit_with`).

    ``start`` says how the process was started, for metadata.json (a cold start by default).
    """
    started_at = time.time()
    _keep_log_fd()
    line_buffer_stdio()
    faulthandler.enable()
    try:
        parent = _int_env("ORCHESTRA_PARENT_PID")
    except SetupError as exc:
        _say(f"[orchestra] {exc}\n")
        return EXIT_SETUP
    if parent is not None:  # the backend's choice: a Slurm job, whose parent is slurmstepd, has no link
        die_with_parent(parent)
    term = TermSignal()
    term.install()
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        _say(USAGE + "\n")
        return EXIT_SETUP
    try:
        files = _open_run(argv[0])
        number = _int_env("ORCHESTRA_ATTEMPT") or 1
    except (UserError, Terminated) as exc:
        _say(f"[orchestra] {exc}\n")
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_SETUP
    attempt = Attempt(files, number, started_at, term, start or {"mode": "cold"})
    try:
        files.unlink(RESULT_JSON)
        remove_stale_temps(files.fd, (RESULT_JSON, METADATA_JSON))  # what a killed attempt left
        device = os.environ.get("ORCHESTRA_DEVICE") or "cpu"
        if _ends_mid_line():
            print()  # the last attempt died mid-line: start the banner on a line of its own
        print(
            f"[orchestra] run {files.variant}/{files.seed} attempt {number} pid {os.getpid()} "
            f"host {os.uname().nodename} device {device}"
        )
        _join_cgroup()
        try:
            call = setup(attempt, device)
        except Terminated as exc:
            return finish(attempt, "terminated", error=_error(exc, "setup"))
        except BaseException as exc:
            _report(exc)
            return finish(attempt, "failed", error=_error(exc, "setup"), code=EXIT_SETUP)
        return run_entry(attempt, call)
    except Terminated as exc:  # a SIGTERM while the runtime itself was busy (the banner, a clean-up)
        return finish(attempt, "terminated", error=_error(exc, "setup"))


def _join_cgroup() -> None:
    """Be in the cgroup the backend made for the run (``ORCHESTRA_CGROUP``) before the user's code
    runs: everything it starts stays in there (:mod:`~orchestra.runtime.joincgroup`). Where that
    fails the run goes on, found by its process group and environment alone, and says so."""
    failed = joincgroup.finish()
    if failed is not None:
        group, exc = failed
        _say(
            f"[orchestra] this run is not in its cgroup {group} ({exc.strerror}): its processes are "
            "found by their process group and environment only\n"
        )


def _open_run(arg: str) -> RunFiles:
    try:
        return RunFiles(arg)
    except (FileNotFoundError, NotADirectoryError):
        raise RunDirError(f"{arg}: no such run directory") from None
    except OSError as exc:
        raise RunDirError(f"{arg}: cannot open the run directory ({exc.strerror})") from None


def setup(attempt: Attempt, device: str) -> Call:
    """Read the run's records, seed, write metadata.json, load the entry function and bind it."""
    files = attempt.files
    record = _read_config(files)
    config, seed, options = _check_record(record, files)
    seed_everything(seed)
    attempt.metadata = run_metadata(
        launch=launch_records(files),
        run=record,
        attempt=attempt.number,
        started_at=attempt.started_at,
        start=attempt.start,
    )
    # no fsync: a crash loses nothing the next attempt does not write again; result.json is durable
    files.replace(METADATA_JSON, _json_bytes(attempt.metadata), durable=False)
    snapshots = files.open_dir(SNAPSHOTS, create=False)  # a snapshots/ that is a link is refused here
    if snapshots is not None:
        remove_stale_temps(snapshots)  # what a killed attempt left mid-save
        os.close(snapshots)
    # What the runtime made so far (its modules: tens of thousands of objects) lives as long as the
    # process: out of the collector's sight from here on, for the entry's collections and for the
    # scan of the objects the user's code made at exit (_close_files), which costs ~3 ms otherwise.
    # Before the payload: the user's modules (imported by unpickling it) are scanned.
    gc.freeze()
    where = os.path.join(files.sweep_path, PAYLOAD)
    with os.fdopen(files.open_in_sweep(PAYLOAD, os.O_RDONLY), "rb") as f:
        fn = load_payload_file(f, where)
    fn = getattr(fn, "__orchestra_entry__", fn)  # e.g. a garage wrap_experiment template: call its function
    step = options.get("step")  # the sweep's declared step (Sweep(step=...))
    metrics = MetricsWriter(
        files.join(METRICS_JSONL),
        attempt.number,
        step if isinstance(step, str) else None,
        opener=lambda: files.open(METRICS_JSONL, os.O_RDWR | os.O_CREAT | os.O_APPEND),
    )
    attempt.metrics = metrics
    use_run_metrics(metrics)
    made: list[Any] = []

    def context() -> Any:
        """The RunContext, made (and its snapshot settings checked) only for an entry that asks for it."""
        if not made:
            from orchestra.runtime.context import RunContext

            made.append(
                RunContext(
                    logdir=files.path,
                    seed=seed,
                    config=config,
                    device=device,
                    attempt=attempt.number,
                    logger=RunLogger(metrics=metrics),
                    snapshot_mode=options.get("snapshot_mode", "last"),
                    snapshot_gap=options.get("snapshot_gap", 1),
                    run_dir_fd=files.fd,
                )
            )
        return made[0]

    facts: dict[str, Callable[[], Any]] = {
        "config": lambda: config,
        "seed": lambda: seed,
        "device": lambda: _device_argument(device),
        "logdir": lambda: context().logdir,
        "ctx": context,
        "ctxt": context,
    }
    return bind(fn, config, facts)


def run_entry(attempt: Attempt, call: Call) -> int:
    """Call the entry function (awaiting it when it is ``async``) and record how it ended."""
    try:
        try:
            value = call()
            if inspect.isawaitable(value):
                value = run_awaitable(value)
        finally:
            attempt.term.disarm()
    except Terminated as exc:
        _say("[orchestra] SIGTERM: the run stopped\n")
        return finish(attempt, "terminated", error=_error(exc, "run"))
    except SystemExit as exc:
        code = exc.code
        if code is None or code == 0:
            return finish(attempt, "completed", value=None)
        if not isinstance(code, int):
            _say(f"{code}\n")  # what Python prints for sys.exit("message")
            code = EXIT_ERROR
        return finish(attempt, "failed", code=code)  # an exit status, not an exception: no error record
    except BaseException as exc:
        _report(exc)
        _post_mortem(exc)
        return finish(attempt, "failed", error=_error(exc, "run"))
    if attempt.term.raised_at is not None:  # the entry caught Terminated and returned: it was still stopped
        return finish(attempt, "terminated", value=value)
    return finish(attempt, "completed", value=value)


def run_awaitable(awaitable: Any) -> Any:
    """Run what an ``async def`` entry returned to completion, in the event loop its code expects.

    asyncio by default; anyio's own runner (asyncio backend) when the run has imported anyio;
    trio's when it has imported trio but not anyio.
    """

    async def wait() -> Any:
        return await awaitable

    if "anyio" in sys.modules:
        return sys.modules["anyio"].run(wait)
    if "trio" in sys.modules:
        return sys.modules["trio"].run(wait)
    import asyncio

    return asyncio.run(wait())


def finish(
    attempt: Attempt,
    status: str,
    *,
    value: Any = None,
    error: dict[str, Any] | None = None,
    code: int | None = None,
) -> int:
    """Write result.json; return the exit status for ``status``."""
    attempt.term.disarm()  # a SIGTERM now must not interrupt writing the result
    _guard_stdio_fds()
    if code is None:
        code = {"completed": EXIT_OK, "terminated": EXIT_TERMINATED}.get(status, EXIT_ERROR)
    ended_at = time.time()
    if attempt.metrics is not None:
        attempt.metrics.close()
    result = {
        "status": status,
        "attempt": attempt.number,
        "exit_code": code,
        "started_at": attempt.started_at,
        "ended_at": ended_at,
        "duration": ended_at - attempt.started_at,
        "return": to_jsonable(value),
        "error": error,
    }
    try:
        # The rename becomes durable when the orchestrator writes status.json beside it (fsyncing
        # this directory) after the run exits. The data is fsynced here, unless the backend said
        # that the orchestrator does it before that write (the local one): no wait for the disk
        # while the run holds its slot.
        durable = os.environ.get("ORCHESTRA_RESULT_FSYNC") != "orchestrator"
        attempt.files.replace(RESULT_JSON, _json_bytes(result), durable=durable, sync_dir=False)
    except Exception as exc:  # a full disk: say so, and never exit 0 for a result nobody can read
        _say(f"[orchestra] could not write {attempt.files.join(RESULT_JSON)}: {type(exc).__name__}: {exc}\n")
        if code == EXIT_OK:
            return EXIT_UNRECORDED
    return code


def exit_with(code: int) -> NoReturn:
    """End the run's process with ``code`` once its result is written.

    The process ends as a multiprocessing child does, not through the interpreter's whole
    finalization: ``threading``'s exit hooks and the atexit handlers run (weakref finalizers,
    ``logging.shutdown``, a user's ``atexit.register``), every file object still open is flushed
    and closed, then ``os._exit``. Freeing every object of the interpreter one by one is what
    Python's own shutdown spends its time on (about 5 ms of a no-op run's 45 on our machines, more
    the more the run imported); ``__del__`` of objects still alive at exit is what is skipped,
    which CPython does not promise to call either.

    Python would wait for every non-daemon thread before exiting, so a run whose entry returned
    but left one running (a forgotten worker, a logging client) would hold its slot forever.
    When such threads are left (an executor's idle workers are not: its exit hook ends them),
    the exit hooks and atexit handlers get ``ATEXIT_GRACE`` seconds and the process exits without
    waiting for the threads. Streams the user closed or broke are replaced first,
    so that a last flush cannot turn the status into 120.
    """
    _settle_stdio()
    import atexit

    threading = sys.modules.get("threading")
    if threading is not None and _threads_left(threading):
        import signal

        def give_up(signum: int, frame: Any) -> None:
            _say(f"[orchestra] the run's exit handlers did not end within {ATEXIT_GRACE}s\n")
            _settle_stdio()
            os._exit(code)

        signal.signal(signal.SIGALRM, give_up)
        signal.alarm(ATEXIT_GRACE)  # from here on, the run ends within ATEXIT_GRACE seconds
        _threading_exit_hooks(threading)  # an executor's idle workers end: not threads left behind
        left = _threads_left(threading)
        if left:
            names = ", ".join(t.name for t in left[:5]) + (", ..." if len(left) > 5 else "")
            _say(
                f"[orchestra] the entry function left {len(left)} non-daemon thread(s) running ({names}); "
                "the run ends now that its result is written\n"
            )
        else:
            signal.alarm(0)  # nothing left behind: the atexit handlers take the time they need
    elif threading is not None:
        _threading_exit_hooks(threading)
    try:
        atexit._run_exitfuncs()
        _close_files()
    finally:
        _settle_stdio()
        os._exit(code)


def _threads_left(threading: Any) -> list[Any]:
    main_thread = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main_thread and not t.daemon and t.is_alive()]


def _threading_exit_hooks(threading: Any) -> None:
    """What ``threading`` runs at exit before joining threads (concurrent.futures shuts its
    executors down there), as Python's own exit does."""
    for hook in reversed(getattr(threading, "_threading_atexits", [])):
        try:
            hook()
        except Exception as exc:
            _report(exc)


def _close_files() -> None:
    """Flush and close the file objects still open (a global log file the entry never closed), as
    the interpreter's shutdown would when it freed them; the standard streams are only flushed.

    Only the objects made since :func:`setup` froze the runtime's own (``gc.get_objects`` leaves the
    frozen out): everything the user's code made, its modules included. A run forked from a zygote
    has the preloaded modules' objects frozen as well, by the zygote.
    """
    import _io
    import io

    std = set()
    for stream in (sys.stdout, sys.stderr, sys.stdin, sys.__stdout__, sys.__stderr__, sys.__stdin__):
        while stream is not None and id(stream) not in std:  # the stream and the layers beneath it
            std.add(id(stream))
            stream = getattr(stream, "buffer", None) or getattr(stream, "raw", None)
    # _io._IOBase: the C base of every file object (io.IOBase is an ABC, slow to test 10^5 objects against)
    files = [o for o in gc.get_objects() if isinstance(o, _io._IOBase) and id(o) not in std]
    # text layers first: closing one flushes its pending text into the buffer beneath it
    files.sort(key=lambda o: not isinstance(o, io.TextIOBase))
    for f in files:
        try:
            if not f.closed:
                f.close()
        except Exception:  # a broken file (a full disk): Python's shutdown would only have said so too
            pass


def _read_config(files: RunFiles) -> Any:
    try:
        data = files.read_bytes(CONFIG_JSON)
    except FileNotFoundError:
        raise SetupError(
            f"{files.join(CONFIG_JSON)}: config.json is missing; the orchestrator writes it"
        ) from None
    try:
        return json.loads(data)
    except ValueError as exc:
        raise SetupError(
            f"{files.join(CONFIG_JSON)}: not valid JSON ({exc}); the orchestrator writes it"
        ) from None


def _check_record(record: Any, files: RunFiles) -> tuple[dict[str, Any], int, dict[str, Any]]:
    where = files.join(CONFIG_JSON)
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise SetupError(f"{where}: not a run config (no 'config' object); the orchestrator writes it")
    seed = record.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SetupError(f"{where}: 'seed' must be an integer, got {seed!r}")
    if str(record.get("variant")) != files.variant or str(seed) != files.seed:
        raise SetupError(
            f"{where}: describes run {record.get('variant')}/{seed}, but lies in {files.variant}/{files.seed}"
        )
    options = record.get("options") or {}
    if not isinstance(options, dict):
        raise SetupError(f"{where}: 'options' must be an object, got {options!r}")
    return record["config"], seed, options


def _device_argument(device: str) -> Any:
    """A torch device when torch is installed (lagom passes one), else the string."""
    try:
        import torch
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        return device
    return torch.device(device)


def _json_bytes(obj: Any) -> bytes:
    """JSON text as the orchestrator writes it (indented, UTF-8); ``obj`` is JSON data already.

    The standard library's json, not orjson: it is loaded anyway (cloudpickle imports it) and
    orjson costs every run ~3 ms to import.
    """
    text = json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False, default=repr)
    return (text + "\n").encode("utf-8", "backslashreplace")


def _error(exc: BaseException, phase: str) -> dict[str, Any]:
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    try:
        message = str(exc)
    except Exception:
        message = f"<{name}: str() failed>"
    import traceback

    tb = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
    return to_jsonable({"type": name, "message": message, "traceback": tb[-50_000:], "phase": phase})


def _post_mortem(exc: BaseException) -> None:
    """``orchestra run --pdb`` (``ORCHESTRA_POST_MORTEM=1``): pdb on the exception, on the run's terminal."""
    if os.environ.get("ORCHESTRA_POST_MORTEM") != "1" or not isinstance(exc, Exception):
        return
    import bdb
    import pdb

    if not isinstance(exc, bdb.BdbQuit):  # the user quit a breakpoint(): no second prompt
        pdb.post_mortem(exc.__traceback__)


def _report(exc: BaseException) -> None:
    """Print the error to stderr (output.log): a user mistake in one line, anything else in full."""
    if isinstance(exc, UserError):
        _say(f"[orchestra] {exc}\n")
        return
    import traceback

    _say("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def _say(text: str) -> None:
    """Write ``text`` to stderr, or straight to output.log when the user closed or broke stderr."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
        return
    except (AttributeError, ValueError, OSError):
        pass
    for fd in _LOG_FD:
        try:
            os.write(fd, text.encode("utf-8", "backslashreplace"))
        except OSError:
            pass


def _keep_log_fd() -> None:
    try:
        _LOG_FD[:] = [os.dup(2)]  # not inherited by the run's own children
    except OSError:
        _LOG_FD.clear()


def _guard_stdio_fds() -> None:
    """Put ``output.log`` back on fds 1 and 2 if the user closed them.

    Otherwise the next file opened (result.json's temp file) would get fd 1 or 2, and whatever
    the user's streams still held would be flushed into it.
    """
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            target = _LOG_FD[0] if _LOG_FD else os.open(os.devnull, os.O_WRONLY)
            os.dup2(target, fd)


def _settle_stdio() -> None:
    """Flush stdout and stderr; replace a stream that is closed or broken with /dev/null."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name, None)
        try:
            if stream is not None:
                stream.flush()
        except (ValueError, OSError):
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - lives until the process ends


def _ends_mid_line() -> bool:
    """Whether stdout is a non-empty regular file (output.log) whose last byte is not a newline."""
    try:
        st = os.fstat(1)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return False
        fd = os.open("/proc/self/fd/1", os.O_RDONLY | os.O_CLOEXEC)  # our own stdout, reopened to read it
    except OSError:
        return False
    try:
        return os.pread(fd, 1, st.st_size - 1) != b"\n"
    except OSError:
        return False
    finally:
        os.close(fd)


def _int_env(name: str) -> int | None:
    text = os.environ.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise SetupError(f"environment variable {name}={text!r} is not an integer") from None
