"""GPU placement inside the real scheduler: fake GPUs at the NVML edge, real run processes."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from orchestra.rundir import State
from orchestra.scheduler.gpu import GpuLedger
from orchestra.scheduler.probe import FakeProbe, fake_uuid
from tests.helpers import build_scheduler, orchestra, statuses, write_sweep

pytestmark = pytest.mark.anyio
GiB = 1 << 30

HOLD = """
    import json, os, time
    from pathlib import Path
    from orchestra import Sweep, Config, Grid
    from orchestra.scheduler.probe import fake_allocate

    def train(config, logdir):
        keys = ["CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "ORCHESTRA_DEVICE", "ORCHESTRA_GPUS"]
        Path(logdir, "env.json").write_text(json.dumps({k: os.environ.get(k) for k in keys}))
        if config.get("allocate"):
            fake_allocate(config["state"], config["allocate"])
        while not Path(logdir).parent.parent.parent.joinpath("go").exists():
            time.sleep(0.02)

    sweep = Sweep(train, Config({"i": Grid(list(range(N))), **EXTRA}), gpu_mem=MEM)
"""


def hold_sweep(tmp_path: Path, n: int, mem: str, extra: str = "{}") -> Path:
    return write_sweep(tmp_path, HOLD.replace("N", str(n)).replace("MEM", repr(mem)).replace("EXTRA", extra))


async def wait_until(condition, timeout: float = 60):
    with anyio.fail_after(timeout):
        while not (value := condition()):
            await anyio.sleep(0.02)
    return value


async def test_runs_are_packed_by_memory_and_each_child_sees_its_device(tmp_path: Path):
    f = hold_sweep(tmp_path, 6, "10GiB")
    ledger = GpuLedger(FakeProbe("2x24GiB"))
    sched = build_scheduler(f, tmp_path / "sweeps", workers=8, gpus=ledger)
    sweep_dir = tmp_path / "sweeps" / "sweep"
    async with anyio.create_task_group() as tg:
        tg.start_soon(sched.run)
        running = await wait_until(
            lambda: len(r := [x for x in sched.snapshot().rows if x.state is State.RUNNING]) == 4 and r
        )
        await anyio.sleep(0.5)
        assert sum(1 for x in sched.snapshot().rows if x.state is State.RUNNING) == 4, (
            "two 10GiB runs per 24GiB GPU"
        )
        per_device = {}
        for row in running:
            (gpu,) = row.gpus
            per_device[gpu["index"]] = per_device.get(gpu["index"], 0) + 1
            env = json.loads(
                await wait_until(
                    lambda row=row: (row.dir / "env.json").exists() and (row.dir / "env.json").read_text()
                )
            )
            assert env["CUDA_VISIBLE_DEVICES"] == gpu["uuid"] == fake_uuid(gpu["index"])
            assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID" and env["ORCHESTRA_DEVICE"] == "cuda:0"
            assert json.loads(env["ORCHESTRA_GPUS"]) == [dict(gpu)]
        assert per_device == {0: 2, 1: 2}
        (sweep_dir / "go").touch()
    st = statuses(sweep_dir)
    assert all(s.state is State.COMPLETED and len(s.gpus) == 1 for s in st.values())


async def test_a_run_waits_for_memory_another_user_holds_and_starts_when_it_frees(tmp_path: Path):
    state = tmp_path / "gpus.json"
    probe = FakeProbe("1x24GiB", path=state)
    probe.set_process(0, 99999, 20 * GiB)  # someone else's job
    f = hold_sweep(tmp_path, 1, "8GiB")
    sched = build_scheduler(f, tmp_path / "sweeps", gpus=GpuLedger(probe))
    sweep_dir = tmp_path / "sweeps" / "sweep"
    async with anyio.create_task_group() as tg:
        tg.start_soon(sched.run)
        await anyio.sleep(1.0)
        assert sched.row("i=0/0").state is State.QUEUED
        FakeProbe.attach(state).end_process(99999)
        await wait_until(lambda: sched.row("i=0/0").state is State.RUNNING)
        (sweep_dir / "go").touch()


async def test_memory_a_run_allocates_late_is_not_given_to_the_next_run(tmp_path: Path):
    # One 24GiB GPU, runs of 10GiB each. The first child allocates its 10GiB; the ledger must count
    # it once (reservation minus allocation), so exactly two runs fit, never three.
    state = tmp_path / "gpus.json"
    FakeProbe("1x24GiB", path=state)
    f = hold_sweep(tmp_path, 3, "10GiB", extra=f"{{'allocate': {10 * GiB}, 'state': {str(state)!r}}}")
    sched = build_scheduler(f, tmp_path / "sweeps", workers=3, gpus=GpuLedger(FakeProbe.attach(state)))
    sweep_dir = tmp_path / "sweeps" / "sweep"
    async with anyio.create_task_group() as tg:
        tg.start_soon(sched.run)
        await wait_until(lambda: sum(1 for r in sched.snapshot().rows if r.state is State.RUNNING) == 2)
        used = await wait_until(lambda: (u := FakeProbe.attach(state).read()[0].used) >= 20 * GiB and u)
        assert used == 20 * GiB
        await anyio.sleep(1.0)
        assert sum(1 for r in sched.snapshot().rows if r.state is State.RUNNING) == 2
        (sweep_dir / "go").touch()
    assert all(s.state is State.COMPLETED for s in statuses(sweep_dir).values())


def test_a_run_that_can_never_fit_fails_at_plan_time(tmp_path: Path):
    f = hold_sweep(tmp_path, 2, "30GiB")
    out = orchestra("up", f, "--fake-gpus", "2x24GiB", "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert out.returncode == 2
    assert "each run asks for 30.0GiB on one GPU, but the largest usable GPU has 24.0GiB" in out.stderr
    assert not (tmp_path / "sweeps").exists()
    off = orchestra("up", f, "--gpus", "none", "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert off.returncode == 2 and "--gpus none" in off.stderr
    no_gpu = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert no_gpu.returncode == 2 and "has no GPUs" in no_gpu.stderr


def test_up_with_fake_gpus_runs_gpu_sweeps_end_to_end(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import os
        from orchestra import Sweep, Config, Grid
        def train(config, device):
            assert os.environ["CUDA_VISIBLE_DEVICES"].startswith("GPU-")
            return str(device)
        sweep = Sweep(train, Config({"i": Grid([0, 1, 2, 3])}), gpus=1)
    """,
    )
    out = orchestra(
        "up", f, "--fake-gpus", "2x16GiB", "--gpus", "1", "--root", tmp_path / "sweeps", cwd=tmp_path
    )
    assert out.returncode == 0, out.stdout + out.stderr
    st = statuses(tmp_path / "sweeps" / "sweep")
    assert {s.gpus[0]["index"] for s in st.values()} == {1}, "--gpus 1 limits placement to GPU 1"
