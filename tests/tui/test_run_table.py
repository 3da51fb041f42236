"""The run table repaints only the visible rows that changed (the reason it is not a DataTable)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from orchestra.rundir import State
from orchestra.scheduler.table import RunRow
from orchestra.tui.widgets.run_table import RunTable
from tests.tui.fakes import FakeSweep, frozen_clock

pytestmark = pytest.mark.anyio


def rows(n: int) -> list[RunRow]:
    return [
        RunRow(i, f"v{i}/0", f"v{i}", 0, {}, Path("/none"), State.RUNNING, metrics={"loss": 1.0}, step=1)
        for i in range(n)
    ]


async def test_only_changed_visible_rows_are_refreshed(tmp_path: Path):
    from orchestra.tui.app import Dashboard

    source = FakeSweep(rows(2000))
    app = Dashboard(source, name="t", workers=1, clock=frozen_clock)
    async with app.run_test(size=(160, 50)) as pilot:
        table: RunTable = app.table
        await pilot.pause()
        refreshed: list[int] = []
        original = table.refresh_line
        table.refresh_line = lambda y: (refreshed.append(y), original(y))  # type: ignore[method-assign]

        def change(*indices: int) -> None:
            for i in indices:
                row = source.rows[f"v{i}/0"]
                source.rows[row.id] = replace(row, step=row.step + 1, metrics={"loss": 0.5})
            source.version += 1
            table.update_rows(source.snapshot().rows)

        change(3, 1500)  # one on screen, one far below it
        assert refreshed == [3 + 1], "the header is line 0: row 3 is line 4; row 1500 is not on screen"
        refreshed.clear()
        change(1500)
        assert refreshed == []
        table.update_rows(source.snapshot().rows)
        assert refreshed == [], "the same snapshot again changes nothing"
        strip = table.render_line(4)
        assert "0.5" in strip.text and table.render_line(4) is strip, "a cached strip until the row changes"


async def test_a_click_on_a_column_title_sorts_by_it_and_a_click_on_a_row_selects_it(tmp_path: Path):
    from orchestra.tui.app import Dashboard

    source = FakeSweep(rows(30))
    app = Dashboard(source, name="t", workers=1, clock=frozen_clock)
    async with app.run_test(size=(160, 50)) as pilot:
        table: RunTable = app.table
        await pilot.pause()
        left, top = table.content_region.x - table.region.x, table.content_region.y - table.region.y
        header = table.render_line(0).text
        await pilot.click(RunTable, offset=(left + header.index("seed"), top))
        assert table.sort_column == "seed"
        await pilot.click(RunTable, offset=(left + 10, top + 1 + 5))
        assert table.current is not None and table.current.index == 5
