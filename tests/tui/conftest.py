"""Driving the dashboard against a real scheduler with tiny real runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestra.tui.app import Dashboard
from tests.helpers import build_scheduler, write_sweep
from tests.tui.screen import screen_text


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(autouse=True)
def no_user_keymap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the keymap of whoever runs them."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


class Harness:
    """A running dashboard, its scheduler and pilot, with waits that poll the screen."""

    def __init__(self, app: Dashboard, pilot: Any, sched: Any) -> None:
        self.app = app
        self.pilot = pilot
        self.sched = sched

    @property
    def table(self):  # type: ignore[no-untyped-def]
        return self.app.table

    def text(self) -> str:
        return screen_text(self.app)

    def row(self, run_id: str):  # type: ignore[no-untyped-def]
        return self.sched.row(run_id)

    async def until(self, condition: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
        with anyio.fail_after(timeout):
            while True:
                await self.pilot.pause(0.02)
                value = condition()
                if value:
                    return value

    async def until_text(self, needle: str, timeout: float = 60) -> str:
        await self.until(lambda: needle in self.text(), timeout)
        return self.text()

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)
        await self.pilot.pause()

    async def select(self, run_id: str) -> None:
        self.table.select(run_id)
        await self.pilot.pause()


@asynccontextmanager
async def dashboard(
    tmp_path: Path, body: str, *, workers: int = 2, keymap: dict[str, str] | None = None, **kw: Any
) -> AsyncIterator[Harness]:
    """Plan ``body`` as a sweep, run it, and show it in the dashboard (160x50)."""
    sweep = write_sweep(tmp_path, body)
    sched = build_scheduler(sweep, tmp_path / "sweeps", workers=workers, linger=True, grace=3.0, **kw)
    app = Dashboard(sched, name="sweep", workers=workers, keymap=keymap, table_interval=0.05)
    async with anyio.create_task_group() as tg:
        tg.start_soon(sched.run)
        try:
            async with app.run_test(size=(160, 50)) as pilot:
                yield Harness(app, pilot, sched)
        finally:
            if not sched.done:
                sched.interrupt()
                sched.kill_all()
