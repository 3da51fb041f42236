"""`orchestra run`: one run in the foreground, recorded like any other; on a pipe, and on a real terminal."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra.rundir import Reason, State, SweepDir, SweepLock
from tests.helpers import orchestra, statuses, wait_for, write_sweep
from tests.tui.test_tmux import TMUX, Terminal

SWEEP = """
    import os, sys, time
    from orchestra import Sweep, Config, Grid
    def train(ctx, lr, bs):
        if lr == 7:
            while True:
                print("waiting", flush=True)
                time.sleep(0.1)
        line = sys.stdin.readline().strip()
        print(f"lr={lr} bs={bs} read {line!r} seed={ctx.seed} threads={os.environ['OMP_NUM_THREADS']}")
        ctx.logger("loss", lr); ctx.logger.dump()
        if lr > 1:
            raise ValueError("lr too big")
        return {"loss": lr}
    sweep = Sweep(train, Config({"lr": Grid([0.1, 0.01]), "bs": 32}), seeds=[0, 1])
"""


def run(tmp_path: Path, *args: str, stdin: str = ""):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "orchestra", "run", "sweep.py", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )


def run_dir(tmp_path: Path, run_id: str) -> Path:
    return tmp_path / "sweeps" / "sweep" / "runs" / run_id


def test_a_run_in_the_foreground_reads_stdin_and_is_recorded_like_any_other(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    out = run(tmp_path, "lr=0.01/1", stdin="hello\n")
    assert out.returncode == 0, out.stderr
    assert "lr=0.01 bs=32 read 'hello' seed=1 threads=" in out.stdout
    d = run_dir(tmp_path, "lr=0.01/1")
    assert out.stdout in d.joinpath("output.log").read_text(), "the terminal's output is in output.log"
    assert out.stderr.splitlines()[-1] == "orchestra: run lr=0.01/1 attempt 1: completed (success)"
    st = statuses(tmp_path / "sweeps" / "sweep")
    assert st["lr=0.01/1"].state is State.COMPLETED and st["lr=0.01/1"].attempt == 1
    assert [h["state"] for h in st["lr=0.01/1"].history] == ["running", "completed"]
    assert st["lr=0.1/0"] is None, "no other run is touched"
    result = json.loads(d.joinpath("result.json").read_text())
    assert (result["status"], result["attempt"], result["return"]) == ("completed", 1, {"loss": 0.01})
    assert json.loads(d.joinpath("metrics.jsonl").read_text().splitlines()[0])["values"] == {"loss": 0.01}
    config = json.loads(d.joinpath("config.json").read_text())
    assert (config["seed"], config["config"]) == (1, {"lr": 0.01, "bs": 32})

    again = run(tmp_path, "2", stdin="again\n")  # by number, as `orchestra logs` takes it
    assert again.returncode == 0
    assert statuses(tmp_path / "sweeps" / "sweep")["lr=0.01/0"].attempt == 1
    third = run(tmp_path, "lr=0.01/1", stdin="x\n")
    assert statuses(tmp_path / "sweeps" / "sweep")["lr=0.01/1"].attempt == 2, "a new attempt of the same run"

    up = orchestra("up", "sweep.py", "--root", "sweeps", cwd=tmp_path)
    assert "2 completed kept" in up.stdout and third.returncode == 0, "`up` keeps what `run` completed"


def test_config_runs_a_variant_the_plan_does_not_have_and_it_can_be_run_again(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    out = run(tmp_path, "--config", "lr=5", "--seed", "1", stdin="x\n")
    assert out.returncode == 1
    assert "ValueError: lr too big" in out.stdout
    assert (
        out.stderr.splitlines()[-1]
        == "orchestra: run lr=5/1 attempt 1: failed (exception exit 1: ValueError: lr too big)"
    )
    plan = json.loads((tmp_path / "sweeps" / "sweep" / "sweep.json").read_text())
    assert [(a["variant"]["name"], a["seed"], a["run"]) for a in plan["adhoc"]] == [("lr=5", 1, 4)]
    assert len(plan["variants"]) == 2, "the plan itself is unchanged"
    listed = json.loads(orchestra("status", tmp_path / "sweeps" / "sweep", "--json", cwd=tmp_path).stdout)
    assert [(r["run"], r["id"], r["state"]) for r in listed][-1] == (4, "lr=5/1", "failed"), (
        "status shows the ad-hoc run after the plan's, with its own number"
    )
    again = run(tmp_path, "lr=5/1", stdin="x\n")
    assert again.returncode == 1
    status = json.loads((run_dir(tmp_path, "lr=5/1") / "status.json").read_text())
    assert (status["state"], status["attempt"], status["exit"]["reason"]) == ("failed", 2, "exception")
    planned = run(tmp_path, "--config", "lr=0.1", stdin="x\n")
    assert planned.returncode == 0 and "run lr=0.1/0 attempt 1" in planned.stderr, (
        "a planned variant is that run"
    )
    vague = run(tmp_path, "--config", "bs=64")
    assert vague.returncode == 2
    assert (
        vague.stderr.strip() == "orchestra: error: --config bs=64 leaves 2 variants; give a value for lr too"
    )


def test_run_refuses_while_a_live_orchestrator_holds_the_sweep(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    sweep = SweepDir(tmp_path / "sweeps" / "sweep")
    sweep.path.mkdir(parents=True)
    lock = SweepLock(sweep)
    assert lock.acquire()
    try:
        out = run(tmp_path, "0")
    finally:
        lock.release()
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"orchestra: error: sweep 'sweep' is being run by a live orchestrator (pid {os.getpid()}); "
        "`orchestra run` needs the sweep to itself: wait for it to end, or stop it first"
    )
    assert sorted(p.name for p in sweep.path.iterdir()) == ["orchestra.lock"], "nothing written"


def test_ctrl_c_interrupts_the_run_which_up_then_resumes(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestra", "run", "sweep.py", "--config", "lr=7"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group of its own, as a terminal's foreground job
    )
    assert proc.stdout is not None
    wait_for(lambda: b"waiting" in proc.stdout.readline(), what="the run to start")
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C on a terminal does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    status = json.loads((run_dir(tmp_path, "lr=7/0") / "status.json").read_text())
    assert (status["state"], status["exit"]["reason"]) == (State.INTERRUPTED.value, Reason.INTERRUPTED.value)
    assert err.decode().splitlines()[-1].startswith("orchestra: run lr=7/0 attempt 1: interrupted")


PDB_SWEEP = """
    from orchestra import Sweep, Config, Grid
    def train(config, seed):
        x = 41
        breakpoint()
        y = x / 0
    sweep = Sweep(train, Config({"lr": Grid([0.1])}))
