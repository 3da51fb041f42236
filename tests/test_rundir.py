"""The run directory: atomic JSON, JSONL append/read/tail, status records, scan, and the sweep lock."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import orjson
import pytest

from orchestra.errors import RunDirError, SpaceError
from orchestra.rundir import (
    FORMAT,
    Exit,
    JsonlTail,
    JsonlWriter,
    Reason,
    RunDir,
    State,
    Status,
    SweepDir,
    SweepLock,
    append_jsonl,
    parse_jsonl,
    read_json,
    read_json_or_none,
    read_jsonl,
    scan,
    write_json,
)

# -- atomic JSON ------------------------------------------------------------------------------------


def test_write_json_round_trips_with_numpy(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {"a": 1, "arr": np.arange(3), "f": np.float32(0.5)})
    assert read_json(path) == {"a": 1, "arr": [0, 1, 2], "f": 0.5}
    assert path.read_bytes().endswith(b"}\n")
    write_json(path, [1], indent=False)
    assert path.read_bytes() == b"[1]\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_a_reader_never_sees_a_partial_file(tmp_path):
    path = tmp_path / "status.json"
    write_json(path, {"n": -1, "pad": "x" * 300_000})
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                from orchestra.rundir import write_json
                for n in range(300):
                    write_json({str(path)!r}, {{"n": n, "pad": "x" * 300_000}})
                """
            ),
        ]
    )
    seen = set()
    try:
        while writer.poll() is None:
            d = read_json(path)  # raises RunDirError on a torn file
            assert len(d["pad"]) == 300_000
            seen.add(d["n"])
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert read_json(path)["n"] == 299
    assert len(seen) > 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]


