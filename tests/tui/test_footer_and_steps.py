"""A narrow terminal keeps ? and q in the footer; a 7-digit step shows whole in the run table."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widgets._footer import FooterKey

from orchestra.tui.app import Dashboard
from tests.tui.fakes import demo_sweep, frozen_clock

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("width", [60, 80, 160])
async def test_help_and_quit_stay_visible_in_the_footer(tmp_path: Path, width: int):
    app = Dashboard(demo_sweep(tmp_path / "runs"), name="demo", workers=4, clock=frozen_clock)
    async with app.run_test(size=(width, 24)) as pilot:
        keys: dict[str, Region] = {}
        for _ in range(100):  # the footer recomposes as bindings settle: wait until it is laid out
            await pilot.pause(0.05)
            keys = {k.action: k.region for k in app.query(FooterKey)}
            if {"help", "quit", "detail"} <= keys.keys() and all(
                r.y == 23 and r.width for r in keys.values()
            ):
                break
        for action in ("help", "quit"):
            assert keys[action].right <= width, f"{action} is inside the screen"
            widget, _ = app.get_widget_at(keys[action].x + 1, keys[action].y)
            assert isinstance(widget, FooterKey) and widget.action == action, f"no other key covers {action}"
        assert keys["detail"].x == 0, "the other keys still start at the left"


async def test_a_seven_digit_step_is_not_cut(tmp_path: Path):
    source = demo_sweep(tmp_path / "runs")
    first = next(iter(source.rows))
    source.rows[first] = replace(source.rows[first], step=5_000_000)
    source.version += 1
    app = Dashboard(source, name="demo", workers=4, clock=frozen_clock)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause(0.3)
        lines = [app.table.render_line(y).text for y in range(len(source.rows) + 1)]
        assert any(" 5000000 " in line for line in lines), lines
        assert not any("50000…" in line for line in lines)
