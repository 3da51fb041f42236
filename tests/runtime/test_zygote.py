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

from orchestra import proc
from orchestra.rundir import RunDir, read_json
from orchestra.rundir.names import EXIT_ERROR, EXIT_SETUP, EXIT_TERMINATED
from orchestra.scheduler.backends.local import SpawnedProcess
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


async def start_run(launcher: ZygoteLauncher | None, run_dir: RunDir, attempt: int = 1, **extra: str) -> Any:
    """Start one attempt as the local backend does (its command, environment, output.log descriptor):
    forked by ``launcher``, or cold when it is None. Returns the process (``pid``, ``wait()``)."""
    argv = [sys.executable, "-m", "orchestra.runtime", str(run_dir.path)]
    env = run_env(run_dir, attempt=attempt, parent=os.getpid(), extra=extra)  # the local backend's link
    cwd = run_dir.path.parents[4]
    log = os.open(run_dir.output_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:

        async def cold() -> Any:
            return SpawnedProcess.spawn(argv, log=log, cwd=cwd, env=env)

        if launcher is None:
            return await cold()
        return await launcher.start(argv, env=env, cwd=cwd, log_fd=log, cold=cold)
    finally:
        os.close(log)


def with_launcher(
    sweep: PreparedSweep, body: Callable[[ZygoteLauncher, list[str]], Awaitable[Any]]
) -> tuple[Any, list[str]]:
    """Run ``body(launcher, notes)`` in an event loop, the launcher entered around it."""
    notes: list[str] = []

    async def main() -> Any:
        preload = sweep.rec.record["settings"]["preload"]
        with anyio.fail_after(120):
            async with ZygoteLauncher(
                preload, log_path=sweep.dir.path / "zygote.log", notify=notes.append
            ) as launcher:
                return await body(launcher, notes)

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

    async def body(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        results = []
        for attempt, forker in ((1, None), (2, launcher), (3, launcher)):
            process = await start_run(forker, run_dir, attempt, CUDA_VISIBLE_DEVICES=f"GPU-{attempt}")
            assert await process.wait() == 0, run_dir.output_log.read_text()
            results.append((process.pid, read_json(run_dir.result)["return"], read_json(run_dir.metadata)))
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

    async def one(forker: ZygoteLauncher | None, run_dir: RunDir, attempt: int) -> tuple[int, str | None]:
        process = await start_run(forker, run_dir, attempt)
        if "term" in str(run_dir.path):
            with anyio.fail_after(60):
                while not (run_dir.path / "waiting").exists():
                    await anyio.sleep(0.01)
            (run_dir.path / "waiting").unlink()
            os.killpg(process.pid, signal.SIGTERM)
        code = await process.wait()
        result = read_json(run_dir.result) if run_dir.result.exists() else None
        return code, None if result is None else result["status"]

    async def body(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        cold = [await one(None, d, 1) for d in dirs]
        warm = [await one(launcher, d, 2) for d in dirs]
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

    async def body(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        process = await start_run(launcher, run_dir)
        return await process.wait(), launcher.warm

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

    async def body(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        processes = [await start_run(launcher, d) for d in dirs[:2]]
        pids = []
        for d in dirs[:2]:
            with anyio.fail_after(60):
                while (p := read_pids(d)) is None:
                    await anyio.sleep(0.01)
            pids += p
        assert launcher.pid is not None
        os.kill(launcher.pid, signal.SIGKILL)
        codes = [await p.wait() for p in processes]
        lost = [p.lost for p in processes]
        left = [proc.group_members(p.pid) for p in processes]
        after = await start_run(launcher, dirs[2])  # the zygote is gone: this one starts cold
        with anyio.fail_after(60):
            while read_pids(dirs[2]) is None:
                await anyio.sleep(0.01)
        os.killpg(after.pid, signal.SIGKILL)
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
import sys, anyio
sys.path.insert(0, sys.argv[1])
from orchestra.rundir import RunDir
from orchestra.scheduler.backends.local import SpawnedProcess
from orchestra.scheduler.backends.zygote import ZygoteLauncher
from tests.runtime.test_zygote import start_run

async def main():
    async with ZygoteLauncher(["warmmod"], log_path=sys.argv[3]) as launcher:
        process = await start_run(launcher, RunDir(sys.argv[2]))
        print(launcher.pid, flush=True)
        await process.wait()

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
        for pid, what in zip((zygote, *pids), ("the zygote", "the run", "the run's child")):
            wait_for(
                lambda pid=pid: process_gone(pid), what=f"{what} (pid {pid}) to die with the orchestrator"
            )
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

    async def body(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        return [await (await start_run(launcher, d)).wait() for d in dirs], launcher.warm

    (codes, was_warm), notes = with_launcher(sweep, body)
    assert codes == [0, 0] and not was_warm
    assert [read_json(d.metadata)["start"]["mode"] for d in dirs] == ["cold", "cold"]
    (note,) = notes  # said once
    assert "warm start off" in note and "'threaded'" in note and "2 threads" in note


def test_a_preload_that_fails_to_import_falls_back_to_cold_starts(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('cannot load here')\n")
    sweep = sweep_with(tmp_path, "def train(mode):\n    return mode\n", "{'mode': 'a'}", '["broken"]')
    run_dir = write_run_config(sweep)

    async def body(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        return await (await start_run(launcher, run_dir)).wait()

    code, notes = with_launcher(sweep, body)
    assert code == 0 and read_json(run_dir.metadata)["start"]["mode"] == "cold"
    assert notes == [
        "warm start off, runs start cold: preloading 'broken' failed (RuntimeError: cannot load here)"
    ]


def test_a_run_whose_environment_differs_from_the_zygotes_starts_cold(tmp_path: Path) -> None:
    sweep = sweep_with(tmp_path, "def train(mode):\n    return mode\n", "{'mode': Grid(['a', 'b'])}")
    dirs = [write_run_config(sweep, i) for i in range(2)]

    async def body(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        first = await (await start_run(launcher, dirs[0])).wait()
        second = await (await start_run(launcher, dirs[1], PYTHONHASHSEED="7")).wait()
        return first, second

    (first, second), notes = with_launcher(sweep, body)
    assert (first, second) == (0, 0)
    assert [read_json(d.metadata)["start"]["mode"] for d in dirs] == ["warm", "cold"]
    assert notes == [
        "warm start: a run's environment differs from the zygote's in PYTHONHASHSEED; such runs start cold"
    ]


POOLS = """
def train(ctx, mode):
    import numpy as np
    from threadpoolctl import ThreadpoolController
    a = np.ones((300, 300))
    a @ a  # the pool at work
    return {c.internal_api: c.num_threads for c in ThreadpoolController().lib_controllers}
"""


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_runs_with_several_cpus_are_forked_too_and_get_the_thread_pools_a_cold_run_gets(
    tmp_path: Path,
) -> None:
    """numpy's OpenBLAS sizes (and starts) its pool at import: the zygote imports it at one thread,
    and each run resizes the pool to its own OPENBLAS_NUM_THREADS, as a cold run's was sized (no
    more threads than CPUs: 64 asks for more than this machine has)."""
    sweep = sweep_with(tmp_path, POOLS, "{'mode': 'x'}", '["numpy"]')
    run_dir = write_run_config(sweep)

    async def body(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        seen = []
        attempt = 0
        for forker in (None, launcher, launcher):  # cold, then warm twice, alternating sizes
            for n in ("2", "1", "64"):
                attempt += 1
                env = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), n)
                process = await start_run(forker, run_dir, attempt, **env)
                assert await process.wait() == 0, run_dir.output_log.read_text()
                mode = read_json(run_dir.metadata)["start"]["mode"]
                seen.append((mode, n, read_json(run_dir.result)["return"]))
        assert launcher.pid is not None
        with open(f"/proc/{launcher.pid}/environ", "rb") as f:
            zygote_env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if e)
        return seen, threads(launcher.pid), zygote_env

    (seen, zygote_threads, zygote_env), notes = with_launcher(sweep, body)
    assert notes == []
    assert [mode for mode, _, _ in seen] == ["cold"] * 3 + ["warm"] * 6
    cold = {n: pools for mode, n, pools in seen if mode == "cold"}
    cpus = len(os.sched_getaffinity(0))
    assert [cold[n]["openblas"] for n in ("1", "2", "64")] == [1, min(2, cpus), cpus]  # a cold run's pools
    for _, n, pools in seen[3:]:
        assert pools == cold[n], (n, pools)
    assert zygote_threads == 1 and zygote_env[b"OPENBLAS_NUM_THREADS"] == b"1"  # the zygote never grew


NUMEXPR = """
import os
SIZES = []

def set_num_threads(n):
    SIZES.append(n)
    return 1
"""


def test_a_preloaded_numexpr_is_resized_to_the_runs_numexpr_num_threads(tmp_path: Path) -> None:
    (tmp_path / "numexpr.py").write_text(NUMEXPR)  # a stand-in: its set_num_threads is what we call
    body = "def train(mode):\n    import numexpr\n    return numexpr.SIZES\n"
    sweep = sweep_with(tmp_path, body, "{'mode': Grid(['a', 'b'])}", '["numexpr"]')
    dirs = [write_run_config(sweep, i) for i in range(2)]

    async def body_(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        for d, n in zip(dirs, ("3", "1")):
            assert await (await start_run(launcher, d, NUMEXPR_NUM_THREADS=n)).wait() == 0
        return notes

    notes, _ = with_launcher(sweep, body_)
    assert notes == []
    assert [read_json(d.metadata)["start"]["mode"] for d in dirs] == ["warm", "warm"]
    assert [read_json(d.result)["return"] for d in dirs] == [[3], [1]]


def test_the_zygote_exits_with_the_launcher(tmp_path: Path) -> None:
    sweep = sweep_with(tmp_path, "def train(mode):\n    return mode\n", "{'mode': 'a'}")
    run_dir = write_run_config(sweep)

    async def body(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        await (await start_run(launcher, run_dir)).wait()
        return launcher.pid

    zygote, _ = with_launcher(sweep, body)
    assert zygote is not None and process_gone(zygote)


def test_processes_forked_from_the_zygote_are_found_by_the_sweeps_run_directories(tmp_path: Path) -> None:
    """/proc shows a forked process the zygote's environment: it names the sweep's runs/ too, so the
    local backend's recovery (every process whose ORCHESTRA_RUN_DIR lies in runs/) kills them."""
    sweep = sweep_with(tmp_path, LOOPING, "{'mode': 'x'}")
    run_dir = write_run_config(sweep)
    prefix = str(sweep.dir.runs) + os.sep

    async def body(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        process = await start_run(launcher, run_dir)
        with anyio.fail_after(60):
            while (pids := read_pids(run_dir)) is None:
                await anyio.sleep(0.01)
        found = proc.with_environ("ORCHESTRA_RUN_DIR", lambda d: d.startswith(prefix))
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        return found, process.pid, pids[1], launcher.pid

    (found, run_pid, grandchild, zygote), _ = with_launcher(sweep, body)
    assert {run_pid, grandchild, zygote} <= set(found)


ESCAPING = """
def train(mode):
    pid = os.fork()
    if pid == 0:  # a child that leaves the run's process group without exec: it shows the zygote's environment
        os.setsid()
        with open(os.path.join(os.environ["ORCHESTRA_RUN_DIR"], "escapee"), "w") as f:
            f.write(str(os.getpid()))
        time.sleep(3600)
        os._exit(0)
    while not os.path.exists(os.path.join(os.environ["ORCHESTRA_RUN_DIR"], "escapee")):
        time.sleep(0.01)
    return pid
"""


def test_nothing_forked_from_the_zygote_outlives_the_sweep(tmp_path: Path) -> None:
    sweep = sweep_with(tmp_path, ESCAPING, "{'mode': 'x'}")
    run_dir = write_run_config(sweep)

    async def body(launcher: ZygoteLauncher, notes: list[str]) -> Any:
        process = await start_run(launcher, run_dir)
        assert await process.wait() == 0
        escapee = int((run_dir.path / "escapee").read_text())
        assert not process_gone(escapee)  # alive while the sweep goes on (no run's group holds it)
        return escapee

    escapee, _ = with_launcher(sweep, body)
    try:
        assert process_gone(escapee)
    finally:
        if not process_gone(escapee):
            os.kill(escapee, signal.SIGKILL)