def test_a_write_that_cannot_encode_leaves_the_old_file(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {"old": True})
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert read_json(path) == {"old": True}
    assert os.listdir(tmp_path) == ["x.json"]


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {"old": True})
    code = textwrap.dedent(
        f"""
        import resource, signal
        from orchestra.rundir import write_json
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_json({str(path)!r}, {{"pad": "x" * 100_000}})
        except OSError as exc:
            print("failed", exc.errno)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("failed"), out.stderr
    assert read_json(path) == {"old": True}
    assert os.listdir(tmp_path) == ["x.json"]


def test_read_json_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": ')
    with pytest.raises(RunDirError, match=r"bad.json: not valid JSON .*; delete or repair it"):
        read_json(bad)
    assert read_json_or_none(bad) is None
    assert read_json_or_none(tmp_path / "missing.json") is None
    assert read_json_or_none(bad / "below") is None


# -- JSONL ------------------------------------------------------------------------------------------


def test_jsonl_writer_appends_whole_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with JsonlWriter(path) as w:
        w.write({"itr": 0, "loss": np.float64(1.5)})
        w.write({"itr": 1, "loss": 1.0})
    append_jsonl(path, {"itr": 2})
    assert path.read_bytes().count(b"\n") == 3
    assert read_jsonl(path).records == [{"itr": 0, "loss": 1.5}, {"itr": 1, "loss": 1.0}, {"itr": 2}]


def test_read_jsonl_skips_a_truncated_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "b"')
    read = read_jsonl(path)
    assert read.records == [{"a": 1}, {"a": 2}] and read.truncated_tail and read.bad_lines == 0


def test_read_jsonl_keeps_a_complete_unterminated_line_and_counts_bad_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"a": 1}\nnot json\n\n{"a": 2}')
    read = read_jsonl(path)
    assert read.records == [{"a": 1}, {"a": 2}] and read.bad_lines == 1 and not read.truncated_tail


def test_parse_jsonl_leaves_a_partial_line_unconsumed():
    parsed, consumed = parse_jsonl(b'{"a": 1}\n{"a":', final=False)
    assert parsed.records == [{"a": 1}] and consumed == len(b'{"a": 1}\n')


def test_jsonl_tail_across_partial_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    tail = JsonlTail(path)
    assert tail.read_new() == []  # no file yet
    with open(path, "ab") as f:
        f.write(b'{"i": 0}\n{"i": 1')
        f.flush()
        assert tail.read_new() == [{"i": 0}]
        f.write(b'}\n{"i"')
        f.flush()
        assert tail.read_new() == [{"i": 1}]
        assert tail.read_new() == []
        f.write(b": 2}\n")
        f.flush()
        assert tail.read_new() == [{"i": 2}]


def test_jsonl_tail_starts_over_when_the_file_is_replaced(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"i": 0}\n{"i": 1}\n')
    tail = JsonlTail(path)
    assert len(tail.read_new()) == 2
    # a longer replacement: only a new inode tells it apart
    replacement = tmp_path / "new.jsonl"
    replacement.write_bytes(b"".join(orjson.dumps({"j": j}) + b"\n" for j in range(5)))
    os.replace(replacement, path)
    assert tail.read_new() == [{"j": j} for j in range(5)]
    # a shorter file in place (truncated and rewritten)
    path.write_bytes(b'{"k": 0}\n')
    assert tail.read_new() == [{"k": 0}]


def test_jsonl_tail_reads_in_bounded_chunks_but_whole_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    big = {"blob": "x" * 100}
    path.write_bytes(b"".join(orjson.dumps(big) + b"\n" for _ in range(10)))
    tail = JsonlTail(path, max_bytes=50)  # smaller than one line
    got = []
    for _ in range(10):
        got.extend(tail.read_new())
    assert got == [big] * 10
    assert tail.read_new() == []


def test_jsonl_tail_follows_a_live_writer_process(tmp_path):
    path = tmp_path / "metrics.jsonl"
    code = textwrap.dedent(
        f"""
        import os
        fd = os.open({str(path)!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        for i in range(2000):
            line = ('{{"i": %d, "pad": "%s"}}\\n' % (i, "y" * (i % 97))).encode()
            half = len(line) // 2
            os.write(fd, line[:half])
            os.write(fd, line[half:])
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", code])
    tail = JsonlTail(path)
    got = []
    try:
        while writer.poll() is None:
            got.extend(tail.read_new())
    finally:
        writer.wait(timeout=60)
    got.extend(tail.read_new())
    assert [r["i"] for r in got] == list(range(2000))


# -- status records ---------------------------------------------------------------------------------


def test_status_round_trips_through_its_file(tmp_path):
    run = RunDir(tmp_path)
    status = Status(State.QUEUED, queued_at=1.0)
    status = status.moved(
        State.RUNNING, 2.0, attempt=1, pid=123, host="h", started_at=2.0, gpus=({"index": 0},)
    )
    status = status.moved(
        State.FAILED, 5.5, ended_at=5.5, exit=Exit(Reason.SIGNAL, code=-9, signal="SIGKILL")
    )
    run.write_status(status)
    back = run.read_status()
    assert back == status
    assert back.elapsed == 3.5
    assert [h["state"] for h in back.history] == ["running", "failed"]
    assert back.history[-1]["exit"] == "signal SIGKILL"


def test_status_history_is_bounded():
    status = Status(State.QUEUED)
    for i in range(250):
        status = status.moved(State.QUEUED, float(i))
    assert len(status.history) == 100 and status.history[0]["at"] == 150.0


def test_exit_descriptions():
    assert Exit(Reason.SUCCESS, 0).describe() == "success"
    assert Exit(Reason.EXIT_CODE, 3).describe() == "exit_code exit 3"
    assert (
        Exit(Reason.TIMEOUT, signal="SIGTERM", message="after 2h").describe() == "timeout SIGTERM: after 2h"
    )
    assert Reason.LOST.resumable and not Reason.EXCEPTION.resumable
    assert State.CANCELLED.finished and not State.RUNNING.finished


def test_elapsed_only_for_finished_runs():
    assert Status(State.RUNNING, started_at=1.0, ended_at=3.0).elapsed is None
    assert Status(State.QUEUED).elapsed is None


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"state": "exploded"},
        {"state": "running", "attempt": "x"},
        {"state": "failed", "exit": {"code": 1}},
    ],
)
def test_malformed_status_is_a_run_dir_error(record):
    with pytest.raises(RunDirError, match="status record is malformed"):
        Status.from_json(record)


# -- paths and scan ---------------------------------------------------------------------------------


