"""`orchestra up`, `status` and `logs` through the real CLI in subprocesses."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
from pathlib import Path

import pytest

from orchestra.rundir import Reason, State
from tests.helpers import orchestra, pid_alive, popen_orchestra, statuses, wait_for, write_sweep

QUICK = """
    from orchestra import Sweep, Config, Grid
    def train(config, seed, ctx):
        ctx.logger("score", config["x"] + seed)
        ctx.logger.dump()
    sweep = Sweep(train, Config({"x": Grid([1, 2])}), seeds=[0, 1])
"""


def test_up_runs_the_sweep_then_a_second_up_has_nothing_to_do(tmp_path: Path):
    f = write_sweep(tmp_path, QUICK)
    first = orchestra("up", f, "--root", tmp_path / "sweeps", "--workers", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "4 runs, 4 to start" in first.stdout
    assert first.stdout.count("completed ") == 4, first.stdout
    assert "\x1b[" not in first.stdout, "no escape codes when stdout is not a terminal"
    st = statuses(tmp_path / "sweeps" / "sweep")
    assert all(s.state is State.COMPLETED for s in st.values())
    second = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert second.returncode == 0
    assert "0 to start, 4 completed kept" in second.stdout and "nothing to do" in second.stdout
    assert statuses(tmp_path / "sweeps" / "sweep") == st, "completed runs are not touched"


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path):
    f = write_sweep(tmp_path, QUICK)
    out = orchestra("up", f, "--root", tmp_path / "sweeps", "--dry-run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "4 runs, 4 to start" in out.stdout
    assert str(tmp_path / "sweeps" / "sweep" / "runs" / "x=2" / "1") in out.stdout
    assert not (tmp_path / "sweeps").exists()


def test_exit_code_is_1_when_a_run_failed(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        from orchestra import Sweep
        def train(config):
            if config["bad"]:
                raise KeyError("nope")
        sweep = Sweep(train, [{"bad": True}, {"bad": False}])
    """,
    )
    out = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert out.returncode == 1
    assert "failed" in out.stdout and "KeyError" in out.stdout
    again = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert again.returncode == 1 and "--retry-failed" in again.stdout
    retried = orchestra("up", f, "--root", tmp_path / "sweeps", "--retry-failed", "--dry-run", cwd=tmp_path)
    assert "1 to start" in retried.stdout


