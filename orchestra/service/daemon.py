"""A sweep's service: the orchestrator in its own session, with no terminal, logging to ``service.log``.

``orchestra up`` on a terminal (or with ``-d``) checks the sweep in the foreground, so every user
mistake is still one line there, then starts ``orchestra up ... --service-ready-fd N`` in a new
session (stdin from /dev/null, stdout and stderr appended to ``<sweep>/service.log``) and waits on
the pipe ``N`` for one line: ``ready {...}`` once the service holds the sweep's lock and serves its
control socket, or ``error ...`` when it could not start. Then it attaches the dashboard (or, with
``-d``, returns). Closing that terminal only detaches the dashboard: the runs belong to the service.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import orjson

from orchestra.errors import PlanError, UserError
from orchestra.rundir import SweepDir, describe_holder, live_holder
from orchestra.service.protocol import socket_path
from orchestra.service.session import Prepared

SERVICE_LOG = "service.log"


def start_service(
    args: argparse.Namespace, prepared: Prepared, *, attach: bool, keymap: dict[str, str] | None = None
) -> int:
    """Start the sweep's service and attach the dashboard to it (or, ``attach=False``, return)."""
    sweep_dir = prepared.sweep_dir
    holder = live_holder(sweep_dir)
    if holder is not None:
        if attach and os.path.exists(socket_path(sweep_dir.path)):
            print(
                f"orchestra: sweep {sweep_dir.path.name!r} is already running ({describe_holder(holder)}); attaching"
            )
            from orchestra.cli.attach import attach_dashboard

            return attach_dashboard(sweep_dir, keymap)
        raise PlanError(
            f"sweep {sweep_dir.path.name!r} in {sweep_dir.path} is already running ({describe_holder(holder)}); "
            f"watch it with `orchestra attach {sweep_dir.path}`, or stop it first"
        )
    argv = [a for a in getattr(args, "argv", sys.argv[1:]) if a not in ("-d", "--detach")]
    info = spawn_service(argv, sweep_dir)
    for note in info.get("notes", ()):
        print(f"orchestra: {note}")
    print(info["line"], flush=True)
    if info.get("nothing"):
        print(info["nothing"])
        return int(info.get("code", 0))
    if attach:
        from orchestra.cli.attach import attach_dashboard

        return attach_dashboard(sweep_dir, keymap)
    print(f"service pid {info['pid']}, log {sweep_dir.path / SERVICE_LOG}")
    print(f"attach with: orchestra attach {_shown(sweep_dir.path)}")
    return 0


def spawn_service(argv: list[str], sweep_dir: SweepDir) -> dict[str, Any]:
    """Start ``orchestra <argv>`` as the sweep's service and wait until it is ready; its ready line.

    ``argv`` is an ``up`` command line; the service gets its own session, stdin from /dev/null and
    ``service.log`` as stdout and stderr. A user's mistake it reports is raised as a UserError.
    """
    from orchestra.plan.prepare import writing

    fresh = not sweep_dir.path.exists()
    log_path = sweep_dir.path / SERVICE_LOG
    try:
        with writing(sweep_dir.path, "make the sweep directory"):
            sweep_dir.path.mkdir(parents=True, exist_ok=True)
        with writing(log_path, "open the service's log"):
            log = open(log_path, "ab")  # noqa: SIM115 - closed once the service has it
    except UserError:
        if fresh:
            shutil.rmtree(sweep_dir.path, ignore_errors=True)
        raise
    read_end, write_end = os.pipe()
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestra", *argv, "--service-ready-fd", str(write_end)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(write_end,),
        )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as ready:
        line = ready.readline().decode(errors="replace").rstrip("\n")
    if line.startswith("error "):
        proc.wait()
        if fresh:
            shutil.rmtree(sweep_dir.path, ignore_errors=True)  # nothing of a sweep that never started
        raise UserError(line[len("error ") :])
    if not line.startswith("ready "):
        code = proc.wait()
        raise PlanError(
            f"the sweep's service exited (status {code}) before it was ready; see {log_path}:\n"
            + _tail(log_path)
        )
    info: dict[str, Any] = orjson.loads(line[len("ready ") :])
    return info


def recorded_up_argv(sweep_dir: SweepDir, retry: list[str]) -> list[str]:
    """The ``up`` command line that runs a sweep again from its directory, as it was last started
    (workers, grace, GPUs), retrying ``retry``."""
    from orchestra.rundir import read_json_or_none

    record = read_json_or_none(sweep_dir.sweep_json) or {}
    up = record.get("up") or {}
    argv = ["up", str(sweep_dir.path)]
    for option in ("workers", "grace", "gpus", "avoid_gpus", "gpu_headroom", "fake_gpus"):
        value = up.get(option)
        if value not in (None, ""):
            argv += [f"--{option.replace('_', '-')}", str(value)]
    for run_id in retry:
        argv += ["--retry", run_id]
    return argv


def serve(prepared: Prepared, ready_fd: int) -> int:
    """The service's own process: run the sweep with its control socket; report readiness on ``ready_fd``."""
    import anyio

    ready = os.fdopen(ready_fd, "w")
    try:
        return anyio.run(_serve, prepared, ready)
    except UserError as err:
        if not ready.closed:
            ready.write(f"error {err}\n")
            ready.close()
        raise
    finally:
        if not ready.closed:
            ready.close()


async def _serve(prepared: Prepared, ready: IO[str]) -> int:
    import time

    from orchestra.headless import say, show, stop_on_signals
    from orchestra.present import summary_line
    from orchestra.service.server import ControlServer
    from orchestra.service.session import describe_start, open_session

    started = time.time()
    async with open_session(prepared) as session:
        line = describe_start(session)
        say(line)  # into service.log, when it has room
        info: dict[str, Any] = {"pid": os.getpid(), "line": line, "notes": session.notes}
        if session.scheduler.idle:
            done = all(
                r.status is not None and r.status.state.value in ("completed", "stopped")
                for r in session.rec.runs
            )
            info["nothing"] = "nothing to do" + (
                "" if done else "; --retry-failed runs failed and cancelled runs again"
            )
            info["code"] = 0 if done else 1
            ready.write("ready " + orjson.dumps(info).decode() + "\n")
            ready.close()
            return int(info["code"])
        server = ControlServer.for_session(session)
        async with server.serving():
            ready.write("ready " + orjson.dumps(info).decode() + "\n")
            ready.close()
            summary = await session.run([lambda s: show(s, tty=False), stop_on_signals])
        say(summary_line(session.scheduler.snapshot(), time.time() - started, len(summary.unrecorded)))
        if summary.error:
            say(f"orchestra: error: {summary.error}")
        return summary.exit_code


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _shown(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)
