"""The Slurm backend: runs are tasks of job arrays; Slurm places them, one watcher follows them all.

- **Placement** is Slurm's: every queued run is submitted at once, as one ``sbatch --array`` per
  batch (:mod:`.script`), with the array's ``%max_parallel`` throttle. ``cpus`` becomes
  ``--cpus-per-task``, ``gpus=k`` a GPU GRES of k; ``gpu_mem`` and ``max_gpu_util`` have no Slurm
  meaning and are refused at plan time. A submitted job that waits in Slurm's queue is recorded
  as ``queued`` with its job id (:class:`SlurmHandle` is a :class:`QueuedHandle`).
- **The environment** is the orchestrator's (``sbatch --export=ALL``) with :func:`run_env`'s
  additions and no parent-death link: the Python, the sweep and the runs' directories must be at
  the same paths on the compute nodes (a shared filesystem).
- **Liveness**: one watcher task for all jobs. It lists the job scripts' start and end records
  (cheap: a directory listing per submission, four times a second) and asks Slurm with one
  ``squeue`` for every job of the sweep: soon after something changed, then less and less often
  while nothing does. A job that ended is classified from Slurm's end state, the exit record its
  script wrote and the run's ``result.json`` (:func:`.jobs.ended_from`); one that left Slurm's
  queue is asked of ``sacct`` when accounting is there, else read from what it left behind.
  Cancel is ``scancel --full --signal=TERM`` (the run may snapshot), kill ``--batch --signal=KILL``; a
  job still pending is simply ``scancel``\\ ed; pausing holds pending jobs (``scontrol hold``).
- **Recovery**: jobs outlive the orchestrator. The next one asks Slurm for the sweep's jobs (by
  job name) and re-attaches to every run recorded with a job id, and to jobs submitted just
  before a crash that no status records yet: nothing is submitted twice. Jobs that finished in
  the meantime are recorded from Slurm, ``sacct``, or their files.
"""

from __future__ import annotations

import getpass
import hashlib
import math
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import orjson

from orchestra.errors import PlanError
from orchestra.rundir import Exit, Reason, RunDir, State, Status
from orchestra.scheduler.backends import Ended, Placement, Progress, RunLaunch
from orchestra.scheduler.backends.slurm.commands import (
    TRANSIENT,
    SlurmCommandError,
    SlurmCommands,
    first_line,
)
from orchestra.scheduler.backends.slurm.jobs import (
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    WAITING,
    ExitRecord,
    JobInfo,
    ended_from,
    parse_sacct,
    parse_squeue_format,
    parse_squeue_json,
)
from orchestra.scheduler.backends.slurm.script import SLURM_DIR, Entry, Submission, next_number, submissions
from orchestra.scheduler.runenv import run_env
from orchestra.slurm import Slurm
from orchestra.sweep import Resources

TICK = 0.25  # seconds between looks at the job scripts' start and end records
MIN_INTERVAL = 2.0  # seconds between squeue calls while things change
MAX_INTERVAL = 15.0  # ... and at most, while nothing does
MIN_SPACING = 1.0  # no two squeue calls closer than this, however often they are asked for
ENDING_GRACE = 10.0  # seconds Slurm may take to report a job whose run ended (non-zero) as final
GONE_AFTER = 2  # polls a job must be missing from squeue before it counts as gone
KEEP_ENV = ("SLURM_CONF", "SLURM_CLUSTERS")  # the only SLURM_ variables passed on to sbatch

Key = tuple[int, int | None]


