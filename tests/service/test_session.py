"""The prepare-and-run session: a sweep whose plan grows while it runs."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from orchestra.plan.loader import load_sweep_file
from orchestra.rundir import State, SweepDir, planned_runs
from orchestra.service.session import UpOptions, open_session, prepare
from orchestra.space.variant import Variant
from tests.helpers import orchestra, write_sweep

pytestmark = pytest.mark.anyio

BODY = """
from orchestra import Sweep, Config, Grid
def train(ctx, x):
    ctx.logger("iteration", 0); ctx.logger("y", x * 2); ctx.logger.dump()
    return {"y": x * 2}
sweep = Sweep(train, Config({"x": Grid([1])}), seeds=[0, 1])
"""


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_runs_added_to_a_live_sweep_are_recorded_numbered_after_the_last_and_run(tmp_path: Path):
    f = write_sweep(tmp_path, BODY)
    prepared = prepare(load_sweep_file(str(f)), UpOptions(root=tmp_path / "sweeps", workers=2, cwd=tmp_path))
    added: list[str] = []

    async def propose(scheduler) -> None:  # what a search does: add variants while the sweep runs
        planned = session.grow([Variant(0, {"x": 5}, "x=5", "k5")], labels=[{"generation": 1}])
        added.extend(p.id for p in planned)

    async with open_session(prepared) as session:
        summary = await session.run([propose])
    assert summary.exit_code == 0
    assert added == ["x=5/0", "x=5/1"]
    sweep = SweepDir(tmp_path / "sweeps" / "sweep")
    refs = planned_runs(sweep, sweep.read_plan())
    assert [(r.index, r.id) for r in refs] == [(0, "x=1/0"), (1, "x=1/1"), (2, "x=5/0"), (3, "x=5/1")]
    rows = {r.id: r for r in session.scheduler.snapshot().rows}
    assert rows["x=5/1"].state is State.COMPLETED and rows["x=5/1"].labels == {"generation": 1}
    assert rows["x=5/1"].metrics["y"] == 10
    status = orchestra("status", sweep.path, cwd=tmp_path)
    assert "x=5/1" in status.stdout and status.returncode == 0


async def test_a_name_already_in_the_sweep_is_refused(tmp_path: Path):
    f = write_sweep(tmp_path, BODY)
    prepared = prepare(load_sweep_file(str(f)), UpOptions(root=tmp_path / "sweeps", workers=1, cwd=tmp_path))
    async with open_session(prepared) as session:
        with pytest.raises(ValueError, match="x=1"):
            session.grow([Variant(0, {"x": 1}, "x=1", "other")])
        session.scheduler.stop()
        with anyio.fail_after(60):
            await session.run()


def test_a_row_survives_the_wire_unchanged():
    """What the changes feed sends is what the attached dashboard shows."""
    from orchestra.rundir import Exit, Reason
    from orchestra.scheduler.table import RunRow

    full = RunRow(
        index=3,
        id="lr=0.1/2",
        variant="lr=0.1",
        seed=2,
        params={"lr": 0.1, "net": {"depth": 2}},
        dir=Path("/sweeps/s/runs/lr=0.1/2"),
        state=State.FAILED,
        attempt=2,
        exit=Exit(Reason.SIGNAL, -9, "SIGKILL", "killed by SIGKILL"),
        pid=None,
        gpus=({"index": 0, "uuid": "GPU-0", "name": "A100"},),
        queued_at=1.0,
        started_at=2.0,
        ended_at=3.5,
        metrics={"loss": 0.25, "iteration": 7},
        step=7,
        records=8,
        note="retry 1/2",
        where="pid 42",
        labels={"generation": 1},
    )
    bare = RunRow(index=0, id="a/0", variant="a", seed=0, params={}, dir=Path("/x"), state=State.QUEUED)
    for row in (full, bare):
        assert RunRow.from_json(row.to_json()) == row
