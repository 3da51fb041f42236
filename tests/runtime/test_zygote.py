"""Warm starts (issue 16, goal 2): runs forked from a zygote are what cold runs are; nothing is lost when it dies.

Real zygote processes, real forked runs, real signals; the launcher is driven as the local backend
will drive it, with the local backend's own spawn as the cold fallback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from orchestra.rundir import RunDir, read_json
from orchestra.rundir.names import EXIT_ERROR, EXIT_SETUP, EXIT_TERMINATED
from orchestra.scheduler.backends import LaunchSpec
from orchestra.scheduler.backends.local import LocalBackend
from orchestra.scheduler.backends.zygote import ZygoteLauncher
from tests.runtime.harness import (
    PreparedSweep,
    prepare_sweep,
    process_gone,
    run_env,
    wait_for,
    write_run_config,
)

WARMMOD = """
import os
IMPORTED_BY = os.getpid()
STATE = []
"""


def sweep_with(tmp_path: Path, body: str, config: str, preload: str = '["warmmod"]') -> PreparedSweep:
    (tmp_path / "warmmod.py").write_text(textwrap.dedent(WARMMOD))
    source = (
        "import os, sys, time, random\nimport warmmod\nfrom orchestra import Sweep, Config, Grid\n"
        + textwrap.dedent(body)
        + f"\nsweep = Sweep(train, Config({config}), seeds=[11], preload={preload})\n"
    )
    return prepare_sweep(tmp_path, source)


def spec(run_dir: RunDir, attempt: int = 1, **env: str) -> LaunchSpec:
    argv = (sys.executable, "-m", "orchestra.runtime", str(run_dir.path))
    return LaunchSpec(
        argv, run_env(run_dir, attempt=attempt, extra=env), run_dir.path.parents[4], run_dir.output_log
    )


def with_launcher(
    sweep: PreparedSweep, body: Callable[[ZygoteLauncher, LocalBackend, list[str]], Awaitable[Any]]
) -> tuple[Any, list[str]]:
    """Run ``body(launcher, local backend, notes)`` in an event loop, the launcher entered around it."""
    notes: list[str] = []

    async def main() -> Any:
        local = LocalBackend()
        preload = sweep.rec.record["settings"]["preload"]
        with anyio.fail_after(120):
            async with ZygoteLauncher(
                preload, log_path=sweep.dir.path / "zygote.log", cold_start=local.start, notify=notes.append
            ) as launcher:
                return await body(launcher, local, notes)

    return anyio.run(main), notes


IDENTITY = """
def train(ctx, mode):
    import numpy as np
    state = list(warmmod.STATE)
    warmmod.STATE.append(ctx.attempt)  # a later run must not see this: it is forked from the clean zygote
    return {
        "pid": os.getpid(), "sid": os.getsid(0), "pgid": os.getpgid(0), "ppid": os.getppid(),
        "preloaded_elsewhere": warmmod.IMPORTED_BY != os.getpid(), "state": state,
        "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "run_dir": os.environ["ORCHESTRA_RUN_DIR"],
        "cwd": os.getcwd(), "argv": sys.argv, "main": sys.modules["__main__"].__file__,
        "random": random.random(), "numpy": float(np.random.rand()),
        "stdin": os.path.realpath("/proc/self/fd/0"), "stdout": os.path.realpath("/proc/self/fd/1"),
    }
"""


def test_a_forked_run_is_what_a_cold_run_is(tmp_path: Path) -> None:
    sweep = sweep_with(tmp_path, IDENTITY, "{'mode': 'x'}")
    run_dir = write_run_config(sweep)

    async def body(launcher: ZygoteLauncher, local: LocalBackend, notes: list[str]) -> Any:
        results = []
        for attempt, start in ((1, local.start), (2, launcher.start), (3, launcher.start)):
            handle = await start(spec(run_dir, attempt, CUDA_VISIBLE_DEVICES=f"GPU-{attempt}"))
            assert await handle.wait() == 0, run_dir.output_log.read_text()
            results.append((handle.pid, read_json(run_dir.result)["return"], read_json(run_dir.metadata)))
        assert launcher.pid is not None
        with open(f"/proc/{launcher.pid}/environ", "rb") as f:
            zygote_env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if e)
        return results, launcher.pid, zygote_env

    (results, zygote, zygote_env), notes = with_launcher(sweep, body)
    assert notes == []
    (_, cold, cold_meta), *warm = results
    assert cold_meta["start"] == {"mode": "cold"} and not cold["preloaded_elsewhere"]
    for attempt, (pid, ret, meta) in enumerate(warm, start=2):
        assert meta["start"] == {"mode": "warm", "zygote_pid": zygote, "preload": ["warmmod"]}
        assert ret["preloaded_elsewhere"] and ret["state"] == []  # imported once, never a used run's copy
        assert ret["pid"] == pid == ret["sid"] == ret["pgid"] and ret["ppid"] == zygote  # its own session
        assert ret["cuda"] == f"GPU-{attempt}" and meta["cuda_visible_devices"] == f"GPU-{attempt}"
        for key in ("run_dir", "cwd", "argv", "main", "random", "numpy", "stdin", "stdout"):
            assert ret[key] == cold[key], key  # same seeds, same files, same command line as a cold run
    assert zygote_env[b"CUDA_VISIBLE_DEVICES"] == b""  # the zygote itself sees no GPU
    assert cold["stdout"] == str(run_dir.output_log)


STATUSES = """
def train(ctx, mode):
    if mode == "raise":
        raise ValueError("boom")
    if mode == "exit7":
        sys.exit(7)
    if mode == "segv":
        os.kill(os.getpid(), 11)
    if mode == "term":
        open(os.path.join(os.environ["ORCHESTRA_RUN_DIR"], "waiting"), "w").close()
        time.sleep(3600)
    return mode
