"""The scheduler's behaviour through its Python API, with real run processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestra.rundir import Reason, State, read_json
from orchestra.scheduler.commands import Action
from tests.helpers import build_scheduler, pid_alive, statuses, write_sweep

pytestmark = pytest.mark.anyio


async def wait_until(condition, timeout: float = 60, what: str = ""):
    with anyio.fail_after(timeout):
        while not (value := condition()):
            await anyio.sleep(0.02)
    return value


async def run_to_end(sched, timeout: float = 120):
    with anyio.fail_after(timeout):
        return await sched.run()


async def test_runs_every_variant_and_seed_and_writes_statuses(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        from orchestra import Sweep, Config, Grid
        def train(config, seed, ctx):
            ctx.logger("score", config["x"] * 10 + seed)
            ctx.logger.dump()
            return config["x"]
        sweep = Sweep(train, Config({"x": Grid([1, 2, 3])}), seeds=[0, 1])
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps")
    summary = await run_to_end(sched)
    assert summary.exit_code == 0
    st = statuses(tmp_path / "sweeps" / "sweep")
    assert len(st) == 6
    assert all(
        s.state is State.COMPLETED and s.exit.reason is Reason.SUCCESS and s.attempt == 1 for s in st.values()
    )
    rows = {r.id: r for r in sched.snapshot().rows}
    assert rows["x=3/1"].metrics["score"] == 31


async def test_a_run_starts_the_moment_a_slot_frees(tmp_path: Path):
    # K=2: a long run and a short run start together; the third must start when the short one ends,
    # while the long one is still running (no batch synchronisation).
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep
        def train(config):
            time.sleep(config["t"])
        sweep = Sweep(train, [{"t": 4.0}, {"t": 0.2}, {"t": 0.2}])
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps")
    await run_to_end(sched)
    st = list(statuses(tmp_path / "sweeps" / "sweep").values())
    long_run, _, third = st
    assert third.started_at < long_run.ended_at


async def test_cpu_slots_bound_concurrency(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep, Config, Grid
        def train(config):
            time.sleep(0.3)
        sweep = Sweep(train, Config({"i": Grid(list(range(6)))}), cpus=2)
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", workers=4)
    peak = 0

    async def watch():
        nonlocal peak
        while not sched.done:
            peak = max(peak, sum(1 for r in sched.snapshot().rows if r.state is State.RUNNING))
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        await run_to_end(sched)
    assert peak == 2


@pytest.mark.parametrize(
    ("body", "reason", "detail"),
    [
        ("raise ValueError('boom')", Reason.EXCEPTION, "ValueError: boom"),
        ("import sys; sys.exit(7)", Reason.EXIT_CODE, "exited with status 7"),
        ("import ctypes; ctypes.string_at(0)", Reason.SIGNAL, "SIGSEGV"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", Reason.SIGNAL, "SIGKILL"),
    ],
    ids=["raises", "exit-code", "segfault", "sigkill"],
)
async def test_a_failing_run_is_recorded_retried_and_the_sweep_goes_on(tmp_path: Path, body, reason, detail):
    f = write_sweep(
        tmp_path,
        f"""
        from orchestra import Sweep
        def train(config):
            if config["bad"]:
                {body}
        sweep = Sweep(train, [{{"bad": True}}, {{"bad": False}}], max_retries=1)
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps")
    summary = await run_to_end(sched)
    assert summary.exit_code == 1
    st = list(statuses(tmp_path / "sweeps" / "sweep").values())
    bad, good = st
    assert good.state is State.COMPLETED
    assert bad.state is State.FAILED and bad.exit.reason is reason
    assert detail in bad.exit.describe()
    assert bad.attempt == 2, "max_retries=1 gives a second attempt"
    assert [e["state"] for e in bad.history].count("failed") == 2


