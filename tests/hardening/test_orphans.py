"""Nothing of a run outlives its orchestrator past the next `up` or `attach`, whatever the run's
grandchildren do: leave the process group, start a session of their own, clear their environment."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from orchestra.rundir import Reason, State
from tests.hardening.faults import Alive, cgroups_writable, on_a_pty, own_cgroup, sweep_processes
from tests.helpers import orchestra, popen_orchestra, statuses, wait_for, write_sweep

# A run that starts one grandchild of the kind KIND, writes its pid down and waits to be killed.
ONE_GRANDCHILD = """
    import os, subprocess, time
    from pathlib import Path
    from orchestra import Sweep

    def train(logdir):
        kid = subprocess.Popen(["sleep", "1000"], {kwargs})
        Path(logdir, "grandchild").write_text(str(kid.pid))
        time.sleep(1000)

    sweep = Sweep(train, [{{}}])
"""
KINDS = {
    "in-the-group": "",
    "own-session": "start_new_session=True",
    "no-environment": "env={}",
    "own-session-no-environment": "start_new_session=True, env={}",
}


def _start_and_kill_9(tmp_path: Path, kind: str, env: dict[str, str] | None = None) -> tuple[Path, Path, int]:
    f = write_sweep(tmp_path, ONE_GRANDCHILD.format(kwargs=KINDS[kind]))
    sweep_dir = tmp_path / "sweeps" / "sweep"
    up = popen_orchestra(
        "up", f, "--root", tmp_path / "sweeps", cwd=tmp_path, env={**os.environ, **(env or {})}
    )
    marker = sweep_dir / "runs" / "default" / "0" / "grandchild"
    grandchild = int(wait_for(lambda: marker.exists() and marker.read_text(), what="the grandchild"))
    up.kill()
    up.wait()
    return f, sweep_dir, grandchild


def _needs_cgroups(kind: str, cgroups: str = "on") -> None:
    if cgroups == "on" and cgroups_writable():
        pytest.skip(f"runs cannot be given cgroups here: {cgroups_writable()}")


# Without cgroups, nothing can find a grandchild in a session of its own with no environment once
# its orchestrator is dead (docs/run-directory.md, "What orchestra cannot end").
CASES = [(kind, "on") for kind in KINDS] + [
    (kind, "off") for kind in KINDS if kind != "own-session-no-environment"
]


@pytest.mark.parametrize("kind,cgroups", CASES)
def test_the_next_up_kills_every_grandchild_of_a_dead_orchestrators_runs(
    tmp_path: Path, kind: str, cgroups: str
):
    """With cgroups (where they can be made) and without (process group, environment, subreaper)."""
    _needs_cgroups(kind, cgroups)
    env = {"ORCHESTRA_CGROUPS": cgroups}
    f, sweep_dir, grandchild = _start_and_kill_9(tmp_path, kind, env)
    left = Alive([grandchild])
    assert left.alive(), "the grandchild outlives the run's leader (nothing but orchestra ends it)"
    again = popen_orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path, env={**os.environ, **env})
    # the new attempt's grandchild appears only after every process of the old one is gone
    marker = sweep_dir / "runs" / "default" / "0" / "grandchild"
    wait_for(lambda: marker.read_text() != str(grandchild), what="the second attempt")
    assert not left.alive(), f"the grandchild ({kind}) of the dead orchestrator's run survived the next up"
    again.send_signal(signal.SIGTERM)
    again.wait(timeout=60)
    assert not sweep_processes(sweep_dir)


@pytest.mark.parametrize("kind", ["no-environment", "own-session-no-environment"])
def test_attach_on_a_dead_sweep_kills_what_its_orchestrator_left_and_records_the_runs_as_lost(
    tmp_path: Path, kind: str
):
    if kind == "own-session-no-environment":
        _needs_cgroups(kind)
    _, sweep_dir, grandchild = _start_and_kill_9(tmp_path, kind)
    left = Alive([grandchild])
    assert left.alive()
    with on_a_pty(["attach", str(sweep_dir)], cwd=tmp_path) as attach:
        wait_for(lambda: not left.alive() or attach.poll() is not None, timeout=30, what="the reaping")
        assert attach.poll() is None, "attach exited"
        assert not left.alive(), "attach left the dead orchestrator's grandchild alive"
        (st,) = statuses(sweep_dir).values()
        wait_for(lambda: statuses(sweep_dir)["default/0"].state is not State.RUNNING, timeout=10)
    (st,) = statuses(sweep_dir).values()
    assert st.state is State.INTERRUPTED and st.exit.reason is Reason.LOST


def test_processes_of_a_run_whose_start_was_never_recorded_are_killed_too(tmp_path: Path):
    """An orchestrator killed before the record of a run's start reached the disk (status writes
    queue behind each other: a thousand runs started at once on a slow disk take a while) leaves the
    run's processes with no 'running' record to find them by. The disk is put in that state (the
    record removed after the kill); the next up finds the processes all the same."""
    f, sweep_dir, grandchild = _start_and_kill_9(tmp_path, "in-the-group")
    left = Alive([grandchild, *sweep_processes(sweep_dir)])
    run_dir = sweep_dir / "runs" / "default" / "0"
    (run_dir / "status.json").unlink()
    again = popen_orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    wait_for(lambda: (run_dir / "grandchild").read_text() != str(grandchild), what="the second attempt")
    assert not left.alive(), "a process of the unrecorded attempt survived the next up"
    again.send_signal(signal.SIGTERM)
    again.wait(timeout=60)


def test_sighup_interrupts_a_headless_up_cleanly(tmp_path: Path):
    f = write_sweep(tmp_path, ONE_GRANDCHILD.format(kwargs=KINDS["own-session"]))
    sweep_dir = tmp_path / "sweeps" / "sweep"
    up = popen_orchestra("up", f, "--root", tmp_path / "sweeps", "--grace", "1", cwd=tmp_path)
    marker = sweep_dir / "runs" / "default" / "0" / "grandchild"
    grandchild = int(wait_for(lambda: marker.exists() and marker.read_text(), what="the grandchild"))
    family = Alive([grandchild, *sweep_processes(sweep_dir)])
    up.send_signal(signal.SIGHUP)
    out, _ = up.communicate(timeout=60)
    assert up.returncode == 130, out
    assert "orchestra: SIGHUP: stopping runs" in out
    assert not family.alive(), "a process of the run outlived the interrupted up"
    (st,) = statuses(sweep_dir).values()
    assert st.state is State.INTERRUPTED and st.exit.reason is Reason.INTERRUPTED
    assert "Traceback" not in out
    assert os.path.exists(sweep_dir / "orchestra.lock")
    assert orchestra("status", sweep_dir).returncode == 0


@pytest.mark.parametrize("cgroups", ["on", "off"])
def test_stopping_a_run_ends_a_grandchild_in_a_session_of_its_own_with_no_environment(
    tmp_path: Path, cgroups: str
):
    """While the orchestrator lives, such a grandchild is found through its parent chain (or its cgroup)."""
    _needs_cgroups("own-session-no-environment", cgroups)
    f = write_sweep(tmp_path, ONE_GRANDCHILD.format(kwargs=KINDS["own-session-no-environment"]))
    sweep_dir = tmp_path / "sweeps" / "sweep"
    env = {**os.environ, "ORCHESTRA_CGROUPS": cgroups}
    up = popen_orchestra("up", f, "--root", tmp_path / "sweeps", "--grace", "1", cwd=tmp_path, env=env)
    marker = sweep_dir / "runs" / "default" / "0" / "grandchild"
    grandchild = Alive([int(wait_for(lambda: marker.exists() and marker.read_text(), what="the grandchild"))])
    up.send_signal(signal.SIGTERM)
    out, _ = up.communicate(timeout=60)
    assert up.returncode == 130, out
    assert not grandchild.alive(), "the grandchild outlived its stopped run"


def test_the_cgroups_a_killed_orchestrator_left_do_not_pile_up(tmp_path: Path):
    """Killed, an orchestrator leaves its sweep's cgroups (empty once its runs died); the next one
    that makes cgroups beside them removes those that are a minute old (the clock is moved by
    ageing the directories)."""
    _needs_cgroups("in-the-group")
    dead = tmp_path / "dead"
    dead.mkdir()
    _, sweep_dir, grandchild = _start_and_kill_9(dead, "in-the-group")
    os.kill(grandchild, signal.SIGKILL)  # nothing of it is left: only the cgroups
    own = own_cgroup()
    assert own is not None
    digest = hashlib.sha256(os.fsencode(str(sweep_dir / "runs"))).hexdigest()[:16]
    left = Path(own) / f"orchestra-{digest}"
    wait_for(lambda: not cgroup_procs(left), what="the dead orchestrator's runs to die")
    assert [p.name for p in left.iterdir() if p.is_dir()], "it left its run's cgroup"
    for d in [left, *(p for p in left.iterdir() if p.is_dir())]:
        os.utime(d, (time.time() - 120, time.time() - 120))
    other = write_sweep(
        tmp_path,
        "from orchestra import Sweep\ndef train(config): pass\nsweep = Sweep(train, [{}])\n",
        name="other.py",
    )
    done = orchestra("up", other, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not left.exists(), "the stale cgroups are still there"


def cgroup_procs(directory: Path) -> list[str]:
    out: list[str] = []
    for f in directory.glob("**/cgroup.procs"):
        out += f.read_text().split()
    return out
