"""The cgroup mover: cold runs are moved into their cgroups on a thread nobody waits for."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from orchestra import proc
from orchestra.scheduler.backends import cgroup
from orchestra.scheduler.backends.local import Mover
from tests.hardening.faults import cgroups_writable
from tests.helpers import wait_for


def _procs(directory: str) -> list[int]:
    with open(os.path.join(directory, "cgroup.procs")) as f:
        return [int(p) for p in f.read().split()]


@pytest.fixture
def run_cgroups(tmp_path: Path):
    """A RunCgroups whose cgroups (and the sweep's) are removed after the test."""
    if cgroups_writable():
        pytest.skip(f"runs cannot be given cgroups here: {cgroups_writable()}")
    groups = cgroup.RunCgroups()
    yield groups, str(tmp_path / "sweep" / "runs" / "v" / "0")
    groups.close()
    assert groups.base is None or not os.path.exists(groups.base), "the sweep's cgroup was left"


def test_a_run_and_what_it_started_are_moved_and_a_run_that_ended_counts_as_moved(run_cgroups):
    groups, run_dir = run_cgroups
    # a leader that has started a child before the move: both must end up in the run's cgroup
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], start_new_session=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    mover = Mover(groups)
    live = dead = None
    try:
        wait_for_child(leader.pid)
        live = groups.make(run_dir, leader.pid)
        dead = groups.make(run_dir + "-gone", gone.pid)
        assert live is not None and dead is not None
        moves = [mover.submit(live, leader.pid), mover.submit(dead, gone.pid)]
        for move in moves:
            assert move.done.wait(30), "the mover did not get to it"
        assert [m.ok for m in moves] == [True, True]  # an ended run has nothing left to move
        inside = _procs(live)
        assert leader.pid in inside and len(inside) == 2, inside
        assert _procs(dead) == []
        mover.close()
        # a submit after close starts the thread again
        again = mover.submit(live, leader.pid)
        assert again.done.wait(30) and again.ok
    finally:
        mover.close()
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()
        for group in (live, dead):
            if group is not None:
                wait_for(
                    lambda g=group: not cgroup.populated(g), timeout=30, what="the run's cgroup to empty"
                )
                groups.release(group)  # removed with the sweep's at close


def wait_for_child(pid: int) -> None:
    wait_for(lambda: proc.children(pid), timeout=30, what="the leader's child to start")
