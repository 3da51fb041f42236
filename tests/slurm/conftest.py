"""A real Slurm cluster for these tests: munged, slurmctld and slurmd on this machine (.ci/slurm-up.sh:
8 CPUs, 4 fake GPUs as GRES, a preempting ``urgent`` partition).

The cluster ``$SLURM_CONF`` names is used when it answers (``.ci/run`` starts one). Otherwise the first
test process that needs one starts it, as root, and the last one to finish stops it again. Tests skip,
saying why, only when Slurm cannot be installed or started here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
UP = REPO / ".ci" / "slurm-up.sh"
DOWN = REPO / ".ci" / "slurm-down.sh"
STATE = Path(tempfile.gettempdir()) / "orchestra-slurm-tests"  # users count, and whether tests started it


def answers(tries: int = 3) -> bool:
    """Whether a Slurm controller answers at $SLURM_CONF (asked again while it is busy)."""
    if shutil.which("sinfo") is None:
        return False
    for i in range(tries):
        try:
            done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip():
            return True
        if i + 1 < tries:
            time.sleep(2)
    return False


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    STATE.mkdir(exist_ok=True)
    with open(STATE / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _users(change: int) -> int:
    path = STATE / "users"
    try:
        n = int(path.read_text())
    except (OSError, ValueError):
        n = 0
    n = max(0, n + change)
    path.write_text(str(n))
    return n


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[str]:
    """``$SLURM_CONF`` of a live cluster (started here if need be); exported for every child process."""
    conf = os.environ.get("SLURM_CONF")
    if conf and answers():
        yield conf
        return
    if os.geteuid() != 0:
        pytest.skip("no Slurm answers here ($SLURM_CONF), and starting one (.ci/slurm-up.sh) needs root")
    with _locked():
        done = subprocess.run(["bash", str(UP)], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"Slurm cannot be {'installed' if done.returncode == 3 else 'started'} here: {why}")
        said = dict(
            line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines() if "=" in line
        )
        conf = said["SLURM_CONF"]
        if said.get("SLURM_STARTED_HERE") == "1" and _users(0) == 0:
            (STATE / "started").touch()
        _users(+1)
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        with _locked():
            if _users(-1) == 0 and (STATE / "started").exists():
                (STATE / "started").unlink()
                subprocess.run(["bash", str(DOWN)], capture_output=True, timeout=120)


@pytest.fixture(autouse=True)
def _cancel_the_tests_jobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """A test that fails leaves no job behind (Slurm jobs outlive their orchestrator by design)."""
    yield
    if "slurm_cluster" not in request.fixturenames:
        return
    listed = subprocess.run(
        ["squeue", "-h", "-r", "-o", "%i|%o"], capture_output=True, text=True, timeout=30
    ).stdout
    mine = [line.split("|", 1)[0] for line in listed.splitlines() if f"|{tmp_path}" in line]
    if mine:
        subprocess.run(["scancel", *mine], capture_output=True, timeout=30)
