"""The run directory: the on-disk contract every backend, frontend and analysis talks through.

Layout (shared/DESIGN.md)::

    <root>/<sweep>/
      sweep.json          the plan: variants, seeds, settings, code version      (orchestrator)
      payload.pkl         the cloudpickled entry function                        (orchestrator)
      orchestra.lock      flock held by the live orchestrator of this sweep
      launch/             git hash, diff, optional archive of the launching repo (orchestrator)
      runs/<variant>/<seed>/
        config.json       the run's resolved config, seed, name, run options     (orchestrator)
        status.json       queued/running/completed/failed/cancelled and why      (orchestrator only)
        metadata.json     git, launcher, host, python, packages, env             (run only)
        result.json       return-value summary or the exception                  (run only)
        output.log        stdout+stderr of every attempt                         (run's own fds)
        metrics.jsonl     one JSON line per Logger.dump()                        (run only, append)
        snapshots/        garage-style snapshot files                            (run only)

One writer per file; JSON files are replaced atomically (temp file, fsync, rename); ``.jsonl``
files are only appended to, one whole line per ``write``.
"""

from __future__ import annotations

import fcntl
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import IO, Any

import orjson

from orchestra.atomic import write_bytes
from orchestra.errors import RunDirError
from orchestra.space.naming import check_path_component

SWEEP_JSON = "sweep.json"
PAYLOAD = "payload.pkl"
LOCK = "orchestra.lock"
LAUNCH = "launch"
RUNS = "runs"

CONFIG_JSON = "config.json"
STATUS_JSON = "status.json"
METADATA_JSON = "metadata.json"
RESULT_JSON = "result.json"
OUTPUT_LOG = "output.log"
METRICS_JSONL = "metrics.jsonl"
SNAPSHOTS = "snapshots"

FORMAT = 1  # the version of this layout, written into sweep.json

# Exit statuses of `python -m orchestra.runtime` (anything else is the user's own sys.exit code).
EXIT_OK = 0
EXIT_ERROR = 1  # the entry function raised; result.json has the exception
EXIT_SETUP = 3  # the run could not start (bad run dir, payload, missing parameter); retrying will not help
EXIT_TERMINATED = 128 + 15  # SIGTERM reached the run and it stopped


# ---------------------------------------------------------------------------------------------
# JSON files


def dumps(obj: Any, *, indent: bool = True) -> bytes:
    """orjson bytes of ``obj`` (numpy arrays and scalars allowed), indented for humans by default."""
    option = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(obj, option=option)


def write_json(path: str | os.PathLike[str], obj: Any, *, indent: bool = True, fsync: bool = True) -> None:
    """Replace ``path`` atomically with ``obj`` as JSON (temp file, fsync, rename: see orchestra.atomic).

    A reader sees the old file or the new one, never a mix; a failed write leaves the old file.
    ``fsync=False`` keeps the atomic rename but not durability across a power loss.
    """
    write_bytes(path, dumps(obj, indent=indent) + b"\n", durable=fsync)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file with orjson; a missing file raises FileNotFoundError, bad JSON RunDirError."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RunDirError(f"{os.fspath(path)}: not valid JSON ({exc}); delete or repair it") from exc


def read_json_or_none(path: str | os.PathLike[str]) -> Any:
    """Like :func:`read_json` but ``None`` for a missing or unreadable file."""
    try:
        return read_json(path)
    except (FileNotFoundError, NotADirectoryError, RunDirError):
        return None


# ---------------------------------------------------------------------------------------------
# JSONL files