def test_run_paths(tmp_path):
    sweep = SweepDir(tmp_path / "sw")
    run = sweep.run("lr=0.1", 3)
    assert run.path == tmp_path / "sw" / "runs" / "lr=0.1" / "3"
    assert (run.config.name, run.status.name, run.metrics.name, run.output_log.name) == (
        "config.json", "status.json", "metrics.jsonl", "output.log",
    )  # fmt: skip
    assert (run.variant, run.seed, run.sweep.path) == ("lr=0.1", "3", sweep.path)
    assert sweep.contains(run.path / "x") and not sweep.contains(tmp_path / "elsewhere")
    assert not sweep.contains(sweep.path / "runs" / ".." / ".." / "x")


@pytest.mark.parametrize("variant", ["..", "a/b", "", "a\0b", "."])
def test_run_names_that_escape_are_refused(tmp_path, variant):
    with pytest.raises(SpaceError):
        SweepDir(tmp_path).run(variant, 0)


def test_read_plan(tmp_path):
    sweep = SweepDir(tmp_path / "sw")
    with pytest.raises(RunDirError, match="no such directory"):
        sweep.read_plan()
    sweep.path.mkdir()
    with pytest.raises(RunDirError, match="not a sweep directory"):
        sweep.read_plan()
    write_json(sweep.sweep_json, {"format": 999})
    with pytest.raises(RunDirError, match="not a sweep file of format"):
        sweep.read_plan()
    write_json(sweep.sweep_json, {"format": FORMAT, "variants": []})
    assert sweep.exists() and sweep.read_plan()["variants"] == []


def test_scan_a_hand_made_sweep(tmp_path):
    sweep = SweepDir(tmp_path / "sw")
    done = Status(State.COMPLETED, attempt=1, exit=Exit(Reason.SUCCESS, 0))
    sweep.run("a", 0).path.mkdir(parents=True)
    sweep.run("a", 0).write_status(done)
    sweep.run("a", 1).path.mkdir(parents=True)  # no status yet
    sweep.run("b", 0).path.mkdir(parents=True)
    sweep.run("b", 0).status.write_text('{"state": "runn')  # corrupt
    sweep.run("c", 0).path.mkdir(parents=True)
    sweep.run("c", 0).status.write_text('{"state": "nope"}')  # malformed
    (sweep.runs / "stray.txt").write_text("x")
    (sweep.runs / "a" / "notes.txt").write_text("x")
    os.symlink(sweep.run("a", 0).path, sweep.runs / "a" / "7")
    records = {(r.variant, r.seed): r for r in scan(sweep.path)}
    assert set(records) == {("a", "0"), ("a", "1"), ("b", "0"), ("c", "0")}
    assert records["a", "0"].status == done
    assert records["a", "0"].path == sweep.run("a", 0).path
    assert records["a", "1"].status is None
    assert records["b", "0"].status is None
    assert records["c", "0"].status is None


def test_scan_of_a_sweep_without_runs_is_empty(tmp_path):
    assert scan(SweepDir(tmp_path)) == []


# -- the sweep lock ----------------------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys, time
    from orchestra.rundir import SweepDir, SweepLock
    lock = SweepLock(SweepDir(sys.argv[1]))
    assert lock.acquire()
    print("held", flush=True)
    time.sleep(600)
    """
)


def test_sweep_lock_is_refused_while_held_and_free_after_kill_9(tmp_path):
    sweep = SweepDir(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        lock = SweepLock(sweep)
        assert lock.acquire() is False
        assert lock.holder() == holder.pid
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        assert lock.holder() is None
        assert lock.acquire() is True
        assert Path(sweep.lock).read_text().split() == [str(os.getpid()), socket.gethostname()]
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


def test_sweep_lock_in_one_process(tmp_path):
    sweep = SweepDir(tmp_path)
    assert SweepLock(sweep).holder() is None  # no lock file yet
    with SweepLock(sweep) as lock:
        assert lock.acquire()
        assert SweepLock(sweep).acquire() is False  # a second open file description is refused too
    again = SweepLock(sweep)
    assert again.acquire()
    again.release()


def test_removing_the_lock_file_does_not_let_a_second_orchestrator_in(tmp_path):
    """The directory itself is locked too: ``rm orchestra.lock`` under a live orchestrator changes nothing."""
    sweep = SweepDir(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        Path(sweep.lock).unlink()
        lock = SweepLock(sweep)
        assert lock.acquire() is False
        assert lock.holder() == -1  # held, and the name of the holder went with the file
    finally:
        holder.kill()
        holder.wait(timeout=30)
    lock = SweepLock(sweep)
    assert lock.acquire() is True
    lock.release()