BAD_FILES = {
    "syntax": ("from orchestra import Sweep\ndef train(:\n    pass\n", "sweep.py:2: syntax error"),
    "no-sweep": ("def train(config):\n    pass\n", "no Sweep object found"),
    "two-sweeps": (
        "from orchestra import Sweep\ndef t(config): pass\na = Sweep(t, [{}])\nb = Sweep(t, [{}])\n",
        "2 Sweep objects (a, b)",
    ),
    "missing-import": ("import not_a_module_xyz\n", "sweep.py:1: cannot import 'not_a_module_xyz'"),
    "raises": (
        "from orchestra import Sweep\nx = 1\nraise RuntimeError('broken config')\n",
        "sweep.py:3: RuntimeError: broken config",
    ),
    "unpicklable": (
        "import threading\nfrom orchestra import Sweep\nlock = threading.Lock()\n"
        "def train(config):\n    return lock\nsweep = Sweep(train, [{}])\n",
        "global 'lock'",
    ),
    "bad-grid": (
        "from orchestra import Sweep, Config, Grid\ndef t(config): pass\nsweep = Sweep(t, Config({'lr': Grid([])}))\n",
        "'lr': Grid is empty",
    ),
    "bad-value": (
        "from orchestra import Sweep\ndef t(config): pass\nsweep = Sweep(t, [{'act': print}])\n",
        "config key 'act'",
    ),
    "bad-timeout": (
        "from orchestra import Sweep\ndef t(config): pass\nsweep = Sweep(t, [{}], timeout='2x')\n",
        "sweep.py:3: Sweep timeout: '2x'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_sweep_files_give_one_line_and_exit_2_and_write_nothing(tmp_path: Path, case: str):
    body, expected = BAD_FILES[case]
    (tmp_path / "sweep.py").write_text(body)
    out = orchestra("up", "sweep.py", "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert expected in lines[0], lines[0]
    assert not (tmp_path / "sweeps").exists(), "nothing may be written"


def test_missing_file_and_bad_flags_exit_2(tmp_path: Path):
    out = orchestra("up", "nope.py", cwd=tmp_path)
    assert out.returncode == 2 and "nope.py: no such file" in out.stderr
    f = write_sweep(tmp_path, QUICK.replace("seeds=[0, 1])", "seeds=[0, 1], cpus=4)"))
    out = orchestra("up", f, "--workers", "2", "--root", tmp_path / "s", cwd=tmp_path)
    assert out.returncode == 2 and "asks for 4 CPU slots but --workers is 2" in out.stderr
    out = orchestra("status", tmp_path, cwd=tmp_path)
    assert out.returncode == 2 and "not a sweep directory" in out.stderr


SLOW = """
    import time
    from orchestra import Sweep, Config, Grid
    def train(config, ctx):
        for i in range(config["n"]):
            ctx.logger("iteration", i); ctx.logger.dump()
            time.sleep(0.05)
    sweep = Sweep(train, Config({"n": Grid([40, 41, 42, 43, 44, 45])}), seeds=[0])
"""


def _running_pids(sweep_dir: Path) -> list[int]:
    if not (sweep_dir / "sweep.json").exists():
        return []
    return [
        s.pid for s in statuses(sweep_dir).values() if s is not None and s.state is State.RUNNING and s.pid
    ]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_the_orchestrator_stops_runs_and_they_resume_next_time(tmp_path: Path, sig):
    f = write_sweep(tmp_path, SLOW)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    proc = popen_orchestra(
        "up", f, "--root", tmp_path / "sweeps", "--workers", "2", "--grace", "2", cwd=tmp_path
    )
    pids = wait_for(lambda: len(p := _running_pids(sweep_dir)) == 2 and p, what="two running runs")
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert not any(pid_alive(p) for p in pids)
    st = statuses(sweep_dir)
    interrupted = [s for s in st.values() if s is not None and s.state is State.INTERRUPTED]
    assert len(interrupted) == 2 and all(s.exit.reason is Reason.INTERRUPTED for s in interrupted)
    again = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert again.returncode == 0, again.stdout
    assert all(s.state is State.COMPLETED for s in statuses(sweep_dir).values())


def test_second_up_on_a_running_sweep_is_refused_and_the_lock_dies_with_its_owner(tmp_path: Path):
    f = write_sweep(tmp_path, SLOW)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    proc = popen_orchestra("up", f, "--root", tmp_path / "sweeps", "--workers", "1", cwd=tmp_path)
    wait_for(lambda: _running_pids(sweep_dir), what="a running run")
    second = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert second.returncode == 2
    assert f"already running (pid {proc.pid})" in second.stderr
    status = orchestra("status", sweep_dir, cwd=tmp_path)
    assert f"running (orchestrator pid {proc.pid})" in status.stdout
    proc.kill()
    proc.wait()
    third = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert third.returncode == 0, third.stderr


def test_kill_9_of_the_orchestrator_at_random_moments_leaves_no_run_and_up_finishes_each_once(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep, Config, Grid
        def train(config, ctx):
            for i in range(10):
                ctx.logger("iteration", i); ctx.logger.dump()
                time.sleep(0.02 * config["n"])
        sweep = Sweep(train, Config({"n": Grid([1, 2, 3, 4, 5, 6, 7, 8])}), seeds=[0, 1])
    """,
    )
    sweep_dir = tmp_path / "sweeps" / "sweep"
    rng = random.Random(1234)
    completed_before: dict[str, float] = {}
    for round_ in range(4):
        proc = popen_orchestra("up", f, "--root", tmp_path / "sweeps", "--workers", "3", cwd=tmp_path)
        if round_ == 0:
            wait_for(lambda: _running_pids(sweep_dir), what="a running run")
        else:
            wait_for(
                lambda proc=proc: proc.poll() is not None or _running_pids(sweep_dir),
                what="a running run or the end",
            )
        time_to_wait = rng.uniform(0.05, 1.0)
        try:
            proc.wait(timeout=time_to_wait)
        except subprocess.TimeoutExpired:
            pass
        running = _running_pids(sweep_dir)
        proc.kill()
        proc.wait()
        for pid in running:
            wait_for(
                lambda pid=pid: not pid_alive(pid),
                timeout=10,
                what=f"run pid {pid} to die with its orchestrator",
            )
        for rid, s in statuses(sweep_dir).items():
            if s is not None and s.state is State.COMPLETED:
                if rid in completed_before:
                    assert s.ended_at == completed_before[rid], f"{rid} was run again after it completed"
                completed_before[rid] = s.ended_at
    final = orchestra("up", f, "--root", tmp_path / "sweeps", "--workers", "3", cwd=tmp_path)
    assert final.returncode == 0, final.stdout + final.stderr
    for rid, s in statuses(sweep_dir).items():
        assert s.state is State.COMPLETED
        assert sum(1 for e in s.history if e["state"] == "completed") == 1, f"{rid} completed more than once"
        if rid in completed_before:
            assert s.ended_at == completed_before[rid]


def test_an_edited_sweep_file_is_refused_unless_updated_and_never_mixes_results(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        from orchestra import Sweep, Config, Grid
        def train(config):
            return config
        sweep = Sweep(train, Config({"lr": Grid([0.1, 0.2]), "epochs": 10}))
    """,
    )
    assert orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path).returncode == 0
    sweep_dir = tmp_path / "sweeps" / "sweep"
    f.write_text(
        f.read_text().replace('"epochs": 10', '"epochs": 20').replace("[0.1, 0.2]", "[0.1, 0.2, 0.3]")
    )
    refused = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert refused.returncode == 2
    assert "changed since sweep 'sweep' was planned" in refused.stderr and "--update" in refused.stderr
    updated = orchestra("up", f, "--root", tmp_path / "sweeps", "--update", cwd=tmp_path)
    assert updated.returncode == 0, updated.stderr
    dirs = sorted(p.name for p in (sweep_dir / "runs").iterdir())
    for d in dirs:
        config = json.loads((sweep_dir / "runs" / d / "0" / "config.json").read_text())["config"]
        result = json.loads((sweep_dir / "runs" / d / "0" / "result.json").read_text())
        assert str(config["epochs"]) in json.dumps(result), "a directory holds results of one config only"
    assert len(dirs) == 5, dirs


def test_unchanged_sweep_with_samples_reuses_the_recorded_draws(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import random
        from orchestra import Sweep, Config, Grid, Sample
        def train(config):
            pass
        sweep = Sweep(train, Config({"lr": Sample(lambda: random.random()), "h": Grid([1, 2])}, num_sample=2))
    """,
    )
    assert orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path).returncode == 0
    before = json.loads((tmp_path / "sweeps" / "sweep" / "sweep.json").read_text())["variants"]
    again = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    after = json.loads((tmp_path / "sweeps" / "sweep" / "sweep.json").read_text())["variants"]
    assert before == after


def test_status_and_logs(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        from orchestra import Sweep, Config, Grid
        def train(config, ctx):
            print("hello from", config["x"])
            ctx.logger("loss", config["x"] / 10); ctx.logger.dump()
        sweep = Sweep(train, Config({"x": Grid([1, 2])}))
    """,
    )
    assert orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path).returncode == 0
    sweep_dir = tmp_path / "sweeps" / "sweep"
    table = orchestra("status", sweep_dir)
    assert table.returncode == 0 and "2 completed" in table.stdout and "x=2/0" in table.stdout
    rows = json.loads(orchestra("status", sweep_dir, "--json").stdout)
    assert [r["state"] for r in rows] == ["completed", "completed"] and rows[1]["metrics"]["loss"] == 0.2
    assert "hello from 2" in orchestra("logs", sweep_dir, "1").stdout
    assert "hello from 1" in orchestra("logs", sweep_dir, "x=1/0").stdout
    assert "hello from 1" in orchestra("logs", sweep_dir, "x=1", "-f").stdout
    missing = orchestra("logs", sweep_dir, "9")
    assert missing.returncode == 2 and "no such run number" in missing.stderr


def test_logs_follow_stops_when_the_run_ends(tmp_path: Path):
    f = write_sweep(tmp_path, SLOW)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    proc = popen_orchestra("up", f, "--root", tmp_path / "sweeps", "--workers", "1", cwd=tmp_path)
    wait_for(lambda: _running_pids(sweep_dir))
    follow = orchestra("logs", sweep_dir, "0", "-f", timeout=60)
    assert follow.returncode == 0
    proc.terminate()
    proc.wait(timeout=60)
    assert os.path.getsize(sweep_dir / "runs" / "n=40" / "0" / "output.log") > 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_interrupted_runs_resume_from_their_snapshots_on_the_next_up(tmp_path: Path, sig):
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep, Config, Grid
        def train(ctx, config):
            start, _ = ctx.resume() or (0, None)
            for itr in range(start, 200):
                ctx.logger("iteration", itr); ctx.logger.dump()
                ctx.snapshot(itr, {"itr": itr})
                time.sleep(0.02)
        sweep = Sweep(train, Config({"i": Grid([0, 1])}), snapshot_mode="last")
    """,
    )
    sweep_dir = tmp_path / "sweeps" / "sweep"
    proc = popen_orchestra("up", f, "--root", tmp_path / "sweeps", "--workers", "2", cwd=tmp_path)
    wait_for(
        lambda: all(
            (sweep_dir / "runs" / f"i={i}" / "0" / "snapshots" / "params.pkl").exists() for i in (0, 1)
        ),
        what="a snapshot of each run",
    )
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    again = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert again.returncode == 0, again.stdout
    st = statuses(sweep_dir)
    reason = "lost" if sig == signal.SIGKILL else "interrupted"
    assert all(any(reason in e.get("exit", "") for e in s.history) for s in st.values())
    for i in (0, 1):
        lines = (sweep_dir / "runs" / f"i={i}" / "0" / "metrics.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        second = [r["values"]["iteration"] for r in records if r["attempt"] == 2]
        first = [r["values"]["iteration"] for r in records if r["attempt"] == 1]
        assert second[0] > 0 and second[0] <= max(first) + 1, "attempt 2 starts after its newest snapshot"
        assert second[-1] == 199


def test_a_run_directory_planted_as_a_link_is_neither_started_nor_written(tmp_path: Path):
    """A symlink where a run's directory belongs: the orchestrator writes nothing through it."""
    write_sweep(
        tmp_path,
        """
        from orchestra import Sweep, Config, Grid
        def train(x):
            return x
        sweep = Sweep(train, Config({"x": Grid([1, 2])}))
        """,
    )
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "sweeps" / "sweep" / "runs" / "x=1").mkdir(parents=True)
    (tmp_path / "sweeps" / "sweep" / "runs" / "x=1" / "0").symlink_to(outside)
    out = orchestra("up", "sweep.py", "--root", "sweeps", cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert list(outside.iterdir()) == [], "nothing written through the link"
    assert "is a symbolic link" in out.stdout and "run x=1/0 was not started" in out.stdout
    assert "failed     x=1/0" in out.stdout and "completed  x=2/0" in out.stdout


def test_preloaded_modules_reach_runs_forked_from_the_sweeps_zygote(tmp_path: Path):
    """Sweep(preload=...) through `orchestra up`: runs start as forks of a zygote that imported them."""
    write_sweep(
        tmp_path,
        """
        import os, sys
        from orchestra import Sweep, Config, Grid
        def train(x):
            return {"preloaded": "xml.dom.minidom" in sys.modules, "parent": os.getppid(), "pgid": os.getpgid(0), "pid": os.getpid()}
        sweep = Sweep(train, Config({"x": Grid([1, 2, 3])}), preload=["xml.dom.minidom"])
        """,
    )
    proc = popen_orchestra("up", "sweep.py", "--root", "sweeps", "--workers", "2", cwd=tmp_path)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    sweep_dir = tmp_path / "sweeps" / "sweep"
    results = [
        json.loads((d / "result.json").read_text())["return"] for d in sorted(sweep_dir.glob("runs/*/0"))
    ]
    assert len(results) == 3
    assert all(r["preloaded"] for r in results), "the entry found the module imported before it ran"
    assert all(r["parent"] != proc.pid for r in results), "forked by the zygote, not spawned by up"
    assert all(r["pgid"] == r["pid"] for r in results), "each run leads its own process group"
    assert (sweep_dir / "zygote.log").exists()


def test_a_run_whose_result_cannot_be_written_is_not_recorded_as_completed(tmp_path: Path):
    """The entry returned, but result.json hit a full disk (here: the file size limit): not a success."""
    write_sweep(
        tmp_path,
        """
        import resource, signal
        from orchestra import Sweep
        def train(config):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writing past the limit fails instead of killing
            resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))  # no result.json fits in 64 bytes
            return {"loss": 0.5}
        sweep = Sweep(train, [{}])
        """,
    )
    out = orchestra("up", "sweep.py", "--root", "sweeps", cwd=tmp_path)
    assert out.returncode == 1, out.stdout
    st = statuses(tmp_path / "sweeps" / "sweep")["default/0"]
    assert st.state is State.FAILED and st.exit.code == 4
    assert st.exit.message == "it returned, but its result.json could not be written (a full disk?)"
    assert not (tmp_path / "sweeps" / "sweep" / "runs" / "default" / "0" / "result.json").exists()
