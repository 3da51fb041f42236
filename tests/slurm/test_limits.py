"""Time limits and preemption: the run gets SIGTERM first and saves a snapshot; a timeout is a
failure of that name, retried from the snapshot; a preempted job is requeued by Slurm and its next
attempt resumes from the snapshot with the attempt counted."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestra.rundir import Reason, State
from tests.slurm.helpers import (
    jobs,
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

# Snapshots every step; a SIGTERM saves one more and says where. The second attempt returns at once.
TIMED = """
    import time
    from orchestra import Config, Slurm, Sweep
    from orchestra.runtime.process import Terminated

    def train(ctx):
        start = ctx.resume()
        itr = start[0] if start else 0
        if ctx.attempt > 1:
            return {"resumed_at": itr, "attempt": ctx.attempt}
        try:
            while True:
                ctx.snapshot(itr, {"itr": itr})
                itr += 1
                time.sleep(0.1)
        except Terminated:
            ctx.snapshot(itr, {"itr": itr})
            print("terminated at", itr, flush=True)
            raise

    sweep = Sweep(train, Config({}), max_retries=1, backend=Slurm(time=1, signal_before="5s"))
"""


def test_a_run_past_its_time_limit_snapshots_is_a_timeout_and_its_retry_resumes(tmp_path: Path):
    write_sweep(tmp_path, TIMED)
    done = up(tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "timeout" in done.stdout and "Slurm time limit of 1 min" in done.stdout
    sweep = sweep_dir(tmp_path)
    (status,) = statuses(sweep).values()
    assert status.state is State.COMPLETED and status.attempt == 2
    failed = [h for h in status.history if h.get("state") == "failed"]
    assert len(failed) == 1 and failed[0]["attempt"] == 1
    assert failed[0]["exit"].startswith("timeout exit 143: stopped at its Slurm time limit")
    first, retry = submissions(sweep)
    (end,) = (first / "events").glob("0.0.end")
    assert '"time_limit": true' in end.read_text(), "the time-limit signal came before Slurm's own kill"
    log = (sweep / "runs" / "default" / "0" / "output.log").read_text()
    stopped_at = int(log.split("terminated at ")[1].split()[0])
    assert stopped_at > 0
    assert result(sweep / "runs" / "default" / "0")["return"] == {"resumed_at": stopped_at + 1, "attempt": 2}
    assert "#SBATCH --time=1\n" in (retry / "job.sh").read_text()


PREEMPTIBLE = """
    import time
    from pathlib import Path
    from orchestra import Config, Sweep
    from orchestra.runtime.process import Terminated

    def train(ctx, logdir):
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
            ctx.snapshot(itr, {"itr": itr})
            print("preempted at", itr, flush=True)
            raise
        return {"resumed_at": start[0] if start else None, "attempt": ctx.attempt}

    sweep = Sweep(train, Config({}), gpus=1)
"""


@pytest.mark.xdist_group("slurm-gpus")  # it takes every GPU of the node for a moment
def test_a_preempted_job_is_requeued_and_its_next_attempt_resumes_from_its_snapshot(tmp_path: Path):
    write_sweep(tmp_path, PREEMPTIBLE)
    proc = start_up(tmp_path)
    sweep = sweep_dir(tmp_path)
    urgent = None
    try:

        def steps() -> int:
            metrics = sweep / "runs" / "default" / "0" / "metrics.jsonl"
            return metrics.read_bytes().count(b"\n") if metrics.exists() else 0

        wait_for(lambda: steps() >= 5, timeout=90, what="the run stepping")
        urgent = subprocess.run(
            ["sbatch", "--parsable", "-p", "urgent", "--gres=gpu:4", "-o", "/dev/null", "--wrap", "sleep 1"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        wait_for(
            lambda: (
                (s := statuses(sweep)["default/0"]) is not None
                and s.state is State.RUNNING
                and s.attempt == 2
            ),
            timeout=120,
            what="the requeued job running as attempt 2",
        )
        (sweep / "release").touch()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        if urgent:
            subprocess.run(["scancel", urgent], capture_output=True)
    assert proc.returncode == 0, out
    (status,) = statuses(sweep).values()
    assert status.state is State.COMPLETED and status.attempt == 2
    states = [(h["state"], h["attempt"]) for h in status.history]
    assert states[-4:] == [("running", 1), ("queued", 1), ("running", 2), ("completed", 2)], states
    log = (sweep / "runs" / "default" / "0" / "output.log").read_text()
    preempted_at = int(log.split("preempted at ")[1].split()[0])
    assert result(sweep / "runs" / "default" / "0")["return"]["resumed_at"] == preempted_at + 1
    assert len(submissions(sweep)) == 1, "Slurm requeued the job: orchestra submitted nothing"
    assert [j["state"] for j in jobs(sweep)] == ["COMPLETED"]
    assert status.exit is not None and status.exit.reason is Reason.SUCCESS
