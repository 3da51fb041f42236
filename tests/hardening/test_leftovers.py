"""What a killed orchestrator leaves on disk, and a second orchestrator on a live sweep."""

from __future__ import annotations

import signal
from pathlib import Path

from orchestra.rundir import State
from tests.hardening.faults import Alive, sweep_processes
from tests.helpers import orchestra, popen_orchestra, statuses, wait_for, write_sweep

WAITS = """
    import os, time
    from pathlib import Path
    from orchestra import Sweep, Config, Grid
    def train(i, logdir):
        Path(logdir, "started").write_text(os.environ["ORCHESTRA_ATTEMPT"])
        while not Path(os.environ["GO"]).exists():
            time.sleep(0.02)
        return i
    sweep = Sweep(train, Config({"i": Grid([0, 1])}))
"""


def _running(sweep_dir: Path, n: int) -> bool:
    if not (sweep_dir / "sweep.json").exists():
        return False
    st = statuses(sweep_dir).values()
    return sum(1 for s in st if s is not None and s.state is State.RUNNING) == n


def test_temp_files_of_a_killed_orchestrators_writes_are_removed_by_the_next_up(tmp_path: Path):
    f = write_sweep(tmp_path, WAITS)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    env = {"GO": str(tmp_path / "go")}
    up = popen_orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path, env=env)
    wait_for(lambda: _running(sweep_dir, 2), what="two running runs")
    up.send_signal(signal.SIGKILL)
    up.wait()
    # what atomic writes cut short by the kill leave: .<name>.<pid>.<thread>.tmp beside the target
    run = sweep_dir / "runs" / "i=0" / "0"
    left = [
        sweep_dir / f".payload.pkl.{up.pid}.1402.tmp",
        sweep_dir / f".sweep.json.{up.pid}.1402.tmp",
        sweep_dir / "launch" / f".git.json.{up.pid}.1402.tmp",
        run / f".status.json.{up.pid}.1403.tmp",
        run / f".config.json.{up.pid}.1403.tmp",
    ]
    for path in left:
        path.write_bytes(b'{"state": "runn')
    the_runs_own = run / ".result.json.4242.1.tmp"  # the run's: its next attempt removes it
    the_runs_own.write_bytes(b"{")
    (tmp_path / "go").touch()
    again = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert [p for p in left if p.exists()] == []
    assert all(s.state is State.COMPLETED for s in statuses(sweep_dir).values())


def test_after_rm_orchestra_lock_a_second_up_is_refused_and_touches_no_run_of_the_first(tmp_path: Path):
    f = write_sweep(tmp_path, WAITS)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    env = {"GO": str(tmp_path / "go")}
    first = popen_orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path, env=env)
    wait_for(lambda: _running(sweep_dir, 2), what="two running runs")
    before = statuses(sweep_dir)
    runs = Alive(sweep_processes(sweep_dir))
    (sweep_dir / "orchestra.lock").unlink()
    second = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path, env=env)
    assert second.returncode == 2, second.stdout + second.stderr
    assert second.stderr.splitlines() == [
        f"orchestra: error: sweep 'sweep' in {sweep_dir} is already running (pid unknown: orchestra.lock was removed); "
        "watch it with `orchestra attach`, or stop that orchestrator first"
    ]
    assert statuses(sweep_dir) == before, "the second up changed a status of the first one's runs"
    assert len(runs.alive()) == len(runs) == 2, "the second up touched the first one's runs"
    assert [p.read_text() for p in sorted(sweep_dir.glob("runs/*/0/started"))] == ["1", "1"]
    (tmp_path / "go").touch()
    out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    after = statuses(sweep_dir)
    assert all(s.state is State.COMPLETED and s.attempt == 1 for s in after.values()), after


TWO = """
    import subprocess, time
    from pathlib import Path
    from orchestra import Sweep, Config, Grid
    def train(i, logdir):
        if i == 0:
            kid = subprocess.Popen(["sleep", "1000"])
            Path(logdir, "grandchild").write_text(str(kid.pid))
            time.sleep(1000)
    sweep = Sweep(train, Config({"i": Grid([0, 1])}))
"""


def test_a_dead_orchestrators_leftovers_are_still_looked_for_after_orchestra_run_held_the_lock(
    tmp_path: Path,
):
    """``orchestra run`` takes the sweep's lock but recovers nothing: the next up must still know that
    an orchestrator died, even for a run whose start was never recorded."""
    f = write_sweep(tmp_path, TWO)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    run_dir = sweep_dir / "runs" / "i=0" / "0"
    up = popen_orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    marker = run_dir / "grandchild"
    grandchild = int(wait_for(lambda: marker.exists() and marker.read_text(), what="the grandchild"))
    left = Alive([grandchild])
    up.send_signal(signal.SIGKILL)
    up.wait()
    (run_dir / "status.json").unlink()  # as if the record of its start had not reached the disk
    one = orchestra("run", f, "1", "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert one.returncode == 0, one.stdout + one.stderr
    assert left.alive(), "orchestra run ends nothing of the dead orchestrator's"
    again = popen_orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    wait_for(lambda: marker.read_text() != str(grandchild), what="the second attempt")
    assert not left.alive(), "the next up did not look for what the dead orchestrator left"
    again.send_signal(signal.SIGTERM)
    again.wait(timeout=60)