class JsonlWriter:
    """Append one JSON object per line; each line is one ``write`` on an ``O_APPEND`` descriptor.

    ``flush=True`` (the default) makes every record visible to readers at once and safe from a
    later kill of the writing process.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, obj: Any) -> None:
        data = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def append_jsonl(path: str | os.PathLike[str], obj: Any) -> None:
    """Append one record to a JSONL file (opens and closes it; use JsonlWriter in loops)."""
    with JsonlWriter(path) as w:
        w.write(obj)


@dataclass
class JsonlRead:
    """Records parsed from a JSONL file, with how many lines could not be parsed."""

    records: list[Any]
    bad_lines: int = 0
    truncated_tail: bool = False


def parse_jsonl(data: bytes, *, final: bool = True) -> tuple[JsonlRead, int]:
    """Parse complete lines of ``data``; returns the records and the number of bytes consumed.

    With ``final=False`` an unterminated last line is left unconsumed (a writer may be mid-line);
    with ``final=True`` it is parsed if it is valid and otherwise counted as a truncated tail.
    """
    out = JsonlRead([])
    end = data.rfind(b"\n") + 1
    body, tail = data[:end], data[end:]
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            out.records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            out.bad_lines += 1
    consumed = end
    if final and tail.strip():
        try:
            out.records.append(orjson.loads(tail))
        except orjson.JSONDecodeError:
            out.truncated_tail = True
        consumed = len(data)
    return out, consumed


def read_jsonl(path: str | os.PathLike[str]) -> JsonlRead:
    """All records of a JSONL file; a truncated last line (a writer killed mid-write) is skipped."""
    with open(path, "rb") as f:
        data = f.read()
    return parse_jsonl(data, final=True)[0]


class JsonlTail:
    """Read the records appended to a JSONL file since the last call (for live runs).

    A line the writer has not finished yet is left for the next call. When the file is replaced
    (a new inode, or a shorter file) reading starts over from its beginning. Each call reads at
    most ``max_bytes``, but always at least one whole line.
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = 4 << 20) -> None:
        self.path = os.fspath(path)
        self.offset = 0
        self.max_bytes = max_bytes
        self._file_id: tuple[int, int] | None = None

    def read_new(self) -> list[Any]:
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                file_id = (st.st_dev, st.st_ino)
                if file_id != self._file_id or st.st_size < self.offset:
                    self._file_id = file_id
                    self.offset = 0
                if st.st_size == self.offset:
                    return []
                f.seek(self.offset)
                data = f.read(self.max_bytes)
                if b"\n" not in data and len(data) == self.max_bytes:
                    data += f.readline()
        except FileNotFoundError:
            return []
        parsed, consumed = parse_jsonl(data, final=False)
        self.offset += consumed
        return parsed.records


# ---------------------------------------------------------------------------------------------
# status records


