"""What Slurm says about jobs, read from ``squeue`` (JSON or a ``-o`` format) and ``sacct``, and how a
job's end maps to orchestra's reasons. Pure functions: the watcher runs the commands.

One :class:`JobInfo` per array task. Slurm shows the pending tasks of an array as one record
(``1234_[7-499%50]``); they are expanded here. ``squeue --json`` changed its shape over releases
(22.05 plain values, 23.02 on ``{"set": ..., "number": ...}`` and state lists); both are read.

The end-state mapping (docs/slurm.md):

======================  ==================================================================
Slurm state             orchestra
======================  ==================================================================
COMPLETED               the run's own exit status (0: completed)
FAILED                  the run's exit status and ``result.json`` (exception, exit code, signal)
TIMEOUT, DEADLINE       failed, ``timeout`` (also when the run stopped at the time-limit signal)
OUT_OF_MEMORY           failed, ``out_of_memory``
NODE_FAIL, BOOT_FAIL    failed, ``node_fail``
PREEMPTED               interrupted, ``preempted``: queued again, resumes from its snapshot
CANCELLED               cancelled (by orchestra: the user's cancel or kill; by someone else's
                        ``scancel``: ``cancelled``, with that said)
gone from the queue     read from the job's exit record and ``result.json``; with neither,
                        failed as ``lost`` (never guessed as success)
======================  ==================================================================
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from orchestra.rundir import Reason
from orchestra.scheduler.backends import Ended

FINAL = frozenset(
    {
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
        "SPECIAL_EXIT",
        "REVOKED",
    }
)
ON_NODE = frozenset({"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"})
WAITING = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})

# squeue -o: job id | array job id | array task id | state | reason | nodes | start | end | command
SQUEUE_FORMAT = "%A|%F|%K|%T|%r|%N|%S|%e|%o"
SACCT_FIELDS = "JobID,JobIDRaw,State,ExitCode,NodeList,Start,End"

REASONS = {
    "TIMEOUT": Reason.TIMEOUT,
    "DEADLINE": Reason.TIMEOUT,
    "OUT_OF_MEMORY": Reason.OUT_OF_MEMORY,
    "NODE_FAIL": Reason.NODE_FAIL,
    "BOOT_FAIL": Reason.NODE_FAIL,
    "PREEMPTED": Reason.PREEMPTED,
    "CANCELLED": Reason.CANCELLED,
}
MESSAGES = {
    "TIMEOUT": "Slurm ended it at its time limit",
    "DEADLINE": "Slurm ended it at its deadline",
    "OUT_OF_MEMORY": "Slurm ended it for using more memory than the job asked for (raise --mem)",
    "NODE_FAIL": "its node failed",
    "BOOT_FAIL": "its node failed to boot",
    "PREEMPTED": "Slurm preempted it for other work",
    "CANCELLED": "cancelled by someone else's scancel",
}


@dataclass(frozen=True)
class JobInfo:
    """One array task as Slurm shows it now."""

    array_job_id: int
    task: int | None  # None: not an array job
    job_id: int  # the task's own id (the array's while its task is pending)
    state: str  # PENDING, RUNNING, COMPLETED, ... (flags such as REQUEUED dropped)
    reason: str = ""  # why it waits (Priority, Resources, JobHeldUser), or why it ended
    node: str | None = None
    start: float | None = None
    end: float | None = None
    returncode: int | None = None  # the batch script's: >= 0 an exit status, < 0 a signal
    restarts: int | None = None  # times Slurm requeued it (None: this query cannot tell)
    command: str | None = None

    @property
    def key(self) -> tuple[int, int | None]:
        return (self.array_job_id, self.task)

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def on_node(self) -> bool:
        return self.state in ON_NODE

    @property
    def held(self) -> bool:
        return self.state in WAITING and self.reason.startswith("JobHeld")


@dataclass(frozen=True)
class ExitRecord:
    """What the job script wrote when its run's process ended (``events/<task>.<restarts>.end``)."""

    returncode: int  # bash's: 128+N when the process died of signal N
    time_limit: bool  # the time-limit signal came first: the run was stopped for it
    node: str | None = None
    at: float | None = None

    @property
    def run_returncode(self) -> int:
        """The run's exit status as the local backend reports it: a signal as its negative number.

        143 stays 143: ``python -m orchestra.runtime`` exits with it after a SIGTERM it handled.
        """
        rc = self.returncode
        if 128 < rc < 128 + 65 and rc != 143:
            return -(rc - 128)
        return rc

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ExitRecord:
        return cls(int(d["rc"]), bool(d.get("time_limit")), d.get("node") or None, _float(d.get("at")))