class SlurmHandle:
    """One run's array task: see :class:`~orchestra.scheduler.backends.QueuedHandle`."""

    def __init__(
        self,
        backend: SlurmBackend,
        sub: Submission,
        entry: Entry,
        array_job_id: int,
        *,
        running: bool = False,
        attempt: int | None = None,
        node: str | None = None,
    ) -> None:
        self.backend = backend
        self.sub = sub
        self.entry = entry
        self.array_job_id = array_job_id
        self.restarts = max(0, (attempt or entry.attempt) - entry.attempt)  # requeues seen so far
        self.running = running  # as last reported to the scheduler
        self.node = node
        self.info: JobInfo | None = None  # what squeue said last
        self.info_at = -math.inf  # when (monotonic)
        self.running_since = -math.inf  # when it was last seen to start (monotonic)
        self.slurm_start: float | None = None  # the start time Slurm gave for it, while running
        self.missing = 0  # polls in a row that did not list it
        self.ending_since: float | None = None  # its run ended (exit record) but Slurm is not final yet
        self.ended: Ended | None = None
        self._send, self._receive = anyio.create_memory_object_stream[Progress | Ended](math.inf)
        self._done = anyio.Event()

    @property
    def key(self) -> Key:
        return (self.array_job_id, self.entry.task)

    @property
    def job(self) -> str:
        """Its name for Slurm's commands: ``1234_7``."""
        return f"{self.array_job_id}_{self.entry.task}"

    @property
    def id(self) -> str:
        return f"job {self.job}"

    @property
    def attempt(self) -> int:
        return self.entry.attempt + self.restarts

    @property
    def pending(self) -> bool:
        return not self.running and self.ended is None

    @property
    def where(self) -> str:
        if self.ended is not None:
            return ""
        if self.running:
            return f"{self.id} on {self.node}" if self.node else self.id
        info = self.info
        if info is not None and info.held:
            return f"{self.id} held"
        reason = info.reason if info is not None and info.reason not in ("", "None") else ""
        return f"{self.id} pending ({reason})" if reason else f"{self.id} pending"

    def record(self) -> dict[str, Any]:
        return {
            "backend": "slurm",
            "job": self.job,
            "array_job_id": self.array_job_id,
            "task": self.entry.task,
            "submission": self.sub.number,
            "first_attempt": self.entry.attempt,
            "restarts": self.restarts,
            "node": self.node,
            "outlives_orchestrator": True,
        }

    async def wait(self) -> Ended:
        await self._done.wait()
        assert self.ended is not None
        return self.ended

    async def progress(self) -> Progress | Ended:
        return await self._receive.receive()

    def terminate(self) -> None:
        self.backend.request("term", self)

    def kill(self) -> None:
        self.backend.request("kill", self)

    # the watcher's side

    def started(self, at: float | None, node: str | None) -> None:
        self.running = True
        self.running_since = time.monotonic()
        self.node = node or self.node
        self._send.send_nowait(
            Progress(True, self.attempt, at or time.time(), self.record(), self.where, host=self.node)
        )

    def requeued(self, exit_: Exit, at: float) -> None:
        """Slurm put it back in its queue: the attempt that ran ended; the next one waits."""
        ended_attempt = self.attempt
        self.running = False
        self.slurm_start = None
        self.restarts += 1
        self.ending_since = None
        self._send.send_nowait(Progress(False, ended_attempt, at, self.record(), self.where, exit=exit_))

    def finish(self, ended: Ended) -> None:
        if self.ended is not None:
            return
        self.ended = ended
        self._send.send_nowait(ended)
        self._done.set()


