"""Prepare and run a sweep: the one copy of load -> pickle -> reconcile -> lock -> apply -> recover
-> schedule, used alike by ``orchestra up`` (in the foreground or as a detached service), the
dashboard, lagom's ``run_experiment``, tests and benchmarks.

Two steps, so that every user mistake surfaces before anything is written::

    prepared = prepare(load_sweep_file("sweep.py"), UpOptions(root=Path("sweeps")))  # reads only
    async with open_session(prepared) as session:    # takes the lock, writes, recovers orphans
        summary = await session.run(frontends)        # the scheduler beside its frontends

``prepare`` checks the sweep against the backend (can its runs ever be placed?) and against its
directory (a changed sweep file is refused unless ``update``); :func:`open_session` does it again
under the sweep's lock, writes ``sweep.json``, the payload and ``launch/``, asks the backend what
became of runs a dead orchestrator left (locally: every leftover process is killed first), and
builds the scheduler.
"""

from __future__ import annotations

import os
import time
import types
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio

from orchestra.errors import PlanError, UserError
from orchestra.plan.loader import LoadedSweep
from orchestra.plan.overrides import Override, select
from orchestra.plan.prepare import (
    PlannedRun,
    Reconciled,
    apply,
    mark_retry,
    reconcile,
    reconcile_recorded,
    remove_stale_temps_of_every_run,
    settle,
    sweep_name,
    writing,
)
from orchestra.plan.signature import check_entry
from orchestra.rundir import SweepDir, SweepLock, describe_holder, outlives_orchestrator, write_json
from orchestra.runtime.payload import dumps_entry
from orchestra.scheduler.backends import Backend
from orchestra.scheduler.core import Policy, Scheduler, Summary
from orchestra.slurm import Slurm
from orchestra.space.variant import Variant
from orchestra.sweep import Sweep

