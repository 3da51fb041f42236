"""The dashboard of a search: each run's trial and generation, the best so far, the objective by trial."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from orchestra.plan.loader import load_sweep_file
from orchestra.rundir import State
from orchestra.service.session import UpOptions, open_session, prepare
from orchestra.tui.app import Dashboard
from tests.helpers import write_sweep
from tests.tui.conftest import Harness

pytestmark = pytest.mark.anyio

SEARCH = """
from orchestra import Sweep
from orchestra.search import Box, CMAES, ASHA
import time
def train(ctx, x, y):
    for i in range(12):
        ctx.logger("iteration", i); ctx.logger("f", (x - 0.3) ** 2 + (y + 0.5) ** 2 + 1 / (i + 1)); ctx.logger.dump()
        time.sleep(0.02)
sweep = Sweep(train, Box({"x": (-1.0, 1.0), "y": (-1.0, 1.0)}), search=CMAES(popsize=4, seed=2),
              objective="f", mode="min", budget=8,
              stopper=ASHA(max_t=100, grace_period=3, reduction_factor=2))
"""


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(autouse=True)
def no_user_keymap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@asynccontextmanager
async def search_dashboard(tmp_path: Path, body: str) -> AsyncIterator[Harness]:
    """The sweep's session (its search driver beside the scheduler) shown in the dashboard."""
    f = write_sweep(tmp_path, body)
    options = UpOptions(root=tmp_path / "sweeps", workers=2, cwd=tmp_path, linger=True, metrics_interval=0.05)
    async with open_session(prepare(load_sweep_file(str(f)), options)) as session:
        sched = session.scheduler
        app = Dashboard(sched, name="sweep", workers=2, table_interval=0.05, slow_interval=0.1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sched.run)
            try:
                async with app.run_test(size=(160, 50)) as pilot:
                    yield Harness(app, pilot, sched)
            finally:
                if not sched.done:
                    sched.interrupt()
                    sched.kill_all()


async def test_runs_show_their_trial_the_header_the_best_so_far_and_m_plots_the_objective_by_trial(
    tmp_path: Path,
):
    async with search_dashboard(tmp_path, SEARCH) as h:
        await h.until(
            lambda: len(rows := h.sched.snapshot().rows) == 8 and all(r.state.finished for r in rows), 90
        )
        told = json.loads((tmp_path / "sweeps" / "sweep" / "search.json").read_text())["told"]
        best = min(told, key=lambda c: c["value"])
        text = await h.until_text(f"best f {best['value']:.4g} #{best['trial']}")
        assert "trial" in text and "g0 #0" in text and "g1 #7" in text
        stopped = [r for r in h.sched.snapshot().rows if r.state is State.STOPPED]
        assert stopped, "ASHA stopped none of the runs"
        await h.select(stopped[0].id)
        line = next(x for x in h.text().splitlines() if stopped[0].variant in x and "output.log" not in x)
        assert " stopped " in line and "stopped_early" in line
        for _ in range(4):
            if "f by trial" in h.text():
                break
            await h.press("m")
        text = await h.until_text(f"f by trial · best f {best['value']:.4g} #{best['trial']}")
        assert any("\u2800" < c <= "\u28ff" for c in text), "braille dots"


async def test_a_finished_search_read_from_its_files_shows_the_best_so_far_and_the_trials(tmp_path: Path):
    from orchestra.rundir import SweepDir
    from orchestra.service.files import FileSweep
    from tests.helpers import orchestra

    f = write_sweep(tmp_path, SEARCH.replace("budget=8", "budget=4"))
    assert orchestra("up", f, "--root", tmp_path / "sweeps", "--workers", "2", cwd=tmp_path).returncode == 0
    sweep_dir = tmp_path / "sweeps" / "sweep"
    told = json.loads((sweep_dir / "search.json").read_text())["told"]
    best = min(told, key=lambda c: c["value"])
    app = Dashboard(FileSweep(SweepDir(sweep_dir)), name="sweep", workers=2)
    async with app.run_test(size=(160, 50)) as pilot:
        h = Harness(app, pilot, None)
        text = await h.until_text(f"best f {best['value']:.4g} #{best['trial']}")
        assert "g0 #3" in text
