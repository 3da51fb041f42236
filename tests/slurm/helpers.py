"""Helpers of the Slurm tests: orchestra's CLI on the Slurm backend, and what Slurm says of a sweep's jobs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers import orchestra, popen_orchestra, statuses, wait_for, write_sweep

__all__ = [
    "jobs",
    "kill_orchestrator",
    "orchestra",
    "start_up",
    "statuses",
    "submissions",
    "sweep_dir",
    "up",
    "wait_for",
    "write_sweep",
]


def sweep_dir(tmp_path: Path, name: str = "sweep") -> Path:
    return tmp_path / "sweeps" / name


def up(
    tmp_path: Path, *args: str, sweep: str = "sweep.py", timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``orchestra up SWEEP --backend slurm --foreground`` to its end."""
    return orchestra(
        "up",
        sweep,
        "--backend",
        "slurm",
        "--foreground",
        "--root",
        "sweeps",
        *args,
        cwd=tmp_path,
        timeout=timeout,
    )


def start_up(tmp_path: Path, *args: str, sweep: str = "sweep.py") -> subprocess.Popen[str]:
    """The same, in the background (its output on a pipe)."""
    return popen_orchestra(
        "up", sweep, "--backend", "slurm", "--foreground", "--root", "sweeps", *args, cwd=tmp_path
    )


def job_name(path: Path) -> str:
    """The job name the backend gives a sweep's jobs."""
    return f"{path.name}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:6]}"


def jobs(path: Path) -> list[dict[str, Any]]:
    """Every array task of the sweep that Slurm lists: job, state, reason, node."""
    out = subprocess.run(
        ["squeue", "-h", "-r", "--states=all", "-n", job_name(path), "-o", "%i|%T|%r|%N"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    rows = []
    for line in out.splitlines():
        job, state, reason, node = line.split("|")
        rows.append({"job": job, "state": state, "reason": reason, "node": node})
    return rows


def submissions(path: Path) -> list[Path]:
    """The sweep's submission directories (one sbatch each), oldest first."""
    root = path / "slurm"
    return (
        sorted((d for d in root.iterdir() if d.name.isdigit()), key=lambda d: int(d.name))
        if root.is_dir()
        else []
    )


def index(sub: Path) -> list[list[str]]:
    """A submission's tasks.tsv rows: task, run, attempt, directory."""
    return [
        line.split("\t") for line in (sub / "tasks.tsv").read_text().splitlines() if not line.startswith("#")
    ]


def result(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "result.json").read_text())


def kill_orchestrator(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the orchestrator process (its jobs are Slurm's, and go on)."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