class State(str, Enum):
    """Where a run is: pueue's vocabulary, narrowed to what a sweep needs."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (State.COMPLETED, State.FAILED, State.CANCELLED)


class Reason(str, Enum):
    """Why a run ended."""

    SUCCESS = "success"  # exit status 0
    EXCEPTION = "exception"  # the entry function raised (result.json has type, message, traceback)
    SETUP = "setup"  # the run could not start (missing parameter, unreadable payload): not retried
    EXIT_CODE = "exit_code"  # exited non-zero on its own (sys.exit(3), os._exit)
    SIGNAL = "signal"  # killed by a signal orchestra did not send (segfault, OOM killer)
    TIMEOUT = "timeout"  # ran past its timeout; orchestra stopped it
    CANCELLED = "cancelled"  # the user cancelled it (SIGTERM, then SIGKILL after the grace period)
    KILLED = "killed"  # the user killed it at once (SIGKILL)
    INTERRUPTED = "interrupted"  # the orchestrator was stopped (Ctrl-C, SIGTERM); resumes on the next up
    LOST = "lost"  # the orchestrator died while the run was running; resumes on the next up
    SPAWN = "spawn"  # the process could not be started at all

    @property
    def resumable(self) -> bool:
        """Runs that ended this way are queued again by the next ``orchestra up``."""
        return self in (Reason.INTERRUPTED, Reason.LOST)


@dataclass(frozen=True)
class Exit:
    """How an attempt ended: the reason, and the exit code or signal name that tells it."""

    reason: Reason
    code: int | None = None
    signal: str | None = None
    message: str = ""

    def describe(self) -> str:
        parts = [self.reason.value]
        if self.signal:
            parts.append(self.signal)
        elif self.code is not None and self.reason is not Reason.SUCCESS:
            parts.append(f"exit {self.code}")
        text = " ".join(parts)
        return f"{text}: {self.message}" if self.message else text

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason.value,
            "code": self.code,
            "signal": self.signal,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Exit:
        return cls(Reason(d["reason"]), d.get("code"), d.get("signal"), d.get("message", ""))


HISTORY_LIMIT = 100


@dataclass(frozen=True)
class Status:
    """The record in ``status.json``, written only by the orchestrator."""

    state: State
    attempt: int = 0
    exit: Exit | None = None
    pid: int | None = None
    host: str | None = None
    gpus: tuple[Mapping[str, Any], ...] = ()
    queued_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    history: tuple[Mapping[str, Any], ...] = field(default=())

    def moved(self, state: State, at: float, **changes: Any) -> Status:
        """A copy in ``state`` with ``changes`` applied and the move appended to the history."""
        new = replace(self, state=state, **changes)
        event: dict[str, Any] = {"state": state.value, "at": at, "attempt": new.attempt}
        if new.exit is not None and state.finished:
            event["exit"] = new.exit.describe()
        history = (*self.history, event)[-HISTORY_LIMIT:]
        return replace(new, history=history)

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None and self.state.finished else None
        return None if end is None else max(0.0, end - self.started_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "attempt": self.attempt,
            "exit": self.exit.to_json() if self.exit else None,
            "pid": self.pid,
            "host": self.host,
            "gpus": list(self.gpus),
            "queued_at": self.queued_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "history": list(self.history),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Status:
        try:
            return cls(
                state=State(d["state"]),
                attempt=int(d.get("attempt", 0)),
                exit=Exit.from_json(d["exit"]) if d.get("exit") else None,
                pid=d.get("pid"),
                host=d.get("host"),
                gpus=tuple(d.get("gpus") or ()),
                queued_at=d.get("queued_at"),
                started_at=d.get("started_at"),
                ended_at=d.get("ended_at"),
                history=tuple(d.get("history") or ()),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise RunDirError(f"status record is malformed ({type(exc).__name__}: {exc})") from exc


# ---------------------------------------------------------------------------------------------
# paths


class RunDir:
    """Paths of one run's directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._p = os.fspath(path)  # a str: building Paths for 10,000 runs costs more than reading them

    @functools.cached_property
    def path(self) -> Path:
        return Path(self._p)

    config = property(lambda self: self.path / CONFIG_JSON)
    status = property(lambda self: self.path / STATUS_JSON)
    metadata = property(lambda self: self.path / METADATA_JSON)
    result = property(lambda self: self.path / RESULT_JSON)
    output_log = property(lambda self: self.path / OUTPUT_LOG)
    metrics = property(lambda self: self.path / METRICS_JSONL)
    snapshots = property(lambda self: self.path / SNAPSHOTS)

    @property
    def variant(self) -> str:
        return self.path.parent.name

    @property
    def seed(self) -> str:
        return self.path.name

    @property
    def sweep(self) -> SweepDir:
        return SweepDir(self.path.parent.parent.parent)

    def read_status(self) -> Status | None:
        d = read_json_or_none(os.path.join(self._p, STATUS_JSON))
        if d is None:
            return None
        try:
            return Status.from_json(d)
        except RunDirError:
            return None

    def write_status(self, status: Status) -> None:
        write_json(self.status, status.to_json())

    def __repr__(self) -> str:
        return f"RunDir({self._p!r})"


class SweepDir:
    """Paths of a sweep's directory and of the runs in it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._runs = os.path.join(self.path, RUNS)

    sweep_json = property(lambda self: self.path / SWEEP_JSON)
    payload = property(lambda self: self.path / PAYLOAD)
    lock = property(lambda self: self.path / LOCK)
    launch = property(lambda self: self.path / LAUNCH)
    runs = property(lambda self: self.path / RUNS)

    def run(self, variant: str, seed: int | str) -> RunDir:
        """The directory of run (variant, seed); ``variant`` must be one safe path component."""
        check_path_component(variant, "variant name")
        check_path_component(str(seed), "seed")
        return RunDir(os.path.join(self._runs, variant, str(seed)))

    def exists(self) -> bool:
        return self.sweep_json.is_file()

    def read_plan(self) -> dict[str, Any]:
        """The parsed ``sweep.json``; RunDirError when this is not a sweep directory."""
        if not self.path.is_dir():
            raise RunDirError(f"{self.path}: no such directory")
        if not self.sweep_json.is_file():
            raise RunDirError(
                f"{self.path}: not a sweep directory (no {SWEEP_JSON}); give the directory `orchestra up` made"
            )
        plan = read_json(self.sweep_json)
        if not isinstance(plan, dict) or plan.get("format") != FORMAT:
            raise RunDirError(f"{self.sweep_json}: not a sweep file of format {FORMAT}")
        return plan

    def contains(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` resolves to a place inside this sweep's ``runs/`` directory."""
        runs = os.path.realpath(self.runs)
        return os.path.realpath(path).startswith(runs + os.sep)

    def __repr__(self) -> str:
        return f"SweepDir({str(self.path)!r})"


