"""How an attempt ended, decided from what is left of it: a pure function, as pueue's ``finish``.

The inputs are what orchestra asked for (a stop and its reason), what the backend saw (an exit
status or signal, or a reason of its own such as a Slurm time limit) and the run's own
``result.json`` for this attempt. Nothing is guessed as success: a run that left no result and no
exit status is a failure that says so.

A backend's own reason (``Ended.reason``) decides unless orchestra stopped the attempt itself or it
exited 0: a cluster's time limit, memory limit or node failure is a failure of that name;
someone else's ``scancel`` is a cancel (the user's choice, not retried); a preemption interrupts
the run (it resumes, and is not counted as a failure).
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import Any

from orchestra.rundir import EXIT_SETUP, EXIT_TERMINATED, EXIT_UNRECORDED, Exit, Reason, State
from orchestra.scheduler.backends import Ended

STOP_STATES = {
    Reason.CANCELLED: State.CANCELLED,
    Reason.KILLED: State.CANCELLED,
    Reason.INTERRUPTED: State.INTERRUPTED,
    Reason.STOPPED_EARLY: State.STOPPED,
}


BACKEND_STATES = {
    Reason.CANCELLED: State.CANCELLED,  # by someone else (scancel): their choice, like a user's cancel
    Reason.PREEMPTED: State.INTERRUPTED,  # the cluster took the resources back: the run resumes
}


def classify(
    *,
    stop: Reason | None,
    ended: Ended,
    result: Mapping[str, Any] | None,
    attempt: int,
    timeout: float | None = None,
) -> tuple[State, Exit]:
    """The state and exit of an attempt; ``stop`` is why orchestra stopped it (None: it ended by itself)."""
    rc = ended.returncode
    sig = signal_name(-rc) if rc is not None and rc < 0 else None
    if not (isinstance(result, Mapping) and result.get("attempt") == attempt):
        result = None  # none for this attempt: the run died before writing it
    if stop is Reason.TIMEOUT:
        limit = f" of {timeout:g}s" if timeout is not None else ""
        return State.FAILED, Exit(Reason.TIMEOUT, rc, sig, f"ran past its timeout{limit}")
    if stop in STOP_STATES:
        if rc == 0:
            return State.COMPLETED, Exit(Reason.SUCCESS, 0)
        return STOP_STATES[stop], Exit(stop, rc, sig)
    if rc == 0:
        return State.COMPLETED, Exit(Reason.SUCCESS, 0)
    if ended.reason is not None:  # the backend knows better than an exit status (a Slurm end state)
        state = BACKEND_STATES.get(ended.reason, State.FAILED)
        return state, Exit(ended.reason, rc, sig, ended.message)
    if rc is None:
        if result is not None and result.get("status") == "completed":
            return State.COMPLETED, Exit(Reason.SUCCESS, result.get("exit_code", 0))
        return State.FAILED, Exit(Reason.LOST, None, None, ended.message or "ended without an exit status")
    if rc < 0:
        hint = " (out of memory?)" if sig == "SIGKILL" else ""
        return State.FAILED, Exit(Reason.SIGNAL, rc, sig, f"killed by {sig}{hint}")
    error = result.get("error") if result is not None else None
    if isinstance(error, Mapping) and error.get("phase") == "setup":
        return State.FAILED, Exit(Reason.SETUP, rc, None, error_text(error))
    if rc == EXIT_SETUP and result is None:
        return State.FAILED, Exit(Reason.SETUP, rc, None, "the run could not start; see output.log")
    if isinstance(error, Mapping):
        return State.FAILED, Exit(Reason.EXCEPTION, rc, None, error_text(error))
    if rc == EXIT_UNRECORDED and result is None:
        return State.FAILED, Exit(
            Reason.EXIT_CODE, rc, None, "it returned, but its result.json could not be written (a full disk?)"
        )
    if rc == EXIT_TERMINATED:
        return State.FAILED, Exit(
            Reason.SIGNAL, rc, "SIGTERM", "terminated by a SIGTERM orchestra did not send"
        )
    return State.FAILED, Exit(Reason.EXIT_CODE, rc, None, f"exited with status {rc}")


def signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def error_text(error: Mapping[str, Any] | None) -> str:
    if not error:
        return ""
    text = f"{error.get('type', 'Error')}: {error.get('message', '')}"
    return text if len(text) <= 300 else text[:297] + "..."