"""


def test_exit_statuses_and_results_come_back_through_the_zygote_as_from_a_cold_run(tmp_path: Path) -> None:
    modes = ["ok", "raise", "exit7", "segv", "term"]
    sweep = sweep_with(tmp_path, STATUSES, f"{{'mode': Grid({modes!r})}}")
    dirs = [write_run_config(sweep, i) for i in range(len(modes))]

    async def one(start: Any, run_dir: RunDir, attempt: int) -> tuple[int, str | None]:
        handle = await start(spec(run_dir, attempt))
        if "term" in str(run_dir.path):
            with anyio.fail_after(60):
                while not (run_dir.path / "waiting").exists():
                    await anyio.sleep(0.01)
            (run_dir.path / "waiting").unlink()
            handle.signal(signal.SIGTERM)
        code = await handle.wait()
        result = read_json(run_dir.result) if run_dir.result.exists() else None
        return code, None if result is None else result["status"]

    async def body(launcher: ZygoteLauncher, local: LocalBackend, notes: list[str]) -> Any:
        cold = [await one(local.start, d, 1) for d in dirs]
        warm = [await one(launcher.start, d, 2) for d in dirs]
        return cold, warm, launcher.warm

    (cold, warm, was_warm), notes = with_launcher(sweep, body)
    assert was_warm and notes == []
    assert cold == [
        (0, "completed"),
        (EXIT_ERROR, "failed"),
        (7, "failed"),
        (-signal.SIGSEGV, None),
        (EXIT_TERMINATED, "terminated"),
    ]
    assert warm == cold


def test_a_setup_failure_exits_3_from_a_fork_too(tmp_path: Path) -> None:
    sweep = sweep_with(tmp_path, "def train(needed):\n    return needed\n", "{}")
    run_dir = write_run_config(sweep)

    async def body(launcher: ZygoteLauncher, local: LocalBackend, notes: list[str]) -> Any:
        handle = await launcher.start(spec(run_dir))
        return await handle.wait(), launcher.warm

    (code, was_warm), _ = with_launcher(sweep, body)
    assert was_warm and code == EXIT_SETUP
    assert read_json(run_dir.result)["error"]["phase"] == "setup"


LOOPING = """
def train(mode):
    import subprocess
    child = subprocess.Popen(["sleep", "1000"])  # a grandchild, in the run's process group
    with open(os.path.join(os.environ["ORCHESTRA_RUN_DIR"], "pids"), "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    time.sleep(3600)
"""


def read_pids(run_dir: RunDir) -> list[int] | None:
    try:
        text = (run_dir.path / "pids").read_text()
    except FileNotFoundError:
        return None
    return [int(p) for p in text.split()] if len(text.split()) == 2 else None


def test_a_zygote_that_dies_takes_its_runs_with_it_and_each_is_reported(tmp_path: Path) -> None:
    sweep = sweep_with(tmp_path, LOOPING, "{'mode': Grid(['a', 'b', 'after'])}")
    dirs = [write_run_config(sweep, i) for i in range(3)]

    async def body(launcher: ZygoteLauncher, local: LocalBackend, notes: list[str]) -> Any:
        handles = [await launcher.start(spec(d)) for d in dirs[:2]]
        pids = []
        for d in dirs[:2]:
            with anyio.fail_after(60):
                while (p := read_pids(d)) is None:
                    await anyio.sleep(0.01)
            pids += p
        assert launcher.pid is not None
        os.kill(launcher.pid, signal.SIGKILL)
        codes = [await h.wait() for h in handles]
        lost = [h.lost for h in handles]
        left = [h.members() for h in handles]
        after = await launcher.start(spec(dirs[2]))  # the zygote is gone: this one starts cold
        with anyio.fail_after(60):
            while read_pids(dirs[2]) is None:
                await anyio.sleep(0.01)
        after.signal(signal.SIGKILL)
        await after.wait()
        return codes, lost, left, pids, launcher.warm

    (codes, lost, left, pids, was_warm), notes = with_launcher(sweep, body)
    assert codes == [-signal.SIGKILL, -signal.SIGKILL]
    assert all(reason and "zygote" in reason and "SIGKILL" in reason for reason in lost)
    assert left == [[], []] and all(process_gone(p) for p in pids)  # grandchildren included
    for d in dirs[:2]:
        assert "its warm-start zygote" in d.output_log.read_text()
    assert not was_warm and read_json(dirs[2].metadata)["start"] == {"mode": "cold"}
    assert len(notes) == 1 and "later runs start cold" in notes[0]


DRIVER = """
import os, sys, anyio
sys.path.insert(0, sys.argv[1])
from orchestra.scheduler.backends import LaunchSpec
from orchestra.scheduler.backends.local import LocalBackend
from orchestra.scheduler.backends.zygote import ZygoteLauncher
from tests.runtime.harness import run_env
from orchestra.rundir import RunDir

async def main():
    run_dir = RunDir(sys.argv[2])
    local = LocalBackend()
    async with ZygoteLauncher(["warmmod"], log_path=sys.argv[3], cold_start=local.start) as launcher:
        argv = (sys.executable, "-m", "orchestra.runtime", str(run_dir.path))
        h = await launcher.start(LaunchSpec(argv, run_env(run_dir), run_dir.path.parents[4], run_dir.output_log))
        print(launcher.pid, flush=True)
        await h.wait()

anyio.run(main)
"""


def test_when_the_orchestrator_dies_its_zygote_and_the_runs_die_too(tmp_path: Path) -> None:
    sweep = sweep_with(tmp_path, LOOPING, "{'mode': 'x'}")
    run_dir = write_run_config(sweep)
    repo = Path(__file__).resolve().parents[2]
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(repo), str(run_dir.path), str(sweep.dir.path / "zygote.log")],
        stdout=subprocess.PIPE,
        cwd=tmp_path,
    )
    pids: list[int] = []
    try:
        assert driver.stdout is not None
        zygote = int(driver.stdout.readline())
        pids = wait_for(lambda: read_pids(run_dir), what="the forked run to start")
        driver.kill()  # kill -9 of the orchestrator
        driver.wait()
        for pid in (zygote, *pids):
            wait_for(lambda pid=pid: process_gone(pid), what=f"process {pid} to die with the orchestrator")
    finally:
        driver.kill()
        driver.wait()
        for pid in pids:
            if not process_gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_preload_that_starts_a_thread_is_not_forked_from_and_runs_start_cold(tmp_path: Path) -> None:
    (tmp_path / "threaded.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
    )
    sweep = sweep_with(
        tmp_path, "def train(mode):\n    return mode\n", "{'mode': Grid(['a', 'b'])}", '["threaded"]'
    )
    dirs = [write_run_config(sweep, i) for i in range(2)]

    async def body(launcher: ZygoteLauncher, local: LocalBackend, notes: list[str]) -> Any:
        return [await (await launcher.start(spec(d))).wait() for d in dirs], launcher.warm

    (codes, was_warm), notes = with_launcher(sweep, body)
    assert codes == [0, 0] and not was_warm
    assert [read_json(d.metadata)["start"]["mode"] for d in dirs] == ["cold", "cold"]
    (note,) = notes  # said once
    assert "warm start off" in note and "'threaded'" in note and "2 threads" in note


def test_a_preload_that_fails_to_import_falls_back_to_cold_starts(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('cannot load here')\n")
    sweep = sweep_with(tmp_path, "def train(mode):\n    return mode\n", "{'mode': 'a'}", '["broken"]')
    run_dir = write_run_config(sweep)

    async def body(launcher: ZygoteLauncher, local: LocalBackend, notes: list[str]) -> Any:
        return await (await launcher.start(spec(run_dir))).wait()

    code, notes = with_launcher(sweep, body)
    assert code == 0 and read_json(run_dir.metadata)["start"]["mode"] == "cold"
    assert notes == [
        "warm start off, runs start cold: preloading 'broken' failed (RuntimeError: cannot load here)"
    ]


def test_a_run_whose_environment_differs_from_the_zygotes_starts_cold(tmp_path: Path) -> None:
    sweep = sweep_with(tmp_path, "def train(mode):\n    return mode\n", "{'mode': Grid(['a', 'b'])}")
    dirs = [write_run_config(sweep, i) for i in range(2)]

    async def body(launcher: ZygoteLauncher, local: LocalBackend, notes: list[str]) -> Any:
        first = await (await launcher.start(spec(dirs[0]))).wait()
        second = await (await launcher.start(spec(dirs[1], OMP_NUM_THREADS="7"))).wait()
        return first, second

    (first, second), notes = with_launcher(sweep, body)
    assert (first, second) == (0, 0)
    assert [read_json(d.metadata)["start"]["mode"] for d in dirs] == ["warm", "cold"]
    assert notes == [
        "warm start: a run's environment differs from the zygote's in OMP_NUM_THREADS; such runs start cold"
    ]


def test_the_zygote_exits_with_the_launcher(tmp_path: Path) -> None:
    sweep = sweep_with(tmp_path, "def train(mode):\n    return mode\n", "{'mode': 'a'}")
    run_dir = write_run_config(sweep)

    async def body(launcher: ZygoteLauncher, local: LocalBackend, notes: list[str]) -> Any:
        await (await launcher.start(spec(run_dir))).wait()
        return launcher.pid

    zygote, _ = with_launcher(sweep, body)
    assert zygote is not None and process_gone(zygote)