@dataclass(frozen=True)
class RunRecord:
    """One run directory found by :func:`scan`; ``status`` is None when it has none (yet)."""

    variant: str
    seed: str
    path: Path
    status: Status | None


def scan(sweep: str | os.PathLike[str] | SweepDir) -> list[RunRecord]:
    """Every run directory of a sweep with its status, in directory order (fast: one read per run)."""
    sweep = sweep if isinstance(sweep, SweepDir) else SweepDir(sweep)
    out: list[RunRecord] = []
    try:
        variants = os.scandir(sweep.runs)
    except FileNotFoundError:
        return out
    with variants:
        for v in variants:
            if not v.is_dir(follow_symlinks=False):
                continue
            with os.scandir(v.path) as seeds:
                for s in seeds:
                    if not s.is_dir(follow_symlinks=False):
                        continue
                    run = RunDir(s.path)
                    out.append(RunRecord(v.name, s.name, run.path, run.read_status()))
    return out


# ---------------------------------------------------------------------------------------------
# the sweep lock


class SweepLock:
    """An exclusive ``flock`` on ``orchestra.lock``: one live orchestrator per sweep.

    The kernel drops the lock when its holder dies, ``kill -9`` included, so a stale lock never
    blocks the next ``orchestra up``.
    """

    def __init__(self, sweep: SweepDir) -> None:
        self.path = sweep.lock
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another live process holds it."""
        f = open(self.path, "a+b")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n".encode())
        f.flush()
        self._file = f
        return True

    def holder(self) -> int | None:
        """The pid written by the holder, if the lock is held by a live process."""
        try:
            with open(self.path, "rb") as f:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    text = f.read().decode(errors="replace").strip()
                    return int(text) if text.isdigit() else -1
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
                return None
        except FileNotFoundError:
            return None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> SweepLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# ---------------------------------------------------------------------------------------------
# reading a plan back


@dataclass(frozen=True)
class PlannedRunRef:
    """A run as listed by ``sweep.json``: its number, variant name and seed, and its directory."""

    index: int
    variant: str
    seed: int
    params: Mapping[str, Any]
    dir: RunDir

    @property
    def id(self) -> str:
        return f"{self.variant}/{self.seed}"


def planned_runs(sweep: SweepDir, plan: Mapping[str, Any]) -> list[PlannedRunRef]:
    """The runs of a plan (variants x seeds, variant-major), with their directories."""
    seeds = list(plan.get("seeds", []))
    out = []
    for v in plan.get("variants", []):
        for j, s in enumerate(seeds):
            out.append(
                PlannedRunRef(v["index"] * len(seeds) + j, v["name"], s, v["params"], sweep.run(v["name"], s))
            )
    return out


def resolve_run(runs: list[PlannedRunRef], text: str) -> PlannedRunRef:
    """Find a run by number (``7``), id (``lr=0.1/0``), variant name when it has one seed, or id prefix."""
    text = text.strip().rstrip("/")
    if text.isdigit():
        for r in runs:
            if r.index == int(text):
                return r
        raise RunDirError(f"run {text}: no such run number (the sweep has runs 0..{len(runs) - 1})")
    exact = [r for r in runs if r.id == text]
    if exact:
        return exact[0]
    by_variant = [r for r in runs if r.variant == text]
    if len(by_variant) == 1:
        return by_variant[0]
    prefixed = [r for r in runs if r.id.startswith(text)]
    if len(prefixed) == 1:
        return prefixed[0]
    matches = by_variant or prefixed
    if matches:
        shown = ", ".join(r.id for r in matches[:4]) + (", ..." if len(matches) > 4 else "")
        raise RunDirError(f"run {text!r} is ambiguous ({shown}); give VARIANT/SEED or the run number")
    raise RunDirError(f"run {text!r}: no such run; `orchestra status DIR` lists them")


def last_record(path: str | os.PathLike[str], tail_bytes: int = 1 << 16) -> Any:
    """The last complete JSONL record of a file, or None (reads only its end)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - tail_bytes))
            data = f.read()
    except FileNotFoundError:
        return None
    for line in reversed(data.split(b"\n")):
        if line.strip():
            try:
                return orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
    return None


def live_holder(sweep: SweepDir) -> int | None:
    """The pid of the live orchestrator running this sweep, or None."""
    return SweepLock(sweep).holder()
