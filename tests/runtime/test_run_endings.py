"""Issue 11, items 6, 7, 8 and 10, and the parent-death link as the backend's choice: real runs, real files."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from orchestra.rundir import read_json
from orchestra.rundir.names import EXIT_ERROR, EXIT_SETUP, EXIT_TERMINATED
from tests.helpers import orchestra
from tests.runtime.harness import (
    prepare_sweep,
    process_gone,
    run,
    run_env,
    run_sweep,
    start,
    wait,
    wait_for,
    write_run_config,
)
from tests.runtime.test_entry import sweep_source

# ------------------------------------------------------------------ 6: threads left behind


def test_a_run_that_returns_with_a_non_daemon_thread_left_ends_once_its_result_is_written(
    tmp_path: Path,
) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            import atexit, threading

            def train():
                atexit.register(print, "atexit handler ran")
                threading.Thread(target=time.sleep, args=(3600,), name="forgotten-worker").start()
                return "done"
            """
        ),
    )
    assert fin.code == 0 and fin.result["status"] == "completed" and fin.result["return"] == "done"
    assert "left 1 non-daemon thread(s) running (forgotten-worker)" in fin.log
    assert "atexit handler ran" in fin.log


def test_the_run_ends_without_python_s_teardown_but_runs_exit_hooks_and_closes_open_files(
    tmp_path: Path,
) -> None:
    """The run's process ends with os._exit once its result is written: atexit handlers, weakref
    finalizers, an executor's threading exit hook and logging.shutdown still run, and files the
    entry left open (text, binary, gzip: its trailer) are flushed and closed as Python's shutdown
    would when it freed them; stdout written without a newline is not lost."""
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            import atexit, gzip, logging, weakref
            from concurrent.futures import ThreadPoolExecutor

            HANDLES = []

            class Box:
                pass

            def train(logdir):
                text = open(logdir / "text.log", "w")
                text.write("buffered text")  # never flushed nor closed
                raw = open(logdir / "raw.bin", "wb")
                raw.write(b"buffered bytes")
                zipped = gzip.open(logdir / "data.gz", "wt")
                zipped.write("zipped")
                HANDLES.extend([text, raw, zipped])
                atexit.register(lambda: open(logdir / "atexit", "w").write("ran"))
                box = Box()
                HANDLES.append(box)
                weakref.finalize(box, lambda: open(logdir / "finalizer", "w").write("ran"))
                pool = ThreadPoolExecutor(1)
                pool.submit(lambda: None).result()
                HANDLES.append(pool)
                logging.basicConfig(filename=str(logdir / "log.txt"))
                logging.getLogger().warning("logged")
                print("no newline at the end", end="")
            """
        ),
    )
    assert fin.code == 0 and fin.result["status"] == "completed", fin.log
    d = fin.run.path
    assert (d / "text.log").read_text() == "buffered text"
    assert (d / "raw.bin").read_bytes() == b"buffered bytes"
    import gzip

    assert gzip.decompress((d / "data.gz").read_bytes()) == b"zipped"  # complete: closed, trailer written
    assert (d / "atexit").read_text() == "ran" and (d / "finalizer").read_text() == "ran"
    assert "WARNING:root:logged" in (d / "log.txt").read_text()
    assert fin.log.endswith("no newline at the end")


def test_a_file_a_module_of_the_run_opened_at_import_is_flushed_at_exit(tmp_path: Path) -> None:
    """The scan for open files at exit sees what the user's modules made when the payload was
    unpickled (the runtime's own objects are frozen out of it before that)."""
    (tmp_path / "journal.py").write_text(
        "import os\n"
        "RUN = os.environ.get('ORCHESTRA_RUN_DIR')\n"
        "LOG = open(os.path.join(RUN, 'journal.log'), 'w') if RUN else None  # in the run only\n"
    )
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            import journal

            def train():
                journal.LOG.write("written at import's file, never flushed")
            """
        ),
    )
    assert fin.code == 0 and fin.result["status"] == "completed", fin.log
    assert (fin.run.path / "journal.log").read_text() == "written at import's file, never flushed"


def test_an_executor_busy_at_exit_does_not_hold_the_run_beyond_the_grace(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            from concurrent.futures import ThreadPoolExecutor

            POOLS = []

            def train():
                POOLS.append(ThreadPoolExecutor(1, thread_name_prefix="busy"))
                POOLS[0].submit(time.sleep, 3600)
                return "done"
            """
        ),
    )
    assert fin.code == 0 and fin.result["return"] == "done"
    assert "exit handlers did not end within 5s" in fin.log


