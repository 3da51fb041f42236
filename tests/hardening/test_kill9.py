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
from tests.helpers import orchestra, pid_alive, popen_orchestra, statuses, wait_for, write_sweep

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
            time.sleep(0.03 * n)
        with open(Path(logdir, "completions"), "a") as f:
            f.write(attempt + "\\n")
        return {"loss": n / 8}

    sweep = Sweep(train, Config({"n": Grid([1, 2, 3, 4, 5, 6])}), seeds=[0], snapshot_mode="last")
"""


@pytest.mark.slow
def test_twenty_kill_9_of_up_leave_no_process_no_double_completion_and_no_corrupt_file(tmp_path: Path):
    f = write_sweep(tmp_path, FAMILY.replace("CGROUPS", repr(not cgroups_writable())))
    root = tmp_path / "sweeps"
    sweep_dir = root / "sweep"
    rng = random.Random(20251202)
    tally = {"kills": 0, "left_behind": 0, "survivors": 0, "double_completions": 0, "corrupt_files": 0}
    left = Alive()  # every process of the sweep alive when its orchestrator was killed
    completed: dict[str, float] = {}
    for _ in range(20):
        proc = popen_orchestra("up", f, "--root", root, "--workers", "3", cwd=tmp_path)
        out = Lines(proc)
        wait_for(lambda proc=proc, out=out: proc.poll() is not None or out.has("sweep sweep:"), timeout=60)
        survivors = left.alive()
        tally["survivors"] += len(survivors)
        assert not survivors, f"the next up started with processes of the dead one alive: {survivors}"
        time.sleep(rng.uniform(0.0, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        tally["kills"] += 1
        left = Alive(set(sweep_processes(sweep_dir)) | set(family(sweep_dir)))
        tally["left_behind"] += len(left)
        for rid, s in statuses(sweep_dir).items() if (sweep_dir / "sweep.json").exists() else ():
            if s is not None and s.state is State.COMPLETED:
                if rid in completed and s.ended_at != completed[rid]:
                    tally["double_completions"] += 1
                completed[rid] = s.ended_at
        problems = run_files_are_whole(sweep_dir)
        tally["corrupt_files"] += len(problems)
        assert not problems, problems
    final = orchestra("up", f, "--root", root, "--workers", "3", cwd=tmp_path, timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr
    tally["survivors"] += len(left.alive())
    for rid, s in statuses(sweep_dir).items():
        assert s.state is State.COMPLETED, rid
        if sum(1 for e in s.history if e["state"] == "completed") != 1:
            tally["double_completions"] += 1
        if rid in completed and s.ended_at != completed[rid]:
            tally["double_completions"] += 1
        done = (sweep_dir / "runs" / rid / "completions").read_text().split()
        assert len(done) >= 1
    problems = run_files_are_whole(sweep_dir, final=True)
    tally["corrupt_files"] += len(problems)
    print("kill -9 tally:", tally)
    assert tally["survivors"] == 0 and tally["double_completions"] == 0, tally
    assert not problems, problems
    assert not [p for p in family(sweep_dir) if pid_alive(p)], "a grandchild outlived the last up"
    assert not sweep_processes(sweep_dir)
