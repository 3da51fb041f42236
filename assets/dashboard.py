"""Make assets/dashboard.svg (and .png where rsvg-convert exists): the dashboard on a demo sweep.

A real scheduler runs 18 short runs on four fake 24GiB GPUs (someone else holds 9GiB of GPU 2),
the dashboard follows them for a while, and the screenshot is taken with a running run selected.

    python assets/dashboard.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import anyio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from orchestra.plan.loader import load_sweep_file  # noqa: E402
from orchestra.plan.prepare import apply, reconcile  # noqa: E402
from orchestra.runtime.payload import dumps_entry  # noqa: E402
from orchestra.scheduler.backends.local import LocalBackend  # noqa: E402
from orchestra.scheduler.core import Policy, Scheduler  # noqa: E402
from orchestra.scheduler.gpu import GpuLedger  # noqa: E402
from orchestra.scheduler.probe import FakeProbe  # noqa: E402
from orchestra.tui.app import Dashboard  # noqa: E402

SWEEP = """
import math, random, sys, time
from orchestra import Config, Grid, Sweep

def train(ctx, lr, hidden, env):
    rng = random.Random(ctx.seed * 1000 + hidden)
    steps = 400 + 40 * ctx.seed
    for itr in range(steps):
        loss = math.exp(-itr * lr * 8) * (1 + 0.1 * rng.random()) + 0.02
        ret = 200 * (1 - loss) + rng.gauss(0, 3)
        ctx.logger("iteration", itr); ctx.logger("loss", loss); ctx.logger("return", ret)
        sys.stdout.write(f"\\reval {itr % 20 * 5:3d}%|{'#' * (itr % 20 // 2):<10}|"); sys.stdout.flush()
        if itr % 20 == 19:
            print(f"\\n\\x1b[36m[{env}]\\x1b[0m itr {itr:4d}  loss {loss:.4f}  return {ret:7.2f}", flush=True)
            ctx.logger.dump(keys=["loss"], index=-1, border="-" * 24)
        if lr == 0.003 and hidden == 64 and ctx.seed == 2 and itr == 70:
            raise FloatingPointError("loss is nan at iteration 70")
        time.sleep(0.02)
    return {"loss": loss, "return": ret}

sweep = Sweep(
    train,
    Config({"lr": Grid([0.001, 0.003, 0.01]), "hidden": Grid([64, 256]), "env": "CartPole-v1"}),
    seeds=[0, 1, 2],
    gpu_mem="6GiB",
)
"""


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.py"
        path.write_text(textwrap.dedent(SWEEP))
        loaded = load_sweep_file(str(path))
        payload = dumps_entry(loaded.sweep.entry, by_value=[loaded.module])
        rec = reconcile(loaded, Path(tmp) / "sweeps", payload=payload)
        apply(rec, payload)
        probe = FakeProbe("4x24GiB")
        probe.set_process(2, pid=999_999, used=9 << 30)
        sched = Scheduler(
            rec,
            LocalBackend(),
            workers=8,
            resources=loaded.sweep.resources,
            policy=Policy(grace=2.0),
            sweep_file=loaded.path,
            run_options=loaded.sweep.run_options(),
            cwd=Path(tmp),
            gpus=GpuLedger(probe),
            linger=True,
        )
        app = Dashboard(sched, name="demo", workers=8)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sched.run)
            async with app.run_test(size=(160, 48)) as pilot:
                await pilot.pause(9.0)
                running = [r for r in app.table.view if r.state.value == "running"]
                if running:
                    app.table.select(running[-1].id)
                await pilot.pause(2.0)
                app.save_screenshot(str(out))
            sched.interrupt()
            sched.kill_all()


if __name__ == "__main__":
    svg = HERE / "dashboard.svg"
    anyio.run(main, svg)
    if shutil.which("rsvg-convert"):
        subprocess.run(
            ["rsvg-convert", "-w", "1600", str(svg), "-o", str(svg.with_suffix(".png"))], check=True
        )
    print(f"wrote {svg}")
