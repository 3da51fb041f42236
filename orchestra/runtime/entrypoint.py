"""``python -m orchestra.runtime <run-dir>``: one attempt of one run.

The orchestrator starts it in a new session with stdout and stderr on ``output.log`` and the
environment of ``docs/run-directory.md``. In order, it:

1. makes stdout/stderr line-buffered, enables faulthandler (a segfault leaves a Python traceback
   in ``output.log``), sets the parent-death signal and checks the parent, and turns SIGTERM
   into :class:`~orchestra.runtime.process.Terminated`;
2. checks that the run directory is ``<sweep>/runs/<variant>/<seed>`` of a sweep, and that the
   payload and ``config.json`` it reads are inside it (a bad path: a message on stderr, exit 3,
   nothing written);
3. removes the previous attempt's ``result.json`` and prints the banner
   ``[orchestra] run <variant>/<seed> attempt N pid P host H device D``;
4. setup: reads ``config.json``, seeds ``random``/numpy/torch, writes ``metadata.json``, loads the
   payload and matches the entry function's parameters (a failure: ``result.json`` with phase
   ``setup``, exit 3);
5. calls the entry function and writes ``result.json``: exit 0 completed, 1 it raised, the user's
   own code for ``sys.exit(n)``, 143 terminated by SIGTERM.

A run that dies from a signal (a segfault, SIGKILL) writes no ``result.json``; its exit status
says what happened, and the stale one of an earlier attempt is gone.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestra.atomic import remove_stale_temps
from orchestra.errors import RunDirError, UserError
from orchestra.rundir import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_SETUP,
    EXIT_TERMINATED,
    RUNS,
    RunDir,
    read_json,
    write_json,
)
from orchestra.runtime.arguments import Call, bind
from orchestra.runtime.context import RunContext
from orchestra.runtime.jsonsafe import to_jsonable
from orchestra.runtime.logger import MetricsWriter, RunLogger, use_run_metrics
from orchestra.runtime.metadata import launcher_of, run_metadata
from orchestra.runtime.payload import load_payload
from orchestra.runtime.process import Terminated, TermSignal, die_with_parent, line_buffer_stdio
from orchestra.runtime.seeding import seed_everything
from orchestra.space.naming import check_path_component
from orchestra.sweep import check_snapshot_settings

USAGE = "usage: python -m orchestra.runtime <run-dir>  (started by `orchestra up`; see docs/run-directory.md)"


class SetupError(UserError):
    """The run directory's records cannot start this run."""


@dataclass
class Attempt:
    """What this attempt has learnt so far, for result.json and metadata.json."""

    run: RunDir
    number: int
    started_at: float
    term: TermSignal
    metadata: dict[str, Any] | None = None
    metrics: MetricsWriter | None = None


