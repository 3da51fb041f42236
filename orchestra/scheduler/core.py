"""The scheduler: the queue, placement, commands and policies of one sweep, in one anyio task group.

What runs next is decided here; where and how a run lives is the backend's
(:mod:`orchestra.scheduler.backends`). All placement decisions happen in one task
(``_placement_loop``), so two runs can never be given the same CPU slot or the same GPU bytes.
Each started attempt is one task with its own scope (:meth:`Scheduler._attempt`): it waits for the
exit, enforces the timeout and stop requests, and records the outcome
(:func:`orchestra.scheduler.outcome.classify`). Stopping the scheduler is cancelling its task
group; each attempt's shielded clean-up then stops its run within the grace period (unless the
backend's runs outlive the orchestrator, as Slurm jobs do).

Frontends read :meth:`Scheduler.snapshot` (or the table's events and change feeds) and steer with
:meth:`Scheduler.request`, which takes a :class:`~orchestra.scheduler.commands.Command` and returns
one :class:`~orchestra.scheduler.commands.Reply` per run. The plan can grow while the sweep runs
(:meth:`Scheduler.submit`), and ``metric_listeners`` see every new metrics record: the seams an
adaptive search and an early-stopping rule build on.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream

from orchestra.errors import PlanError, UserError
from orchestra.plan.prepare import PlannedRun, run_config
from orchestra.rundir import (
    Exit,
    JsonlTail,
    Reason,
    RunDir,
    State,
    Status,
    last_records,
    read_json_or_none,
    write_json,
)
from orchestra.rundir.files import PlantedLinkError, ensure_run_dir
from orchestra.scheduler.backends import (
    Backend,
    Ended,
    Handle,
    HoldsQueue,
    Placement,
    Progress,
    QueuedHandle,
    RunLaunch,
    is_queued,
)
from orchestra.scheduler.commands import Action, Command, Op, Reply
from orchestra.scheduler.outcome import classify
from orchestra.scheduler.table import RunEvent, RunRow, RunTable, Snapshot, status_fields
from orchestra.scheduler.writer import StatusWriter
from orchestra.sweep import Resources

MetricListener = Callable[[str, list[dict[str, Any]]], None]


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
    unrecorded: dict[str, str] = field(default_factory=dict)  # status files that could not be written
    error: str | None = None  # a user's mistake found while the sweep ran (Scheduler.fail)

    @property
    def exit_code(self) -> int:
        """0 every run completed (or was stopped early), 130 interrupted, 2 a user's mistake, 1 otherwise.

        Otherwise: a run failed, was cancelled or left queued, or a status could not be recorded.
        """
        if self.error is not None:
            return 2
        if self.unrecorded:
            return 1
        if self.interrupted and not self.stopped_by_failures:
            return 130
        if set(self.counts) - {State.COMPLETED, State.STOPPED}:
            return 1
        return 0


class _Run:
    """The scheduler's private, mutable record of one run: its plan, its status and its live attempt."""

    def __init__(self, planned: PlannedRun, order: tuple[int, int]) -> None:
        self.spec = planned.spec
        self.dir: RunDir = planned.dir
        self.status: Status = planned.status or Status(State.QUEUED)
        self.order = order
        self.tail = JsonlTail(self.dir.metrics)
        self.tries = 0  # attempts started by this scheduler (for max_retries)
        self.handle: Handle | None = None
        self.launching = False  # placed, being started by the backend (no handle yet)
        self.queued_handle: QueuedHandle | None = None  # the handle, when it waits in a backend's queue first
        self.unsafe = False  # its directory is (or passes through) a planted link: never written
        self.stop_reason: Reason | None = None
        self.stop_requested = anyio.Event()
        self.kill_requested = anyio.Event()
        self.on_stop: Callable[[], None] | None = None  # starts the live attempt's stopper (_supervise)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def active(self) -> bool:
        """Its attempt is being started or is running."""
        return self.launching or self.handle is not None

    def new_attempt(self) -> None:
        self.stop_reason = None
        self.stop_requested = anyio.Event()
        self.kill_requested = anyio.Event()

    def request_stop(self, reason: Reason, *, graceful: bool) -> None:
        """Ask the live attempt to stop; the first reason sticks, except that a kill overrides it."""
        if self.stop_reason is None or reason is Reason.KILLED:
            self.stop_reason = reason
        first = not self.stop_requested.is_set()
        self.stop_requested.set()
        if not graceful:
            self.kill_requested.set()
        if first and self.on_stop is not None:
            self.on_stop()