def test_a_run_that_raises_with_a_thread_left_ends_with_its_failure(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            import threading

            def train():
                threading.Thread(target=time.sleep, args=(3600,)).start()
                raise ValueError("bad")
            """
        ),
    )
    assert fin.code == EXIT_ERROR and fin.result["error"]["type"] == "ValueError"


# ------------------------------------------------------------------ 7: async entry functions


def test_an_async_entry_is_awaited(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            import asyncio

            async def train(ctx, lr):
                await asyncio.sleep(0.01)
                ctx.logger("loss", lr)
                ctx.logger.dump()
                return {"lr": lr, "loop": type(asyncio.get_running_loop()).__name__}
            """
        ),
    )
    assert fin.code == 0, fin.log
    assert fin.result["status"] == "completed"
    assert fin.result["return"]["lr"] == 0.5 and "Loop" in fin.result["return"]["loop"]
    assert [r["values"] for r in fin.metrics] == [{"loss": 0.5}]


def test_an_async_entry_that_uses_anyio_runs_under_anyio(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            import anyio

            async def train():
                results = []

                async def child(i):
                    await anyio.sleep(0.01)
                    results.append(i)

                async with anyio.create_task_group() as tg:
                    for i in range(3):
                        tg.start_soon(child, i)
                return sorted(results)
            """
        ),
    )
    assert fin.code == 0, fin.log
    assert fin.result["return"] == [0, 1, 2]


def test_an_async_entry_that_raises_fails_with_its_traceback(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source("async def train():\n    raise KeyError('missing')\n"),
    )
    assert fin.code == EXIT_ERROR
    assert fin.result["error"]["type"] == "KeyError" and "sweep.py" in fin.result["error"]["traceback"]


def test_sigterm_stops_an_async_entry_as_it_stops_any_other(tmp_path: Path) -> None:
    flag = tmp_path / "waiting"
    sweep = prepare_sweep(
        tmp_path,
        sweep_source(
            f"""
            import asyncio

            async def train():
                open({str(flag)!r}, "w").close()
                await asyncio.sleep(3600)
            """
        ),
    )
    run_dir = write_run_config(sweep)
    proc = start(run_dir)
    wait_for(flag.exists, what="the async entry to start waiting")
    os.killpg(proc.pid, signal.SIGTERM)
    fin = wait(proc, run_dir)
    assert fin.code == EXIT_TERMINATED and fin.result["status"] == "terminated"


# ------------------------------------------------------------------ 8: closed stdout/stderr


def test_a_run_that_closes_its_streams_then_raises_still_records_the_exception(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            def train():
                print("about to close", flush=True)
                sys.stdout.close()
                sys.stderr.close()
                raise ValueError("after closing the streams")
            """
        ),
    )
    assert fin.code == EXIT_ERROR
    assert fin.result["status"] == "failed" and fin.result["error"]["message"] == "after closing the streams"
    assert "ValueError: after closing the streams" in fin.log


