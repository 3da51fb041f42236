"""`orchestra logs -f` on a log the orchestrator cuts to its bound while it is followed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from orchestra.rundir import State, Status, SweepDir, SweepLock
from orchestra.scheduler.logcap import cap_log


def test_logs_follow_goes_on_after_the_log_was_cut(tmp_path: Path):
    sweep = SweepDir(tmp_path / "s")
    run = sweep.run("x=1", 0)
    run.path.mkdir(parents=True)
    variant = {"index": 0, "name": "x=1", "key": "k", "params": {"x": 1}, "sampled": []}
    sweep.sweep_json.write_text(json.dumps({"format": 1, "name": "s", "seeds": [0], "variants": [variant]}))
    run.write_status(Status(State.RUNNING, attempt=1, pid=1))
    lock = SweepLock(sweep)
    assert lock.acquire()  # this test is the live orchestrator
    with open(run.output_log, "ab") as log:
        log.write(b"".join(b"before %07d\n" % i for i in range(100_000)))
    follower = subprocess.Popen(
        [sys.executable, "-m", "orchestra", "logs", str(sweep.path), "x=1/0", "-f"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out = follower.stdout
        assert out is not None
        for line in out:  # the whole log first (pytest's timeout bounds the wait)
            if line == b"before 0099999\n":
                break
        assert cap_log(run.output_log, 1 << 20) is not None
        with open(run.output_log, "ab") as log:
            log.write(b"after the cut\n")
        run.write_status(Status(State.COMPLETED, attempt=1))
        rest, err = follower.communicate(timeout=60)
    finally:
        lock.release()
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0
    assert rest == b"after the cut\n", "it goes on exactly where it was: nothing lost, nothing twice"
    assert err == b""
