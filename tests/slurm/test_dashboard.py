"""The dashboard on a Slurm sweep: job and node per run, and cancel, kill and retry from its keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from orchestra.plan.loader import load_sweep_file
from orchestra.rundir import Reason, State
from orchestra.service.session import UpOptions, open_session, prepare
from orchestra.slurm import Slurm
from orchestra.tui.app import Dashboard
from tests.helpers import write_sweep
from tests.tui.conftest import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("slurm_cluster")]

HELD = """
import time
from pathlib import Path
from orchestra import Config, Grid, Sweep

def train(ctx, logdir, x):
    release = Path(logdir).parents[2] / "release"
    itr = 0
    while not release.exists():
        ctx.logger("itr", itr)
        ctx.logger.dump()
        itr += 1
        time.sleep(0.1)
    return x

sweep = Sweep(train, Config({"x": Grid([1, 2, 3])}))
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_user_keymap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@asynccontextmanager
async def slurm_dashboard(tmp_path: Path) -> AsyncIterator[Harness]:
    sweep = write_sweep(tmp_path, HELD)
    options = UpOptions(
        root=tmp_path / "sweeps",
        backend="slurm",
        linger=True,
        grace=3.0,
        cwd=tmp_path,
        slurm=Slurm(max_parallel=2),
    )
    prepared = prepare(load_sweep_file(str(sweep)), options)
    async with open_session(prepared) as session:
        sched = session.scheduler
        app = Dashboard(sched, name="sweep", workers=3, table_interval=0.05)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sched.run)
            try:
                async with app.run_test(size=(160, 50)) as pilot:
                    yield Harness(app, pilot, sched)
            finally:
                (tmp_path / "sweeps" / "sweep" / "release").touch()
                if not sched.done:
                    sched.stop()
                with anyio.fail_after(120):
                    while not sched.done:
                        await anyio.sleep(0.1)


async def test_the_dashboard_shows_job_and_node_and_cancels_kills_and_retries_slurm_jobs(tmp_path: Path):
    async with slurm_dashboard(tmp_path) as h:
        await h.until(lambda: all(h.row(r).state is State.RUNNING for r in ("x=1/0", "x=2/0")), timeout=90)
        await h.until(lambda: all(" on " in h.row(r).where for r in ("x=1/0", "x=2/0")), timeout=30)
        job = h.row("x=1/0").where.split()[1]
        await h.until_text(f"job {job} on ")
        array = job.split("_")[0]
        assert h.row("x=3/0").state is State.QUEUED
        await h.until(
            lambda: h.row("x=3/0").where == f"job {array}_2 pending (JobArrayTaskLimit)", timeout=30
        )
        await h.until_text("pending (JobArrayTaskLimit)")

        await h.select("x=1/0")
        await h.press("c", "y")
        await h.until(lambda: h.row("x=1/0").state is State.CANCELLED, timeout=60)
        assert h.row("x=1/0").exit.reason is Reason.CANCELLED
        await h.until(lambda: h.row("x=3/0").state is State.RUNNING, timeout=60)  # the throttle let it go

        await h.select("x=2/0")
        await h.press("K", "y")
        await h.until(lambda: h.row("x=2/0").state is State.CANCELLED, timeout=60)
        assert h.row("x=2/0").exit.reason is Reason.KILLED

        await h.select("x=1/0")
        await h.press("r")
        await h.until(
            lambda: h.row("x=1/0").state is State.RUNNING and h.row("x=1/0").attempt == 2, timeout=60
        )
        new_job = h.row("x=1/0").where.split()[1]
        assert new_job != job, "a retry is a new submission"
        assert h.row("x=3/0").state is State.RUNNING
