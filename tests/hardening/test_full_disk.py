"""A real full disk (a small tmpfs) while a sweep runs: nothing is reported that was not recorded,
launching pauses and says why, the sweep goes on when there is room, and the next up does the rest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestra.rundir import State
from orchestra.service.oneshot import snapshot
from tests.hardening.disk import small_disk
from tests.hardening.faults import Lines
from tests.helpers import orchestra, popen_orchestra, statuses, wait_for, write_sweep

# Run i says it is waiting (GO/i.waiting), waits for the file GO/i, then returns.
GATED = """
    import os, time
    from pathlib import Path
    from orchestra import Sweep, Config, Grid
    def train(i):
        Path(os.environ["GO"], f"{i}.waiting").touch()
        while not Path(os.environ["GO"], str(i)).exists():
            time.sleep(0.02)
        return {"i": i}
    sweep = Sweep(train, Config({"i": Grid(list(range(N)))}))
"""


def _gated(tmp_path: Path, n: int) -> tuple[Path, dict[str, str], Path]:
    go = tmp_path / "go"
    go.mkdir()
    return write_sweep(tmp_path, GATED.replace("N", str(n))), {**os.environ, "GO": str(go)}, go


def _states(sweep_dir: Path) -> list[str | None]:
    if not (sweep_dir / "sweep.json").exists():
        return []
    return [s.state.value if s else None for s in statuses(sweep_dir).values()]


def test_a_full_disk_pauses_launching_says_so_and_the_sweep_goes_on_when_there_is_room(tmp_path: Path):
    f, env, go = _gated(tmp_path, 3)
    with small_disk(tmp_path / "disk") as disk:
        sweep_dir = disk.path / "sweeps" / "sweep"
        up = popen_orchestra("up", f, "--root", disk.path / "sweeps", "--workers", "2", cwd=tmp_path, env=env)
        out = Lines(up)
        try:
            wait_for(lambda: len(list(go.glob("*.waiting"))) == 2, what="two runs in their entry")
            disk.fill()
            (go / "0").touch()
            (go / "1").touch()

            # their ends cannot be recorded, and the third run's files cannot be made: it waits
            # which is said first, the ends it cannot record or the run it cannot start, is timing
            def said(line: str) -> bool:
                return line.startswith("orchestra: cannot write ") and "launching paused" in line

            wait_for(lambda: any(said(line) for line in out.lines), timeout=30, what="the alert")
            alert = next(line for line in out.lines if said(line))
            assert "status file(s) (OSError: No space left on device" in alert, alert
            wait_for(lambda: out.has("cannot start i=2/0: i=2: No space left on device"), timeout=30)

            def shown() -> bool:  # what every dashboard shows is what up printed
                snap, _ = snapshot(sweep_dir)
                printed = {line.removeprefix("orchestra: ").rstrip("\n") for line in out.lines}
                return snap.paused and bool(snap.alerts) and set(snap.alerts) <= printed

            wait_for(shown, timeout=30, what="the alert in the live table")
            snap, _ = snapshot(sweep_dir)
            assert [r.state for r in snap.rows][2] is State.QUEUED
            assert not (sweep_dir / "runs" / "i=2" / "0" / "output.log").exists(), "it was not started"
            assert _states(sweep_dir) == ["running", "running", None], "what could not be written"
            disk.free()
            wait_for(lambda: out.has("orchestra: resolved: cannot write"), timeout=30)
            (go / "2").touch()
            up.wait(timeout=60)
        finally:
            up.kill()
        text = out.text()
        # runs 0 and 1 returned, but their results could not be written: they are failed, with the
        # reason, once their ends can be recorded (never completed without a result); run 2 completed
        assert up.returncode == 1, text
        final = list(statuses(sweep_dir).values())
        assert [s.state for s in final] == [State.FAILED, State.FAILED, State.COMPLETED], text
        assert all(s.exit and "result.json could not be written" in s.exit.message for s in final[:2])
        assert "Traceback" not in text
        again = orchestra("up", f, "--root", disk.path / "sweeps", "--retry-failed", cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        final = list(statuses(sweep_dir).values())
        assert [(s.state, s.attempt) for s in final] == [(State.COMPLETED, 2)] * 2 + [(State.COMPLETED, 1)]


def test_up_never_reports_what_it_could_not_record_and_the_next_up_runs_those_runs_again(tmp_path: Path):
    f, env, go = _gated(tmp_path, 2)
    with small_disk(tmp_path / "disk") as disk:
        root = disk.path / "sweeps"
        sweep_dir = root / "sweep"
        up = subprocess.Popen(
            [sys.executable, "-m", "orchestra", "up", str(f), "--root", str(root), "--workers", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        try:
            wait_for(lambda: len(list(go.glob("*.waiting"))) == 2, what="two runs in their entry")
            disk.fill()
            (go / "0").touch()
            (go / "1").touch()
            stdout, stderr = up.communicate(timeout=60)
        finally:
            up.kill()
        assert up.returncode == 1, stdout + stderr
        assert (
            "2 runs in " in stdout
            and "(2 of these not recorded: their status.json could not be written)" in stdout
        )
        assert stderr.splitlines()[-1].startswith(
            "orchestra: error: 2 status file(s) could not be written (OSError: No space left on device, e.g. "
        ), stderr
        assert stderr.splitlines()[-1].endswith("free the disk and run up again"), stderr
        assert _states(sweep_dir) == ["running", "running"], "status.json says what was recorded"
        disk.free()
        again = orchestra("up", f, "--root", root, cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "2 run(s) were running when the last orchestrator died; they resume now" in again.stdout
        final = statuses(sweep_dir)
        assert all(s.state is State.COMPLETED and s.attempt == 2 for s in final.values()), final
        assert all(sum(e["state"] == "completed" for e in s.history) == 1 for s in final.values())


def test_a_log_on_a_full_disk_does_not_stop_the_sweep(tmp_path: Path):
    """``up > log`` with the log on a full disk: the lines are lost, the runs are not."""
    f, env, go = _gated(tmp_path, 2)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    with small_disk(tmp_path / "disk", size="64k") as disk:
        log = disk.path / "up.log"
        with open(log, "ab") as out:
            up = subprocess.Popen(
                [sys.executable, "-m", "orchestra", "up", str(f), "--root", str(tmp_path / "sweeps")],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
                env=env,
            )
        try:
            wait_for(lambda: len(list(go.glob("*.waiting"))) == 2, what="two runs in their entry")
            disk.fill(log)
            (go / "0").touch()
            (go / "1").touch()
            assert up.wait(timeout=60) == 0
        finally:
            up.kill()
    assert [s.state for s in statuses(sweep_dir).values()] == [State.COMPLETED, State.COMPLETED]


def test_up_with_its_output_on_dev_full_exits_with_the_sweeps_code_not_120(tmp_path: Path):
    """Every write to /dev/full fails (ENOSPC): the lines are lost, the runs and the exit code are not
    (Python's last flush of stdout at exit would otherwise fail and exit 120)."""
    f = write_sweep(
        tmp_path,
        """
        from orchestra import Sweep, Config, Grid
        def train(i):
            if i == 2:
                raise ValueError("boom")
            return {"i": i}
        sweep = Sweep(train, Config({"i": Grid([0, 1, 2])}))
        """,
    )
    # stdout buffered, as it is without PYTHONUNBUFFERED: lines wait in Python's buffer
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "wb") as full:
        up = subprocess.run(
            [sys.executable, "-m", "orchestra", "up", str(f), "--root", str(tmp_path / "sweeps")],
            stdout=full,
            stderr=full,
            cwd=tmp_path,
            env=env,
            timeout=120,
        )
    assert up.returncode == 1  # run 2 failed: the sweep's own code, not 120
    states = [s.state for s in statuses(tmp_path / "sweeps" / "sweep").values()]
    assert states == [State.COMPLETED, State.COMPLETED, State.FAILED]
    # a command whose output is all it does says, in one line, that it could not write it
    with open("/dev/full", "wb") as full:
        ls = subprocess.run(
            [sys.executable, "-m", "orchestra", "ls", "--root", str(tmp_path / "sweeps")],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
        )
    assert (ls.returncode, ls.stderr) == (
        1,
        "orchestra: error: cannot write the output: No space left on device\n",
    )


