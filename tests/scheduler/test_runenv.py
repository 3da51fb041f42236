"""The environment every backend gives a run (orchestra.scheduler.runenv)."""

from __future__ import annotations

from pathlib import Path

from orchestra.scheduler.runenv import run_env


def test_what_only_a_backend_may_set_is_not_inherited_from_the_callers_environment():
    # an orchestrator started from inside a run (a nested sweep) carries its run's variables
    base = {
        "PATH": "/usr/bin",
        "ORCHESTRA_PARENT_PID": "4242",
        "ORCHESTRA_RESULT_FSYNC": "orchestrator",
        "ORCHESTRA_CGROUP": "/sys/fs/cgroup/orchestra-1/outer-run",
    }
    env = run_env(
        base=base, sweep_env={}, run_dir=Path("/sweeps/s/runs/v/0"), attempt=2, threads=3, sweep_file=None
    )
    assert not {"ORCHESTRA_PARENT_PID", "ORCHESTRA_RESULT_FSYNC", "ORCHESTRA_CGROUP"} & env.keys()
    assert env["PATH"] == "/usr/bin" and env["ORCHESTRA_ATTEMPT"] == "2"
    assert env["ORCHESTRA_RUN_DIR"] == "/sweeps/s/runs/v/0" and env["OMP_NUM_THREADS"] == "3"
