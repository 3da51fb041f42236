"""The scheduler: one anyio task group that places, starts, watches and stops the runs of a sweep.

All placement decisions happen in one task (``_placement_loop``), so two runs can never be given
the same CPU slot or the same GPU bytes. Each started run has a supervising task that waits for
its exit, applies its timeout and retry policy, and writes its status. Frontends (the dashboard,
the headless display, tests) read :meth:`Scheduler.snapshot` on timers or listen to
:meth:`Scheduler.events`, and steer with the command methods (``cancel``, ``kill``, ``retry``,
``pause``, ``resume``, ``stop``, ``interrupt``), which are plain calls from the same event loop.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from orchestra.plan.prepare import PlannedRun, Reconciled, run_config
from orchestra.rundir import (
    EXIT_SETUP,
    EXIT_TERMINATED,
    Exit,
    JsonlTail,
    Reason,
    RunDir,
    State,
    Status,
    read_json_or_none,
    write_json,
)
from orchestra.scheduler.backends import Backend, Handle, LaunchSpec
from orchestra.scheduler.gpu import GpuGrant, GpuLedger
from orchestra.scheduler.resources import CpuSlots
from orchestra.scheduler.runenv import run_env
from orchestra.scheduler.table import RunEvent, RunRow, Snapshot
from orchestra.scheduler.writer import StatusWriter
from orchestra.sweep import Resources, Sweep


@dataclass(frozen=True)
class Policy:
    """How the sweep treats failures and time."""

    max_retries: int = 0
    timeout: float | None = None
    max_failures: int | None = None
    fail_fast: bool = False
    order: str = "sweep"
    grace: float = 10.0


@dataclass
class Summary:
    counts: dict[State, int]
    interrupted: bool
    stopped_by_failures: bool

    @property
    def exit_code(self) -> int:
        """0 when every run completed, 130 when interrupted, 1 otherwise (failed, cancelled, left queued)."""
        if self.interrupted and not self.stopped_by_failures:
            return 130
        if set(self.counts) - {State.COMPLETED}:
            return 1
        return 0


class _Run:
    """The scheduler's private, mutable record of one run."""

    def __init__(self, planned: PlannedRun) -> None:
        self.planned = planned
        self.dir: RunDir = planned.dir
        self.status: Status = planned.status or Status(State.QUEUED)
        self.handle: Handle | None = None
        self.stop_reason: Reason | None = None
        self.tries = 0  # attempts started in this session
        self.tail = JsonlTail(self.dir.metrics)
        self.exited = anyio.Event()
        self.grant: GpuGrant | None = None
        self.slot = False  # holds its CPU slots (from placement until its process is gone)
        spec = planned.spec
        self.row = RunRow(
            index=spec.index,
            id=spec.id,
            variant=spec.variant.name,
            seed=spec.seed,
            params=spec.variant.params,
            dir=self.dir.path,
            state=self.status.state,
            attempt=self.status.attempt,
            exit=self.status.exit,
            pid=None,
            gpus=self.status.gpus,
            queued_at=self.status.queued_at,
            started_at=self.status.started_at,
            ended_at=self.status.ended_at,
        )