async def test_memory_limit_kill_is_a_failure_not_a_crash(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import resource
        from orchestra import Sweep
        def train(config):
            resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
            hog = bytearray(2 << 30)
        sweep = Sweep(train, [{}])
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps")
    await run_to_end(sched)
    (st,) = statuses(tmp_path / "sweeps" / "sweep").values()
    assert st.state is State.FAILED and st.exit.reason is Reason.EXCEPTION
    assert "MemoryError" in st.exit.message


async def test_timeout_stops_a_hanging_run(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep
        def train(config):
            if config["hang"]:
                time.sleep(600)
        sweep = Sweep(train, [{"hang": True}, {"hang": False}], timeout=1.0)
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", grace=1.0)
    await run_to_end(sched)
    hang, ok = statuses(tmp_path / "sweeps" / "sweep").values()
    assert ok.state is State.COMPLETED
    assert hang.state is State.FAILED and hang.exit.reason is Reason.TIMEOUT


async def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import signal, time
        from orchestra import Sweep
        def train(config):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(600)
        sweep = Sweep(train, [{}], timeout=0.5)
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", grace=0.5)
    await run_to_end(sched)
    (st,) = statuses(tmp_path / "sweeps" / "sweep").values()
    assert st.exit.reason is Reason.TIMEOUT and st.exit.signal == "SIGKILL"


GRANDCHILDREN = """
    import multiprocessing, os, signal, time
    from pathlib import Path
    from orchestra import Sweep

    def worker():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # a stubborn DataLoader-like worker
        time.sleep(600)

    def train(config, logdir):
        ctx = multiprocessing.get_context("fork")
        procs = [ctx.Process(target=worker) for _ in range(3)]
        for p in procs:
            p.start()
        Path(logdir, "pids").write_text(" ".join(str(p.pid) for p in procs))
        time.sleep(600)

    sweep = Sweep(train, [{}])
"""


@pytest.mark.parametrize("command", ["cancel", "kill"])
async def test_cancel_and_kill_end_the_whole_process_group(tmp_path: Path, command: str):
    f = write_sweep(tmp_path, GRANDCHILDREN)
    sched = build_scheduler(f, tmp_path / "sweeps", grace=1.0)
    run_dir = tmp_path / "sweeps" / "sweep" / "runs" / "default" / "0"
    async with anyio.create_task_group() as tg:
        result = {}

        async def go():
            result["summary"] = await run_to_end(sched)

        tg.start_soon(go)
        await wait_until(lambda: (run_dir / "pids").exists() and (run_dir / "pids").read_text())
        pids = [int(p) for p in (run_dir / "pids").read_text().split()]
        leader = sched.row("default/0").pid
        getattr(sched, command)("default/0")
    assert not pid_alive(leader)
    assert not any(pid_alive(p) for p in pids), "a grandchild survived"
    (st,) = statuses(tmp_path / "sweeps" / "sweep").values()
    assert st.state is State.CANCELLED
    assert st.exit.reason is (Reason.CANCELLED if command == "cancel" else Reason.KILLED)


async def test_cancel_of_a_queued_run_keeps_it_from_starting(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep, Config, Grid
        def train(config):
            time.sleep(0.5)
        sweep = Sweep(train, Config({"i": Grid([0, 1, 2])}))
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", workers=1)
    reply = sched.cancel("i=2/0")
    assert (
        reply.action is Action.CANCELLED
        and reply.detail == "before it started"
        and reply.state == "cancelled"
    )
    await run_to_end(sched)
    st = statuses(tmp_path / "sweeps" / "sweep")
    assert st["i=2/0"].state is State.CANCELLED and st["i=2/0"].attempt == 0
    assert st["i=0/0"].state is State.COMPLETED and st["i=1/0"].state is State.COMPLETED


async def test_a_run_cancelled_while_it_is_being_launched_is_stopped_once_it_runs(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep, Config, Grid
        def train(config):
            time.sleep(60)
        sweep = Sweep(train, Config({"i": Grid([0])}))
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", workers=1)
    launching, go_on = anyio.Event(), anyio.Event()
    launch = sched.backend.launch

    async def held_launch(batch):  # the backend is slow to start it: the cancel comes meanwhile
        launching.set()
        await go_on.wait()
        return await launch(batch)

    sched.backend.launch = held_launch
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_to_end, sched, 60)
        with anyio.fail_after(30):
            await launching.wait()
        reply = sched.cancel("i=0/0")
        assert reply.action is Action.STOPPING, reply
        go_on.set()
    st = statuses(tmp_path / "sweeps" / "sweep")["i=0/0"]
    assert st.state is State.CANCELLED and st.attempt == 1, st
    assert st.ended_at - st.started_at < 30, "stopped when it started, not after its minute"


async def test_retry_requeues_a_failed_run(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import os
        from orchestra import Sweep
        def train(config):
            if os.environ["ORCHESTRA_ATTEMPT"] == "1":
                raise RuntimeError("first attempt fails")
        sweep = Sweep(train, [{}])
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", linger=True)
    async with anyio.create_task_group() as tg:
        tg.start_soon(sched.run)
        await wait_until(lambda: sched.row("default/0").state is State.FAILED)
        assert sched.retry("default/0").action is Action.REQUEUED
        await wait_until(lambda: sched.row("default/0").state is State.COMPLETED)
        sched.stop()
    (st,) = statuses(tmp_path / "sweeps" / "sweep").values()
    assert st.state is State.COMPLETED and st.attempt == 2


async def test_pause_holds_new_launches_and_resume_releases_them(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep, Config, Grid
        def train(config):
            time.sleep(0.3)
        sweep = Sweep(train, Config({"i": Grid([0, 1, 2])}))
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", workers=1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(sched.run)
        await wait_until(lambda: sched.row("i=0/0").state is State.RUNNING)
        sched.pause()
        await wait_until(lambda: sched.row("i=0/0").state is State.COMPLETED)
        await anyio.sleep(0.5)
        assert sched.row("i=1/0").state is State.QUEUED, "paused: nothing new may start"
        sched.resume()
    assert all(r.state is State.COMPLETED for r in sched.snapshot().rows)


async def test_stop_drains_running_runs_and_starts_nothing_new(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep, Config, Grid
        def train(config):
            time.sleep(0.5)
        sweep = Sweep(train, Config({"i": Grid([0, 1, 2, 3])}))
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", workers=2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(sched.run)
        await wait_until(lambda: sched.row("i=1/0").state is State.RUNNING)
        sched.stop()
    states = {r.id: r.state for r in sched.snapshot().rows}
    assert states == {
        "i=0/0": State.COMPLETED,
        "i=1/0": State.COMPLETED,
        "i=2/0": State.QUEUED,
        "i=3/0": State.QUEUED,
    }


async def test_interrupt_marks_running_runs_interrupted_and_leaves_nothing_running(tmp_path: Path):
    f = write_sweep(tmp_path, GRANDCHILDREN)
    sched = build_scheduler(f, tmp_path / "sweeps", grace=1.0)
    run_dir = tmp_path / "sweeps" / "sweep" / "runs" / "default" / "0"
    async with anyio.create_task_group() as tg:
        tg.start_soon(sched.run)
        await wait_until(lambda: (run_dir / "pids").exists() and (run_dir / "pids").read_text())
        pids = [int(p) for p in (run_dir / "pids").read_text().split()]
        sched.interrupt()
    assert not any(pid_alive(p) for p in pids)
    (st,) = statuses(tmp_path / "sweeps" / "sweep").values()
    assert st.state is State.INTERRUPTED and st.exit.reason is Reason.INTERRUPTED


async def test_cancelling_the_scheduler_task_kills_its_runs(tmp_path: Path):
    # a frontend that dies (its task group cancelled) must not leave runs behind
    f = write_sweep(tmp_path, GRANDCHILDREN)
    sched = build_scheduler(f, tmp_path / "sweeps", grace=0.5)
    run_dir = tmp_path / "sweeps" / "sweep" / "runs" / "default" / "0"
    async with anyio.create_task_group() as tg:
        tg.start_soon(sched.run)
        await wait_until(lambda: (run_dir / "pids").exists() and (run_dir / "pids").read_text())
        pids = [int(p) for p in (run_dir / "pids").read_text().split()]
        leader = sched.row("default/0").pid
        tg.cancel_scope.cancel()
    assert not pid_alive(leader) and not any(pid_alive(p) for p in pids)
    (st,) = statuses(tmp_path / "sweeps" / "sweep").values()
    assert st.state is State.INTERRUPTED and st.exit.reason is Reason.INTERRUPTED


async def test_max_failures_stops_launching(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        from orchestra import Sweep, Config, Grid
        def train(config):
            raise RuntimeError("always")
        sweep = Sweep(train, Config({"i": Grid(list(range(6)))}), max_failures=2)
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", workers=1)
    summary = await run_to_end(sched)
    assert summary.stopped_by_failures and summary.exit_code == 1
    counts = sched.snapshot().counts
    assert counts[State.FAILED] == 2 and counts[State.QUEUED] == 4


async def test_fail_fast_interrupts_running_runs(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep
        def train(config):
            if config["bad"]:
                raise RuntimeError("first failure")
            time.sleep(600)
        sweep = Sweep(train, [{"bad": False}, {"bad": True}, {"bad": False}])
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", workers=2, fail_fast=True, grace=1.0)
    summary = await run_to_end(sched)
    assert summary.exit_code == 1
    states = [r.state for r in sched.snapshot().rows]
    assert states == [State.INTERRUPTED, State.FAILED, State.QUEUED]


async def test_round_robin_order_gives_every_variant_its_first_seed_early(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        from orchestra import Sweep, Config, Grid
        def train(config):
            pass
        sweep = Sweep(train, Config({"v": Grid(["a", "b", "c"])}), seeds=[0, 1], order="round_robin")
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", workers=1)
    await run_to_end(sched)
    st = statuses(tmp_path / "sweeps" / "sweep")
    order = sorted(st, key=lambda rid: st[rid].started_at)
    assert order == ["v=a/0", "v=b/0", "v=c/0", "v=a/1", "v=b/1", "v=c/1"]


async def test_metrics_are_tailed_while_a_run_is_running(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import time
        from pathlib import Path
        from orchestra import Sweep
        def train(ctx, logdir):
            for i in range(1000):
                ctx.logger("iteration", i); ctx.logger("loss", 1.0 / (i + 1)); ctx.logger.dump()
                if Path(logdir, "stop").exists():
                    return
                time.sleep(0.01)
        sweep = Sweep(train, [{}])
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps")
    async with anyio.create_task_group() as tg:
        tg.start_soon(sched.run)
        row = await wait_until(lambda: (r := sched.row("default/0")).records >= 5 and r)
        assert row.state is State.RUNNING and "loss" in row.metrics and row.step is not None
        (row.dir / "stop").touch()
    final = sched.row("default/0")
    lines = (final.dir / "metrics.jsonl").read_text().splitlines()
    assert final.records == len(lines), "every record dumped was read"


async def test_events_stream_reports_each_state_change(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        from orchestra import Sweep
        def train(config):
            pass
        sweep = Sweep(train, [{}, {}], seeds=[0])
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps")
    seen = []

    async def listen(stream):
        async with stream:
            async for ev in stream:
                seen.append((ev.row.id, ev.previous, ev.row.state))

    async with anyio.create_task_group() as tg:
        tg.start_soon(listen, sched.events())
        await run_to_end(sched)
    for rid in {r.id for r in sched.snapshot().rows}:
        mine = [(a, b) for i, a, b in seen if i == rid]
        assert mine == [(State.QUEUED, State.RUNNING), (State.RUNNING, State.COMPLETED)]


async def test_the_run_sees_its_environment(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import json, os
        from pathlib import Path
        from orchestra import Sweep
        def train(logdir):
            keys = ["ORCHESTRA_RUN_DIR", "ORCHESTRA_ATTEMPT", "ORCHESTRA_PARENT_PID", "ORCHESTRA_DEVICE",
                    "ORCHESTRA_GPUS", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "OMP_NUM_THREADS", "MY_VAR",
                    "ORCHESTRA_RESULT_FSYNC"]
            env = {k: os.environ.get(k) for k in keys}
            env["pgid_is_own"] = os.getpgid(0) == os.getpid()
            env["cwd"] = os.getcwd()
            Path(logdir, "env.json").write_text(json.dumps(env))
        sweep = Sweep(train, [{}], env={"MY_VAR": "hello"})
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", workers=2)
    await run_to_end(sched)
    run_dir = tmp_path / "sweeps" / "sweep" / "runs" / "default" / "0"
    env = read_json(run_dir / "env.json")
    assert env["ORCHESTRA_RUN_DIR"] == str(run_dir)
    assert env["ORCHESTRA_ATTEMPT"] == "1"
    assert env["ORCHESTRA_PARENT_PID"] == str(os.getpid())
    assert env["ORCHESTRA_DEVICE"] == "cpu" and env["ORCHESTRA_GPUS"] == "[]"
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env["MY_VAR"] == "hello"
    assert env["ORCHESTRA_RESULT_FSYNC"] == "orchestrator"  # its status writer fsyncs result.json
    assert env["pgid_is_own"] is True, "each run is its own process group"
    assert env["cwd"] == str(tmp_path)
    cores = len(os.sched_getaffinity(0))
    if "OMP_NUM_THREADS" not in os.environ:
        assert env["OMP_NUM_THREADS"] == str(max(1, cores // 2))


async def test_output_goes_to_output_log_without_passing_through_the_orchestrator(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import sys
        from orchestra import Sweep
        def train(config):
            print("to stdout")
            print("to stderr", file=sys.stderr)
        sweep = Sweep(train, [{}])
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps")
    await run_to_end(sched)
    log = (tmp_path / "sweeps" / "sweep" / "runs" / "default" / "0" / "output.log").read_text()
    assert "to stdout" in log and "to stderr" in log
    fd_target = (
        os.readlink(f"/proc/{os.getpid()}/fd/1") if os.path.exists(f"/proc/{os.getpid()}/fd/1") else ""
    )
    assert "output.log" not in fd_target


def test_sigpipe_default_untouched():
    assert signal.getsignal(signal.SIGPIPE) is not None


async def test_a_retried_run_resumes_from_its_newest_snapshot(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import os
        from pathlib import Path
        from orchestra import Sweep
        def train(ctx, logdir):
            start, total = ctx.resume() or (0, 0)
            Path(logdir, f"start-{ctx.attempt}").write_text(str(start))
            for itr in range(start, 20):
                total += itr
                ctx.snapshot(itr, total)
                if itr == 12 and ctx.attempt == 1:
                    raise RuntimeError("crash in the middle")
            return total
        sweep = Sweep(train, [{}], max_retries=1, snapshot_mode="gap", snapshot_gap=5)
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps")
    await run_to_end(sched)
    (st,) = statuses(tmp_path / "sweeps" / "sweep").values()
    assert st.state is State.COMPLETED and st.attempt == 2
    run_dir = tmp_path / "sweeps" / "sweep" / "runs" / "default" / "0"
    assert (run_dir / "start-1").read_text() == "0"
    assert (run_dir / "start-2").read_text() == "11", "resumes after the newest gap snapshot (itr 10)"
    assert read_json(run_dir / "result.json")["return"] == sum(range(20))


async def test_a_run_that_cannot_be_spawned_fails_and_gives_its_slot_back(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        from orchestra import Sweep, Config, Grid
        def train(config):
            pass
        sweep = Sweep(train, Config({"i": Grid([0, 1, 2])}))
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps", workers=1)
    (sched.row("i=0/0").dir / "output.log").mkdir(parents=True)  # the backend cannot open it
    await run_to_end(sched, timeout=60)
    st = statuses(tmp_path / "sweeps" / "sweep")
    assert st["i=0/0"].state is State.FAILED and st["i=0/0"].exit.reason is Reason.SPAWN
    assert "output.log: is not a regular file" in st["i=0/0"].exit.message
    assert st["i=1/0"].state is State.COMPLETED and st["i=2/0"].state is State.COMPLETED


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "no-pidfd"])
async def test_a_cold_run_s_process_is_waited_for_with_or_without_a_pidfd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pidfd: bool
):
    """The exit status of a spawned run: by its pidfd in the event loop, or, where the kernel has
    none, from a worker thread; a signal's death is its negative number, as asyncio says it."""
    from orchestra.scheduler.backends.local import SpawnedProcess

    if not pidfd:

        def no_pidfd(pid: int) -> int:
            raise OSError(38, "Function not implemented")

        monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    log = os.open(tmp_path / "out.log", os.O_WRONLY | os.O_CREAT)
    try:
        ends = SpawnedProcess.spawn(
            ["sh", "-c", "echo hi; exit 3"], log=log, cwd=tmp_path, env=dict(os.environ)
        )
        hangs = SpawnedProcess.spawn(["sleep", "60"], log=log, cwd=tmp_path, env=dict(os.environ))
    finally:
        os.close(log)
    assert (ends._pidfd is not None) is pidfd
    with anyio.fail_after(30):
        assert await ends.wait() == 3 and ends.returncode == 3
        assert await ends.wait() == 3  # asked again: the same answer, nothing waited for twice
        with anyio.move_on_after(0.2):  # cancelled while it waits: it can be waited for again
            await hangs.wait()
        assert hangs.returncode is None
        assert os.getsid(hangs.pid) == hangs.pid  # a session of its own
        os.kill(hangs.pid, signal.SIGKILL)
        assert await hangs.wait() == -signal.SIGKILL
    assert (tmp_path / "out.log").read_text() == "hi\n"


async def test_a_local_run_s_running_record_is_fsynced_lazily_and_its_end_s_at_once(tmp_path: Path):
    """The 'running' record of a run that dies with its orchestrator is worth no fsync before its
    first second is over; the record of its end always is durable (after its result.json)."""
    f = write_sweep(
        tmp_path,
        """
        from orchestra import Sweep, Config, Grid
        def train(config):
            return config["x"]
        sweep = Sweep(train, Config({"x": Grid([1, 2])}))
    """,
    )
    sched = build_scheduler(f, tmp_path / "sweeps")
    writes: list[tuple[str, bool, bool]] = []
    real_write = sched.writer.write

    def recording_write(path: Any, obj: Any, **kw: Any) -> None:
        writes.append((obj["state"], kw.get("lazy", False), kw.get("sync_first") is not None))
        real_write(path, obj, **kw)

    sched.writer.write = recording_write
    summary = await run_to_end(sched)
    assert summary.exit_code == 0
    assert sorted(writes) == [("completed", False, True)] * 2 + [("running", True, False)] * 2
