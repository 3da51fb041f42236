"""The headless frontend's output: plain lines for a file or a pipe, a bar on a terminal, and a cost
per event that does not grow with the sweep's size."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import anyio
import pytest

from orchestra.headless import is_terminal, show
from tests.helpers import build_scheduler, write_sweep

pytestmark = pytest.mark.anyio

SWEEP = """
from orchestra import Sweep, Config, Grid
def train(config):
    if config["x"] == 3:
        raise ValueError("bad\\rvalue\\x07!")
    return config["x"]
sweep = Sweep(train, Config({"x": Grid([1, 2, 3])}))
"""


async def _show_while_running(sched, **kw) -> None:
    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: show(sched, **kw))
            await sched.run()


async def test_a_pipe_gets_one_plain_line_per_finished_run_without_control_characters(tmp_path: Path):
    sched = build_scheduler(write_sweep(tmp_path, SWEEP), tmp_path / "sweeps")
    out = io.StringIO()
    await _show_while_running(sched, file=out)
    lines = out.getvalue().splitlines()
    assert sorted(line.split()[1] for line in lines) == ["x=1/0", "x=2/0", "x=3/0"], lines
    failed = next(line for line in lines if line.startswith("failed"))
    assert "ValueError: badvalue!" in failed, failed  # \r and the bell stripped, as rich strips them
    assert not any("\x1b" in line for line in lines)


async def test_events_do_not_copy_the_table(tmp_path: Path, monkeypatch):
    """Each event used to take a snapshot (a copy of every row) for its alerts: quadratic in the
    sweep's size. Alerts are read without one; a terminal's bar is refreshed on a clock."""
    sched = build_scheduler(write_sweep(tmp_path, SWEEP), tmp_path / "sweeps")
    copies = []
    real_snapshot = sched.snapshot

    def counting_snapshot():
        copies.append(1)
        return real_snapshot()

    monkeypatch.setattr(sched, "snapshot", counting_snapshot)
    await _show_while_running(sched, file=io.StringIO())
    assert copies == [], "a plain output copied the table"


async def test_a_terminal_gets_the_bar_and_coloured_lines(tmp_path: Path):
    sched = build_scheduler(write_sweep(tmp_path, SWEEP), tmp_path / "sweeps")
    out = io.StringIO()
    await _show_while_running(sched, file=out, tty=True)
    text = out.getvalue()
    assert "\x1b[" in text and "x=1/0" in text and "3/3" in text


@pytest.mark.parametrize(
    "env,tty,expected",
    [
        ({}, None, False),  # a StringIO is no terminal
        ({}, True, True),
        ({"FORCE_COLOR": "1"}, None, True),
        ({"FORCE_COLOR": ""}, None, False),
        ({"TTY_COMPATIBLE": "1"}, None, True),
        ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, None, False),
        ({"FORCE_COLOR": "1"}, False, False),
    ],
)
def test_what_counts_as_a_terminal_is_what_rich_decides(monkeypatch, env, tty, expected):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert is_terminal(io.StringIO(), tty) is expected
    from rich.console import Console

    assert Console(file=io.StringIO(), force_terminal=tty).is_terminal is expected


def test_a_plain_up_does_not_import_rich(tmp_path: Path):
    """`up` without a terminal prints its lines without rich (tens of milliseconds of imports)."""
    import subprocess

    f = write_sweep(tmp_path, SWEEP.replace("[1, 2, 3]", "[1, 2]"))
    argv = ["orchestra", "up", str(f), "--headless", "--root", str(tmp_path / "sweeps")]
    probe = (
        f"import sys, runpy; sys.argv = {argv!r}\n"
        "try:\n    runpy.run_module('orchestra', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('RICH' if any(m.startswith('rich') for m in sys.modules) else 'NO-RICH')"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "NO-RICH", out.stdout
    assert "completed  x=1/0" in out.stdout