def main(argv: list[str] | None = None) -> int:
    """Run one attempt; returns the process's exit status."""
    started_at = time.time()
    line_buffer_stdio()
    faulthandler.enable()
    try:
        die_with_parent(_int_env("ORCHESTRA_PARENT_PID"))
    except SetupError as exc:
        print(f"[orchestra] {exc}", file=sys.stderr)
        return EXIT_SETUP
    term = TermSignal()
    term.install()
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return EXIT_SETUP
    try:
        run = locate(argv[0])
        number = _int_env("ORCHESTRA_ATTEMPT") or 1
    except (UserError, Terminated) as exc:
        print(f"[orchestra] {exc}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_SETUP
    attempt = Attempt(run, number, started_at, term)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(run.result)
        device = os.environ.get("ORCHESTRA_DEVICE") or "cpu"
        if _ends_mid_line(run.output_log):
            print()  # the last attempt died mid-line: start the banner on a line of its own
        print(
            f"[orchestra] run {run.variant}/{run.seed} attempt {number} pid {os.getpid()} "
            f"host {os.uname().nodename} device {device}"
        )
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


def locate(arg: str) -> RunDir:
    """The run directory ``arg`` names, if it is ``<sweep>/runs/<variant>/<seed>`` of a sweep."""
    path = os.path.realpath(arg)
    if not os.path.isdir(path):
        raise RunDirError(f"{arg}: no such run directory")
    run = RunDir(path)
    sweep = run.sweep
    if run.path.parent.parent.name != RUNS or not sweep.sweep_json.is_file():
        raise RunDirError(
            f"{arg}: not the directory of a run (<sweep>/{RUNS}/<variant>/<seed> below a sweep.json); "
            "runs are started by `orchestra up`"
        )
    check_path_component(run.variant, "variant directory")
    check_path_component(run.seed, "seed directory")
    return run


def setup(attempt: Attempt, device: str) -> Call:
    """Read the run's records, seed, write metadata.json, load the entry function and bind it."""
    run = attempt.run
    sweep = run.sweep
    record = read_json(_inside(run.config, run.path, "config.json"))
    config, seed, mode, gap = _check_record(record, run)
    seed_everything(seed)
    attempt.metadata = run_metadata(
        launcher=launcher_of(sweep),
        config=config,
        run=record,
        attempt=attempt.number,
        started_at=attempt.started_at,
    )
    # metadata.json without fsync (an fsync is milliseconds of every run's start-up); result.json,
    # which tells how the run ended, is durable
    write_json(run.metadata, to_jsonable(attempt.metadata), fsync=False)
    fn = load_payload(_inside(sweep.payload, sweep.path, "payload.pkl"))
    fn = getattr(fn, "__orchestra_entry__", fn)  # e.g. a garage wrap_experiment template: call its function
    step = (record.get("options") or {}).get("step")  # the sweep's declared step (Sweep(step=...))
    attempt.metrics = MetricsWriter(run.metrics, attempt.number, step if isinstance(step, str) else None)
    use_run_metrics(attempt.metrics)
    remove_stale_temps(run.snapshots)
    ctx = RunContext(
        logdir=run.path,
        seed=seed,
        config=config,
        device=device,
        attempt=attempt.number,
        logger=RunLogger(metrics=attempt.metrics),
        snapshot_mode=mode,
        snapshot_gap=gap,
    )
    facts = {
        "config": lambda: config,
        "seed": lambda: seed,
        "device": lambda: _device_argument(device),
        "logdir": lambda: run.path,
        "ctx": lambda: ctx,
        "ctxt": lambda: ctx,
    }
    return bind(fn, config, facts)


def run_entry(attempt: Attempt, call: Call) -> int:
    """Call the entry function and record how it ended."""
    try:
        try:
            value = call()
        finally:
            attempt.term.disarm()
    except Terminated as exc:
        print("[orchestra] SIGTERM: the run stopped", file=sys.stderr)
        return finish(attempt, "terminated", error=_error(exc, "run"))
    except SystemExit as exc:
        code = exc.code
        if code is None or code == 0:
            return finish(attempt, "completed", value=None)
        if not isinstance(code, int):
            print(code, file=sys.stderr)  # what Python prints for sys.exit("message")
            code = EXIT_ERROR
        return finish(attempt, "failed", code=code)  # an exit status, not an exception: no error record
    except BaseException as exc:
        _report(exc)
        _post_mortem(exc)
        return finish(attempt, "failed", error=_error(exc, "run"))
    if attempt.term.raised_at is not None:  # the entry caught Terminated and returned: it was still stopped
        return finish(attempt, "terminated", value=value)
    return finish(attempt, "completed", value=value)


def finish(
    attempt: Attempt,
    status: str,
    *,
    value: Any = None,
    error: dict[str, Any] | None = None,
    code: int | None = None,
) -> int:
    """Write result.json (and the end of metadata.json); return the exit status for ``status``."""
    attempt.term.disarm()  # a SIGTERM now must not interrupt writing the result
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
        write_json(attempt.run.result, result)
        if attempt.metadata is not None:
            attempt.metadata["ended_at"] = ended_at
            write_json(attempt.run.metadata, to_jsonable(attempt.metadata), fsync=False)
    except Exception as exc:  # a full disk must not hide the run's own exit status
        print(
            f"[orchestra] could not write {attempt.run.result}: {type(exc).__name__}: {exc}", file=sys.stderr
        )
    return code


def _check_record(record: Any, run: RunDir) -> tuple[dict[str, Any], int, str, int]:
    where = run.config
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise SetupError(f"{where}: not a run config (no 'config' object); the orchestrator writes it")
    seed = record.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SetupError(f"{where}: 'seed' must be an integer, got {seed!r}")
    if str(record.get("variant")) != run.variant or str(seed) != run.seed:
        raise SetupError(
            f"{where}: describes run {record.get('variant')}/{seed}, but lies in {run.variant}/{run.seed}"
        )
    options = record.get("options") or {}
    mode, gap = options.get("snapshot_mode", "last"), options.get("snapshot_gap", 1)
    check_snapshot_settings(mode, gap)
    return record["config"], seed, mode, gap


def _inside(path: os.PathLike[str], directory: os.PathLike[str], what: str) -> str:
    """``path`` if it is a regular file really inside ``directory`` (no symlink out of it)."""
    real = os.path.realpath(path)
    if os.path.dirname(real) != os.path.realpath(directory):
        raise SetupError(f"{path}: {what} points outside its directory (to {real}); refusing to read it")
    if not os.path.isfile(real):
        raise SetupError(f"{path}: {what} is missing")
    return real


def _device_argument(device: str) -> Any:
    """A torch device when torch is installed (lagom passes one), else the string."""
    try:
        import torch
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        return device
    return torch.device(device)


def _error(exc: BaseException, phase: str) -> dict[str, Any]:
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    try:
        message = str(exc)
    except Exception:
        message = f"<{name}: str() failed>"
    import traceback  # only when something failed: it is not free to import

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
        print(f"[orchestra] {exc}", file=sys.stderr)
    else:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)


def _ends_mid_line(log: Path) -> bool:
    """Whether stdout is ``log`` and it ends without a newline."""
    try:
        out, mine = os.fstat(sys.stdout.fileno()), os.stat(log)
        if (out.st_dev, out.st_ino) != (mine.st_dev, mine.st_ino) or mine.st_size == 0:
            return False
        with open(log, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except (OSError, ValueError):
        return False


def _int_env(name: str) -> int | None:
    text = os.environ.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise SetupError(f"environment variable {name}={text!r} is not an integer") from None