def ended_from(info: JobInfo | None, record: ExitRecord | None, *, limit: int | None = None) -> Ended:
    """How an attempt ended, from Slurm's final state (None: the job is gone from Slurm) and the
    job's exit record (None: its script never wrote one: killed, or never started)."""
    rc = record.run_returncode if record is not None else None
    if record is not None and record.time_limit and (info is None or info.state != "COMPLETED"):
        when = f" of {limit} min" if limit else ""
        return Ended(rc, Reason.TIMEOUT, f"stopped at its Slurm time limit{when}")
    if info is None:
        if record is not None:
            return Ended(rc)
        return Ended(
            None,
            None,
            "the job left Slurm's queue without an exit record (killed by Slurm or its node?); "
            "sacct may say more",
        )
    if rc is None:
        rc = info.returncode
        if info.state == "COMPLETED" and rc is None:
            rc = 0
    reason = REASONS.get(info.state)
    if reason is not None:
        message = MESSAGES[info.state]
        if info.state == "TIMEOUT" and limit:
            message += f" ({limit} min)"
        return Ended(rc, reason, message)
    if info.state in ("COMPLETED", "FAILED"):
        if rc is None:
            return Ended(None, None, f"Slurm: {info.state} ({info.reason}) with no exit status")
        if info.state == "FAILED" and record is None and info.reason not in ("NonZeroExitCode", ""):
            return Ended(rc, None, f"the job failed before its run started: {info.reason} (see output.log)")
        return Ended(rc)
    return Ended(rc, None, f"Slurm: {info.state} ({info.reason})")


# ---------------------------------------------------------------------- squeue --json


def parse_squeue_json(doc: Mapping[str, Any], *, name: str | None = None) -> list[JobInfo]:
    """JobInfos from ``squeue --json`` (jobs named ``name`` only, where given)."""
    out: list[JobInfo] = []
    for job in doc.get("jobs") or ():
        if name is not None and job.get("name") != name:
            continue
        job_id = _int(job.get("job_id"))
        if job_id is None:
            continue
        array_id = _int(job.get("array_job_id")) or job_id
        task = _int(job.get("array_task_id"))
        state = _state(job.get("job_state"))
        info = JobInfo(
            array_job_id=array_id,
            task=task,
            job_id=job_id,
            state=state,
            reason=str(job.get("state_reason") or ""),
            node=_node(job.get("nodes")),
            start=_epoch(job.get("start_time")) if state not in WAITING else None,
            end=_epoch(job.get("end_time")) if state in FINAL else None,
            returncode=_exit_json(job.get("exit_code")) if state in FINAL else None,
            restarts=_int(job.get("restart_cnt")),
            command=job.get("command") or None,
        )
        tasks = job.get("array_task_string")
        if task is None and isinstance(tasks, str) and tasks:
            out.extend(replace(info, task=t) for t in expand_tasks(tasks))
        else:
            out.append(info)
    return out


def _int(value: Any) -> int | None:
    if isinstance(value, dict):  # 23.02+: {"set": true, "infinite": false, "number": 7}
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _epoch(value: Any) -> float | None:
    n = _int(value)
    return float(n) if n else None


