"""Cancel, kill, retry, pause, resume and stop from the CLI on Slurm jobs, and a job someone else cancels."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestra.rundir import Reason, State
from tests.slurm.helpers import (
    jobs,
    orchestra,
    result,
    start_up,
    statuses,
    submissions,
    sweep_dir,
    wait_for,
    write_sweep,
)

pytestmark = pytest.mark.usefixtures("slurm_cluster")

# Runs that save a snapshot every step until the sweep directory holds a file named "release";
# a SIGTERM makes them say where they were.
HELD = """
    import time
    from pathlib import Path
    from orchestra import Config, Grid, Sweep
    from orchestra.runtime.process import Terminated

    def train(ctx, logdir, x):
        start = ctx.resume()
        itr = start[0] if start else 0
        release = Path(logdir).parents[2] / "release"
        try:
            while not release.exists():
                ctx.logger("itr", itr)
                ctx.logger.dump()
                ctx.snapshot(itr, {"itr": itr})
                itr += 1
                time.sleep(0.1)
        except Terminated:
            print("terminated at", itr, flush=True)
            raise
        return {"resumed_at": start[0] if start else None}

    sweep = Sweep(train, Config({"x": Grid([1, 2, 3, 4])}))
"""


def state(sweep: Path, run: str) -> State | None:
    status = statuses(sweep)[run]
    return status.state if status is not None else None


def stepped(sweep: Path, run: str, steps: int = 3) -> bool:
    metrics = sweep / "runs" / run.split("/")[0] / run.split("/")[1] / "metrics.jsonl"
    return metrics.exists() and metrics.read_bytes().count(b"\n") >= steps


def job_of(sweep: Path, run: str) -> str:
    status = statuses(sweep)[run]
    assert status is not None and status.handle is not None
    return str(status.handle["job"])


def test_cancel_kill_and_retry_from_the_cli_and_a_scancel_from_outside(tmp_path: Path):
    write_sweep(tmp_path, HELD)
    proc = start_up(tmp_path, "--grace", "5")
    sweep = sweep_dir(tmp_path)
    try:
        runs = ["x=1/0", "x=2/0", "x=3/0", "x=4/0"]
        wait_for(lambda: all(stepped(sweep, r) for r in runs), timeout=90, what="all four running")
        assert all(state(sweep, r) is State.RUNNING for r in runs)

        done = orchestra("cancel", sweep, "x=1/0")
        assert done.returncode == 0 and "stopping" in done.stdout, done.stdout + done.stderr
        done = orchestra("kill", sweep, "x=2/0")
        assert done.returncode == 0 and "killed" in done.stdout, done.stdout + done.stderr
        subprocess.run(["scancel", job_of(sweep, "x=3/0")], check=True)

        wait_for(lambda: state(sweep, "x=1/0") is State.CANCELLED, timeout=60, what="x=1 cancelled")
        wait_for(lambda: state(sweep, "x=2/0") is State.CANCELLED, timeout=60, what="x=2 killed")
        wait_for(lambda: state(sweep, "x=3/0") is State.CANCELLED, timeout=60, what="x=3 cancelled outside")
        found = statuses(sweep)
        cancelled, killed, outside = found["x=1/0"].exit, found["x=2/0"].exit, found["x=3/0"].exit
        assert cancelled is not None and cancelled.reason is Reason.CANCELLED
        assert killed is not None and killed.reason is Reason.KILLED
        assert outside is not None and outside.reason is Reason.CANCELLED
        assert "someone else's scancel" in outside.message
        log1 = (sweep / "runs" / "x=1" / "0" / "output.log").read_text()
        assert "terminated at" in log1, "a cancel is SIGTERM first: the run saw it"
        assert result(sweep / "runs" / "x=1" / "0")["status"] == "terminated"
        log2 = (sweep / "runs" / "x=2" / "0" / "output.log").read_text()
        assert "terminated at" not in log2, "a kill is SIGKILL: nothing runs after it"
        assert not (sweep / "runs" / "x=2" / "0" / "result.json").exists()
        assert state(sweep, "x=4/0") is State.RUNNING

        done = orchestra("retry", sweep, "x=1/0")
        assert done.returncode == 0, done.stdout + done.stderr
        wait_for(
            lambda: (
                (s := statuses(sweep)["x=1/0"]) is not None and s.state is State.RUNNING and s.attempt == 2
            ),
            timeout=60,
            what="x=1 running again",
        )
        (sweep / "release").touch()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out  # two runs stayed cancelled
    found = statuses(sweep)
    assert found["x=1/0"].state is State.COMPLETED and found["x=1/0"].attempt == 2
    assert result(sweep / "runs" / "x=1" / "0")["return"]["resumed_at"] > 0, "resumed from its snapshot"
    assert found["x=4/0"].state is State.COMPLETED
    assert len(submissions(sweep)) == 2, "the sweep's array, and the retry's"


def test_pause_holds_pending_jobs_and_resume_releases_them(tmp_path: Path):
    write_sweep(tmp_path, HELD)
    proc = start_up(tmp_path, "--max-parallel", "1")
    sweep = sweep_dir(tmp_path)
    try:
        wait_for(lambda: stepped(sweep, "x=1/0"), timeout=90, what="the first run")

        def throttled() -> bool:  # a pending job gets its reason at Slurm's next scheduling pass
            pending = [j for j in jobs(sweep) if j["state"] == "PENDING"]
            return len(pending) == 3 and {j["reason"] for j in pending} == {"JobArrayTaskLimit"}

        wait_for(throttled, timeout=30, what="three jobs held back by the throttle")

        assert orchestra("pause", sweep).returncode == 0
        wait_for(
            lambda: (
                {j["reason"] for j in jobs(sweep) if j["state"] == "PENDING"}
                <= {"JobHeldUser", "JobHeldAdmin"}
            ),
            timeout=30,
            what="the pending jobs held",
        )
        (sweep / "release").touch()
        wait_for(lambda: state(sweep, "x=1/0") is State.COMPLETED, timeout=60, what="the first run done")
        held = [j for j in jobs(sweep) if j["state"] == "PENDING"]
        assert len(held) == 3, "held jobs do not start though the array's slot is free"
        assert {state(sweep, r) for r in ("x=2/0", "x=3/0", "x=4/0")} == {State.QUEUED}

        assert orchestra("resume", sweep).returncode == 0
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert {s.state for s in statuses(sweep).values()} == {State.COMPLETED}


def test_stop_lets_running_jobs_finish_and_takes_pending_ones_out_of_the_queue(tmp_path: Path):
    write_sweep(tmp_path, HELD)
    proc = start_up(tmp_path, "--max-parallel", "1")
    sweep = sweep_dir(tmp_path)
    try:
        wait_for(lambda: stepped(sweep, "x=1/0"), timeout=90, what="the first run")
        assert orchestra("stop", sweep).returncode == 0
        wait_for(
            lambda: all(state(sweep, r) is State.INTERRUPTED for r in ("x=2/0", "x=3/0", "x=4/0")),
            timeout=60,
            what="the pending runs out of the queue",
        )
        assert state(sweep, "x=1/0") is State.RUNNING, "a drain lets the running one go on"
        (sweep / "release").touch()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert state(sweep, "x=1/0") is State.COMPLETED, out
    assert not [j for j in jobs(sweep) if j["state"] in ("PENDING", "RUNNING")]