class Scheduler:
    """Runs the planned runs of one sweep on a backend; see the module docstring."""

    def __init__(
        self,
        runs: Sequence[PlannedRun],
        backend: Backend,
        *,
        name: str,
        seeds: Sequence[int],
        resources: Resources,
        policy: Policy,
        sweep_env: Mapping[str, str] | None = None,
        sweep_file: Path | None = None,
        run_options: Mapping[str, Any] | None = None,
        cwd: Path | None = None,
        linger: bool = False,
        metrics_interval: float = 0.5,
        max_log: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.backend = backend
        self.resources = resources
        self.policy = policy
        self.seeds = list(seeds)
        self.sweep_env = dict(sweep_env or {})
        self.sweep_file = sweep_file
        self.run_options = dict(run_options or {})
        self.cwd = cwd or Path.cwd()
        self.metrics_interval = metrics_interval
        self.max_log = max_log
        self.clock = clock
        self.writer = StatusWriter()
        self.table = RunTable()
        self.runs: dict[str, _Run] = {}
        self.metric_listeners: list[MetricListener] = []
        # coroutines run beside the loop, cancelled when it ends (a search driver)
        self.helpers: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._error: UserError | None = None
        self._queue: list[str] = []
        self._holds = 1 if linger else 0
        self._paused = False
        self._paused_by_writes = False
        self._stopping = False
        self._interrupted = False
        self._failures = 0
        self._stopped_by_failures = False
        self._alerts: dict[str, str] = {}
        self._blocked: tuple[str, str] | None = None  # a run whose files could not be written, and why
        self._waiting = ""
        self._wake = anyio.Event()
        self._done = anyio.Event()
        self._started_at = clock()
        self._tg: TaskGroup | None = None
        self.summary: Summary | None = None  # set when run() has returned
        self._backfill: list[str] = []
        self._adopted: list[_Run] = []  # re-attached attempts, supervised once run() starts
        self._live: dict[str, _Run] = {}  # runs being started or running (see _track)
        for p in runs:
            self._add(p)
        self._queue.sort(key=lambda rid: self.runs[rid].order)

    # ------------------------------------------------------------------ frontends' view

    def snapshot(self) -> Snapshot:
        """The table now: cheap, immutable, safe to keep."""
        return Snapshot(
            self.table.version,
            tuple(self.table.rows.values()),
            self._paused,
            self._stopping or self._interrupted,
            self._started_at,
            self.done,
            self._waiting,
            tuple(self._alerts.values()),
        )

    @property
    def alerts(self) -> tuple[str, ...]:
        """The sweep-wide alerts now (what :meth:`snapshot` carries, without copying the table)."""
        return tuple(self._alerts.values())

    @property
    def version(self) -> int:
        return self.table.version

    def events(self) -> MemoryObjectReceiveStream[RunEvent]:
        """A stream of state changes of runs, from now on."""
        return self.table.events()

    def row(self, run_id: str) -> RunRow:
        return self.table.rows[self._get(run_id).id]

    def gpu_views(self) -> Sequence[Any]:
        return self.backend.views()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopping(self) -> bool:
        """The sweep is draining or interrupted: nothing new starts."""
        return self._stopping or self._interrupted

    @property
    def done(self) -> bool:
        """The sweep is over: :meth:`run` has returned and :attr:`summary` is set."""
        return self.summary is not None

    @property
    def idle(self) -> bool:
        """Nothing to run: no queued, starting, running or re-attached run."""
        return not self._queue and not self._adopted and not self._active()

    async def send(self, command: Command) -> list[Reply]:
        """:meth:`request` with the face of a remote sweep (the dashboard sends commands this way)."""
        return self.request(command)

    def alert(self, text: str) -> None:
        """Say something sweep-wide that a user must see (the dashboard's header, headless output)."""
        if text not in self._alerts.values():
            self._alerts[f"note:{len(self._alerts)}"] = text
            self.table.touch()

    def hold(self) -> None:
        """Keep the sweep alive when every run has finished (a dashboard is attached: it may retry)."""
        self._holds += 1

    def unhold(self) -> None:
        self._holds = max(0, self._holds - 1)
        self._wakeup()

    # ------------------------------------------------------------------ commands

    def request(self, command: Command) -> list[Reply]:
        """Carry out a command; one reply per run named (one for a sweep-wide op)."""
        op = command.op
        if op.per_run:
            return [self._per_run(op, run_id) for run_id in command.runs]
        if op is Op.PAUSE:
            self.pause()
            return [Reply(op, Action.PAUSED)]
        if op is Op.RESUME:
            self.resume()
            return [Reply(op, Action.RESUMED)]
        if op is Op.STOP:
            self.stop()
            return [Reply(op, Action.DRAINING)]
        if op is Op.STOP_NOW:
            self.interrupt()
            return [Reply(op, Action.INTERRUPTING)]
        self.kill_all()
        return [Reply(op, Action.KILLED)]

    def _per_run(self, op: Op, run_id: str) -> Reply:
        run = self.runs.get(run_id)
        if run is None:
            return Reply(op, Action.UNKNOWN, run_id, None, "no such run in this sweep")
        return {
            Op.CANCEL: self.cancel,
            Op.KILL: self.kill,
            Op.RETRY: self.retry,
            Op.STOP_EARLY: self.stop_early,
        }[op](run_id)

    def cancel(self, run_id: str) -> Reply:
        """Stop a run: a queued run will not start; a running one gets SIGTERM, then SIGKILL after the grace."""
        return self._end(run_id, Op.CANCEL, Reason.CANCELLED, graceful=True)

    def kill(self, run_id: str) -> Reply:
        """Kill a running run's processes now (SIGKILL); a queued run is cancelled."""
        return self._end(run_id, Op.KILL, Reason.KILLED, graceful=False)

    def stop_early(self, run_id: str) -> Reply:
        """End a run because an early-stopping rule says so: SIGTERM (it may snapshot), then 'stopped'."""
        return self._end(run_id, Op.STOP_EARLY, Reason.STOPPED_EARLY, graceful=True)

    def _end(self, run_id: str, op: Op, reason: Reason, *, graceful: bool) -> Reply:
        run = self._get(run_id)
        state = self.table.rows[run.id].state
        if run.id in self._queue:
            self._queue.remove(run.id)
            now = self.clock()
            final = State.STOPPED if reason is Reason.STOPPED_EARLY else State.CANCELLED
            self._finish(run, final, Exit(reason, message="ended before it started"), now)
            return Reply(op, Action.CANCELLED, run.id, final.value, "before it started")
        if run.active:
            run.request_stop(reason, graceful=graceful)
            if graceful:
                return Reply(
                    op, Action.STOPPING, run.id, state.value, f"SIGKILL after {self.policy.grace:g}s"
                )
            return Reply(op, Action.KILLED, run.id, state.value)
        return Reply(op, Action.UNCHANGED, run.id, state.value, f"already {state.value}")

    def retry(self, run_id: str) -> Reply:
        """Queue a failed, cancelled or interrupted run again; it resumes from its newest snapshot."""
        run = self._get(run_id)
        state = self.table.rows[run.id].state
        if not state.retryable:
            return Reply(Op.RETRY, Action.UNCHANGED, run.id, state.value, f"{state.value}, nothing to retry")
        run.tries = 0
        self._queue_run(run, front=True)
        return Reply(Op.RETRY, Action.REQUEUED, run.id, State.QUEUED.value)

    def pause(self) -> None:
        """Start no new runs until :meth:`resume`; running runs go on (a backend's own queue is held)."""
        self._paused = True
        if isinstance(self.backend, HoldsQueue):
            self.backend.hold(True)
        self.table.touch()

    def resume(self) -> None:
        self._paused = False
        self._paused_by_writes = False
        if isinstance(self.backend, HoldsQueue):
            self.backend.hold(False)
        self.table.touch()
        self._wakeup()

    def stop(self) -> None:
        """Drain: let running runs finish, start nothing new, then end.

        Attempts still waiting in a backend's own queue (pending Slurm jobs) have not started: they
        are taken out of it and resume on the next ``orchestra up``.
        """
        self._stopping = True
        for run in self._active():
            if run.status.state is State.QUEUED:
                run.request_stop(Reason.INTERRUPTED, graceful=True)
        self.table.touch()
        self._wakeup()

    def detach(self) -> None:
        """End this orchestrator and leave the runs to a backend whose runs outlive it (Slurm): they
        go on, recorded with their handles, and the next ``orchestra up`` re-attaches to them."""
        assert self.backend.runs_outlive_orchestrator, "only a backend whose runs outlive us can be left"
        self._interrupted = True
        self._done.set()
        self._wakeup()

    def interrupt(self) -> None:
        """Stop everything: running runs get SIGTERM, then SIGKILL after the grace period.

        They are recorded as interrupted and resume on the next ``orchestra up``.
        """
        self._interrupted = True
        for run in self._active():
            run.request_stop(Reason.INTERRUPTED, graceful=True)
        self.table.touch()
        self._wakeup()

    def kill_all(self) -> None:
        """A second interrupt: SIGKILL every running run now."""
        self._interrupted = True
        for run in self._active():
            run.request_stop(Reason.INTERRUPTED, graceful=False)
        self._wakeup()

    def fail(self, error: UserError, *, drain: bool) -> None:
        """A user's mistake found while the sweep runs (an objective no run logs): an alert now, and
        the summary's ``error`` (exit status 2); ``drain``: start nothing new (running runs finish)."""
        if self._error is None:
            self._error = error
        self._alerts[f"error {error}"] = str(error)
        self.table.touch()
        if drain:
            self.stop()

    @property
    def error(self) -> UserError | None:
        """The mistake :meth:`fail` recorded, if any."""
        return self._error

    def set_labels(self, run_id: str, labels: Mapping[str, Any]) -> None:
        """Replace a run's labels (what frontends show of a search: its generation, trial, score)."""
        self.table.set(self._get(run_id).id, labels=dict(labels))

    # ------------------------------------------------------------------ the plan grows

    def submit(self, planned: PlannedRun) -> None:
        """Add a run to the live sweep (already recorded in sweep.json by the plan's single writer)."""
        if planned.id in self.runs:
            raise ValueError(f"run {planned.id!r} is in the sweep already")
        self._add(planned)
        self._wakeup()

    def _add(self, planned: PlannedRun) -> None:
        spec = planned.spec
        seed_pos = self.seeds.index(spec.seed) if spec.seed in self.seeds else len(self.seeds)
        order = (seed_pos, spec.variant.index) if self.policy.order == "round_robin" else (spec.index, 0)
        run = _Run(planned, order)
        self.runs[run.id] = run
        row = RunRow(
            index=spec.index,
            id=spec.id,
            variant=spec.variant.name,
            seed=spec.seed,
            params=spec.variant.params,
            dir=run.dir.path,
            labels=planned.labels,
            **status_fields(run.status),
        )
        self.table.add(row)
        if planned.handle is not None:
            run.handle = planned.handle
            run.queued_handle = planned.handle if is_queued(planned.handle) else None
            run.tries = 1  # an attempt a previous orchestrator started counts against max_retries
            self._track(run)
            self._adopted.append(run)
            self._set_row(run, where=planned.handle.id)
        elif planned.start:
            if row.state is not State.QUEUED:
                self._set_row(run, state=State.QUEUED, exit=None, ended_at=None)
            self._queue.append(run.id)
        elif run.status.state.finished and planned.status is not None:
            self._backfill.append(run.id)

    # ------------------------------------------------------------------ the loop

    def problem(self) -> str | None:
        """Why the sweep's runs can never be placed here (asks for more than there is), or None."""
        return self.backend.problem(self.resources)

    async def run(self) -> Summary:
        """Run until every run has finished (or the sweep was stopped); returns the summary."""
        if self._queue and self.problem():
            raise PlanError(str(self.problem()))  # callers check problem() first
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._placement_loop)
                tg.start_soon(self._metrics_loop)
                tg.start_soon(self.backend.watch, self._wakeup)
                for helper in self.helpers:
                    tg.start_soon(helper)
                for run in self._adopted:
                    assert run.handle is not None
                    tg.start_soon(self._attempt, run, run.handle, Placement(run.id, self.resources))
                self._adopted.clear()
                self._wakeup()
                await self._done.wait()
                tg.cancel_scope.cancel()
        finally:
            self._tg = None
            with anyio.CancelScope(shield=True):
                unrecorded = await anyio.to_thread.run_sync(self.writer.close)
        counts: dict[State, int] = {}
        for row in self.table.rows.values():
            counts[row.state] = counts.get(row.state, 0) + 1
        self._done.set()
        error = str(self._error) if self._error is not None else None
        self.summary = Summary(counts, self._interrupted, self._stopped_by_failures, unrecorded, error)
        self.table.close()
        return self.summary

    def _active(self) -> list[_Run]:
        return list(self._live.values())

    def _track(self, run: _Run) -> None:
        """Keep :meth:`_active` O(active runs): called wherever a run's launching or handle changes."""
        if run.active:
            self._live[run.id] = run
        else:
            self._live.pop(run.id, None)

    def _check_done(self) -> None:
        if self._active():
            return
        if self._interrupted or self._stopping or (not self._queue and not self._holds):
            self._done.set()

    async def _placement_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            self._check_done()
            if self._done.is_set():
                return
            if self._paused or self._stopping or self._interrupted:
                self._set_waiting("launching paused" if self._paused else "")
                continue
            batch = self._pick()
            self._set_waiting(self.backend.waiting_reason(self.resources) if self._queue else "")
            if batch:
                await self._launch(batch)

    def _pick(self) -> list[tuple[_Run, Placement]]:
        """Every queued run that fits now, in queue order (later runs may pass a blocked one)."""
        chosen = []
        for rid in list(self._queue):
            placement = self.backend.place(rid, self.resources)
            if placement is None:
                break  # every run asks for the same resources: none of the rest fits either
            self._queue.remove(rid)
            run = self.runs[rid]
            run.launching = True
            self._track(run)
            chosen.append((run, placement))
        return chosen

    async def _launch(self, batch: list[tuple[_Run, Placement]]) -> None:
        launches: list[tuple[RunLaunch, Placement]] = []
        ready: list[tuple[_Run, Placement]] = []
        blocked: list[_Run] = []
        now = self.clock()
        for run, placement in batch:
            run.tries += 1
            run.new_attempt()
            attempt = run.status.attempt + 1
            try:
                self._prepare_dir(run)  # refuses a planted link on the way down
            except PlantedLinkError as exc:
                run.unsafe = True  # nothing more is written through it, not even its status
                self.alert(f"{exc}; run {run.id} was not started")
                self._spawn_failed(run, placement, exc, attempt, now)
                continue
            except OSError as exc:
                if _disk_trouble(exc):
                    self._block(run, placement, exc, blocked)
                else:
                    self._spawn_failed(run, placement, exc, attempt, now)
                continue
            launches.append(
                (
                    RunLaunch(run.id, run.dir.path, attempt, self.sweep_env, self.sweep_file, self.cwd),
                    placement,
                )
            )
            ready.append((run, placement))
        handles: list[Any] = []
        try:
            if launches:
                handles = await self.backend.launch(launches)
        finally:
            for run, _ in batch:
                run.launching = False
                self._track(run)
        assert self._tg is not None
        for (run, placement), (launch, _), handle in zip(ready, launches, handles):
            if isinstance(handle, OSError) and _disk_trouble(handle):
                self._block(run, placement, handle, blocked)  # output.log could not be made
                continue
            if isinstance(handle, Exception):
                self._spawn_failed(run, placement, handle, launch.attempt, now)
                continue
            run.handle = handle
            run.queued_handle = handle if is_queued(handle) else None
            self._track(run)
            record = handle.record()
            if run.queued_handle is not None and run.queued_handle.pending:
                status = run.status.moved(
                    State.QUEUED,
                    now,
                    attempt=launch.attempt,
                    exit=None,
                    pid=None,
                    handle=record,
                    gpus=placement.gpus,
                    started_at=None,
                    ended_at=None,
                )
                self._record(run, status, note="", where=handle.where)
            else:
                status = run.status.moved(
                    State.RUNNING,
                    now,
                    attempt=launch.attempt,
                    exit=None,
                    pid=record.get("pid"),
                    host=record.get("host"),
                    handle=record,
                    gpus=placement.gpus,
                    started_at=now,
                    ended_at=None,
                )
                self._record(run, status, note="", where=handle.id)
            self._tg.start_soon(self._attempt, run, handle, placement)
        if blocked:
            self._queue[:0] = [r.id for r in blocked]  # first again, in their order
            self._check_writes(probe=False)  # pauses launching; the next tick tries their files again

    def _block(self, run: _Run, placement: Placement, exc: OSError, blocked: list[_Run]) -> None:
        """A run's files cannot be written (a full disk): it goes back to the queue, launching pauses.

        Failing it would be wrong: the run did nothing wrong, and the disk may have room again soon.
        :meth:`_check_writes` tries its files again on every tick and resumes launching once they can
        be written.
        """
        self.backend.release(placement)
        run.tries -= 1
        blocked.append(run)
        if self._blocked is None:
            self._blocked = (run.id, _why(exc, run.dir.path))

    def _spawn_failed(
        self, run: _Run, placement: Placement, exc: Exception, attempt: int, now: float
    ) -> None:
        self.backend.release(placement)
        exit_ = Exit(Reason.SPAWN, message=f"{type(exc).__name__}: {exc}")
        self._finish(run, State.FAILED, exit_, now, attempt=attempt)
        self._after_failure(run)

    def _write_config(self, run: _Run) -> None:
        # No fsync: the run reads it at once, and after a power loss the next attempt writes it again.
        write_json(run.dir.config, run_config(self.name, run.spec, self.run_options), fsync=False)

    def _prepare_dir(self, run: _Run) -> None:
        """The run's directory and its config.json, as an attempt needs them: PlantedLinkError for a
        link on the way down, OSError when they cannot be made (a full disk)."""
        ensure_run_dir(run.dir.path)
        self._write_config(run)

    # ------------------------------------------------------------------ one attempt

    async def _attempt(self, run: _Run, handle: Handle, placement: Placement) -> None:
        """Supervise one attempt until its process is gone, then record how it ended.

        Cancelled (the scheduler is shutting down), it stops its run within the grace period first,
        unless the backend's runs outlive the orchestrator (they are re-attached by the next one).
        """
        try:
            ended = await self._supervise(run, handle)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._shutdown_attempt(run, handle, placement)
            raise
        self._ended(run, placement, ended)

    async def _shutdown_attempt(self, run: _Run, handle: Handle, placement: Placement) -> None:
        if self.backend.runs_outlive_orchestrator and run.stop_reason is None:
            run.handle = None  # its status stays 'running' with the job's record: the next up re-attaches
            self._track(run)
            return
        run.request_stop(run.stop_reason or Reason.INTERRUPTED, graceful=True)
        handle.terminate()
        ended: Ended | None = None
        with anyio.move_on_after(self.policy.grace):
            ended = await handle.wait()
        if ended is None:
            handle.kill()
            ended = await handle.wait()
        self._ended(run, placement, ended)

    async def _supervise(self, run: _Run, handle: Handle) -> Ended:
        """Wait until the attempt's process is gone. What may end it sooner runs beside, in tasks
        of the scheduler's own started only when needed: the stopper once a stop is requested
        (SIGTERM, then SIGKILL after the grace period or at a kill request), the timer where a
        timeout is set. Both go with the attempt: no task group of its own for the common case, a
        run that just ends."""
        tg = self._tg
        assert tg is not None
        helpers: list[anyio.CancelScope] = []

        def start(task: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
            scope = anyio.CancelScope()
            helpers.append(scope)

            async def helper() -> None:
                with scope:
                    if not scope.cancel_called:  # the attempt ended before this task began
                        await task(*args)

            tg.start_soon(helper)

        run.on_stop = lambda: start(self._stop, run, handle)
        try:
            if run.stop_requested.is_set():  # asked before the attempt's process was there
                start(self._stop, run, handle)
            if is_queued(handle):
                return await self._follow(run, cast(QueuedHandle, handle))
            if self.policy.timeout is not None:
                start(self._timer, run, self.policy.timeout)
            return await handle.wait()
        finally:
            run.on_stop = None
            for scope in helpers:
                scope.cancel()

    async def _stop(self, run: _Run, handle: Handle) -> None:
        if not run.kill_requested.is_set():
            handle.terminate()
            with anyio.move_on_after(self.policy.grace):
                await run.kill_requested.wait()
        handle.kill()

    async def _timer(self, run: _Run, timeout: float) -> None:
        await anyio.sleep(timeout)
        run.request_stop(Reason.TIMEOUT, graceful=True)

    async def _follow(self, run: _Run, handle: QueuedHandle) -> Ended:
        """Record a queued attempt's changes (it starts, it is requeued) until it ends; the timeout
        counts from each start."""
        async with anyio.create_task_group() as tg:
            timer: anyio.CancelScope | None = None
            while True:
                change = await handle.progress()
                if timer is not None:
                    timer.cancel()
                    timer = None
                if isinstance(change, Ended):
                    tg.cancel_scope.cancel()
                    return change
                self._progressed(run, change)
                if change.running and self.policy.timeout is not None:
                    timer = anyio.CancelScope()
                    tg.start_soon(self._scoped_timer, run, self.policy.timeout, timer)
        raise AssertionError("unreachable")  # for mypy: the loop returns

    async def _scoped_timer(self, run: _Run, timeout: float, scope: anyio.CancelScope) -> None:
        with scope:
            await self._timer(run, timeout)

    def _progressed(self, run: _Run, change: Progress) -> None:
        now = self.clock()
        if change.running:
            status = run.status.moved(
                State.RUNNING,
                now,
                attempt=change.attempt,
                exit=None,
                host=change.host,
                handle=change.record,
                started_at=change.at,
                ended_at=None,
            )
        else:
            status = run.status.moved(
                State.QUEUED, now, attempt=change.attempt, exit=change.exit, handle=change.record
            )
        self._record(run, status, where=change.where)

    def _ended(self, run: _Run, placement: Placement, ended: Ended) -> None:
        run.handle = None
        self._track(run)
        self._read_metrics(run)
        self.backend.release(placement)
        result = read_json_or_none(run.dir.result)
        state, exit_ = classify(
            stop=run.stop_reason,
            ended=ended,
            result=result,
            attempt=run.status.attempt,
            timeout=self.policy.timeout,
        )
        self._finish(run, state, exit_, self.clock())
        if state is State.FAILED:
            self._after_failure(run)
        elif exit_.reason is Reason.PREEMPTED and not (self._stopping or self._interrupted):
            self._queue_run(run, front=True, note="preempted: queued again")
        self._wakeup()

    def _after_failure(self, run: _Run) -> None:
        exit_ = run.status.exit
        retryable = exit_ is not None and exit_.reason is not Reason.SETUP
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

    # ------------------------------------------------------------------ metrics

    async def _metrics_loop(self) -> None:
        while True:
            await anyio.sleep(self.metrics_interval)
            for run in self._active():
                if run.status.state is not State.RUNNING:  # waiting in a backend's queue: nothing to read
                    if run.queued_handle is not None and run.handle is not None:
                        self._show_where(run, run.queued_handle.where)  # "pending (Priority)", "held"
                    continue
                self._read_metrics(run)
                if self.max_log is not None:
                    await self._bound_log(run, self.max_log)
            self._read_backfill()
            self._check_writes()

    async def _bound_log(self, run: _Run, limit: int) -> None:
        """Keep a running run's output.log within ``max_log`` (its head and newest output; see logcap)."""
        try:
            if os.stat(run.dir.output_log).st_size <= limit:
                return  # the common case: one stat on the loop
        except OSError:
            return
        from orchestra.scheduler.logcap import cap_log  # only a sweep with max_log needs it

        cut = await anyio.to_thread.run_sync(cap_log, run.dir.output_log, limit)
        if cut is not None:
            self.table.set(run.id, note=cut.describe())

    def _show_where(self, run: _Run, where: str) -> None:
        if self.table.rows[run.id].where != where:
            self._set_row(run, where=where)

    def _read_metrics(self, run: _Run) -> None:
        records = run.tail.read_new()
        if not records:
            return
        self._apply_records(run, records, count=len(records))
        for listener in self.metric_listeners:
            listener(run.id, records)

    def _read_backfill(self, budget: int = 200) -> None:
        """Last step and metrics of runs that finished before this scheduler started, a few per tick."""
        todo, self._backfill = self._backfill[:budget], self._backfill[budget:]
        for rid in todo:
            run = self.runs[rid]
            records = last_records(run.dir.metrics)
            if records:
                self._apply_records(run, records, count=0)

    def _apply_records(self, run: _Run, records: Iterable[Any], *, count: int) -> None:
        row = self.table.rows[run.id]
        metrics = dict(row.metrics)
        step = row.step
        for rec in records:
            if isinstance(rec, dict):
                values = rec.get("values")
                if isinstance(values, dict):
                    metrics.update(values)
                if isinstance(rec.get("step"), int):
                    step = rec["step"]
        self.table.set(run.id, metrics=metrics, step=step, records=row.records + count)

    # ------------------------------------------------------------------ status files

    def _check_writes(self, *, probe: bool = True) -> None:
        """Files that cannot be written (status files, a run's directory) pause launching, and say so,
        until they can: on every tick the writer retries the status files and the blocked run's
        directory is tried again here."""
        if self._blocked is not None and probe:
            run_id, _ = self._blocked
            run = self.runs[run_id]
            try:
                self._prepare_dir(run)
                self._blocked = None
                self._wakeup()  # at most once a tick: a disk that keeps failing is not tried in a loop
            except PlantedLinkError:
                self._blocked = None  # its launch refuses it, and says so
                self._wakeup()
            except OSError as exc:
                self._blocked = (run_id, _why(exc, run.dir.path))
        failing = self.writer.failing()
        problems = []
        if failing:
            path, error = next(iter(failing.items()))
            problems.append(f"cannot write {len(failing)} status file(s) ({error}, e.g. {path})")
        if self._blocked is not None:
            problems.append(f"cannot start {self._blocked[0]}: {self._blocked[1]}")
        if problems:
            text = "; ".join(problems) + "; launching paused until they can be written"
            if self._alerts.get("writes") != text:
                self._alerts["writes"] = text
                if not self._paused:
                    self._paused = self._paused_by_writes = True
                self.table.touch()
        elif "writes" in self._alerts:
            del self._alerts["writes"]
            if self._paused_by_writes:
                self.resume()
            self.table.touch()

    # ------------------------------------------------------------------ state changes

    def _queue_run(self, run: _Run, *, front: bool, note: str = "") -> None:
        now = self.clock()
        status = run.status.moved(
            State.QUEUED, now, queued_at=now, exit=run.status.exit, pid=None, handle=None
        )
        self._record(run, status, note=note, where="")
        if front:
            self._queue.insert(0, run.id)
        else:
            self._queue.append(run.id)
        self._wakeup()

    def _finish(
        self, run: _Run, state: State, exit_: Exit, now: float, *, attempt: int | None = None
    ) -> None:
        changes: dict[str, Any] = {"exit": exit_, "ended_at": now, "pid": None}
        if attempt is not None:
            changes["attempt"] = attempt
        unmade = False
        if not run.unsafe and not run.dir.path.exists():
            try:
                self._prepare_dir(run)
            except PlantedLinkError as exc:
                run.unsafe = True
                self.alert(str(exc))
            except OSError:
                unmade = True  # a full disk: the status writer makes the directory when there is room
        self._record(run, run.status.moved(state, now, **changes), make_dir=unmade, note="", where="")
        self._wakeup()

    def _record(self, run: _Run, status: Status, *, make_dir: bool = False, **row: Any) -> None:
        """The one place a run's state changes: status.json (on the writer thread) and its row."""
        run.status = status
        if not run.unsafe:
            # A run that dies with its orchestrator gains nothing from a 'running' record that
            # survives a power loss before its first second is over: it is fsynced lazily.
            lazy = status.state is State.RUNNING and not self.backend.runs_outlive_orchestrator
            self.writer.write(
                run.dir.status,
                status.to_json(),
                make_dir=make_dir,
                sync_first=run.dir.synced_before(status),  # result.json before a run's end
                lazy=lazy,
            )
        self._set_row(run, **status_fields(status), **row)

    def _set_row(self, run: _Run, **changes: Any) -> None:
        self.table.set(run.id, **changes)

    def _set_waiting(self, text: str) -> None:
        if text != self._waiting:
            self._waiting = text
            self.table.touch()

    def _wakeup(self) -> None:
        self._wake.set()

    def _get(self, run_id: str) -> _Run:
        try:
            return self.runs[run_id]
        except KeyError:
            raise KeyError(f"no run {run_id!r} in this sweep") from None


DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _disk_trouble(exc: OSError) -> bool:
    """A full disk, a quota, a read-only filesystem: the sweep's directory, not the run, is at fault."""
    return exc.errno in DISK_ERRORS


def _why(exc: OSError, path: Path) -> str:
    return f"{exc.filename or path}: {exc.strerror or exc}"