def test_a_run_that_closes_fds_1_and_2_then_raises_still_records_the_exception(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            def train():
                print("buffered, never flushed", end="")
                os.close(1)
                os.close(2)
                raise ValueError("after closing the descriptors")
            """
        ),
    )
    assert fin.code == EXIT_ERROR
    assert (
        fin.result["error"]["message"] == "after closing the descriptors"
    )  # result.json parses: not corrupted
    assert "ValueError: after closing the descriptors" in fin.log


# ------------------------------------------------------------------ the parent-death link is the backend's choice


PARENT = """
import os, subprocess, sys
log = open(sys.argv[2], "ab")
env = {k: v for k, v in os.environ.items() if k != "ORCHESTRA_PARENT_PID"}
child = subprocess.Popen([sys.executable, "-m", "orchestra.runtime", sys.argv[1]], stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
print(child.pid, flush=True)
sys.stdin.read()
"""


def test_without_orchestra_parent_pid_a_run_outlives_its_parent(tmp_path: Path) -> None:
    started, go = tmp_path / "started", tmp_path / "go"
    sweep = prepare_sweep(
        tmp_path,
        sweep_source(
            f"""
            def train():
                open({str(started)!r}, "w").close()
                while not os.path.exists({str(go)!r}):
                    time.sleep(0.01)
                return os.getppid()
            """
        ),
    )
    run_dir = write_run_config(sweep)
    env = run_env(run_dir)
    assert "ORCHESTRA_PARENT_PID" not in env  # as a Slurm backend starts it
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(run_dir.path), str(run_dir.output_log)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        wait_for(started.exists, what="the run to start")
        parent.kill()  # a Slurm job's parent (slurmstepd) may come and go; the job must not die with it
        parent.wait()
        go.touch()
        wait_for(lambda: run_dir.result.exists(), what="the run to finish on its own")
        assert read_json(run_dir.result)["status"] == "completed"
    finally:
        if not process_gone(child):
            os.killpg(child, signal.SIGKILL)


# ------------------------------------------------------------------ 10: temp files, modes, payload


KILLED_WRITER = """
import sys, time
from orchestra.atomic import atomic_file
with atomic_file(sys.argv[1]) as f:
    f.write(b"half")
    print("writing", flush=True)
    time.sleep(3600)
"""


def killed_mid_write(path: Path) -> None:
    """Leave the temp file a writer killed mid-write leaves (a real process, SIGKILLed)."""
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"writing"
    proc.kill()
    proc.wait()


def temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_temps_left_by_killed_writers_are_removed_by_the_next_up_and_the_next_attempt(tmp_path: Path) -> None:
    sweep = prepare_sweep(tmp_path, sweep_source("def train():\n    return 1\n"))
    run_dir = write_run_config(sweep)
    for path in (sweep.dir.payload, sweep.dir.sweep_json, run_dir.status, run_dir.result, run_dir.metadata):
        killed_mid_write(path)
    assert len(temps(sweep.dir.path)) == 2 and len(temps(run_dir.path)) == 3
    from orchestra.plan import prepare
    from orchestra.plan.loader import load_sweep_file

    loaded = load_sweep_file(str(sweep.file))
    payload = sweep.dir.payload.read_bytes()
    prepare.apply(prepare.reconcile(loaded, tmp_path / "sweeps", payload=payload), payload)  # the next up
    assert temps(sweep.dir.path) == []
    # the orchestrator's own (status.json) is gone; the run's are the run's to remove (on a cluster the
    # run may still be alive while the next up starts)
    assert [t.split(".")[1] for t in temps(run_dir.path)] == ["metadata", "result"]
    assert run(run_dir).code == 0
    assert temps(run_dir.path) == []


def test_under_umask_000_the_payload_lock_and_status_files_are_not_writable_by_others(tmp_path: Path) -> None:
    (tmp_path / "sweep.py").write_text(
        textwrap.dedent(
            """
            from orchestra import Config, Grid, Sweep
            def train(lr):
                return lr
            sweep = Sweep(train, Config({"lr": Grid([0.1, 0.2])}), snapshot_mode="last")
            """
        )
    )
    out = subprocess.run(
        ["sh", "-c", f"umask 000 && exec {sys.executable} -m orchestra up sweep.py --headless"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    sweep = tmp_path / "sweeps" / "sweep"
    files = [
        sweep / "payload.pkl",
        sweep / "orchestra.lock",
        sweep / "sweep.json",
        sweep / "launch" / "git.json",
    ]
    files += list(sweep.glob("runs/*/0/*.json"))
    assert len(files) > 8
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_a_payload_others_can_write_is_refused_with_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    sweep = prepare_sweep(tmp_path, sweep_source(f"def train():\n    open({str(marker)!r}, 'w').close()\n"))
    run_dir = write_run_config(sweep)
    sweep.dir.payload.chmod(0o666)
    fin = run(run_dir)
    assert fin.code == EXIT_SETUP and not marker.exists()
    message = fin.result["error"]["message"]
    assert "payload.pkl: is writable by its group and others (mode 0666)" in message
    assert "chmod go-w" in message and "\n" not in message
    assert f"[orchestra] {message}" in fin.log


def test_orchestra_up_rewrites_a_payload_that_others_could_write(tmp_path: Path) -> None:
    (tmp_path / "sweep.py").write_text(
        "from orchestra import Config, Sweep\ndef train():\n    return 1\nsweep = Sweep(train, Config({}))\n"
    )
    assert orchestra("up", "sweep.py", "--headless", cwd=tmp_path).returncode == 0
    payload = tmp_path / "sweeps" / "sweep" / "payload.pkl"
    payload.chmod(0o666)
    out = orchestra("up", "sweep.py", "--headless", "--retry-failed", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert stat.S_IMODE(payload.stat().st_mode) == 0o644