class SlurmBackend:
    """Runs a sweep's runs as Slurm job arrays; see the module docstring."""

    name = "slurm"
    runs_outlive_orchestrator = True

    def __init__(
        self,
        options: Slurm,
        sweep_path: Path,
        *,
        timeout: float | None = None,
        grace: float = 10.0,
        commands: SlurmCommands | None = None,
        query: str = "auto",
        accounting: bool | None = None,
    ) -> None:
        self.options = options
        self.sweep_path = Path(sweep_path)
        self.commands = commands or SlurmCommands()
        minutes = options.minutes()
        if minutes is None and timeout is not None:
            minutes = math.ceil((timeout + grace) / 60)  # the sweep's timeout is orchestra's; this a backstop
        self.minutes = minutes
        lead = options.lead()
        if minutes is not None:
            lead = min(lead, minutes * 60 / 2)
        self.lead = max(1, int(lead))
        digest = hashlib.sha256(str(self.sweep_path.resolve()).encode()).hexdigest()[:6]
        self.job_name = f"{self.sweep_path.name}-{digest}"
        self.user = getpass.getuser()
        self._query = query
        self._accounting = accounting
        self._problem: dict[Resources, str | None] = {}
        self._array_limit: int | None = None  # tasks one array may have here (MaxArraySize - 1)
        self._live: dict[Key, SlurmHandle] = {}
        self._subs: dict[int, Submission] = {}
        self._seen_events: dict[int, set[str]] = {}
        self._starts: dict[tuple[int, int], dict[int, Mapping[str, Any]]] = {}
        self._ends: dict[tuple[int, int], dict[int, ExitRecord]] = {}
        self._requests: list[tuple[str, SlurmHandle | None]] = []
        self._requested = anyio.Event()
        self._held = False
        self._interval = MIN_INTERVAL
        self._next_poll = 0.0
        self._last_poll = -math.inf
        self.polls = 0

    # ------------------------------------------------------------------ placement

    def describe(self) -> str:
        parts = [f"partition {self.options.partition}" if self.options.partition else "default partition"]
        if self.options.max_parallel:
            parts.append(f"at most {self.options.max_parallel} at once")
        if self.minutes:
            parts.append(f"{self.minutes} min limit")
        return f"Slurm ({', '.join(parts)})"

    def problem(self, resources: Resources) -> str | None:
        if resources not in self._problem:
            self._problem[resources] = self._check(resources)
        return self._problem[resources]

    def _check(self, resources: Resources) -> str | None:
        if resources.gpu_mem is not None:
            return (
                "asks for gpu_mem, but Slurm gives whole GPUs and cannot place by free memory: ask for "
                "gpus=k, and for a kind of GPU with --constraint or --sbatch-arg=--gres=gpu:TYPE:k"
            )
        if resources.max_gpu_util is not None:
            return "asks for max_gpu_util, which has no meaning on Slurm (a job's GPUs are its own); leave it out"
        missing = self.commands.missing()
        if missing is not None:
            return (
                f"--backend slurm: {missing} is not on PATH; run orchestra where Slurm's commands are "
                "(a login node, or inside an allocation)"
            )
        with tempfile.TemporaryDirectory() as tmp:
            trial = Submission(0, Path(tmp), [Entry(0, "trial", 1, Path(tmp))])
            script = Path(tmp) / "job.sh"
            script.write_text(
                "#!/bin/bash\n" + "".join(f"#SBATCH {d}\n" for d in self._directives(trial, resources))
            )
            done = self.commands.run_sync(["sbatch", "--test-only", *self._command_line(), str(script)])
        if done.returncode != 0:
            why = first_line(done.stderr) or first_line(done.stdout) or f"exit status {done.returncode}"
            return (
                f"Slurm refuses the sweep's jobs ({why}); check --partition, --account, --qos, --time, "
                "--mem, --constraint, --sbatch-arg and the runs' cpus and gpus"
            )
        return None

    def place(self, run_id: str, resources: Resources) -> Placement:
        return Placement(run_id, resources, threads=resources.cpus)

    def waiting_reason(self, resources: Resources) -> str:
        return ""

    def release(self, placement: Placement) -> None:
        pass

    def views(self) -> Sequence[Any]:
        return ()

    def hold(self, held: bool) -> None:
        """Pause: hold the sweep's pending jobs (and those submitted from now on); resume: release them."""
        self._held = held
        self.request("hold" if held else "release", None)

    # ------------------------------------------------------------------ submitting

    async def launch(self, batch: Sequence[tuple[RunLaunch, Placement]]) -> list[Any]:
        limit = await self._max_array()
        out: list[Any] = []
        items = list(batch)
        for start in range(0, len(items), limit):
            out.extend(await self._submit(items[start : start + limit]))
        return out

    async def _submit(self, chunk: Sequence[tuple[RunLaunch, Placement]]) -> list[Any]:
        first, placement = chunk[0]
        number = next_number(self.sweep_path)
        sub = Submission(
            number,
            self.sweep_path / SLURM_DIR / str(number),
            [Entry(i, launch.run_id, launch.attempt, launch.run_dir) for i, (launch, _) in enumerate(chunk)],
        )
        try:
            sub.dir.mkdir(parents=True, exist_ok=False)
            sub.write(
                self._directives(sub, placement.resources),
                python=self._python(),
                setup=self.options.setup,
                gpus=placement.resources.gpus > 0,
            )
            job_id = await self._sbatch(sub, self._env(first, placement), first.cwd)
            sub.record_job_id(job_id)
        except OSError as exc:
            return [exc] * len(chunk)
        self._subs[sub.number] = sub
        handles = [SlurmHandle(self, sub, e, job_id) for e in sub.entries]
        for h in handles:
            self._live[h.key] = h
        if self._held:
            self.request("hold", None)
        self.kick(1.0)
        return handles

    async def _sbatch(self, sub: Submission, env: Mapping[str, str], cwd: Path) -> int:
        """Submit; the array's job id. A try that timed out may have been submitted all the same:
        the queue is asked before the next one, so that nothing is submitted twice."""
        args = ["sbatch", "--parsable", *self._command_line(), str(sub.script)]
        for wait in (1.0, 3.0, 10.0, None):
            try:
                done = await self.commands.run(args, env=env, cwd=cwd, retry=False)
                return int(done.stdout.strip().split(";")[0])
            except SlurmCommandError as exc:
                if wait is None or not TRANSIENT.search(str(exc)):
                    raise
            except ValueError:
                raise SlurmCommandError(f"sbatch answered {done.stdout.strip()!r}, not a job id") from None
            await anyio.sleep(wait)
            for info in await self._squeue():
                if info.command == str(sub.script):
                    return info.array_job_id
        raise AssertionError("unreachable")

    def _directives(self, sub: Submission, resources: Resources) -> list[str]:
        """The job script's ``#SBATCH`` options (values quoted as sbatch reads them)."""
        o = self.options
        n = len(sub.entries)
        throttle = f"%{o.max_parallel}" if o.max_parallel and o.max_parallel < n else ""
        logs = str(sub.logs).replace("%", "%%")  # a % of the path itself is no pattern of Slurm's
        options: list[tuple[str, object]] = [
            ("--job-name", self.job_name),
            ("--array", f"0-{n - 1}{throttle}"),
            ("--output", f"{logs}/%a.log"),
            ("--open-mode", "append"),
            ("--signal", f"B:USR1@{self.lead}"),
            ("--requeue", None),
            ("--cpus-per-task", resources.cpus),
            ("--gres", f"gpu:{resources.gpus}" if resources.gpus else None),
            ("--time", self.minutes),
            ("--partition", o.partition),
            ("--account", o.account),
            ("--qos", o.qos),
            ("--mem", o.mem_flag()),
            ("--constraint", o.constraint),
        ]
        return [
            flag if flag == "--requeue" else f"{flag}={shlex.quote(str(value))}"
            for flag, value in options
            if value is not None or flag == "--requeue"
        ]

    def _command_line(self) -> list[str]:
        """sbatch's arguments besides the script: they win over its #SBATCH lines (and SBATCH_ variables)."""
        return ["--export=ALL", *self.options.extra]

    def _python(self) -> str:
        return self.options.python or sys.executable

    def _env(self, launch: RunLaunch, placement: Placement) -> dict[str, str]:
        """The environment the jobs get (``--export=ALL``): the run's, less what the job script sets."""
        gpus = placement.resources.gpus > 0
        env = run_env(
            base=os.environ,
            sweep_env=launch.sweep_env,
            run_dir=launch.run_dir,
            attempt=launch.attempt,
            threads=placement.threads,
            sweep_file=launch.sweep_file,
            device_env={} if gpus else None,  # Slurm sets CUDA_VISIBLE_DEVICES for a GPU job
        )
        for var in ("ORCHESTRA_RUN_DIR", "ORCHESTRA_ATTEMPT", "ORCHESTRA_PARENT_PID"):
            env.pop(var, None)
        if gpus:
            env.pop("CUDA_VISIBLE_DEVICES", None)
        # an orchestrator inside an allocation must not hand that allocation's settings to its jobs
        return {k: v for k, v in env.items() if not k.startswith("SLURM_") or k in KEEP_ENV}

    async def _max_array(self) -> int:
        """How many tasks one array may have here (MaxArraySize - 1; Slurm's default 1001)."""
        if self._array_limit is None:
            self._array_limit = 1000
            try:
                out = (await self.commands.run(["scontrol", "show", "config"])).stdout
            except SlurmCommandError:
                return self._array_limit
            for line in out.splitlines():
                if line.split("=")[0].strip() == "MaxArraySize":
                    value = line.split("=", 1)[1].strip()
                    if value.isdigit():
                        self._array_limit = max(1, int(value) - 1)
        return self._array_limit

    # ------------------------------------------------------------------ signals, holds

    def request(self, what: str, handle: SlurmHandle | None) -> None:
        """Queue a cancel (``term``), ``kill``, ``hold`` or ``release``: the watcher sends them in batches."""
        self._requests.append((what, handle))
        self._requested.set()

    async def _send_requests(self) -> None:
        while True:
            await self._requested.wait()
            self._requested = anyio.Event()
            requests, self._requests = self._requests, []
            term = [h for w, h in requests if w == "term" and h is not None and h.ended is None]
            kill = [h for w, h in requests if w == "kill" and h is not None and h.ended is None]
            signal_term = _jobs(h for h in term if h.running)
            signal_kill = _jobs(h for h in kill if h.running)
            cancel = _jobs(h for h in [*term, *kill] if not h.running)
            if signal_kill:  # to the batch step: Slurm kills the whole step at once (with --full
                # or none, a SIGKILL is a plain cancel: SIGTERM first, SIGKILL after KillWait)
                await self._scancel(["--batch", "--signal=KILL", *signal_kill])
            if signal_term:
                await self._scancel(["--full", "--signal=TERM", *signal_term])
            if cancel:
                await self._scancel(cancel)
            holds = [w for w, h in requests if w in ("hold", "release")]
            if holds:
                arrays = sorted({str(h.array_job_id) for h in self._live.values() if h.pending})
                if arrays:
                    await self._run(
                        ["scontrol", "release" if holds[-1] == "release" else "hold", ",".join(arrays)]
                    )
            self.kick(0.5)

    async def _scancel(self, args: list[str]) -> None:
        await self._run(["scancel", *args])

    async def _run(self, args: list[str]) -> None:
        """A command whose failure for some of its jobs (already ended) changes nothing."""
        try:
            await self.commands.run(args, check=False)
        except SlurmCommandError:
            pass  # Slurm could not be reached: the next poll shows what is left

    # ------------------------------------------------------------------ watching

    def kick(self, delay: float = 0.0) -> None:
        """Ask Slurm soon (after ``delay`` seconds, and no sooner than MIN_SPACING after the last call)."""
        self._next_poll = min(self._next_poll, time.monotonic() + delay)

    async def watch(self, wake: Callable[[], None]) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._send_requests)
            while True:
                await anyio.sleep(TICK)
                now = time.monotonic()
                live = [h for h in self._live.values() if h.ended is None]
                news = self._scan_events()
                for h in live:
                    if (h.sub.number, h.entry.task) in news or h.ending_since is not None:
                        self._update(h)
                changed = bool(news)
                if live and now >= max(self._next_poll, self._last_poll + MIN_SPACING):
                    changed = await self._poll() or changed
                    self._interval = MIN_INTERVAL if changed else min(self._interval * 1.5, MAX_INTERVAL)
                    self._next_poll = time.monotonic() + self._interval
                self._forget_ended()

    async def _poll(self) -> bool:
        """One squeue for every job of the sweep; True when a job changed."""
        self._last_poll = time.monotonic()
        self.polls += 1
        try:
            infos = {i.key: i for i in await self._squeue()}
        except SlurmCommandError:
            return False  # the controller did not answer: try again later, nothing is decided on silence
        if any(i.final for i in infos.values()):
            # A job's script writes its end record before the job ends: one that ended since this
            # tick's scan has a record that scan missed. Read it before taking Slurm's final word
            # (else a failed run whose squeue line has no exit code would be called lost).
            self._scan_events()
        changed = False
        gone = []
        for h in [h for h in self._live.values() if h.ended is None]:
            info = infos.get(h.key)
            if info is None:
                h.missing += 1
                if h.missing >= GONE_AFTER:
                    gone.append(h)
                continue
            h.missing = 0
            if info != h.info:
                changed = True
            h.info, h.info_at = info, time.monotonic()
            self._update(h)
        if gone:
            await self._settle_gone(gone)
            changed = True
        return changed

    async def _squeue(self) -> list[JobInfo]:
        """Every job of this sweep that Slurm still lists (pending, running, recently ended)."""
        if self._query == "auto":
            self._query = "json" if self.commands.version() >= (23, 2) else "format"
        if self._query == "json":
            done = await self.commands.run(
                ["squeue", "--json", "--states=all", "-u", self.user, "-n", self.job_name]
            )
            try:
                return parse_squeue_json(orjson.loads(done.stdout), name=self.job_name)
            except orjson.JSONDecodeError as exc:
                raise SlurmCommandError(f"squeue --json gave no JSON ({exc})") from None
        done = await self.commands.run(
            ["squeue", "-h", "-r", "--states=all", "-u", self.user, "-n", self.job_name, "-o", SQUEUE_FORMAT]
        )
        return parse_squeue_format(done.stdout)

    def _scan_events(self, subs: Mapping[int, Submission] | None = None) -> set[tuple[int, int]]:
        """Read the new start and end records of the job scripts of ``subs`` (default: those with
        live jobs); the (submission, task) of each."""
        news: set[tuple[int, int]] = set()
        if subs is None:
            subs = {h.sub.number: h.sub for h in self._live.values() if h.ended is None}
        for n, sub in subs.items():
            seen = self._seen_events.setdefault(n, set())
            try:
                names = [e.name for e in os.scandir(sub.events)]
            except OSError:
                continue
            for name in names:
                if name in seen:
                    continue
                if self._read_event(sub, name):
                    seen.add(name)
                    task = name.split(".", 1)[0]
                    if task.isdigit():
                        news.add((n, int(task)))
        return news

    def _read_event(self, sub: Submission, name: str) -> bool:
        """Keep one record; False when it cannot be read yet (being written: read it next time)."""
        parts = name.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return True  # not ours: never look at it again
        try:
            record = orjson.loads((sub.events / name).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return False
        key = (sub.number, int(parts[0]))
        restarts = int(parts[1])
        if parts[2] == "start":
            self._starts.setdefault(key, {})[restarts] = record
        elif parts[2] == "end":
            try:
                self._ends.setdefault(key, {})[restarts] = ExitRecord.from_json(record)
            except (KeyError, TypeError, ValueError):
                return True
        return True

    def _update(self, h: SlurmHandle) -> None:
        """Tell the scheduler what changed for one job, from its records and what squeue said last."""
        if h.ended is not None:
            return
        key = (h.sub.number, h.entry.task)
        starts = self._starts.get(key, {})
        ends = self._ends.get(key, {})
        info = h.info
        known = max([*starts, *ends, (info.restarts or 0) if info else 0, h.restarts])
        while h.restarts < known:  # Slurm requeued it (preemption, a failed node): that attempt ended
            self._start(h, starts.get(h.restarts), None)
            rec = ends.get(h.restarts)
            h.requeued(_requeue_exit(rec), rec.at if rec and rec.at else time.time())
        if info is not None and h.running and h.info_at > h.running_since and info.restarts is None:
            # squeue -o cannot count requeues: a job seen to run that waits again, or runs since a
            # later start, was requeued
            restarted = info.on_node and info.start and h.slurm_start and info.start - h.slurm_start > 1
            if info.state in WAITING or restarted:
                h.requeued(_requeue_exit(ends.get(h.restarts)), time.time())
        if info is not None and info.on_node and h.running and h.slurm_start is None:
            h.slurm_start = info.start
        start = starts.get(h.restarts)
        ran = info is not None and (info.on_node or (info.final and info.node is not None))
        if not h.running and (start or ran):
            self._start(h, start, info)
        record = ends.get(h.restarts)
        if info is not None and info.final:
            h.finish(ended_from(info, record, limit=self.minutes))
        elif record is not None:
            if record.returncode == 0 and not record.time_limit:
                h.finish(Ended(0))  # nothing Slurm could add changes a success
            elif h.ending_since is None:
                h.ending_since = time.monotonic()
                self.kick()
            elif time.monotonic() - h.ending_since > ENDING_GRACE:
                h.finish(ended_from(None, record, limit=self.minutes))
            else:
                self.kick(MIN_SPACING)

    def _start(self, h: SlurmHandle, start: Mapping[str, Any] | None, info: JobInfo | None) -> None:
        if h.running:
            return
        at = start.get("at") if start else (info.start if info is not None else None)
        node = start.get("node") if start else (info.node if info is not None else None)
        h.started(float(at) if at else None, str(node) if node else None)

    async def _settle_gone(self, handles: Sequence[SlurmHandle]) -> None:
        """Jobs Slurm no longer lists: ``sacct`` where accounting is kept, else what they left behind."""
        infos: dict[Key, JobInfo] = {}
        if await self._has_accounting():
            try:
                done = await self.commands.run(
                    ["sacct", "-X", "-n", "-P", "-o", SACCT_FIELDS, "-j", ",".join(h.job for h in handles)]
                )
                infos = {i.key: i for i in parse_sacct(done.stdout)}
            except SlurmCommandError:
                pass
        self._scan_events()
        for h in handles:
            info = infos.get(h.key)
            if info is not None and not info.final:
                h.missing = 0  # accounting says it is still there: keep watching
                continue
            h.info = info
            key = (h.sub.number, h.entry.task)
            start = self._starts.get(key, {}).get(h.restarts)
            if start or (info is not None and info.node is not None):
                self._start(h, start, info)
            h.finish(ended_from(info, self._ends.get(key, {}).get(h.restarts), limit=self.minutes))

    async def _has_accounting(self) -> bool:
        if self._accounting is None:
            try:
                await self.commands.run(["sacct", "-n", "-X", "-j", "1", "-o", "JobID"], retry=False)
                self._accounting = True
            except SlurmCommandError:
                self._accounting = False  # "Slurm accounting storage is disabled", or no sacct at all
        return self._accounting

    def _forget_ended(self) -> None:
        for key in [k for k, h in self._live.items() if h.ended is not None]:
            del self._live[key]

    # ------------------------------------------------------------------ recovery

    async def recover(self, sweep_runs: Path, running: Mapping[str, Status]) -> dict[str, Any]:
        """Re-attach to the sweep's jobs: those the runs record, and any submitted but not yet recorded."""
        subs = {s.number: s for s in submissions(self.sweep_path)}
        if not subs:
            return {}  # nothing was ever submitted
        self._subs.update(subs)
        if self.commands.missing() is not None:
            raise PlanError(
                "--backend slurm: Slurm's commands are not on PATH; cannot look for the sweep's jobs"
            )
        try:
            queue = {i.key: i for i in await self._squeue()}
        except SlurmCommandError as exc:
            raise PlanError(
                f"cannot ask Slurm about the sweep's jobs ({exc}); nothing was submitted: try again"
            ) from None
        self._last_poll = time.monotonic()
        out: dict[str, Any] = {}
        for run_id, status in running.items():
            rec = status.handle or {}
            sub = subs.get(rec.get("submission", -1))
            task = rec.get("task")
            if (
                rec.get("backend") != "slurm"
                or sub is None
                or not isinstance(task, int)
                or task >= len(sub.entries)
            ):
                continue  # not a Slurm job of this sweep: settled as lost, and run again
            array = rec.get("array_job_id") or sub.array_job_id
            if not isinstance(array, int):
                continue
            handle = SlurmHandle(
                self,
                sub,
                sub.entries[task],
                array,
                running=status.state is State.RUNNING,
                attempt=status.attempt,
                node=rec.get("node"),
            )
            out[run_id] = handle
        out.update(self._unrecorded(subs.values(), queue, {h.key for h in out.values()}))
        gone = []
        for handle in out.values():
            handle.info = queue.get(handle.key)
            self._live[handle.key] = handle
            if handle.info is None:
                gone.append(handle)
        self._scan_events()
        for handle in out.values():
            if handle.info is not None:
                self._update(handle)
        if gone:
            await self._settle_gone(gone)
        if any(h.info is not None and h.info.held for h in out.values()):
            self.request("release", None)  # held by a pause of the last orchestrator: a pause ends with it
        if out:
            self.kick(1.0)
        return out

    def _unrecorded(
        self, subs: Iterable[Submission], queue: Mapping[Key, JobInfo], taken: set[Key]
    ) -> dict[str, SlurmHandle]:
        """Jobs no run's status records yet (the orchestrator died between sbatch and writing the
        statuses), for attempts newer than the status knows: still in Slurm's queue, or gone but
        with records of their run. Re-attached (or recorded), never submitted again."""
        by_script = {info.command: info.array_job_id for info in queue.values() if info.command}
        found: dict[str, SlurmHandle] = {}
        for sub in sorted(subs, key=lambda s: s.number, reverse=True):  # the newest attempt first
            array = sub.array_job_id or by_script.get(str(sub.script))
            if array is None:
                continue  # sbatch never returned, and Slurm has no such job: never submitted
            if sub.array_job_id is None:
                sub.record_job_id(array)
            self._scan_events({sub.number: sub})
            for entry in sub.entries:
                key = (array, entry.task)
                if entry.run_id in found or key in taken:
                    continue
                traced = (sub.number, entry.task) in self._starts or (sub.number, entry.task) in self._ends
                if key not in queue and not traced:
                    continue  # gone without running (cancelled while it waited): run it again
                status = RunDir(entry.run_dir).read_status()
                if status is not None and (
                    status.attempt >= entry.attempt or status.state is State.COMPLETED
                ):
                    continue  # the run's status knows this attempt, or a newer one
                found[entry.run_id] = SlurmHandle(self, sub, entry, array)
        return found


def _jobs(handles: Iterable[SlurmHandle]) -> list[str]:
    return sorted({h.job for h in handles})


def _requeue_exit(record: ExitRecord | None) -> Exit:
    code = record.run_returncode if record is not None else None
    return Exit(Reason.PREEMPTED, code, None, "requeued by Slurm (preempted, or its node failed); it resumes")


def slurm_backend_for(
    options: Slurm, sweep_path: Path, *, timeout: float | None, grace: float
) -> SlurmBackend:
    """The backend ``orchestra up --backend slurm`` builds (session.py calls it)."""
    return SlurmBackend(options, sweep_path, timeout=timeout, grace=grace)