Frontend = Callable[[Scheduler], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class UpOptions:
    """How to run a sweep: everything ``orchestra up`` takes besides the sweep file."""

    root: Path = Path("sweeps")
    name: str | None = None
    overrides: tuple[Override, ...] | None = (
        None  # the command line's changes to the space (None: as recorded)
    )
    only: tuple[Override, ...] = ()  # start only the runs these select (not recorded)
    retry: tuple[str, ...] = ()  # runs (as `orchestra logs` names them) to run again
    workers: int | None = None  # CPU slots; None: one per core
    retry_failed: bool = False
    update: bool = False
    max_failures: int | None = None  # overrides the sweep's
    fail_fast: bool = False
    grace: float = 10.0
    gpus: str = "all"
    avoid_gpus: str = ""
    gpu_headroom: str = "512MiB"
    fake_gpus: str | None = None
    linger: bool = False  # keep the scheduler alive when all runs finished (a dashboard may retry)
    cwd: Path | None = None  # where runs start (default: the current directory)
    metrics_interval: float = 0.5
    gpu_interval: float = 0.5
    backend: str | None = None  # "local" or "slurm"; None: the sweep file's choice (local without one)
    slurm: Slurm | None = None  # Slurm options from the command line, over the sweep file's

    def recorded(self, backend: Backend) -> dict[str, Any]:
        """What ``sweep.json`` keeps of them (``up``), so the sweep can be started again from its directory."""
        slurm = getattr(backend, "options", None)
        return {
            "workers": getattr(getattr(backend, "slots", None), "total", self.workers),
            "grace": self.grace,
            "gpus": self.gpus,
            "avoid_gpus": self.avoid_gpus,
            "gpu_headroom": self.gpu_headroom,
            "fake_gpus": self.fake_gpus,
            **({"backend": backend.name, "slurm": slurm.to_json()} if isinstance(slurm, Slurm) else {}),
        }

    def checked(self) -> UpOptions:
        """The options with their values checked (a user's mistake is one line, exit 2)."""
        if self.workers is not None and self.workers < 1:
            raise PlanError(f"--workers must be at least 1, got {self.workers}")
        if self.max_failures is not None and self.max_failures < 1:
            raise PlanError(f"--max-failures must be at least 1, got {self.max_failures}")
        if not (self.grace >= 0 and self.grace != float("inf")):  # also refuses NaN
            raise PlanError(f"--grace must be a number of seconds >= 0, got {self.grace}")
        if self.name is not None and not self.name.strip():
            raise PlanError("--name must not be empty")
        if self.backend not in (None, "local", "slurm"):
            raise PlanError(f"--backend must be local or slurm, got {self.backend!r}")
        return replace(self, root=Path(os.path.abspath(self.root)))


@dataclass
class Prepared:
    """A sweep checked against its backend and its directory; nothing written yet."""

    loaded: LoadedSweep
    options: UpOptions
    payload: bytes
    backend: Backend
    rec: Reconciled  # the whole plan
    recorded: bool = False  # planned from the sweep directory's record, not from a sweep file

    def replan(self) -> Reconciled:
        """The plan against the directory as it is now (``open_session`` calls it under the lock)."""
        if self.recorded:
            rec = reconcile_recorded(self.rec.sweep_dir, retry_failed=self.options.retry_failed)
        else:
            rec = _reconcile(self.loaded, self.options, self.payload)
        return mark_retry(rec, self.options.retry)

    @property
    def selected(self) -> Reconciled:
        """The plan with only the runs ``--only`` selects (all of them without it)."""
        return select(self.rec, self.loaded.sweep, self.options.only)

    @property
    def sweep(self) -> Sweep:
        return self.loaded.sweep

    @property
    def sweep_dir(self) -> SweepDir:
        return self.rec.sweep_dir


def prepare(loaded: LoadedSweep, options: UpOptions, *, backend: Backend | None = None) -> Prepared:
    """Pickle the entry, build the backend, check that runs fit, reconcile with the directory: reads only."""
    options = options.checked()
    sweep = loaded.sweep
    payload = dumps_entry(sweep.entry, by_value=[loaded.module] if loaded.by_value else [])
    backend = backend or choose_backend(options, loaded)
    problem = backend.problem(sweep.resources)
    if problem:
        label = loaded.path.name
        raise PlanError(
            f"{label}: each run {problem}" if problem.startswith("asks") else f"{label}: {problem}"
        )
    rec = mark_retry(_reconcile(loaded, options, payload), options.retry)
    check_entry(sweep.entry, rec.plan.variants, loaded.path.name)  # a run could not bind its arguments
    prepared = Prepared(loaded, options, payload, backend, rec)
    _ = prepared.selected  # a --only that selects nothing is a mistake found before anything is written
    return prepared


def prepare_recorded(sweep_dir: SweepDir, options: UpOptions, *, backend: Backend | None = None) -> Prepared:
    """:func:`prepare` for a sweep run again from its directory (``orchestra up DIR``): the recorded
    plan, settings and payload, whatever became of the sweep file since."""
    options = options.checked()
    sweep_dir = SweepDir(sweep_dir.path.resolve())
    if options.overrides or options.update or options.only:
        raise PlanError(
            f"{sweep_dir.path}: a sweep run from its directory keeps its recorded plan; "
            "give the sweep file to change it"
        )
    record = sweep_dir.read_plan()
    sweep = Sweep.from_record(record)
    try:
        payload = sweep_dir.payload.read_bytes()
    except OSError as exc:
        raise PlanError(
            f"{sweep_dir.payload}: cannot read the recorded entry function ({exc.strerror or exc})"
        ) from None
    module = types.ModuleType(f"orchestra_recorded_{sweep_dir.path.name}")
    loaded = LoadedSweep(
        sweep,
        Path(record.get("sweep_file") or sweep_dir.path),
        module,
        str(record.get("sweep_attr") or ""),
        by_value=False,
    )
    up = record.get("up") or {}
    if up.get("backend") == "slurm" and options.backend is None:  # as it was last started
        options = replace(
            options, backend="slurm", slurm=Slurm.from_json(up.get("slurm") or {}).merged(options.slurm)
        )
    backend = backend or choose_backend(options, loaded, sweep_dir.path)
    problem = backend.problem(sweep.resources)
    if problem:
        raise PlanError(
            f"{sweep_dir.path}: each run {problem}"
            if problem.startswith("asks")
            else f"{sweep_dir.path}: {problem}"
        )
    rec = mark_retry(reconcile_recorded(sweep_dir, retry_failed=options.retry_failed), options.retry)
    options = replace(options, root=sweep_dir.path.parent.resolve(), name=sweep_dir.path.name)
    return Prepared(loaded, options, payload, backend, rec, recorded=True)


def _reconcile(loaded: LoadedSweep, options: UpOptions, payload: bytes) -> Reconciled:
    return reconcile(
        loaded,
        options.root,
        name=options.name,
        payload=payload,
        retry_failed=options.retry_failed,
        update=options.update,
        overrides=options.overrides,
    )


def choose_backend(options: UpOptions, loaded: LoadedSweep, sweep_path: Path | None = None) -> Backend:
    """``--backend``, else the sweep file's ``backend=``, else this machine."""
    sweep = loaded.sweep
    kind = options.backend or ("slurm" if sweep.backend is not None else "local")
    if kind == "slurm":
        path = sweep_path or options.root / sweep_name(loaded, options.name)
        return slurm_backend(options, sweep, path)
    if options.slurm is not None:
        raise PlanError(
            "--partition, --account, --qos, --time, --mem, --constraint, --max-parallel and "
            "--sbatch-arg are Slurm's options: add --backend slurm"
        )
    return local_backend(options, sweep)


def slurm_backend(options: UpOptions, sweep: Sweep, sweep_path: Path) -> Backend:
    """The Slurm backend: the sweep file's ``Slurm(...)`` with the command line's options over it."""
    from orchestra.scheduler.backends.slurm import SlurmBackend

    if options.workers is not None:
        raise PlanError("--workers is for this machine; on Slurm, --max-parallel limits the runs at once")
    if options.fake_gpus is not None:
        raise PlanError("--fake-gpus is for this machine; on Slurm, runs get the GPUs Slurm gives them")
    slurm = (sweep.backend or Slurm()).merged(options.slurm)
    return SlurmBackend(slurm, sweep_path, timeout=sweep.timeout, grace=options.grace)


def local_backend(options: UpOptions, sweep: Sweep) -> Backend:
    """The local backend: ``--workers`` CPU slots and, where there are GPUs (or runs ask for them), the ledger."""
    from orchestra.scheduler.backends.local import LocalBackend
    from orchestra.scheduler.gpu import GpuLedger, parse_gpu_selection
    from orchestra.scheduler.probe import make_probe, nvidia_device_present
    from orchestra.scheduler.resources import default_workers
    from orchestra.units import parse_bytes

    workers = options.workers if options.workers is not None else default_workers()
    resources = sweep.resources
    wants = resources.gpus > 0 or resources.gpu_mem is not None
    allowed = parse_gpu_selection(options.gpus)
    avoid = parse_gpu_selection(options.avoid_gpus, "--avoid-gpus") if options.avoid_gpus else frozenset()
    headroom = parse_bytes(options.gpu_headroom, "--gpu-headroom") or 0
    ledger = None
    if allowed is not None and not allowed:
        if wants:
            raise PlanError("runs ask for GPUs, but --gpus none turns them off")
    elif wants or options.fake_gpus or nvidia_device_present():
        probe = make_probe(f"fake:{options.fake_gpus}" if options.fake_gpus else "auto")
        ledger = GpuLedger(probe, allowed=allowed, avoid=avoid or (), headroom=headroom)
        if ledger.reason and not wants:
            ledger = None  # a CPU sweep on a machine without GPUs: nothing to show or place
    # else a CPU sweep on a machine without an NVIDIA device node: nothing to show or place, and
    # NVML is not even loaded
    return LocalBackend(workers, ledger, gpu_interval=options.gpu_interval)


class Session:
    """A prepared sweep whose lock is held: its scheduler and the frontends that run beside it."""

    def __init__(self, prepared: Prepared, rec: Reconciled, scheduler: Scheduler, notes: list[str]) -> None:
        self.prepared = prepared
        self.rec = rec
        self.scheduler = scheduler
        self.notes = notes  # lines to show the user: plan updates, launch warnings, recovered runs

    @property
    def sweep_dir(self) -> SweepDir:
        return self.rec.sweep_dir

    def grow(
        self, variants: Sequence[Variant], labels: Sequence[Mapping[str, Any]] | None = None
    ) -> list[PlannedRun]:
        """Add variants to the live sweep (each with every seed): the plan's single writer.

        The new runs are numbered after the last one, recorded in ``sweep.json`` (atomically, before
        any of them can start) and submitted to the scheduler. Names must be new to the sweep (a
        search makes them unique); ``labels`` (one per variant) are shown by frontends.
        """
        taken = {v.name for v in self.rec.plan.variants} | {
            d["name"] for d in self.rec.record.get("retired", [])
        }
        clash = [v.name for v in variants if v.name in taken]
        if clash or len({v.name for v in variants}) != len(variants):
            raise ValueError(f"variant names must be new to the sweep: {clash or [v.name for v in variants]}")
        start = len(self.rec.plan.variants)
        variants = [replace(v, index=start + i) for i, v in enumerate(variants)]
        plan, new_runs = self.rec.plan.grown(variants)
        by_name = {v.name: dict(labels[i]) if labels else {} for i, v in enumerate(variants)}
        # "proposed": not from the sweep file's space, so a later up keeps it rather than calling it a change
        grown = [{**v.to_json(), "proposed": True, "labels": by_name[v.name]} for v in variants]
        record = {
            **self.rec.record,
            "variants": [*self.rec.record["variants"], *grown],
            "runs": plan.runs_json(),
            "updated": time.time(),
        }
        write_json(self.sweep_dir.sweep_json, record)
        self.rec.plan, self.rec.record = plan, record
        planned = [
            PlannedRun(
                spec,
                self.sweep_dir.run(spec.variant.name, spec.seed),
                None,
                True,
                labels=by_name[spec.variant.name],
            )
            for spec in new_runs
        ]
        self.rec.runs.extend(planned)
        for p in planned:
            self.scheduler.submit(p)
        return planned

    async def run(self, frontends: Sequence[Frontend] = ()) -> Summary:
        """Run the scheduler until the sweep ends, with ``frontends`` beside it (cancelled at the end)."""
        async with anyio.create_task_group() as tg:
            for frontend in frontends:
                tg.start_soon(frontend, self.scheduler)
            summary = await self.scheduler.run()
            tg.cancel_scope.cancel()
        return summary


@asynccontextmanager
async def open_session(prepared: Prepared) -> AsyncIterator[Session]:
    """Take the sweep's lock, write its directory, recover what a dead orchestrator left, build the scheduler."""
    sweep_dir = SweepDir(prepared.options.root / sweep_name(prepared.loaded, prepared.options.name))
    made = _made_dirs(sweep_dir.path)
    with writing(sweep_dir.path, "make the sweep directory"):
        sweep_dir.path.mkdir(parents=True, exist_ok=True)
    lock = SweepLock(sweep_dir)
    try:
        if not lock.acquire():
            raise PlanError(
                f"sweep {sweep_dir.path.name!r} in {sweep_dir.path} is already running "
                f"({describe_holder(lock.holder())}); watch it with `orchestra attach`, or stop that orchestrator first"
            )
    except UserError:
        _remove_made(made)
        raise
    try:
        try:
            rec = prepared.replan()  # under the lock now
            rec.record["up"] = prepared.options.recorded(prepared.backend)
            chosen = {r.id for r in select(rec, prepared.sweep, prepared.options.only).runs}
            notes = [*apply(rec, prepared.payload, launch=not prepared.recorded), *rec.notes]
        except UserError:
            _remove_made(made)  # a new sweep that could not be written leaves nothing behind
            raise
        # After a dead orchestrator, everything of its runs is looked for, not only runs recorded as
        # running: one killed before its record was written leaves processes all the same.
        runs, recovered = await _recover(prepared.backend, rec, everything=lock.unclean)
        if lock.unclean:
            remove_stale_temps_of_every_run(sweep_dir)
            lock.recovered()
        runs = [r for r in runs if r.id in chosen]
        notes += recovered
        session = Session(prepared, rec, scheduler_for(prepared, rec, runs), notes)
        if prepared.sweep.search is not None or prepared.sweep.stopper is not None:
            from orchestra.search.driver import SearchDriver

            SearchDriver(session)  # proposes now, then runs beside the scheduler (Scheduler.helpers)
        async with _warm_starts(prepared, session):
            yield session
    finally:
        lock.release()


def _made_dirs(path: Path) -> list[Path]:
    """The directories that making ``path`` would create (none when it exists), deepest first."""
    made = []
    while not path.exists() and path != path.parent:
        made.append(path)
        path = path.parent
    return made


def _remove_made(made: list[Path]) -> None:
    """Remove the directories this ``up`` made, with what it wrote into them (a refused new sweep)."""
    import shutil

    if made:
        shutil.rmtree(made[-1], ignore_errors=True)


@asynccontextmanager
async def _warm_starts(prepared: Prepared, session: Session) -> AsyncIterator[None]:
    """With ``Sweep(preload=...)`` on the local backend, runs fork from a zygote that imported those
    modules once (orchestra.runtime.zygote); it lives as long as the session, since the runs' exit
    statuses come back through it. Why it cannot be used (a preload started threads, another
    backend) is said once."""
    from orchestra.scheduler.backends.local import LocalBackend

    backend = prepared.backend
    if not prepared.sweep.preload:
        yield
        return
    if not isinstance(backend, LocalBackend):
        session.scheduler.alert(
            f"preload: warm starts are for the local backend; on {backend.name} each run starts cold "
            "in its own job and imports what it needs itself"
        )
        yield
        return
    from orchestra.scheduler.backends.zygote import ZygoteLauncher

    launcher = ZygoteLauncher(
        prepared.sweep.preload, log_path=session.sweep_dir.path / "zygote.log", notify=session.scheduler.alert
    )
    async with launcher:
        backend.zygote = launcher
        try:
            yield
        finally:
            backend.zygote = None


async def _recover(
    backend: Backend, rec: Reconciled, *, everything: bool = False
) -> tuple[list[PlannedRun], list[str]]:
    """Ask the backend about runs a dead orchestrator left running; settle those it cannot re-attach.

    ``everything``: the last orchestrator died, so the backend recovers even with no run recorded as
    running. A backend whose runs outlive the orchestrator (Slurm) is always asked: it may also find
    runs submitted just before the last orchestrator died, which no status records yet.
    """
    orphans = {r.id: r for r in rec.runs if r.orphaned}
    for r in orphans.values():
        if r.status is None or not outlives_orchestrator(r.status):
            continue
        record = r.status.handle or {}
        if record.get("backend") != backend.name:
            raise PlanError(
                f"run {r.id} was left on {record.get('backend')} ({record.get('job', 'its job')}), where it "
                f"goes on without an orchestrator: add --backend {record.get('backend')} to re-attach to it"
            )
    if not orphans and not everything and not backend.runs_outlive_orchestrator:
        return rec.runs, []
    handles = await backend.recover(
        rec.sweep_dir.runs, {rid: r.status for rid, r in orphans.items() if r.status}
    )
    runs: list[PlannedRun] = []
    settled = found = 0
    for r in rec.runs:
        handle = handles.get(r.id)
        if r.id in orphans:
            if handle is None:
                r = settle(r)
                settled += 1
            else:
                r = replace(r, handle=handle)
        elif handle is not None:  # submitted, but its status did not say so yet
            r = replace(r, handle=handle, start=False)
            found += 1
        runs.append(r)
    reattached = len(orphans) - settled + found
    notes = []
    if settled:
        notes.append(f"{settled} run(s) were running when the last orchestrator died; they resume now")
    if reattached:
        notes.append(f"re-attached to {reattached} run(s) that went on while no orchestrator watched")
    return runs, notes


def scheduler_for(
    prepared: Prepared, rec: Reconciled | None = None, runs: list[PlannedRun] | None = None
) -> Scheduler:
    """The scheduler of a prepared sweep with its policies (``open_session`` calls it under the lock)."""
    rec = rec or prepared.rec
    runs = rec.runs if runs is None else runs
    sweep, options = prepared.sweep, prepared.options
    policy = Policy(
        max_retries=sweep.max_retries,
        timeout=sweep.timeout,
        max_failures=options.max_failures if options.max_failures is not None else sweep.max_failures,
        fail_fast=options.fail_fast,
        order=sweep.order,
        grace=options.grace,
    )
    return Scheduler(
        runs,
        prepared.backend,
        name=rec.name,
        seeds=sweep.seeds,
        resources=sweep.resources,
        policy=policy,
        sweep_env=sweep.env,
        sweep_file=prepared.loaded.path,
        run_options=sweep.run_options(),
        cwd=options.cwd,
        linger=options.linger,
        metrics_interval=options.metrics_interval,
        max_log=sweep.max_log,
    )


async def run_prepared(prepared: Prepared, frontends: Sequence[Frontend] = ()) -> tuple[Summary, Session]:
    """Open a session on ``prepared`` and run it to the end (for scripts, tests and benchmarks)."""
    async with open_session(prepared) as session:
        summary = await session.run(frontends)
    return summary, session


def describe_start(session: Session) -> str:
    """``sweep NAME: N runs, K to start, W workers -> DIR``, the first line ``up`` prints."""
    from collections import Counter

    from orchestra.rundir import State

    rec = session.rec
    rows = session.scheduler.snapshot().rows
    to_start = sum(1 for r in rows if r.state in (State.QUEUED, State.RUNNING))
    kept = Counter(r.state.value for r in rows if r.state.finished)
    skipped = "".join(f", {n} {state} kept" for state, n in sorted(kept.items()))
    of = f" (of {len(rec.runs)}, selected by --only)" if len(rows) != len(rec.runs) else ""
    return (
        f"sweep {rec.name}: {len(rows)} runs{of}, {to_start} to start{skipped}, "
        f"{session.prepared.backend.describe()} -> {rec.sweep_dir.path}"
    )
