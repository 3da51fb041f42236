"""How a run gets into its cgroup before the user's code runs: it joins it itself (a cold run on a
thread begun before its imports, which it waits for before loading the user's code); the first run
of an orchestrator is moved from outside as well, which proves that moves work; each attempt gets a
new cgroup, made before its process starts."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import anyio
import pytest

from orchestra import proc
from orchestra.rundir import State, read_json
from orchestra.scheduler.backends import cgroup
from tests.hardening.faults import cgroups_writable
from tests.helpers import build_scheduler, orchestra, statuses, wait_for, write_sweep


def _procs(directory: str) -> list[int]:
    with open(os.path.join(directory, "cgroup.procs")) as f:
        return [int(p) for p in f.read().split()]


def needs_cgroups() -> None:
    """Skip, saying why, where this process cannot give runs cgroups (no cgroup v2, no rights)."""
    if cgroups_writable():
        pytest.skip(f"runs cannot be given cgroups here: {cgroups_writable()}")


@pytest.fixture
def run_cgroups(tmp_path: Path):
    """A RunCgroups whose cgroups (and the sweep's) are removed after the test."""
    needs_cgroups()
    groups = cgroup.RunCgroups()
    yield groups, str(tmp_path / "sweep" / "runs" / "v" / "0")
    groups.close()
    assert groups.base is None or not os.path.exists(groups.base), "the sweep's cgroup was left"


def test_a_run_and_what_it_started_are_moved_and_a_run_that_ended_counts_as_moved(run_cgroups):
    """The orchestrator's move of its first run (the proof that moves work here)."""
    groups, run_dir = run_cgroups
    # a leader that has started a child before the move: both must end up in the run's cgroup
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], start_new_session=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    live = dead = None
    try:
        wait_for_child(leader.pid)
        live = groups.make(run_dir)
        dead = groups.make(run_dir + "-gone")
        assert live is not None and dead is not None and not groups.proven
        assert groups.join(live, (leader.pid, *proc.group_members(leader.pid)))
        assert groups.proven
        assert groups.join(dead, (gone.pid,))  # an ended run has nothing left to move
        inside = _procs(live)
        assert leader.pid in inside and len(inside) == 2, inside
        assert _procs(dead) == []
        assert not groups.off
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()
        for group in (live, dead):
            if group is not None:
                wait_for(
                    lambda g=group: not cgroup.populated(g), timeout=30, what="the run's cgroup to empty"
                )
                groups.release(group)  # removed with the sweep's at close


def test_a_move_that_fails_turns_cgroups_off_for_good(run_cgroups):
    groups, run_dir = run_cgroups
    made = groups.make(run_dir)
    assert made is not None
    assert not groups.join(made + "-missing", (os.getpid(),))  # no such cgroup: the write fails
    assert groups.off and groups.make(run_dir) is None
    groups.release(made)


def wait_for_child(pid: int) -> None:
    wait_for(lambda: proc.children(pid), timeout=30, what="the leader's child to start")


def test_each_attempt_of_a_run_gets_a_cgroup_of_its_own(run_cgroups):
    groups, run_dir = run_cgroups
    made = [groups.make(run_dir) for _ in range(3)]
    assert all(g is not None and os.path.isdir(g) and _procs(g) == [] for g in made)
    assert len(set(made)) == 3, made  # never one a killed attempt's processes may still be in
    assert len({os.path.basename(g).rsplit("-", 1)[0] for g in made if g}) == 1  # named after the run
    for g in made:
        groups.release(g)


MOUNTINFO = """\
24 29 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 {options}
43 31 0:40 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
"""


def test_the_hierarchy_comes_from_mountinfo():
    systemd = MOUNTINFO.format(options="rw,nsdelegate,memory_recursiveprot")
    assert cgroup.parse_mountinfo(systemd) == "/sys/fs/cgroup/unified"
    assert cgroup.parse_mountinfo(MOUNTINFO.format(options="rw,favordynmods")) == "/sys/fs/cgroup/unified"
    assert (
        cgroup.parse_mountinfo(MOUNTINFO.replace("cgroup2 cgroup2", "cgroup cgroup").format(options="rw"))
        is None
    )
    # a cgroup2 mounted below its root (a bind mount of a subtree in a container) is not the hierarchy
    assert cgroup.parse_mountinfo("41 31 0:38 /sub /mnt rw - cgroup2 cgroup2 rw\n") is None
    assert cgroup.parse_mountinfo("") is None


def _hierarchy() -> str:
    """Where the cgroup v2 hierarchy is mounted: a run's ``0::`` path in /proc/self/cgroup is below it."""
    with open("/proc/self/mountinfo") as f:
        mount = cgroup.parse_mountinfo(f.read())
    assert mount is not None
    return mount


CGROUP_OF_ITS_CODE = """
    import os
    from orchestra import Sweep, Config, Grid
    def cgroup():
        with open("/proc/self/cgroup") as f:
            return next(line for line in f if line.startswith("0::"))[3:].strip()
    def train(config):
        return {"first": cgroup(), "told": os.environ.get("ORCHESTRA_CGROUP")}
    sweep = Sweep(train, Config({"x": Grid([1, 2, 3])}))
"""


def test_a_run_is_in_its_cgroup_when_its_code_runs_and_the_cgroups_go_with_the_sweep(tmp_path: Path):
    """Each cold run joined it on its own thread before its code ran (the first was moved as well)."""
    needs_cgroups()
    sched = build_scheduler(write_sweep(tmp_path, CGROUP_OF_ITS_CODE), tmp_path / "sweeps")

    async def run_to_end():
        with anyio.fail_after(120):
            return await sched.run()

    assert anyio.run(run_to_end).exit_code == 0
    mount = _hierarchy()
    made = {}
    for run_id, status in statuses(tmp_path / "sweeps" / "sweep").items():
        assert status.state is State.COMPLETED
        made[run_id] = status.handle["cgroup"]
        ret = read_json(tmp_path / "sweeps" / "sweep" / "runs" / run_id / "result.json")["return"]
        assert mount + ret["first"] == made[run_id] == ret["told"], ret
        assert not os.path.exists(made[run_id]), "a run's cgroup outlived the sweep"
    assert len(set(made.values())) == 3


def test_a_warm_run_is_in_its_cgroup_when_its_code_runs(tmp_path: Path):
    """Forked from the sweep's zygote (``Sweep(preload=...)``) through ``orchestra up``."""
    needs_cgroups()
    source = (
        CGROUP_OF_ITS_CODE.replace("return {", 'return {"warm": "xml.dom.minidom" in sys.modules, ')
        .replace("import os", "import os, sys")
        .replace("Grid([1, 2, 3])}))", 'Grid([1, 2, 3])}), preload=["xml.dom.minidom"])')
    )
    write_sweep(tmp_path, source)
    out = orchestra("up", "sweep.py", "--root", "sweeps", "--workers", "2", "--headless", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "start cold" not in out.stdout + out.stderr
    mount = _hierarchy()
    made = set()
    for run_id, status in statuses(tmp_path / "sweeps" / "sweep").items():
        ret = read_json(tmp_path / "sweeps" / "sweep" / "runs" / run_id / "result.json")["return"]
        assert ret["warm"], "forked from the zygote"
        assert mount + ret["first"] == status.handle["cgroup"], ret  # in it before its code ran
        made.add(status.handle["cgroup"])
    assert len(made) == 3 and not any(os.path.exists(g) for g in made)