class Scheduler:
    """Runs the planned runs of one sweep; see the module docstring."""

    def __init__(
        self,
        rec: Reconciled,
        backend: Backend,
        *,
        workers: int,
        resources: Resources,
        policy: Policy,
        sweep_env: Mapping[str, str] | None = None,
        sweep_file: Path | None = None,
        run_options: Mapping[str, Any] | None = None,
        gpus: GpuLedger | None = None,
        cwd: Path | None = None,
        linger: bool = False,
        metrics_interval: float = 0.5,
        gpu_interval: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rec = rec
        self.backend = backend
        self.slots = CpuSlots(workers)
        self.resources = resources
        self.policy = policy
        self.sweep_env = dict(sweep_env or {})
        self.sweep_file = sweep_file
        self.run_options = dict(run_options or {})
        self.gpus = gpus
        if gpus is not None:
            gpus.pids_of = self.pids_of
        self.cwd = cwd or Path.cwd()
        self.linger = linger
        self.metrics_interval = metrics_interval
        self.gpu_interval = gpu_interval
        self.clock = clock
        self.host = socket.gethostname()
        self.writer = StatusWriter()
        self.runs: dict[str, _Run] = {}
        for p in rec.runs:
            self.runs[p.id] = _Run(p)
        self._order = {rid: self._order_key(r) for rid, r in self.runs.items()}
        self._queue: list[str] = sorted((p.id for p in rec.runs if p.start), key=self._order.__getitem__)
        self._version = 0
        self._paused = False
        self._stopping = False
        self._interrupted = False
        self._failures = 0
        self._stopped_by_failures = False
        self._wake = anyio.Event()
        self._changed = anyio.Event()
        self._done = anyio.Event()
        self._closing = False
        self._subscribers: list[MemoryObjectSendStream[RunEvent]] = []
        self._started_at = clock()
        self._tg: anyio.abc.TaskGroup | None = None
        for rid in self._queue:
            run = self.runs[rid]
            if run.row.state is not State.QUEUED:
                self._set_row(run, state=State.QUEUED, exit=None, ended_at=None)

    @classmethod
    def for_sweep(
        cls,
        rec: Reconciled,
        sweep: Sweep,
        sweep_file: Path,
        *,
        workers: int,
        grace: float = 10.0,
        fail_fast: bool = False,
        max_failures: int | None = None,
        backend: Backend | None = None,
        **options: Any,
    ) -> Scheduler:
        """The scheduler of a prepared sweep with its own policies; ``max_failures`` overrides the sweep's."""
        from orchestra.scheduler.backends.local import LocalBackend

        policy = Policy(
            max_retries=sweep.max_retries,
            timeout=sweep.timeout,
            max_failures=max_failures if max_failures is not None else sweep.max_failures,
            fail_fast=fail_fast,
            order=sweep.order,
            grace=grace,
        )
        return cls(
            rec,
            backend or LocalBackend(),
            workers=workers,
            resources=sweep.resources,
            policy=policy,
            sweep_env=sweep.env,
            sweep_file=sweep_file,
            run_options=sweep.run_options(),
            **options,
        )

    # ------------------------------------------------------------------ frontends' view

    def snapshot(self) -> Snapshot:
        """The table now: cheap, immutable, safe to keep."""
        return Snapshot(
            self._version,
            tuple(r.row for r in self.runs.values()),
            self._paused,
            self._stopping or self._interrupted,
            self._started_at,
        )

    @property
    def version(self) -> int:
        return self._version

    async def changed(self, since: int) -> int:
        """Wait until the table's version passes ``since``; returns the new version."""
        while self._version <= since and not self._done.is_set():
            await self._changed.wait()
        return self._version

    def events(self) -> MemoryObjectReceiveStream[RunEvent]:
        """A stream of state changes of runs, from now on."""
        send, receive = anyio.create_memory_object_stream[RunEvent](math.inf)
        self._subscribers.append(send)
        return receive

    def row(self, run_id: str) -> RunRow:
        return self._get(run_id).row

    def pids_of(self, run_id: str) -> list[int]:
        """The live processes of a run (its process group), for the GPU ledger's attribution."""
        run = self.runs.get(run_id)
        handle = run.handle if run is not None else None
        return handle.members() if handle is not None else []

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # ------------------------------------------------------------------ commands

    def cancel(self, run_id: str) -> str:
        """Stop a run: a queued run will not start; a running one gets SIGTERM, then SIGKILL after the grace period."""
        run = self._get(run_id)
        if run.row.state is State.QUEUED:
            self._queue.remove(run_id)
            now = self.clock()
            self._finish(
                run, State.CANCELLED, Exit(Reason.CANCELLED, message="cancelled before it started"), now
            )
            return f"{run_id}: cancelled before it started"
        if run.row.state is State.RUNNING:
            self._stop_run(run, Reason.CANCELLED, graceful=True)
            return f"{run_id}: cancelling (SIGTERM, SIGKILL after {self.policy.grace:g}s)"
        return f"{run_id}: already {run.row.state.value}"

    def kill(self, run_id: str) -> str:
        """Kill a running run's whole process group now (SIGKILL)."""
        run = self._get(run_id)
        if run.row.state is State.QUEUED:
            return self.cancel(run_id)
        if run.row.state is State.RUNNING:
            self._stop_run(run, Reason.KILLED, graceful=False)
            return f"{run_id}: killed"
        return f"{run_id}: already {run.row.state.value}"

    def retry(self, run_id: str) -> str:
        """Queue a failed or cancelled run again; it resumes from its newest snapshot."""
        run = self._get(run_id)
        if not run.row.state.retryable:
            return f"{run_id}: {run.row.state.value}, nothing to retry"
        run.tries = 0
        run.stop_reason = None
        self._queue_run(run, front=True)
        return f"{run_id}: queued again"

    def pause(self) -> None:
        """Start no new runs until :meth:`resume`; running runs go on."""
        self._paused = True
        self._touch()

    def resume(self) -> None:
        self._paused = False
        self._touch()
        self._wakeup()

    def stop(self) -> None:
        """Drain: let running runs finish, start nothing new, then end."""
        self._stopping = True
        self._closing = True
        self._touch()
        self._wakeup()

    def interrupt(self) -> None:
        """Stop everything: running runs get SIGTERM, then SIGKILL after the grace period.

        They are recorded as cancelled/interrupted and resume on the next ``orchestra up``.
        """
        self._interrupted = True
        self._closing = True
        for run in self.runs.values():
            if run.row.state is State.RUNNING:
                self._stop_run(run, Reason.INTERRUPTED, graceful=True)
        self._touch()
        self._wakeup()

    def kill_all(self) -> None:
        """A second interrupt: SIGKILL every running run now."""
        self._interrupted = True
        self._closing = True
        for run in self.runs.values():
            if run.row.state is State.RUNNING and run.handle is not None:
                run.stop_reason = run.stop_reason or Reason.INTERRUPTED
                run.handle.signal(signal.SIGKILL)
        self._wakeup()

    # ------------------------------------------------------------------ the loop

    def problem(self) -> str | None:
        """Why the sweep's runs can never be placed here (asks for more than there is), or None."""
        problem = self.slots.feasible(self.resources.cpus)
        if problem is None and self._wants_gpu():
            problem = (
                "runs ask for GPUs but no GPUs are available"
                if self.gpus is None
                else self.gpus.feasible(self.resources)
            )
        return problem

    async def run(self) -> Summary:
        """Run until every run has finished (or the sweep was stopped); returns the summary."""
        if self._queue and self.problem():
            raise RuntimeError(self.problem())  # callers check problem() first; reaching this is a bug
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._placement_loop)
                tg.start_soon(self._metrics_loop)
                if self.gpus is not None:
                    tg.start_soon(self._gpu_loop)
                self._wakeup()
                await self._done.wait()
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._kill_leftovers()
                await anyio.to_thread.run_sync(self.writer.close)
            for s in self._subscribers:
                s.close()
        counts: dict[State, int] = {}
        for run in self.runs.values():
            counts[run.row.state] = counts.get(run.row.state, 0) + 1
        return Summary(counts, self._interrupted, self._stopped_by_failures)

    def _running(self) -> list[_Run]:
        return [r for r in self.runs.values() if r.row.state is State.RUNNING]

    def _check_done(self) -> None:
        if self._running():
            return
        if self._interrupted or self._stopping or self._closing or (not self._queue and not self.linger):
            self._done.set()
        self._touch()

    async def _placement_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            self._check_done()
            if self._done.is_set():
                return
            if self._paused or self._stopping or self._interrupted:
                continue
            for run, grant in self._pick():
                await self._start(run, grant)

    def _pick(self) -> list[tuple[_Run, GpuGrant | None]]:
        """Choose every queued run that fits now, in queue order (later runs may pass a blocked one)."""
        chosen = []
        cpus = self.resources.cpus
        for rid in list(self._queue):
            if not self.slots.fits(cpus):
                break
            run = self.runs[rid]
            grant = None
            if self._wants_gpu() and self.gpus is not None:
                grant = self.gpus.place(rid, self.resources)
                if grant is None:
                    continue
            self.slots.take(cpus)
            run.slot = True
            self._queue.remove(rid)
            chosen.append((run, grant))
        return chosen

    def _wants_gpu(self) -> bool:
        return self.resources.gpus > 0 or self.resources.gpu_mem is not None

    async def _start(self, run: _Run, grant: GpuGrant | None) -> None:
        now = self.clock()
        run.tries += 1
        attempt = run.status.attempt + 1
        run.grant = grant
        run.stop_reason = None
        run.exited = anyio.Event()
        gpus = tuple(grant.to_json()) if grant is not None else ()
        try:
            run.dir.path.mkdir(parents=True, exist_ok=True)
            self._write_config(run)
            env = run_env(
                base=os.environ,
                sweep_env=self.sweep_env,
                run_dir=run.dir.path,
                attempt=attempt,
                threads=self.slots.threads_per_run(self.resources.cpus),
                sweep_file=self.sweep_file,
                device_env=grant.env() if grant is not None else None,
            )
            spec = LaunchSpec(
                (sys.executable, "-m", "orchestra.runtime", str(run.dir.path)),
                env,
                self.cwd,
                run.dir.output_log,
            )
            handle = await self.backend.start(spec)
        except OSError as exc:
            self._release(run)
            self._finish(
                run,
                State.FAILED,
                Exit(Reason.SPAWN, message=f"{type(exc).__name__}: {exc}"),
                now,
                attempt=attempt,
            )
            self._after_failure(run)
            return
        run.handle = handle
        status = run.status.moved(
            State.RUNNING,
            now,
            attempt=attempt,
            exit=None,
            pid=handle.pid,
            host=self.host,
            gpus=gpus,
            started_at=now,
            ended_at=None,
        )
        self._write_status(run, status)
        self._set_row(
            run,
            state=State.RUNNING,
            attempt=attempt,
            exit=None,
            pid=handle.pid,
            gpus=gpus,
            started_at=now,
            ended_at=None,
        )
        assert self._tg is not None
        self._tg.start_soon(self._supervise, run, handle)
        if self.policy.timeout is not None:
            self._tg.start_soon(self._watch_timeout, run, handle, self.policy.timeout)

    def _write_config(self, run: _Run) -> None:
        # No fsync: the run reads it at once, and after a power loss the next attempt writes it again.
        write_json(run.dir.config, run_config(self.rec.name, run.planned.spec, self.run_options), fsync=False)

    async def _supervise(self, run: _Run, handle: Handle) -> None:
        rc = await handle.wait()  # when cancelled, _kill_leftovers takes over this process
        run.exited.set()
        await self._reap_group(handle)
        self._read_metrics(run)
        self._release(run)
        now = self.clock()
        state, exit_ = self._classify(run, rc)
        self._finish(run, state, exit_, now)
        if state is State.FAILED:
            self._after_failure(run)
        self._wakeup()

    async def _reap_group(self, handle: Handle) -> None:
        """After the leader exits, no process of the run may survive it."""
        if not handle.members():
            return
        handle.signal(signal.SIGKILL)
        with anyio.move_on_after(5):
            while handle.members():
                await anyio.sleep(0.01)

    async def _watch_timeout(self, run: _Run, handle: Handle, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await run.exited.wait()
            return
        if run.handle is handle and not run.exited.is_set():
            self._stop_run(run, Reason.TIMEOUT, graceful=True)

    def _stop_run(self, run: _Run, reason: Reason, *, graceful: bool) -> None:
        handle = run.handle
        if handle is None or run.exited.is_set():
            return
        if run.stop_reason is None or reason is Reason.KILLED:
            run.stop_reason = reason
        if not graceful:
            handle.signal(signal.SIGKILL)
            return
        assert self._tg is not None
        self._tg.start_soon(self._terminate, run, handle)

    async def _terminate(self, run: _Run, handle: Handle) -> None:
        handle.signal(signal.SIGTERM)
        with anyio.move_on_after(self.policy.grace):
            await run.exited.wait()
            return
        handle.signal(signal.SIGKILL)

    def _classify(self, run: _Run, rc: int) -> tuple[State, Exit]:
        stop = run.stop_reason
        sig = _signal_name(-rc) if rc < 0 else None
        if stop is Reason.TIMEOUT:
            return State.FAILED, Exit(
                Reason.TIMEOUT, rc, sig, f"ran past its timeout of {self.policy.timeout:g}s"
            )
        if stop in (Reason.CANCELLED, Reason.KILLED, Reason.INTERRUPTED):
            if rc == 0:
                return State.COMPLETED, Exit(Reason.SUCCESS, 0)
            return (State.INTERRUPTED if stop is Reason.INTERRUPTED else State.CANCELLED), Exit(stop, rc, sig)
        if rc == 0:
            return State.COMPLETED, Exit(Reason.SUCCESS, 0)
        if rc < 0:
            hint = " (out of memory?)" if sig == "SIGKILL" else ""
            return State.FAILED, Exit(Reason.SIGNAL, rc, sig, f"killed by {sig}{hint}")
        result = read_json_or_none(run.dir.result)
        if not (isinstance(result, dict) and result.get("attempt") == run.status.attempt):
            result = None  # none for this attempt: the run died before writing it
        error = result.get("error") if result is not None else None
        if isinstance(error, dict) and error.get("phase") == "setup":
            return State.FAILED, Exit(Reason.SETUP, rc, None, _error_text(error))
        if rc == EXIT_SETUP and result is None:
            return State.FAILED, Exit(Reason.SETUP, rc, None, "the run could not start; see output.log")
        if isinstance(error, dict):
            return State.FAILED, Exit(Reason.EXCEPTION, rc, None, _error_text(error))
        if rc == EXIT_TERMINATED:
            return State.FAILED, Exit(
                Reason.SIGNAL, rc, "SIGTERM", "terminated by a SIGTERM orchestra did not send"
            )
        return State.FAILED, Exit(Reason.EXIT_CODE, rc, None, f"exited with status {rc}")

    def _after_failure(self, run: _Run) -> None:
        exit_ = run.row.exit
        retryable = exit_ is not None and exit_.reason not in (Reason.SETUP,)
        if retryable and run.tries <= self.policy.max_retries and not (self._stopping or self._interrupted):
            self._queue_run(run, front=True, note=f"retry {run.tries}/{self.policy.max_retries}")
            return
        self._failures += 1
        if self.policy.fail_fast:
            self._stopped_by_failures = True
            self.interrupt()
        elif self.policy.max_failures is not None and self._failures >= self.policy.max_failures:
            self._stopped_by_failures = True
            self.stop()

    def _release(self, run: _Run) -> None:
        if run.slot:
            self.slots.give(self.resources.cpus)
            run.slot = False
        if run.grant is not None and self.gpus is not None:
            self.gpus.release(run.row.id)
            self.gpus.refresh()
        run.grant = None
        run.handle = None

    async def _kill_leftovers(self) -> None:
        """Whatever happens to the scheduler, no run's processes outlive it."""
        for run in self.runs.values():
            handle = run.handle
            if handle is None or run.exited.is_set():
                continue
            if run.stop_reason is None:
                run.stop_reason = Reason.INTERRUPTED
            handle.signal(signal.SIGTERM)
        deadline = anyio.current_time() + self.policy.grace
        for run in self.runs.values():
            handle = run.handle
            if handle is None or run.exited.is_set():
                continue
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
                await handle.wait()
            handle.signal(signal.SIGKILL)
            rc = await handle.wait()
            await self._reap_group(handle)
            run.exited.set()
            self._read_metrics(run)
            now = self.clock()
            state, exit_ = self._classify(run, rc)
            self._finish(run, state, exit_, now)

    # ------------------------------------------------------------------ metrics, gpus

    async def _metrics_loop(self) -> None:
        while True:
            await anyio.sleep(self.metrics_interval)
            for run in self._running():
                self._read_metrics(run)

    def _read_metrics(self, run: _Run) -> None:
        records = run.tail.read_new()
        if not records:
            return
        metrics = dict(run.row.metrics)
        step = run.row.step
        for rec in records:
            if isinstance(rec, dict):
                values = rec.get("values")
                if isinstance(values, dict):
                    metrics.update(values)
                if isinstance(rec.get("step"), int):
                    step = rec["step"]
        self._set_row(run, metrics=metrics, step=step, records=run.row.records + len(records))

    async def _gpu_loop(self) -> None:
        assert self.gpus is not None
        while True:
            await anyio.sleep(self.gpu_interval)
            self.gpus.refresh()
            if self._queue:
                self._wakeup()

    # ------------------------------------------------------------------ state changes

    def _queue_run(self, run: _Run, *, front: bool, note: str = "") -> None:
        now = self.clock()
        status = run.status.moved(State.QUEUED, now, queued_at=now, exit=run.status.exit)
        self._write_status(run, status)
        self._set_row(run, state=State.QUEUED, queued_at=now, note=note, pid=None)
        if front:
            self._queue.insert(0, run.row.id)
        else:
            self._queue.append(run.row.id)
        self._wakeup()

    def _finish(
        self, run: _Run, state: State, exit_: Exit, now: float, *, attempt: int | None = None
    ) -> None:
        changes: dict[str, Any] = {"exit": exit_, "ended_at": now, "pid": None}
        if attempt is not None:
            changes["attempt"] = attempt
        if not run.dir.path.exists():
            run.dir.path.mkdir(parents=True, exist_ok=True)
            self._write_config(run)
        self._write_status(run, run.status.moved(state, now, **changes))
        self._set_row(run, state=state, note="", **changes)
        self._wakeup()

    def _write_status(self, run: _Run, status: Status) -> None:
        run.status = status
        self.writer.write(run.dir.status, status.to_json())

    def _set_row(self, run: _Run, **changes: Any) -> None:
        previous = run.row.state
        run.row = replace(run.row, **changes)
        if run.row.state is not previous:
            event = RunEvent(run.row, previous)
            for s in self._subscribers:
                try:
                    s.send_nowait(event)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    continue
        self._touch()

    def _touch(self) -> None:
        self._version += 1
        self._changed.set()
        self._changed = anyio.Event()

    def _wakeup(self) -> None:
        self._wake.set()

    def _get(self, run_id: str) -> _Run:
        try:
            return self.runs[run_id]
        except KeyError:
            raise KeyError(f"no run {run_id!r} in this sweep") from None

    def _order_key(self, run: _Run) -> tuple[int, int]:
        spec = run.planned.spec
        if self.policy.order == "round_robin":
            return (self.rec.plan.seeds.index(spec.seed), spec.variant.index)
        return (spec.index, 0)


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _error_text(error: Mapping[str, Any] | None) -> str:
    if not error:
        return ""
    text = f"{error.get('type', 'Error')}: {error.get('message', '')}"
    return text if len(text) <= 300 else text[:297] + "..."