def test_cancelling_a_queued_run_on_a_full_disk_is_recorded_when_there_is_room(tmp_path: Path):
    """The run never started, so it has no directory yet, and none can be made: the command still
    works, and its record is written once the disk has room."""
    f, env, go = _gated(tmp_path, 2)
    with small_disk(tmp_path / "disk") as disk:
        sweep_dir = disk.path / "sweeps" / "sweep"
        up = popen_orchestra("up", f, "--root", disk.path / "sweeps", "--workers", "1", cwd=tmp_path, env=env)
        out = Lines(up)
        try:
            wait_for(lambda: (go / "0.waiting").exists(), what="the first run in its entry")
            disk.fill()
            cancel = orchestra("cancel", sweep_dir, "i=1/0", cwd=tmp_path)
            assert cancel.returncode == 0, cancel.stdout + cancel.stderr
            assert "i=1/0: cancelled (before it started)" in cancel.stdout
            wait_for(lambda: out.has("launching paused until they can be written"), timeout=30)
            disk.free()
            (go / "0").touch()
            up.wait(timeout=60)
        finally:
            up.kill()
        text = out.text()
        assert up.returncode == 1, text  # one run was cancelled
        final = statuses(sweep_dir)
        assert final["i=1/0"].state is State.CANCELLED and final["i=1/0"].attempt == 0, text
        assert final["i=0/0"].state is State.COMPLETED, text
        assert "Traceback" not in text
