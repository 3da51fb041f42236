"""Steering a detached sweep from the command line: every command against a live service."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from orchestra.rundir import Reason, State, SweepDir
from orchestra.service.protocol import PROTOCOL, socket_path
from tests.helpers import orchestra, pid_alive, statuses, wait_for, write_sweep

# Runs wait for their own file "go-<x>" (or "go-all"); x=3 fails; x=4 starts two grandchildren
# that ignore SIGTERM (as a DataLoader's workers might) and ignores SIGTERM itself.
SWEEP = """
import os, signal, subprocess, sys, time
from orchestra import Sweep, Config, Grid

def train(ctx, x):
    if x == 4:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
        kids = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
        with open(f"pids-{x}", "w") as f:
            f.write(" ".join(str(p) for p in [os.getpid(), *(k.pid for k in kids)]))
    ctx.logger("iteration", 0); ctx.logger("x", x); ctx.logger.dump()
    while not (os.path.exists(f"go-{x}") or os.path.exists("go-all")):
        time.sleep(0.05)
    if x == 3:
        raise ValueError("three fails")
    return {"x": x}

sweep = Sweep(train, Config({"x": Grid([1, 2, 3, 4])}))
"""


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Path]:
    """A detached service running SWEEP with 4 workers; stopped (and checked gone) afterwards."""
    write_sweep(tmp_path, SWEEP)
    out = orchestra(
        "up", "sweep.py", "-d", "--root", "sweeps", "--workers", "4", "--grace", "1", cwd=tmp_path
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "attach with: orchestra attach sweeps/sweep" in out.stdout
    sweep_dir = tmp_path / "sweeps" / "sweep"
    pid = int((sweep_dir / "orchestra.lock").read_text().split()[0])
    try:
        yield sweep_dir
    finally:
        (tmp_path / "go-all").touch()
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid), timeout=60, what="the service to end")


def running(sweep_dir: Path, n: int) -> bool:
    return sum(1 for s in statuses(sweep_dir).values() if s is not None and s.state is State.RUNNING) == n


def test_up_detach_returns_and_the_service_runs_the_sweep_to_the_end(tmp_path: Path, service: Path):
    wait_for(lambda: running(service, 4), what="four running runs")
    (tmp_path / "go-all").touch()
    wait_for(lambda: (service / "service.log").read_text().count("runs in") == 1, timeout=60, what="the end")
    final = statuses(service)
    assert {s.state for rid, s in final.items() if rid != "x=3/0"} == {State.COMPLETED}
    assert final["x=3/0"].state is State.FAILED
    assert not os.path.exists(socket_path(service)), "the socket goes with the service"


def test_cancel_of_a_run_whose_grandchildren_ignore_sigterm_leaves_no_survivor(tmp_path: Path, service: Path):
    wait_for(
        lambda: (tmp_path / "pids-4").exists() and running(service, 4), what="the run with grandchildren"
    )
    pids = [int(p) for p in (tmp_path / "pids-4").read_text().split()]
    assert all(pid_alive(p) for p in pids)
    out = orchestra("cancel", service, "x=4", cwd=tmp_path)
    sent = time.monotonic()
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "x=4/0: stopping (SIGKILL after 1s)"
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=30, what="every process of the run gone")
    gone_after = time.monotonic() - sent
    assert gone_after < 1 + 0.5 + 2.0, f"grace 1s: all gone after {gone_after:.2f}s"  # + 2s for a loaded CI
    wait_for(lambda: statuses(service)["x=4/0"].state is State.CANCELLED, what="x=4 recorded as cancelled")
    st = statuses(service)["x=4/0"]
    assert st.exit.reason is Reason.CANCELLED, "cancelled from the CLI: not failed, not lost"


def test_kill_retry_of_failed_runs_by_state_and_replies_as_json(tmp_path: Path, service: Path):
    wait_for(lambda: running(service, 4), what="four running runs")
    (tmp_path / "go-3").touch()
    wait_for(lambda: statuses(service)["x=3/0"].state is State.FAILED, what="x=3 to fail")
    out = orchestra("kill", service, "1", "--json", cwd=tmp_path)  # run number 1 is x=2/0
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        {"op": "kill", "action": "killed", "run": "x=2/0", "state": "running", "detail": "", "ok": True}
    ]
    wait_for(lambda: statuses(service)["x=2/0"].state is State.CANCELLED, what="x=2 killed")
    assert statuses(service)["x=2/0"].exit.reason is Reason.KILLED
    out = orchestra("retry", service, "--state", "failed", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "x=3/0: requeued"
    wait_for(
        lambda: (s := statuses(service)["x=3/0"]).state is State.RUNNING and s.attempt == 2, what="x=3 again"
    )
    # a run that cannot be acted on: exit 1, and the line says why
    out = orchestra("retry", service, "x=1/0", cwd=tmp_path)
    assert out.returncode == 1 and out.stdout.strip() == "x=1/0: running, nothing to retry"
    # bad input: exit 2, one line
    out = orchestra("cancel", service, "x=9", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip().endswith(
        "no such run; `orchestra status DIR` lists them"
    )
    out = orchestra("cancel", service, cwd=tmp_path)
    assert out.returncode == 2 and "name at least one RUN, or --state STATE" in out.stderr


LIGHT = """
import sys
from orchestra.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"anyio", "asyncio", "rich", "textual", "numpy", "psutil", "orjson", "dataclasses"})
print("heavy:", ",".join(heavy))
sys.exit(code)
"""


def test_a_command_is_a_blocking_exchange_that_loads_no_event_loop_or_console(tmp_path: Path, service: Path):
    """A command line is a new process for a 1 ms exchange: it pays for every import (an event loop
    alone costs more than the exchange), so the control commands load only what they use."""
    wait_for(lambda: running(service, 4), what="four running runs")
    for argv in (
        ["retry", str(service), "x=1"],
        ["kill", str(service), "x=2"],
        ["pause", str(service)],
    ):
        done = subprocess.run(
            [sys.executable, "-c", LIGHT, *argv], capture_output=True, text=True, cwd=tmp_path, timeout=60
        )
        assert done.stdout.splitlines()[-1] == "heavy: ", (argv, done.stdout, done.stderr)
        assert done.returncode == (1 if argv[0] == "retry" else 0), (argv, done.stdout, done.stderr)
    wait_for(lambda: statuses(service)["x=2/0"].state is State.CANCELLED, what="x=2 killed")


def test_pause_resume_and_stop_drain_then_stop_now(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    out = orchestra(
        "up", "sweep.py", "-d", "--root", "sweeps", "--workers", "1", "--grace", "1", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    sweep_dir = tmp_path / "sweeps" / "sweep"
    pid = int((sweep_dir / "orchestra.lock").read_text().split()[0])
    try:
        wait_for(lambda: running(sweep_dir, 1), what="the first run")
        assert orchestra("pause", sweep_dir, cwd=tmp_path).stdout.strip() == "paused"
        (tmp_path / "go-1").touch()
        wait_for(lambda: statuses(sweep_dir)["x=1/0"].state is State.COMPLETED, what="x=1 to complete")
        time.sleep(0.5)  # a negative check: a paused sweep must not start x=2 when x=1 ends
        assert statuses(sweep_dir)["x=2/0"] is None, "paused: nothing new starts"
        assert orchestra("resume", sweep_dir, cwd=tmp_path).stdout.strip() == "resumed"
        wait_for(
            lambda: running(sweep_dir, 1) and statuses(sweep_dir)["x=2/0"] is not None, what="x=2 starts"
        )
        assert orchestra("stop", sweep_dir, cwd=tmp_path).stdout.strip() == "draining"
        (tmp_path / "go-2").touch()
        wait_for(lambda: not pid_alive(pid), timeout=60, what="the drained service to end")
        final = statuses(sweep_dir)
        assert final["x=2/0"].state is State.COMPLETED and final["x=3/0"] is None, (
            "drain: nothing new started"
        )
        out = orchestra("stop", sweep_dir, "--now", cwd=tmp_path)
        assert out.returncode == 2 and "no live orchestrator" in out.stderr
    finally:
        (tmp_path / "go-all").touch()
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_ls_and_status_json_show_the_service_and_each_runs_process(tmp_path: Path, service: Path):
    wait_for(lambda: running(service, 4), what="four running runs")
    out = orchestra("ls", "--root", tmp_path / "sweeps", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (listed,) = json.loads(out.stdout)
    assert listed["name"] == "sweep" and listed["counts"] == {"running": 4}
    assert listed["service"]["pid"] == int((service / "orchestra.lock").read_text().split()[0])
    assert listed["service"]["host"] == socket.gethostname()
    rows = json.loads(orchestra("status", service, "--json", cwd=tmp_path).stdout)
    row = rows[0]
    assert row["state"] == "running" and row["attempt"] == 1 and row["host"] == socket.gethostname()
    assert (
        pid_alive(row["pid"]) and row["handle"]["backend"] == "local" and row["handle"]["pid"] == row["pid"]
    )
    assert row["gpus"] == [] and row["exit"] is None


def test_the_socket_refuses_another_user_and_a_wrong_protocol_version(tmp_path: Path):
    # The sweep lives where another user could reach its directory (pytest's tmp_path is private).
    public = Path(tempfile.mkdtemp(prefix="orchestra-peer-", dir="/tmp"))
    os.chmod(public, 0o755)
    write_sweep(public, SWEEP)
    out = orchestra("up", "sweep.py", "-d", "--root", "sweeps", "--workers", "1", "--grace", "1", cwd=public)
    assert out.returncode == 0, out.stderr
    sweep_dir = public / "sweeps" / "sweep"
    pid = int((sweep_dir / "orchestra.lock").read_text().split()[0])
    path = socket_path(sweep_dir)
    try:
        assert os.stat(path).st_mode & 0o777 == 0o600
        answer = _hello(path, protocol=PROTOCOL + 1)
        assert answer["ok"] is False and f"speaks control protocol {PROTOCOL}" in answer["error"]
        if os.getuid() != 0:
            pytest.skip("switching to uid nobody needs root")
        nobody = 65534
        blocked = _as_user(nobody, path)
        assert "Permission denied" in blocked, "mode 0600: another user cannot even connect"
        os.chmod(path, 0o666)  # a socket made too open by mistake: the peer's uid is still checked
        refused = _as_user(nobody, path)
        assert f"refused: uid {nobody} does not own this sweep" in refused
        assert _hello(path)["ok"] is True, "the owner still gets in"
    finally:
        (public / "go-all").touch()
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid), timeout=60, what="the service to end")
        shutil.rmtree(public, ignore_errors=True)


def test_a_client_of_another_protocol_version_gets_one_line(tmp_path: Path):
    """A service speaking another version: the CLI says so in one line and exits 2."""
    sweep_dir = tmp_path / "sweeps" / "old"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "sweep.json").write_text(
        json.dumps({"format": 1, "name": "old", "seeds": [0], "variants": []})
    )
    server = subprocess.Popen(
        [sys.executable, "-c", FAKE_SERVER, socket_path(sweep_dir)], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == b"listening"
        out = orchestra("pause", sweep_dir, cwd=tmp_path)
        assert out.returncode == 2
        assert out.stderr.strip() == (
            f"orchestra: error: {sweep_dir}: its service speaks control protocol 99 (orchestra 9.9), "
            f"this orchestra {_version()} speaks {PROTOCOL}"
        )
    finally:
        server.kill()
        server.wait()


FAKE_SERVER = """
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()
print("listening", flush=True)
conn, _ = s.accept(); conn.recv(4096)
conn.sendall(json.dumps({"id": 1, "ok": True, "protocol": 99, "version": "9.9"}).encode() + b"\\n")
conn.recv(4096)
"""


def _version() -> str:
    from orchestra import __version__

    return __version__


def _hello(path: str, protocol: int = PROTOCOL) -> dict:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(orjson.dumps({"id": 1, "op": "hello", "protocol": protocol}) + b"\n")
        return orjson.loads(s.makefile("rb").readline())


def _as_user(uid: int, path: str) -> str:
    code = (
        "import os, socket, sys\n"
        f"os.setgid({uid}); os.setuid({uid})\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect(sys.argv[1])\n"
        "except OSError as e:\n"
        "    print(e.strerror); sys.exit()\n"
        "try:\n"
        '    s.sendall(b\'{"id": 1, "op": "hello", "protocol": 1}\\n\')\n'
        "except BrokenPipeError:\n"
        "    pass  # refused before the hello was read: what it said is still there\n"
        "print(s.makefile().readline())\n"
    )
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


def test_commands_need_a_live_orchestrator(tmp_path: Path):
    write_sweep(tmp_path, SWEEP.replace('os.path.exists("go-all")', "True"))
    assert orchestra("up", "sweep.py", "--root", "sweeps", cwd=tmp_path).returncode == 1  # x=3 fails
    sweep_dir = SweepDir(tmp_path / "sweeps" / "sweep")
    out = orchestra("retry", sweep_dir.path, "x=3", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == f"orchestra: error: {sweep_dir.path}: no live orchestrator (no control.sock)"
    # with no orchestrator, a RUN that names nothing, or a DIR that is no sweep, is said as such
    out = orchestra("retry", sweep_dir.path, "x=9", cwd=tmp_path)
    assert (out.returncode, out.stderr.strip()) == (
        2,
        "orchestra: error: run 'x=9': no such run; `orchestra status DIR` lists them",
    )
    out = orchestra("pause", tmp_path, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "sweep.json" in out.stderr, out.stderr


def test_runs_named_by_state_are_resolved_by_the_service_and_none_is_no_mistake(
    tmp_path: Path, service: Path
):
    wait_for(lambda: running(service, 4), what="four running runs")
    out = orchestra("retry", service, "--state", "failed", cwd=tmp_path)
    assert (out.returncode, out.stdout) == (0, "no run is failed: nothing to retry\n"), out.stderr
    out = orchestra("cancel", service, "--state", "runing", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("orchestra: error: --state 'runing': not one of ")
    # a word and a state (none is queued: all four run), resolved and merged by the service
    out = orchestra("kill", service, "x=1", "--state", "queued", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert [(r["run"], r["action"]) for r in json.loads(out.stdout)] == [("x=1/0", "killed")]
    wait_for(lambda: statuses(service)["x=1/0"].state is State.CANCELLED, what="x=1 killed")


def test_with_no_orchestrator_a_bad_state_or_a_file_for_dir_is_said_as_such(tmp_path: Path):
    write_sweep(tmp_path, SWEEP.replace('os.path.exists("go-all")', "True"))
    assert orchestra("up", "sweep.py", "--root", "sweeps", cwd=tmp_path).returncode == 1
    out = orchestra("retry", "sweeps/sweep", "--state", "bogus", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith(
        "orchestra: error: --state 'bogus': not one of queued"
    )
    out = orchestra("cancel", "sweep.py", "x=1", cwd=tmp_path)
    assert (out.returncode, out.stderr) == (
        2,
        "orchestra: error: sweep.py: not a directory; give the sweep's directory (`orchestra up` printed it)\n",
    )
