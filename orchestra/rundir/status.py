"""Status records: where a run is (``State``), why it ended (``Reason``, ``Exit``), and ``status.json``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from orchestra.errors import RunDirError


class State(str, Enum):
    """Where a run is: pueue's vocabulary, narrowed to what a sweep needs.

    ``cancelled`` is the user's own choice for one run and stays; ``interrupted`` means the sweep
    was stopped (Ctrl-C, quit, SIGTERM, a dead orchestrator) and the run resumes on the next
    ``orchestra up``; ``stopped`` is a run an early-stopping rule ended: finished, not failed.
    """

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        """No process of this run is active or waiting (it may still be retried or resumed)."""
        return self not in (State.QUEUED, State.RUNNING)

    @property
    def retryable(self) -> bool:
        """A user's retry queues it again."""
        return self in (State.FAILED, State.CANCELLED, State.INTERRUPTED)


LOST = "lost"  # shown, never written: 'running' in status.json while no orchestrator is alive
STATE_NAMES = (*(s.value for s in State), LOST)


def check_state_names(names: Iterable[str]) -> None:
    """RunDirError (one line) for the first name that is no state (as ``--state`` takes them)."""
    bad = [n for n in names if n not in STATE_NAMES]
    if bad:
        raise RunDirError(f"--state {bad[0]!r}: not one of {', '.join(STATE_NAMES)}")


def observed_state(status: Status | None, orchestrator_alive: bool) -> str:
    """What a reader should call a run: its state, ``queued`` with no status yet, or ``lost``.

    A run recorded as running while no orchestrator holds the sweep's lock was lost: the next
    ``orchestra up`` finds out what became of it and resumes it. Not so a run whose backend's
    attempts outlive the orchestrator (a Slurm job): it goes on, and the next ``up`` re-attaches.
    """
    if status is None:
        return State.QUEUED.value
    if status.state is State.RUNNING and not orchestrator_alive and not outlives_orchestrator(status):
        return LOST
    return status.state.value


def outlives_orchestrator(status: Status) -> bool:
    """The run's live attempt belongs to a backend whose runs go on without an orchestrator (Slurm)."""
    return bool((status.handle or {}).get("outlives_orchestrator"))


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
    STOPPED_EARLY = "stopped_early"  # an early-stopping rule ended it: finished, not failed, not retried
    OUT_OF_MEMORY = "out_of_memory"  # the cluster's scheduler killed it for using more memory than asked for
    NODE_FAIL = "node_fail"  # the node it ran on failed (Slurm NODE_FAIL, BOOT_FAIL)
    PREEMPTED = "preempted"  # the cluster's scheduler preempted it for other work; it resumes

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
    handle: Mapping[str, Any] | None = None  # the backend's record of the attempt (pid, or job id and node)
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
            "handle": dict(self.handle) if self.handle is not None else None,
            "queued_at": self.queued_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "history": list(self.history),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Status:
        if not isinstance(d, Mapping):
            raise RunDirError(f"status record is malformed (a JSON {type(d).__name__}, not an object)")
        try:
            exit_ = Exit.from_json(d["exit"]) if d.get("exit") else None
            state = State(d["state"])
            if state is State.CANCELLED and exit_ is not None and exit_.reason.resumable:
                state = State.INTERRUPTED  # written before 'interrupted' was a state of its own
            return cls(
                state=state,
                attempt=int(d.get("attempt", 0)),
                exit=exit_,
                pid=d.get("pid"),
                host=d.get("host"),
                gpus=tuple(d.get("gpus") or ()),
                handle=d.get("handle"),
                queued_at=d.get("queued_at"),
                started_at=d.get("started_at"),
                ended_at=d.get("ended_at"),
                history=tuple(d.get("history") or ()),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise RunDirError(f"status record is malformed ({type(exc).__name__}: {exc})") from exc