"""


@pytest.mark.slow
@pytest.mark.skipif(
    TMUX is None, reason="tmux is not installed; the foreground run's terminal test drives it"
)
def test_breakpoint_and_pdb_on_a_real_terminal(tmp_path: Path):
    write_sweep(tmp_path, PDB_SWEEP)
    exit_file = tmp_path / "exit-status"
    command = (
        f"cd {shlex.quote(str(tmp_path))} && {shlex.quote(sys.executable)} -m orchestra run sweep.py 0 --pdb; "
        f"echo $? > {shlex.quote(str(exit_file))}; sleep 60"
    )
    term = Terminal(command, {**os.environ, "TERM": "xterm-256color"})
    try:
        term.wait_for_text("(Pdb)")  # breakpoint() stops in pdb, on the terminal
        term.send("p x + 1", "Enter")
        term.wait_for_text("42")
        term.send("c", "Enter")  # on to the ZeroDivisionError: --pdb opens the post-mortem debugger
        screen = term.wait_for_text("ZeroDivisionError")
        wait_for(lambda: term.screen().count("(Pdb)") >= 3, what="the post-mortem prompt")
        term.send("p y if 'y' in dir() else x", "Enter")
        term.send("q", "Enter")
        wait_for(lambda: exit_file.exists() and exit_file.read_text().strip(), what="orchestra run to exit")
        screen = term.screen()
    finally:
        term.close()
    assert exit_file.read_text().strip() == "1"
    assert "run lr=0.1/0 attempt 1: failed (exception exit 1: ZeroDivisionError: division by zero)" in screen
    st = statuses(tmp_path / "sweeps" / "sweep")["lr=0.1/0"]
    assert (st.state, st.exit.reason if st.exit else None) == (State.FAILED, Reason.EXCEPTION)
    log = (run_dir(tmp_path, "lr=0.1/0") / "output.log").read_text()
    assert "(Pdb) p x + 1\n42\n" in log, "output.log holds the terminal session, what was typed included"
    assert "\r\n" not in log
    result = json.loads((run_dir(tmp_path, "lr=0.1/0") / "result.json").read_text())
    assert result["error"]["type"] == "ZeroDivisionError"
