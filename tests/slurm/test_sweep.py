"""A sweep on a real Slurm: one job array, the same run directories as locally, the CLI unchanged."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from orchestra.rundir import Reason, State
from tests.slurm.helpers import (
    index,
    jobs,
    orchestra,
    result,
    statuses,
    submissions,
    sweep_dir,
    up,
    write_sweep,
)

pytestmark = pytest.mark.usefixtures("slurm_cluster")

TWENTY = """
    import os
    from orchestra import Config, Grid, Sweep

    def train(ctx, lr):
        for itr in range(3):
            ctx.logger("itr", itr)
            ctx.logger("loss", lr / (itr + 1))
            ctx.logger.dump()
            ctx.snapshot(itr, {"itr": itr})
        print("hello from job", os.environ["SLURM_JOB_ID"], flush=True)
        return {
            "job": os.environ["SLURM_ARRAY_JOB_ID"] + "_" + os.environ["SLURM_ARRAY_TASK_ID"],
            "parent_link": os.environ.get("ORCHESTRA_PARENT_PID"),
            "threads": os.environ.get("OMP_NUM_THREADS"),
            "devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }

    sweep = Sweep(train, Config({"lr": Grid([0.1, 0.2, 0.3, 0.4, 0.5])}), seeds=[0, 1, 2, 3], cpus=2)
"""


def test_a_20_run_sweep_is_one_job_array_and_completes_with_the_same_run_directories(tmp_path: Path):
    write_sweep(tmp_path, TWENTY)
    done = up(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 runs, 20 to start, Slurm" in done.stdout and "20 completed" in done.stdout

    sweep = sweep_dir(tmp_path)
    (sub,) = submissions(sweep)  # one sbatch for the whole sweep
    script = (sub / "job.sh").read_text()
    assert "#SBATCH --array=0-19\n" in script and "#SBATCH --cpus-per-task=2\n" in script
    rows = index(sub)
    assert [int(r[0]) for r in rows] == list(range(20))
    array = int((sub / "job_id").read_text())

    node = socket.gethostname().split(".")[0]
    found = statuses(sweep)
    assert len(found) == 20
    for task, run_id, attempt, run_dir in rows:
        status = found[run_id]
        assert Path(run_dir) == sweep / "runs" / run_id and attempt == "1"
        assert status.state is State.COMPLETED and status.attempt == 1, run_id
        assert status.exit is not None and status.exit.reason is Reason.SUCCESS
        assert status.handle is not None
        assert status.handle["job"] == f"{array}_{task}" and status.handle["task"] == int(task)
        assert status.handle["node"] == node and status.host == node
        assert status.pid is None and status.started_at is not None and status.ended_at is not None
        back = result(Path(run_dir))
        assert back["status"] == "completed" and back["attempt"] == 1
        assert back["return"]["job"] == status.handle["job"], "the run's own job is the one recorded"
        assert back["return"]["parent_link"] is None, "a Slurm run has no parent-death link"
        assert back["return"]["threads"] == "2" and back["return"]["devices"] == ""
        for name in ("metrics.jsonl", "metadata.json", "config.json", "output.log"):
            assert (Path(run_dir) / name).is_file(), name
        assert (Path(run_dir) / "snapshots").is_dir()
        assert "hello from job" in (Path(run_dir) / "output.log").read_text()

    listed = jobs(sweep)
    assert len(listed) == 20 and {j["state"] for j in listed} == {"COMPLETED"}, "each run ran once"

    status = orchestra("status", sweep, "--json")
    assert status.returncode == 0, status.stderr
    logs = orchestra("logs", sweep, "lr=0.3/2")
    assert logs.returncode == 0 and "hello from job" in logs.stdout
    ranking = orchestra("results", sweep, "--metric", "loss", "--json")
    assert ranking.returncode == 0, ranking.stderr
    best = json.loads(ranking.stdout)["best"]
    assert best["label"] == "lr=0.1" and best["n"] == 4


FAILS_ONCE = """
    from orchestra import Config, Grid, Sweep

    def train(ctx, x):
        start = ctx.resume()
        if ctx.attempt == 1:
            ctx.snapshot(4, {"itr": 4})
            raise ValueError("first attempt fails")
        return {"resumes_at": start[0] if start else None, "attempt": ctx.attempt}

    sweep = Sweep(train, Config({"x": Grid([1])}), max_retries=1)
"""


def test_a_failed_run_is_classified_from_its_result_and_retried_from_its_snapshot(tmp_path: Path):
    write_sweep(tmp_path, FAILS_ONCE)
    done = up(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep = sweep_dir(tmp_path)
    (status,) = statuses(sweep).values()
    assert status.state is State.COMPLETED and status.attempt == 2
    failed = [h for h in status.history if h.get("state") == "failed"]
    assert failed and "exception exit 1: ValueError: first attempt fails" in failed[0]["exit"]
    assert result(sweep / "runs" / "x=1" / "0")["return"] == {"resumes_at": 5, "attempt": 2}
    assert len(submissions(sweep)) == 2, "the retry is a new submission"


WAITS_THEN_FAILS = """
    import os, time
    from orchestra import Config, Grid, Sweep

    def train(x):
        deadline = time.monotonic() + 120
        while not os.path.exists(os.environ["GO_FILE"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        raise ValueError("failed after the go")

    sweep = Sweep(train, Config({"x": Grid([1])}), env={"GO_FILE": "%s"})
"""


def test_a_run_that_ends_between_the_record_scan_and_squeue_is_classified_from_its_record(tmp_path: Path):
    """The watcher reads the jobs' records, then asks squeue. A job that ends in between is final in
    squeue's answer while its end record was not read yet; squeue here gives no exit code for a
    failed array task, so without the record the run was called lost."""
    import anyio

    from orchestra.plan.loader import load_sweep_file
    from orchestra.scheduler.backends.slurm import SlurmBackend
    from orchestra.scheduler.backends.slurm.commands import SlurmCommands
    from orchestra.service.session import UpOptions, prepare, run_prepared
    from orchestra.slurm import Slurm

    go = tmp_path / "go"
    root = tmp_path / "sweeps"
    events = []  # the submission's events directory, once known

    class ReleasesTheRunInsideSqueue(SlurmCommands):
        """At the first squeue after the run started: let it end, wait until Slurm calls it final,
        and only then answer, so that this tick's scan of the records ran before its end."""

        released = False

        async def run(self, args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
            if args[0] == "squeue" and not self.released:
                started = list((root / "sweep" / "slurm").glob("*/events/0.0.start"))
                if started:
                    self.released = True
                    events.append(started[0].parent)
                    go.touch()
                    with anyio.fail_after(60):
                        while not (started[0].parent / "0.0.end").exists():
                            await anyio.sleep(0.02)
                        while True:
                            done = await super().run(args, **kwargs)
                            if "FAILED" in done.stdout:  # squeue --json and -o both name the state
                                return done
                            await anyio.sleep(0.1)
            return await super().run(args, **kwargs)

    write_sweep(tmp_path, WAITS_THEN_FAILS % go)
    backend = SlurmBackend(Slurm(), root / "sweep", commands=ReleasesTheRunInsideSqueue())
    prepared = prepare(
        load_sweep_file(str(tmp_path / "sweep.py")), UpOptions(root=root, cwd=tmp_path), backend=backend
    )
    summary, _ = anyio.run(run_prepared, prepared)
    assert events, "the run never started"
    assert summary.counts == {State.FAILED: 1}
    (status,) = statuses(root / "sweep").values()
    assert status.exit is not None and status.exit.reason is Reason.EXCEPTION, status.exit
    assert "ValueError: failed after the go" in (status.exit.message or ""), status.exit


SWEEP_FILE_OPTIONS = """
    from orchestra import Config, Grid, Slurm, Sweep

    def train(x):
        return x

    sweep = Sweep(
        train,
        Config({"x": Grid([1, 2, 3])}),
        timeout="90s",
        backend=Slurm(partition="debug", max_parallel=2, mem="100M", extra=["--nice=10"]),
    )
"""


def test_the_sweep_file_chooses_slurm_and_the_command_line_wins(tmp_path: Path):
    write_sweep(tmp_path, SWEEP_FILE_OPTIONS)
    done = orchestra(
        "up", "sweep.py", "--foreground", "--root", "sweeps", "--time", "1:30:00", cwd=tmp_path, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Slurm (partition debug, at most 2 at once, 90 min limit)" in done.stdout
    (sub,) = submissions(sweep_dir(tmp_path))
    script = (sub / "job.sh").read_text()
    for line in ("--array=0-2%2", "--partition=debug", "--mem=100M", "--time=90", "--signal=B:USR1@90"):
        assert f"#SBATCH {line}\n" in script, line
    record = json.loads((sweep_dir(tmp_path) / "sweep.json").read_text())
    assert record["settings"]["backend"] == {
        "slurm": {"partition": "debug", "mem": "100M", "max_parallel": 2, "extra": ["--nice=10"]}
    }
    assert record["up"]["backend"] == "slurm" and record["up"]["slurm"]["time"] == "1:30:00"


def test_without_a_time_limit_the_sweeps_timeout_and_grace_make_one(tmp_path: Path):
    write_sweep(tmp_path, SWEEP_FILE_OPTIONS)
    done = orchestra(
        "up", "sweep.py", "--foreground", "--root", "sweeps", "--grace", "40", cwd=tmp_path, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (sub,) = submissions(sweep_dir(tmp_path))
    script = (sub / "job.sh").read_text()
    assert "#SBATCH --time=3\n" in script, "90 s timeout + 40 s grace: 3 whole minutes"
    assert "#SBATCH --signal=B:USR1@90\n" in script


OUTCOMES = """
    import time
    from orchestra import Config, Grid, Sweep

    def train(x):
        time.sleep(0.5)
        if x == 2:
            raise ValueError("two")
        return x

    sweep = Sweep(train, Config({"x": Grid([1, 2, 3])}))
"""


def test_the_watcher_reads_squeue_json_as_well_as_its_format(tmp_path: Path):
    """Slurm 23.02 and later are watched through ``squeue --json``; the same sweep ends the same way."""
    import anyio

    from orchestra.plan.loader import load_sweep_file
    from orchestra.scheduler.backends.slurm import SlurmBackend
    from orchestra.service.session import UpOptions, prepare, run_prepared
    from orchestra.slurm import Slurm

    write_sweep(tmp_path, OUTCOMES)
    root = tmp_path / "sweeps"
    backend = SlurmBackend(Slurm(), root / "sweep", query="json")
    prepared = prepare(
        load_sweep_file(str(tmp_path / "sweep.py")), UpOptions(root=root, cwd=tmp_path), backend=backend
    )
    summary, _ = anyio.run(run_prepared, prepared)
    assert summary.counts == {State.COMPLETED: 2, State.FAILED: 1}
    assert backend.commands.calls["squeue"] >= 1
    found = statuses(root / "sweep")
    assert found["x=2/0"].exit.reason is Reason.EXCEPTION
    assert all(s.handle is not None and s.host for s in found.values())


def test_a_sweep_under_a_path_with_spaces_and_a_percent_sign_runs(tmp_path: Path):
    write_sweep(tmp_path, OUTCOMES.replace("[1, 2, 3]", "[1, 3]"))
    done = orchestra(
        "up",
        "sweep.py",
        "--backend",
        "slurm",
        "--foreground",
        "--root",
        "my sweeps 100%",
        cwd=tmp_path,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sweep = tmp_path / "my sweeps 100%" / "sweep"
    (sub,) = submissions(sweep)
    assert "#SBATCH --output='" in (sub / "job.sh").read_text()
    for run in ("x=1/0", "x=3/0"):
        assert "[orchestra] run" in (sweep / "runs" / run / "output.log").read_text(), (
            "Slurm wrote the run's log"
        )


PRELOADED = """
    import sys
    from orchestra import Config, Grid, Sweep

    def train(x):
        return {"preloaded": "xml.dom.minidom" in sys.modules}

    sweep = Sweep(train, Config({"x": Grid([1, 2])}), preload=["xml.dom.minidom"])
"""


def test_preload_on_slurm_says_once_that_each_run_starts_cold_in_its_job(tmp_path: Path):
    write_sweep(tmp_path, PRELOADED)
    done = up(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = done.stdout + done.stderr
    notice = "preload: warm starts are for the local backend; on slurm each run starts cold in its own job"
    assert shown.count(notice) == 1, shown
    for run_dir in sorted((sweep_dir(tmp_path) / "runs").glob("*/0")):
        assert json.loads((run_dir / "metadata.json").read_text())["start"] == {"mode": "cold"}
        assert json.loads((run_dir / "result.json").read_text())["return"] == {"preloaded": False}