def _state(value: Any) -> str:
    if isinstance(value, list):  # 23.02+: ["RUNNING", "COMPLETING"], or ["PENDING", "REQUEUED"]
        base = [s for s in value if s in FINAL or s in ON_NODE or s in WAITING]
        return str(base[0]) if base else (str(value[0]) if value else "UNKNOWN")
    return str(value or "UNKNOWN").split()[0]


def _node(value: Any) -> str | None:
    text = str(value or "").strip()
    return text or None


def _exit_json(value: Any) -> int | None:
    if isinstance(value, dict):  # 23.02+: {"status": [...], "return_code": {...}, "signal": {...}}
        signal = value.get("signal") or {}
        sig = _int(signal.get("id") if "id" in signal else signal.get("signal_id"))
        if sig:
            return -sig
        return _int(value.get("return_code"))
    status = _int(value)  # 22.05: the raw wait status
    if status is None:
        return None
    return -(status & 0x7F) if status & 0x7F else status >> 8


# ---------------------------------------------------------------------- squeue -o


def parse_squeue_format(text: str) -> list[JobInfo]:
    """JobInfos from ``squeue -h -r -o SQUEUE_FORMAT`` (one line per array task)."""
    out = []
    for line in text.splitlines():
        parts = line.split("|", 8)
        if len(parts) != 9:
            continue
        raw, array_id, task, state, reason, node, start, end, command = (p.strip() for p in parts)
        job_id = _int(raw)
        if job_id is None:
            continue
        state = _state(state)
        out.append(
            JobInfo(
                array_job_id=_int(array_id) or job_id,
                task=_int(task),
                job_id=job_id,
                state=state,
                reason=reason,
                node=node or None,
                start=_time(start) if state not in WAITING else None,
                end=_time(end) if state in FINAL else None,
                command=command or None,
            )
        )
    return out


def _time(text: str) -> float | None:
    """Seconds since the epoch from Slurm's local ``2026-12-02T06:57:32``; None for N/A, Unknown, None."""
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


# ---------------------------------------------------------------------- sacct


def parse_sacct(text: str) -> list[JobInfo]:
    """JobInfos from ``sacct -X -n -P -o SACCT_FIELDS``."""
    out: list[JobInfo] = []
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) != 7:
            continue
        job, raw, state, exit_code, nodes, start, end = (p.strip() for p in parts)
        m = re.match(r"^(\d+)(?:_(\d+|\[[^\]]*\]))?", job)
        job_id = _int(raw)
        if m is None or job_id is None:
            continue
        array_id = int(m.group(1))
        state = _state(state)  # "CANCELLED by 1000" -> CANCELLED
        rc = None
        if ":" in exit_code:
            code, _, sig = exit_code.partition(":")
            rc = -int(sig) if sig.isdigit() and int(sig) else (int(code) if code.isdigit() else None)
        tasks = m.group(2)
        info = JobInfo(
            array_job_id=array_id,
            task=int(tasks) if tasks and tasks.isdigit() else None,
            job_id=job_id,
            state=state,
            node=None if nodes.startswith("None") else nodes or None,
            start=_time(start),
            end=_time(end),
            returncode=rc if state in FINAL else None,
        )
        if tasks and tasks.startswith("["):
            out.extend(replace(info, task=t) for t in expand_tasks(tasks))
        else:
            out.append(info)
    return out


def expand_tasks(text: str) -> Iterator[int]:
    """Task ids from Slurm's array notation: ``"3-5,9%2"`` or ``"[3-5,9%2]"`` -> 3, 4, 5, 9."""
    text = text.strip().strip("[]").split("%", 1)[0]
    for part in text.split(","):
        first, _, last = part.partition("-")
        if not first.strip().isdigit():
            continue
        lo = int(first)
        hi = int(last.split(":", 1)[0]) if last.split(":", 1)[0].strip().isdigit() else lo
        step = int(last.split(":", 1)[1]) if ":" in last else 1
        yield from range(lo, hi + 1, max(1, step))


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
