"""`kill -9` of `orchestra up` at random moments, with runs that leave grandchildren behind."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from orchestra.rundir import State
from tests.hardening.faults import (
    Alive,
    Lines,
    cgroups_writable,
    family,
    run_files_are_whole,
    sweep_processes,
)
from tests.helpers import orchestra, popen_orchestra, statuses, wait_for, write_sweep

# Each run leaves grandchildren of every kind: one in its process group, one that starts a session
# of its own, one that ignores SIGTERM, one with no environment, a daemon (double fork) whose parent
# exits at once, and (where runs get cgroups) one in a session of its own with no environment.
FAMILY = """
    import os, signal, subprocess, time
    from pathlib import Path
    from orchestra import Sweep, Config, Grid

    def train(ctx, n, logdir, seed):
        attempt = os.environ["ORCHESTRA_ATTEMPT"]
        kids = [
            subprocess.Popen(["sleep", "1000"]),
            subprocess.Popen(["sleep", "1001"], start_new_session=True),
            subprocess.Popen(["sleep", "1002"], preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN)),
            subprocess.Popen(["/bin/sleep", "1004"], env={}),
        ]
        if CGROUPS:
            kids.append(subprocess.Popen(["/bin/sleep", "1005"], env={}, start_new_session=True))
        daemon = subprocess.run(
            ["sh", "-c", "sleep 1003 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True
        ).stdout.split()
        with open(Path(logdir, "family"), "a") as f:
            f.write(" ".join([str(k.pid) for k in kids] + daemon) + "\\n")
        start, _ = ctx.resume() or (0, None)
        for i in range(start, 8):
            ctx.logger("iteration", i); ctx.logger("loss", n / (i + 1)); ctx.logger.dump()
            ctx.snapshot(i, {"i": i})
            time.sleep(0.1 * n)
        with open(Path(logdir, "completions"), "a") as f:
            f.write(attempt + "\\n")
        return {"loss": n / 8}

    sweep = Sweep(train, Config({"n": Grid([1, 2, 3, 4, 5, 6, 7, 8, 9])}), seeds=[0], snapshot_mode="last")
"""


@pytest.mark.slow
def test_twenty_kill_9_of_up_leave_no_process_no_double_completion_and_no_corrupt_file(tmp_path: Path):
    """20 ``kill -9`` of ``up`` at random moments: a third while it loads, plans, writes and recovers
    what the last one left (before its first line), the rest while runs start, run and end.

    Survivors: processes of a killed ``up``'s runs still alive once a later ``up`` has printed its first
    line (it recovers before that). Double completions: a run recorded completed that runs again or
    is recorded completed twice. Corrupt files: a JSON file that does not parse, a metrics line
    that does not (but a last one a killed writer left unfinished), a temp file of the
    orchestrator's left at the end.
    """
    f = write_sweep(tmp_path, FAMILY.replace("CGROUPS", repr(not cgroups_writable())))
    root = tmp_path / "sweeps"
    sweep_dir = root / "sweep"
    rng = random.Random(20251202)
    tally = {
        "ups": 0,
        "kills": 0,
        "left_behind": 0,
        "survivors": 0,
        "double_completions": 0,
        "corrupt_files": 0,
    }
    left = Alive()  # every process of the sweep alive when an orchestrator was killed, not yet recovered
    completed: dict[str, tuple[float, int]] = {}  # run -> when it was recorded completed, times it finished
    for _ in range(40):  # until 20 kills hit a live up (the sweep is long enough that they do)
        if tally["kills"] == 20:
            break
        proc = popen_orchestra("up", f, "--root", root, "--workers", "3", cwd=tmp_path)
        tally["ups"] += 1
        out = Lines(proc)
        if rng.random() < 1 / 3:
            time.sleep(rng.uniform(0.0, 0.6))  # python starts, loads, plans: early, often before recovery
        else:
            wait_for(
                lambda proc=proc, out=out: proc.poll() is not None or out.has("sweep sweep:"), timeout=60
            )
            time.sleep(rng.uniform(0.0, 1.2))
        tally["kills"] += proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if out.has("sweep sweep:"):  # it recovered before it started anything: nothing older may be left
            survivors = left.alive()
            tally["survivors"] += len(survivors)
            assert not survivors, f"an up started runs with processes of a dead one alive: {survivors}"
        now = Alive(set(sweep_processes(sweep_dir)) | set(family(sweep_dir)))
        tally["left_behind"] += len(now)  # alive right after the kill: the next up must end them
        left = Alive(set(left.alive()) | set(now.procs))
        tally["double_completions"] += _recount(sweep_dir, completed)
        problems = run_files_are_whole(sweep_dir)
        tally["corrupt_files"] += len(problems)
        assert not problems, problems
    final = orchestra("up", f, "--root", root, "--workers", "3", cwd=tmp_path, timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr
    tally["survivors"] += len(left.alive())
    tally["double_completions"] += _recount(sweep_dir, completed)
    for rid, s in statuses(sweep_dir).items():
        assert s.state is State.COMPLETED, rid
        tally["double_completions"] += sum(1 for e in s.history if e["state"] == "completed") - 1
    problems = run_files_are_whole(sweep_dir, final=True)
    tally["corrupt_files"] += len(problems)
    # the temp files of the runs' own writes cut short are theirs to remove (when their next attempt
    # starts: the runtime's part of issue 11); counted here, not judged
    tally["run_temp_files"] = len(list(sweep_dir.glob("runs/*/*/**/.*.tmp")))
    print("kill -9 tally:", tally)
    assert not problems, problems
    assert tally == {**tally, "kills": 20, "survivors": 0, "double_completions": 0, "corrupt_files": 0}, tally
    assert not sweep_processes(sweep_dir)


def _recount(sweep_dir: Path, completed: dict[str, tuple[float, int]]) -> int:
    """Runs recorded completed before that ran again since (or whose record changed): how many."""
    if not (sweep_dir / "sweep.json").exists():
        return 0
    again = 0
    for rid, s in statuses(sweep_dir).items():
        if s is None or s.state is not State.COMPLETED:
            continue
        done = sweep_dir / "runs" / rid / "completions"
        finished = len(done.read_text().split()) if done.exists() else 0
        if rid in completed and completed[rid] != (s.ended_at, finished):
            again += 1
        completed[rid] = (s.ended_at, finished)
    return again
