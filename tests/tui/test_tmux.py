"""The real ``orchestra up`` on a real terminal (tmux): start a sweep, move to a run, cancel it, retry it, quit."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from orchestra.rundir import Reason, State
from tests.helpers import statuses, wait_for, write_sweep

TMUX = shutil.which("tmux")

SWEEP = """
import os, time
from orchestra import Sweep, Config, Grid
def train(ctx, x):
    i = 0
    while not os.path.exists("release"):
        ctx.logger("iteration", i); ctx.logger("loss", x / (i + 1)); ctx.logger.dump()
        print(f"x={x} step {i}", flush=True)
        i += 1
        time.sleep(0.2)
sweep = Sweep(train, Config({"x": Grid([1, 2, 3])}), seeds=[0])
"""


class Terminal:
    """A detached tmux session on a private server, 160x50, running one command."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        assert TMUX is not None
        self.base = [TMUX, "-L", f"orchestra-test-{uuid.uuid4().hex[:8]}", "-f", os.devnull]
        # COLUMNS/LINES (pytest's workers may have them) would override the terminal's own size.
        env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
        subprocess.run(
            [*self.base, "new-session", "-d", "-x", "160", "-y", "50", "-s", "e2e", command],
            env=env,
            check=True,
        )

    def screen(self) -> str:
        out = subprocess.run(
            [*self.base, "capture-pane", "-p", "-t", "e2e"], capture_output=True, text=True, check=False
        )
        return out.stdout

    def send(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", "e2e", *keys], check=True)

    def wait_for_text(self, text: str, timeout: float = 90) -> str:
        wait_for(lambda: text in self.screen(), timeout=timeout, interval=0.1, what=f"{text!r} on the screen")
        return self.screen()

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, check=False)


def start_up_in_tmux(tmp_path: Path) -> tuple[Terminal, Path]:
    """`orchestra up` of SWEEP on a 160x50 tmux terminal; its exit status lands in the returned file."""
    write_sweep(tmp_path, SWEEP)
    exit_file = tmp_path / "exit-status"
    env = {**os.environ, "TERM": "xterm-256color", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    command = (
        f"cd {shlex.quote(str(tmp_path))} && "
        f"{shlex.quote(sys.executable)} -m orchestra up sweep.py --root sweeps --workers 3 --grace 5; "
        f"echo $? > {shlex.quote(str(exit_file))}; sleep 60"
    )
    return Terminal(command, env), exit_file


@pytest.mark.slow
@pytest.mark.skipif(TMUX is None, reason="tmux is not installed; the end-to-end dashboard test drives it")
def test_up_on_a_terminal_opens_the_dashboard_to_cancel_retry_and_quit(tmp_path: Path):
    term, exit_file = start_up_in_tmux(tmp_path)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    try:
        term.wait_for_text("3 running")
        term.wait_for_text("x=1/0 · output.log")
        term.send("j")
        term.wait_for_text("x=2/0 · output.log")
        term.wait_for_text("x=2 step")

        term.send("c")
        screen = term.wait_for_text("Cancel x=2/0?")
        assert "(running)" in screen
        term.send("y")
        wait_for(lambda: statuses(sweep_dir)["x=2/0"].state is State.CANCELLED, timeout=60)
        assert statuses(sweep_dir)["x=2/0"].exit.reason is Reason.CANCELLED
        term.wait_for_text("cancelled")

        term.send("r")
        wait_for(
            lambda: (s := statuses(sweep_dir)["x=2/0"]).state is State.RUNNING and s.attempt == 2, timeout=60
        )
        term.wait_for_text("3 running")

        term.send("q")
        term.wait_for_text("Stop the sweep")
        term.send("s")
        wait_for(lambda: exit_file.exists() and exit_file.read_text().strip(), timeout=60, what="up to exit")
        assert exit_file.read_text().strip() == "130", "stopped runs: the same exit status as Ctrl-C headless"
        final = statuses(sweep_dir)
        assert all(
            s.state is State.INTERRUPTED and s.exit.reason is Reason.INTERRUPTED for s in final.values()
        )
        screen = term.screen()
        assert "3 runs in" in screen and "3 interrupted" in screen, (
            "the summary line after the dashboard closed"
        )
    finally:
        (tmp_path / "release").touch()
        term.close()


@pytest.mark.slow
@pytest.mark.skipif(TMUX is None, reason="tmux is not installed; the end-to-end dashboard test drives it")
def test_sigterm_to_up_with_the_dashboard_stops_the_runs_and_restores_the_terminal(tmp_path: Path):
    term, exit_file = start_up_in_tmux(tmp_path)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    try:
        term.wait_for_text("3 running")
        pid = int((sweep_dir / "orchestra.lock").read_text().split()[0])  # the sweep's service
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: exit_file.exists() and exit_file.read_text().strip(), timeout=60, what="up to exit")
        assert exit_file.read_text().strip() == "130"
        final = statuses(sweep_dir)
        assert all(s.exit.reason is Reason.INTERRUPTED for s in final.values())
        screen = term.wait_for_text("3 runs in")
        assert "orchestra · sweep" not in screen, "the dashboard is gone: the terminal is back to the shell"
    finally:
        (tmp_path / "release").touch()
        term.close()
