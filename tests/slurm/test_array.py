"""A 500-run sweep is one sbatch: every run queued with its job id at once, throttled, and stopped as a whole."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestra.rundir import State
from tests.slurm.helpers import (
    index,
    jobs,
    orchestra,
    start_up,
    statuses,
    submissions,
    sweep_dir,
    wait_for,
    write_sweep,
)

pytestmark = pytest.mark.usefixtures("slurm_cluster")

FIVE_HUNDRED = """
    import time
    from orchestra import Config, Grid, Sweep

    def train(x):
        time.sleep(0.5)
        return x

    sweep = Sweep(train, Config({"x": Grid(list(range(100)))}), seeds=[0, 1, 2, 3, 4])
"""


def test_a_500_run_sweep_is_one_throttled_array_queued_at_once_and_stop_now_ends_it(tmp_path: Path):
    write_sweep(tmp_path, FIVE_HUNDRED)
    started = time.monotonic()
    proc = start_up(tmp_path, "--max-parallel", "3")
    sweep = sweep_dir(tmp_path)
    try:

        def recorded() -> int:
            if not (sweep / "sweep.json").exists():
                return 0
            return sum(1 for s in statuses(sweep).values() if s is not None and s.handle is not None)

        wait_for(lambda: recorded() == 500, timeout=120, interval=0.2, what="500 runs with their job ids")
        queued_in = time.monotonic() - started
        (sub,) = submissions(sweep)
        assert len(index(sub)) == 500 and "#SBATCH --array=0-499%3\n" in (sub / "job.sh").read_text()
        listed = jobs(sweep)
        assert len(listed) == 500
        assert sum(j["state"] == "RUNNING" for j in listed) <= 3, "the throttle holds"

        def throttled() -> int:  # Slurm gives a pending job its reason at its next scheduling pass
            return sum(j["state"] == "PENDING" and j["reason"] == "JobArrayTaskLimit" for j in jobs(sweep))

        # held back by the array's throttle (others' jobs may hold a CPU too)
        wait_for(
            lambda: throttled() >= 490, timeout=60, interval=0.5, what="the throttle as the pending reason"
        )
        queued = [s for s in statuses(sweep).values() if s.state is State.QUEUED]
        assert len(queued) >= 490 and all(
            s.handle["job"].startswith(f"{s.handle['array_job_id']}_") for s in queued
        )

        done = orchestra("stop", "--now", sweep)
        assert done.returncode == 0, done.stdout + done.stderr
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    wait_for(
        lambda: not [j for j in jobs(sweep) if j["state"] in ("PENDING", "RUNNING", "COMPLETING")],
        timeout=60,
        what="every job out of the queue",
    )
    states = {s.state for s in statuses(sweep).values()}
    assert states <= {State.INTERRUPTED, State.COMPLETED}, states
    assert queued_in < 60, f"queueing 500 runs took {queued_in:.1f}s"
