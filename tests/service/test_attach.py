"""The sweep outlives its terminal: real terminals (tmux) that die, detach, and attach again."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path

import pytest

from orchestra.rundir import State
from tests.helpers import orchestra, pid_alive, statuses, wait_for, write_sweep
from tests.tui.test_tmux import TMUX, Terminal

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        TMUX is None, reason="tmux is not installed; these tests drive real terminals with it"
    ),
]

SWEEP = """
import os, time
from orchestra import Sweep, Config, Grid
def train(ctx, x):
    i = 0
    while not (os.path.exists(f"go-{x}") or os.path.exists("go-all")):
        ctx.logger("iteration", i); ctx.logger("loss", x / (i + 1)); ctx.logger.dump()
        print(f"x={x} step {i}", flush=True)
        i += 1
        time.sleep(0.1)
    if x == 3:
        raise ValueError("three fails")
sweep = Sweep(train, Config({"x": Grid([1, 2, 3])}), seeds=[0])
"""


def shell(tmp_path: Path, command: str) -> Terminal:
    """``command`` (orchestra's words) in a fresh 160x50 tmux terminal; its exit status goes to ./exit-<n>."""
    env = {**os.environ, "TERM": "xterm-256color", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    tag = f"{time.monotonic_ns()}"
    line = (
        f"cd {shlex.quote(str(tmp_path))} && {shlex.quote(sys.executable)} -m orchestra {command}; "
        f"echo $? > exit-{tag}; sleep 120"
    )
    term = Terminal(line, env)
    term.exit_file = tmp_path / f"exit-{tag}"  # type: ignore[attr-defined]
    return term


def service_pid(sweep_dir: Path) -> int:
    return int((sweep_dir / "orchestra.lock").read_text().split()[0])


def stop_service(tmp_path: Path, sweep_dir: Path) -> None:
    (tmp_path / "go-all").touch()
    if (sweep_dir / "orchestra.lock").exists():
        words = (sweep_dir / "orchestra.lock").read_text().split()
        if words and pid_alive(int(words[0])):
            os.kill(int(words[0]), signal.SIGTERM)
            wait_for(lambda: not pid_alive(int(words[0])), timeout=60, what="the service to end")


def test_killing_the_terminal_only_detaches_and_attach_shows_the_runs_within_3s(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    term = shell(tmp_path, "up sweep.py --root sweeps --workers 3 --grace 2")
    try:
        term.wait_for_text("3 running")
        pid = service_pid(sweep_dir)
        term.close()  # the terminal goes away, as a lost ssh connection would take it
        time.sleep(1)  # a negative check: give a wrongly wired service the time to stop its runs
        assert pid_alive(pid), "the service outlives its terminal"
        st = statuses(sweep_dir)
        assert all(s.state is State.RUNNING for s in st.values()), st
        assert service_pid(sweep_dir) == pid, "it still holds the sweep's lock"
        again = shell(tmp_path, "attach sweeps/sweep")
        started = time.monotonic()
        try:
            again.wait_for_text("3 running", timeout=30)
            assert time.monotonic() - started < 3, "attach shows the live runs within 3 s"
            assert "x=1 step" in again.wait_for_text("x=1/0 · output.log")
            (tmp_path / "go-1").touch()
            (tmp_path / "go-2").touch()
            (tmp_path / "go-3").touch()
            again.wait_for_text("2 completed")
            again.wait_for_text("1 failed")
            again.send("q")  # every run has ended: quitting detaches, and the service ends by itself
            wait_for(lambda: not pid_alive(pid), timeout=60, what="the service to end once nobody holds it")
            exit_file = again.exit_file  # type: ignore[attr-defined]
            wait_for(
                lambda: exit_file.exists() and exit_file.read_text().strip(),
                timeout=30,
                what="attach to exit",
            )
            assert exit_file.read_text().strip() == "0"
        finally:
            again.close()
    finally:
        term.close()
        stop_service(tmp_path, sweep_dir)


def test_detach_from_the_quit_dialog_and_two_dashboards_see_each_others_commands(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    first = shell(tmp_path, "up sweep.py --root sweeps --workers 3 --grace 2")
    second = None
    try:
        first.wait_for_text("3 running")
        second = shell(tmp_path, "attach")  # no DIR: the only live sweep under ./sweeps
        second.wait_for_text("3 running")
        first.send("j")  # x=2/0
        first.wait_for_text("x=2/0 · output.log")
        first.send("c")
        first.wait_for_text("Cancel x=2/0?")
        first.send("y")
        second.wait_for_text("1 cancelled")  # a command from one dashboard, seen by the other
        assert statuses(sweep_dir)["x=2/0"].state is State.CANCELLED
        second.send("q")
        second.wait_for_text("Detach (d)")
        second.send("d")
        wait_for(lambda: second.exit_file.exists(), timeout=30, what="the second dashboard to detach")  # type: ignore[attr-defined]
        assert second.exit_file.read_text().strip() == "0"  # type: ignore[attr-defined]
        assert "detached: the sweep goes on" in second.screen()
        first.wait_for_text("2 running")  # the first is still attached, the runs go on
        assert pid_alive(service_pid(sweep_dir))
    finally:
        first.close()
        if second is not None:
            second.close()
        stop_service(tmp_path, sweep_dir)


def test_attach_on_a_finished_sweep_shows_its_files_and_a_retry_starts_a_service(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    (tmp_path / "go-all").touch()
    out = orchestra("up", "sweep.py", "--root", "sweeps", "--workers", "3", cwd=tmp_path)
    assert out.returncode == 1 and "2 completed, 1 failed" in out.stdout
    (tmp_path / "go-all").unlink()
    sweep_dir = tmp_path / "sweeps" / "sweep"
    term = shell(tmp_path, "attach sweeps/sweep")
    try:
        screen = term.wait_for_text("no service runs this sweep")
        assert "2 completed" in screen and "1 failed" in screen
        term.send("j", "j")  # x=3/0, the failed one
        term.wait_for_text("x=3/0 · output.log")
        term.send("r")
        term.wait_for_text("1 running")  # a service started for the retry; the dashboard follows it
        pid = service_pid(sweep_dir)
        assert statuses(sweep_dir)["x=3/0"].attempt == 2
        (tmp_path / "go-3").touch()
        term.wait_for_text("1 failed")
        term.send("q")  # quit detaches; with nothing left to run the service ends
        wait_for(lambda: not pid_alive(pid), timeout=60, what="the retry's service to end")
        assert (sweep_dir / "service.log").read_text().count("failed     x=3/0 (attempt 2)") == 1
    finally:
        term.close()
        stop_service(tmp_path, sweep_dir)
