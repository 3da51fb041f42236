"""What Slurm says about jobs: squeue's JSON and ``-o`` outputs read alike from the real cluster, sacct's
and newer Slurm's JSON shapes read from recorded output, and the end-state mapping."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson
import pytest

from orchestra.rundir import Reason, State
from orchestra.scheduler.backends import Ended
from orchestra.scheduler.backends.slurm.jobs import (
    SQUEUE_FORMAT,
    ExitRecord,
    JobInfo,
    ended_from,
    expand_tasks,
    parse_sacct,
    parse_squeue_format,
    parse_squeue_json,
)
from orchestra.scheduler.outcome import classify
from tests.helpers import wait_for


@pytest.mark.usefixtures("slurm_cluster")
def test_squeue_json_and_format_say_the_same_of_real_jobs(tmp_path: Path):
    """An array with tasks running, pending (collapsed in JSON), failed and completed."""
    name = f"orc-parse-{time.time_ns()}"
    script = tmp_path / "job.sh"
    script.write_text(
        "#!/bin/bash\n[ $SLURM_ARRAY_TASK_ID = 1 ] && exit 3\n[ $SLURM_ARRAY_TASK_ID = 0 ] && exit 0\nsleep 30\n"
    )
    array = int(
        subprocess.run(
            ["sbatch", "--parsable", "-J", name, "--array=0-7%3", "-o", "/dev/null", str(script)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    try:

        def both() -> tuple[list[JobInfo], list[JobInfo]]:
            fmt = subprocess.run(
                ["squeue", "-h", "-r", "--states=all", "-n", name, "-o", SQUEUE_FORMAT],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            js = subprocess.run(["squeue", "--json", "--states=all"], capture_output=True, check=True).stdout
            return parse_squeue_format(fmt), parse_squeue_json(orjson.loads(js), name=name)

        def settled() -> tuple[list[JobInfo], list[JobInfo]] | None:
            # 0 and 1 ended, 2 running, and both views read until they agree on every task (Slurm
            # may start a task between the two calls); 5-7 stay pending while 2 runs (%3)
            f, j = both()
            shown = [{i.task: (i.state, i.reason) for i in view} for view in (f, j)]
            states = {t: state for t, (state, _) in shown[0].items()}
            done = states.get(0) == "COMPLETED" and states.get(1) == "FAILED" and states.get(2) == "RUNNING"
            return (f, j) if done and len(f) == 8 and shown[0] == shown[1] else None

        fmt, js = wait_for(settled, timeout=60, interval=0.2, what="tasks 0 and 1 ended, 2 running")
    finally:
        subprocess.run(["scancel", str(array)], capture_output=True)
    by_task = {i.task: i for i in fmt}
    assert sorted(by_task) == list(range(8)) and {i.array_job_id for i in fmt} == {array}
    assert by_task[0].state == "COMPLETED" and by_task[0].final and by_task[0].node
    assert by_task[1].state == "FAILED" and by_task[1].reason == "NonZeroExitCode"
    assert by_task[2].on_node and by_task[2].start is not None and by_task[2].end is None
    assert [by_task[t].state for t in (5, 6, 7)] == ["PENDING"] * 3
    running = sum(by_task[t].state == "RUNNING" for t in (2, 3, 4))
    # three running: the rest wait for the array's limit; fewer: the node is busy with other tests
    assert by_task[7].reason == ("JobArrayTaskLimit" if running == 3 else by_task[7].reason) != ""
    assert by_task[7].start is None and by_task[7].node is None
    assert by_task[2].command == str(script)

    in_json = {i.task: i for i in js}
    assert sorted(in_json) == list(range(8)), "the collapsed pending record is expanded"
    for task in range(8):
        a, b = by_task[task], in_json[task]
        assert (a.array_job_id, a.state, a.reason, a.node, a.command) == (
            b.array_job_id,
            b.state,
            b.reason,
            b.node,
            b.command,
        ), task
        assert (a.start is None) == (b.start is None)
    assert in_json[1].returncode == 3 and in_json[0].returncode == 0, "JSON carries exit codes"
    assert in_json[2].restarts == 0


def test_newer_slurm_json_shapes_are_read_too():
    """23.02 and later: numbers as {"set", "infinite", "number"}, states as lists, exit codes as objects."""

    def number(n: int | None) -> dict[str, object]:
        return {"set": n is not None, "infinite": False, "number": n or 0}

    doc = {
        "jobs": [
            {
                "job_id": 71,
                "name": "s-abc",
                "array_job_id": number(70),
                "array_task_id": number(1),
                "array_task_string": "",
                "job_state": ["OUT_OF_MEMORY"],
                "state_reason": "OutOfMemory",
                "nodes": "node3",
                "start_time": number(1_700_000_000),
                "end_time": number(1_700_000_100),
                "exit_code": {
                    "status": ["SIGNALED"],
                    "return_code": number(0),
                    "signal": {"id": number(9), "name": "KILL"},
                },
                "restart_cnt": 1,
                "command": "/s/slurm/1/job.sh",
            },
            {
                "job_id": 70,
                "name": "s-abc",
                "array_job_id": number(70),
                "array_task_id": number(None),
                "array_task_string": "2-4,7%2",
                "job_state": ["PENDING"],
                "state_reason": "Priority",
                "nodes": "",
                "start_time": number(1_700_000_500),
                "end_time": number(None),
                "exit_code": {"status": ["PENDING"], "return_code": number(0)},
                "restart_cnt": 0,
                "command": "/s/slurm/1/job.sh",
            },
            {"job_id": 99, "name": "someone-else", "job_state": ["RUNNING"]},
        ]
    }
    infos = {i.task: i for i in parse_squeue_json(doc, name="s-abc")}
    assert sorted(infos) == [1, 2, 3, 4, 7]
    oom = infos[1]
    assert (oom.array_job_id, oom.state, oom.node, oom.returncode, oom.restarts) == (
        70,
        "OUT_OF_MEMORY",
        "node3",
        -9,
        1,
    )
    assert infos[7].state == "PENDING" and infos[7].start is None and infos[7].reason == "Priority"


SACCT = """\
1234_0|1235|COMPLETED|0:0|node3|2026-12-02T06:57:32|2026-12-02T06:58:00
1234_1|1236|CANCELLED by 1000|0:15|node4|2026-12-02T06:57:32|2026-12-02T06:57:40
1234_2|1237|TIMEOUT|0:0|node4|2026-12-02T06:57:32|2026-12-02T07:57:40
1234_[3-4%2]|1234|PENDING|0:0|None assigned|Unknown|Unknown
1240|1240|NODE_FAIL|1:0|node9|2026-12-02T06:57:32|2026-12-02T06:59:00
"""


def test_sacct_lines_are_read_with_states_exit_codes_and_pending_ranges():
    infos = {i.key: i for i in parse_sacct(SACCT)}
    assert infos[(1234, 0)].state == "COMPLETED" and infos[(1234, 0)].returncode == 0
    assert infos[(1234, 1)].state == "CANCELLED" and infos[(1234, 1)].returncode == -15
    assert infos[(1234, 2)].state == "TIMEOUT" and infos[(1234, 2)].node == "node4"
    assert (
        infos[(1234, 3)].state == "PENDING"
        and infos[(1234, 4)].node is None
        and infos[(1234, 3)].start is None
    )
    assert infos[(1240, None)].state == "NODE_FAIL" and infos[(1240, None)].returncode == 1


def test_array_notation_expands():
    assert list(expand_tasks("3-5,9%2")) == [3, 4, 5, 9]
    assert list(expand_tasks("[0-6:3]")) == [0, 3, 6]
    assert list(expand_tasks("7")) == [7]


def info(state: str, rc: int | None = None, reason: str = "") -> JobInfo:
    return JobInfo(5, 0, 6, state, reason=reason, node="n1", returncode=rc)


@pytest.mark.parametrize(
    ("state", "record", "result", "expected"),
    [
        ("COMPLETED", ExitRecord(0, False), {"status": "completed"}, (State.COMPLETED, Reason.SUCCESS)),
        (
            "FAILED",
            ExitRecord(1, False),
            {"status": "failed", "error": {"type": "ValueError"}},
            (State.FAILED, Reason.EXCEPTION),
        ),
        ("FAILED", ExitRecord(3, False), None, (State.FAILED, Reason.SETUP)),
        ("FAILED", ExitRecord(139, False), None, (State.FAILED, Reason.SIGNAL)),
        ("FAILED", ExitRecord(143, True), {"status": "terminated"}, (State.FAILED, Reason.TIMEOUT)),
        ("TIMEOUT", None, None, (State.FAILED, Reason.TIMEOUT)),
        ("TIMEOUT", ExitRecord(143, False), {"status": "terminated"}, (State.FAILED, Reason.TIMEOUT)),
        ("OUT_OF_MEMORY", None, None, (State.FAILED, Reason.OUT_OF_MEMORY)),
        ("NODE_FAIL", None, None, (State.FAILED, Reason.NODE_FAIL)),
        ("BOOT_FAIL", None, None, (State.FAILED, Reason.NODE_FAIL)),
        (
            "PREEMPTED",
            ExitRecord(143, False),
            {"status": "terminated"},
            (State.INTERRUPTED, Reason.PREEMPTED),
        ),
        ("CANCELLED", ExitRecord(143, False), {"status": "terminated"}, (State.CANCELLED, Reason.CANCELLED)),
        ("CANCELLED", None, None, (State.CANCELLED, Reason.CANCELLED)),
        (None, ExitRecord(0, False), {"status": "completed"}, (State.COMPLETED, Reason.SUCCESS)),
        (
            None,
            ExitRecord(1, False),
            {"status": "failed", "error": {"type": "E"}},
            (State.FAILED, Reason.EXCEPTION),
        ),
        (None, None, {"status": "completed"}, (State.COMPLETED, Reason.SUCCESS)),
        (None, None, None, (State.FAILED, Reason.LOST)),
    ],
)
def test_slurm_end_states_map_to_orchestras_states_and_reasons(state, record, result, expected):
    job = info(state) if state is not None else None
    ended = ended_from(job, record, limit=60)
    if result is not None:
        result = {"attempt": 1, **result}
    got, exit_ = classify(stop=None, ended=ended, result=result, attempt=1)
    assert (got, exit_.reason) == expected, (ended, exit_)


def test_orchestras_own_stop_wins_over_slurms_word_for_it():
    ended = ended_from(info("CANCELLED"), ExitRecord(143, False))
    state, exit_ = classify(stop=Reason.KILLED, ended=ended, result=None, attempt=1)
    assert (state, exit_.reason) == (State.CANCELLED, Reason.KILLED)
    state, exit_ = classify(
        stop=Reason.INTERRUPTED, ended=Ended(None, Reason.CANCELLED), result=None, attempt=1
    )
    assert (state, exit_.reason) == (State.INTERRUPTED, Reason.INTERRUPTED)


def test_the_exit_record_keeps_the_runtimes_143_and_turns_other_signals_negative():
    assert ExitRecord(143, False).run_returncode == 143
    assert ExitRecord(137, False).run_returncode == -9
    assert ExitRecord(1, False).run_returncode == 1
