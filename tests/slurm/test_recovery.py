"""The orchestrator dies (kill -9); its Slurm jobs go on; the next ``up`` re-attaches by job id and
submits nothing twice."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from orchestra.cli.attach import _reap_dead_orchestrator as reap_dead_orchestrator
from orchestra.rundir import Reason, RunDir, State, Status, SweepDir
from tests.slurm.helpers import (
    jobs,
    kill_orchestrator,
    orchestra,
    result,
    start_up,
    statuses,
    submissions,
    sweep_dir,
    up,
    wait_for,
    write_sweep,
)

pytestmark = pytest.mark.usefixtures("slurm_cluster")

# Each run goes on until the sweep directory holds "release" or "release-<x>".
HELD = """
    import time
    from pathlib import Path
    from orchestra import Config, Grid, Sweep

    def train(ctx, logdir, x):
        here = Path(logdir).parents[2]
        itr = 0
        while not (here / "release").exists() and not (here / f"release-{x}").exists():
            ctx.logger("itr", itr)
            ctx.logger.dump()
            itr += 1
            time.sleep(0.1)
        return {"x": x, "attempt": ctx.attempt}

    sweep = Sweep(train, Config({"x": Grid([1, 2, 3, 4, 5, 6])}))
"""


def recorded(sweep: Path) -> dict[str, Status]:
    if not (sweep / "sweep.json").exists():
        return {}
    found = statuses(sweep)
    return {k: v for k, v in found.items() if v is not None and v.handle is not None}


@pytest.mark.xdist_group(
    "slurm-gpus"
)  # not beside the preemption test, whose urgent job may requeue its jobs
def test_kill_9_of_the_orchestrator_leaves_the_jobs_and_up_re_attaches_without_submitting_again(
    tmp_path: Path,
):
    write_sweep(tmp_path, HELD)
    proc = start_up(tmp_path, "--max-parallel", "2")
    sweep = sweep_dir(tmp_path)
    try:
        wait_for(lambda: len(recorded(sweep)) == 6, timeout=90, what="all six submitted and recorded")
        wait_for(
            lambda: sum(s.state is State.RUNNING for s in statuses(sweep).values()) == 2,
            timeout=60,
            what="two running",
        )
    finally:
        kill_orchestrator(proc)
    before = {j["job"] for j in jobs(sweep)}
    assert len(before) == 6

    # while no orchestrator watches, x=1 finishes and x=3 takes its slot
    running = sorted(r for r, s in statuses(sweep).items() if s.state is State.RUNNING)
    (sweep / f"release-{running[0].split('=')[1].split('/')[0]}").touch()

    def one_done_two_running() -> bool:
        listed = jobs(sweep)  # one snapshot: two squeue calls could see x=1 running, then completed
        states = [j["state"] for j in listed]
        return states.count("RUNNING") == 2 and "COMPLETED" in states

    wait_for(
        one_done_two_running,
        timeout=60,
        what="one job done and another started while no orchestrator watched",
    )

    shown = orchestra("status", sweep)
    assert "lost" not in shown.stdout, "Slurm jobs go on without an orchestrator"
    anyio.run(reap_dead_orchestrator, SweepDir(sweep))  # what `attach` does on a sweep with no service
    assert sum(j["state"] == "RUNNING" for j in jobs(sweep)) == 2, "attach leaves Slurm's jobs alone"
    assert sum(s.state is State.RUNNING for s in statuses(sweep).values()) == 2
    local = orchestra(
        "up", "sweep.py", "--foreground", "--root", "sweeps", "--backend", "local", cwd=tmp_path
    )
    assert local.returncode == 2 and "add --backend slurm to re-attach" in local.stderr, local.stderr

    def one_recorded_done_two_running() -> bool:
        now = [s.state for s in statuses(sweep).values()]  # one snapshot
        return now.count(State.COMPLETED) == 1 and now.count(State.RUNNING) == 2

    again = start_up(tmp_path, "--max-parallel", "2")
    try:
        wait_for(
            one_recorded_done_two_running,
            timeout=60,
            what="the finished run recorded, the running ones re-attached",
        )
        (sweep / "release").touch()
        out, _ = again.communicate(timeout=120)
    finally:
        if again.poll() is None:
            again.kill()
    assert again.returncode == 0, out
    assert "re-attached to 6 run(s)" in out
    assert len(submissions(sweep)) == 1, "nothing was submitted twice"
    assert {j["job"] for j in jobs(sweep)} == before and {j["state"] for j in jobs(sweep)} == {"COMPLETED"}
    for run, status in statuses(sweep).items():
        assert status.state is State.COMPLETED and status.attempt == 1, run
        assert result(status_dir(sweep, run))["return"]["attempt"] == 1


def status_dir(sweep: Path, run: str) -> Path:
    variant, seed = run.split("/")
    return sweep / "runs" / variant / seed


def test_jobs_submitted_just_before_a_crash_that_no_status_records_are_found_in_the_queue(tmp_path: Path):
    write_sweep(tmp_path, HELD)
    proc = start_up(tmp_path, "--max-parallel", "2")
    sweep = sweep_dir(tmp_path)
    try:
        wait_for(lambda: len(recorded(sweep)) == 6, timeout=90, what="all six submitted")
    finally:
        kill_orchestrator(proc)
    # what the disk holds when the orchestrator dies between sbatch and writing the statuses
    for run in ("x=4/0", "x=5/0", "x=6/0"):
        rd = RunDir(status_dir(sweep, run))
        rd.write_status(Status(State.QUEUED))
    (sweep / "release").touch()
    done = up(tmp_path, "--max-parallel", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(submissions(sweep)) == 1, "the unrecorded jobs were found in the queue, not submitted again"
    assert len(jobs(sweep)) == 6
    for run, status in statuses(sweep).items():
        assert status.state is State.COMPLETED and status.attempt == 1, run
        assert status.handle is not None and status.handle["submission"] == 1


def test_a_job_that_left_slurms_queue_is_recorded_from_what_it_left_behind(tmp_path: Path):
    """A job Slurm no longer lists (purged after MinJobAge, no accounting): its exit record and
    result.json tell how it ended; one that left neither is never taken for a success."""
    write_sweep(tmp_path, HELD.replace("[1, 2, 3, 4, 5, 6]", "[1, 2]"))
    (tmp_path / "sweeps" / "sweep").mkdir(parents=True)
    (tmp_path / "sweeps" / "sweep" / "release").touch()
    done = up(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep = sweep_dir(tmp_path)
    (sub,) = submissions(sweep)
    # pretend the orchestrator died while both ran, and Slurm forgot the jobs: a job id it never had
    gone = 9_999_000
    (sub / "job_id").write_text(f"{gone}\n")
    (sub / "events" / "1.0.end").unlink()
    (status_dir(sweep, "x=2/0") / "result.json").unlink()
    for run in ("x=1/0", "x=2/0"):
        rd = RunDir(status_dir(sweep, run))
        status = rd.read_status()
        assert status is not None and status.handle is not None
        handle = {**status.handle, "array_job_id": gone, "job": f"{gone}_{status.handle['task']}"}
        rd.write_status(Status(State.RUNNING, attempt=1, handle=handle, started_at=status.started_at))
    again = up(tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr  # x=2 failed
    found = statuses(sweep)
    first = found["x=1/0"]
    assert first.state is State.COMPLETED and first.exit is not None and first.exit.reason is Reason.SUCCESS
    second = found["x=2/0"]
    assert second.state is State.FAILED and second.exit is not None and second.exit.reason is Reason.LOST
    assert "without an exit record" in second.exit.message
    assert len(submissions(sweep)) == 1


def test_sigterm_or_sighup_end_only_the_orchestrator_and_leave_the_jobs_to_slurm(tmp_path: Path):
    write_sweep(tmp_path, HELD.replace("[1, 2, 3, 4, 5, 6]", "[1, 2]"))
    proc = start_up(tmp_path)
    sweep = sweep_dir(tmp_path)
    try:
        wait_for(
            lambda: (
                (sweep / "sweep.json").exists()
                and all(s is not None and s.state is State.RUNNING for s in statuses(sweep).values())
            ),
            timeout=90,
            what="both running",
        )
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "leaving the runs to slurm" in out, out
    assert proc.returncode == 130
    assert sorted(j["state"] for j in jobs(sweep)) == ["RUNNING", "RUNNING"], "the jobs go on"
    assert {s.state for s in statuses(sweep).values()} == {State.RUNNING}
    (sweep / "release").touch()
    done = up(tmp_path)
    assert done.returncode == 0 and "re-attached to 2 run(s)" in done.stdout, done.stdout + done.stderr
    assert len(submissions(sweep)) == 1
