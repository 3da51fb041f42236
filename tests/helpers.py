"""Helpers shared by tests: sweep files on disk, running the CLI, waiting for conditions."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestra.rundir import SweepDir, planned_runs


def write_sweep(directory: Path, body: str, name: str = "sweep.py") -> Path:
    """Write a sweep file (dedented) and return its path."""
    path = directory / name
    path.write_text(textwrap.dedent(body))
    return path


def orchestra(
    *args: str | os.PathLike[str],
    cwd: Path | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess and return its completed process (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "orchestra", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def popen_orchestra(
    *args: str | os.PathLike[str], cwd: Path | None = None, **kw: Any
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestra", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        **kw,
    )


def wait_for(
    condition: Callable[[], Any], timeout: float = 60, interval: float = 0.02, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def statuses(sweep_dir: Path) -> dict[str, Any]:
    """run id -> Status (or None) for every planned run of a sweep."""
    sweep = SweepDir(sweep_dir)
    return {r.id: r.dir.read_status() for r in planned_runs(sweep, sweep.read_plan())}


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    state = stat[stat.rfind(b")") + 2 :].split()[0]
    return state not in (b"Z", b"X")


def build_scheduler(
    sweep_file: Path,
    root: Path,
    *,
    workers: int = 2,
    grace: float = 5.0,
    linger: bool = False,
    fail_fast: bool = False,
    max_failures: int | None = None,
    retry_failed: bool = False,
    metrics_interval: float = 0.05,
    gpus: Any = None,
    gpu_interval: float = 0.1,
) -> Any:
    """Load, plan and apply a sweep the way ``orchestra up`` does, and return its Scheduler.

    ``gpus`` is a GpuLedger to place on (the local backend gets it); the sweep's lock is not taken.
    """
    from orchestra.plan.loader import load_sweep_file
    from orchestra.plan.prepare import apply
    from orchestra.scheduler.backends.local import LocalBackend
    from orchestra.service.session import UpOptions, prepare, scheduler_for

    options = UpOptions(
        root=root,
        workers=workers,
        grace=grace,
        linger=linger,
        fail_fast=fail_fast,
        max_failures=max_failures,
        retry_failed=retry_failed,
        metrics_interval=metrics_interval,
        gpu_interval=gpu_interval,
        cwd=sweep_file.parent,
    )
    backend = LocalBackend(workers, gpus, gpu_interval=gpu_interval)
    prepared = prepare(load_sweep_file(str(sweep_file)), options, backend=backend)
    apply(prepared.rec, prepared.payload)
    return scheduler_for(prepared)


def on_a_terminal(
    args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str]:
    """Run the real CLI with a pseudo-terminal as stdin, stdout and stderr; its exit status and output."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestra", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env={**os.environ, "TERM": "xterm-256color", **(env or {})},
        start_new_session=True,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    return code, b"".join(chunks).decode(errors="replace")
