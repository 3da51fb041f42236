"""Snapshots of the dashboard (pytest-textual-snapshot) on fixed rows with the clock frozen.

Update them after an intended change of the look with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the SVGs under ``tests/tui/__snapshots__/`` before committing them.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from textual.widgets import Input

from orchestra.tui.app import Dashboard
from tests.tui.fakes import demo_sweep, frozen_clock

SIZE = (160, 50)


def app(tmp_path: Path) -> Dashboard:
    return Dashboard(demo_sweep(tmp_path / "runs"), name="demo", workers=4, clock=frozen_clock)


def press(*keys: str):  # type: ignore[no-untyped-def]
    """Press ``keys``, then wait until the plot shows the selected run (it follows the selection a moment later)."""

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        app.query_one("#prompt", Input).cursor_blink = False
        await pilot.press(*keys)
        with anyio.fail_after(30):
            while app._plotted[:1] != ((app.table.current.id if app.table.current else None),):
                await pilot.pause(0.05)

    return run_before


def test_main_screen(snap_compare, tmp_path: Path):
    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=press("j"))


def test_confirm_dialog_lists_the_marked_runs(snap_compare, tmp_path: Path):
    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=press("space", "space", "space", "c"))


def test_filter(snap_compare, tmp_path: Path):
    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=press("slash", *"state:c lr=0.001"))


def test_help(snap_compare, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", "/home/me/.config")  # the help names the keymap file
    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=press("question_mark"))
