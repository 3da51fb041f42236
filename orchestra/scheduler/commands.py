"""Commands are data: what a user (or a search, or a stopper) asks of a live sweep, and the reply.

The dashboard (in process or attached over the socket), the CLI (``orchestra cancel ...``) and
tests all send the same :class:`Command` and get the same :class:`Reply` per run; the words a
person reads are made by the frontend (:func:`orchestra.present.reply_text`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Op(str, Enum):
    CANCEL = "cancel"  # a queued run will not start; a running one: SIGTERM, SIGKILL after the grace
    KILL = "kill"  # SIGKILL a running run now (a queued one is cancelled)
    RETRY = "retry"  # queue a failed, cancelled or interrupted run again (it resumes from its snapshot)
    STOP_EARLY = "stop_early"  # an early-stopping rule ended it: SIGTERM, finished as 'stopped'
    PAUSE = "pause"  # start no new runs
    RESUME = "resume"
    STOP = "stop"  # drain: running runs finish, nothing new starts, then the sweep ends
    STOP_NOW = "stop_now"  # interrupt: running runs get SIGTERM and resume on the next up
    KILL_ALL = "kill_all"  # a second interrupt: SIGKILL every running run

    @property
    def per_run(self) -> bool:
        return self in (Op.CANCEL, Op.KILL, Op.RETRY, Op.STOP_EARLY)


class Action(str, Enum):
    """What a command did to one run (or to the sweep)."""

    CANCELLED = "cancelled"  # a queued run will never start
    STOPPING = "stopping"  # SIGTERM sent; SIGKILL follows after the grace period
    KILLED = "killed"  # SIGKILL sent
    REQUEUED = "requeued"
    PAUSED = "paused"
    RESUMED = "resumed"
    DRAINING = "draining"
    INTERRUPTING = "interrupting"
    UNCHANGED = "unchanged"  # nothing to do (it had finished already, say); ``detail`` says why
    UNKNOWN = "unknown"  # no such run


@dataclass(frozen=True)
class Command:
    op: Op
    runs: tuple[str, ...] = ()  # run ids, for per-run ops


@dataclass(frozen=True)
class Reply:
    """The outcome for one run (``run`` is None for sweep-wide ops)."""

    op: Op
    action: Action
    run: str | None = None
    state: str | None = None  # the run's state after the command
    detail: str = ""  # e.g. "already completed", "SIGKILL after 10s"

    @property
    def ok(self) -> bool:
        return self.action not in (Action.UNCHANGED, Action.UNKNOWN)

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op.value,
            "action": self.action.value,
            "run": self.run,
            "state": self.state,
            "detail": self.detail,
            "ok": self.ok,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Reply:
        return cls(Op(d["op"]), Action(d["action"]), d.get("run"), d.get("state"), d.get("detail", ""))


def replies_ok(replies: Sequence[Reply]) -> bool:
    return all(r.ok for r in replies)
