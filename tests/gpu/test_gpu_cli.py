"""``orchestra gpus`` through a real subprocess: fake devices, a running sweep, and the real NVML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from orchestra.rundir import FORMAT, State, Status, SweepDir, SweepLock, write_json
from orchestra.scheduler.probe import FakeProbe, NvmlProbe, fake_uuid
from tests.gpu.helpers import GiB
from tests.gpu.test_gpu_fake_probe import CHILD
from tests.helpers import orchestra, wait_for


def gpus(*args: str) -> subprocess.CompletedProcess[str]:
    return orchestra("gpus", *args, timeout=60)


def test_fake_devices_as_a_table() -> None:
    out = gpus("--fake-gpus", "2x24GiB,1x80GiB")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == [
        "GPU",
        "NAME",
        "UTIL",
        "USED/TOTAL",
        "FREE",
        "OTHERS",
        "ORCHESTRA",
        "RESERVED",
    ]
    assert lines[1].split()[:5] == ["0", "Fake", "GPU", "24.0GiB", "0%"]
    assert lines[3].split()[3] == "80.0GiB"
    assert lines[-1] == "Live readings only; give --sweep DIR to show what a running sweep's runs hold."


def test_other_users_and_broken_devices_from_a_state_file(tmp_path: Path) -> None:
    path = tmp_path / "gpus.json"
    probe = FakeProbe("3x24GiB", path=path)
    probe.set_process(0, os.getpid(), 5 * GiB)  # this test process, so the label can be checked
    probe.set_util(0, 42.0)
    probe.fail(2)
    out = gpus("--fake-gpus", str(path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].split() == [
        "0",
        "Fake",
        "GPU",
        "24.0GiB",
        "42%",
        "5.0GiB/24.0GiB",
        "19.0GiB",
        "5.0GiB",
        "0B",
        "0B",
    ]
    assert lines[2].split()[:2] == ["pid", str(os.getpid())]
    assert lines[2].endswith(": 5.0GiB") and "python" in lines[2]
    assert lines[4].split() == ["2", "Fake", "GPU", "24.0GiB", "-", "unavailable"]
    assert lines[5].strip() == "error: fake: device error"


def test_json(tmp_path: Path) -> None:
    out = gpus("--fake-gpus", "1x16GiB", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["reason"] is None and doc["sweep"] is None
    (device,) = doc["devices"]
    assert device["uuid"] == fake_uuid(0) and device["total"] == 16 * GiB and device["available"] == 16 * GiB


def test_a_bad_spec_is_one_line_and_exit_2() -> None:
    out = gpus("--fake-gpus", "4xlots")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("orchestra: error: fake GPUs '4xlots'")


def test_the_real_nvml_here() -> None:
    """This machine has no NVIDIA driver: one line says so, exit 0. Elsewhere: a table."""
    out = gpus()
    assert out.returncode == 0, out.stderr
    probe = NvmlProbe()
    reason = probe.reason
    probe.close()
    if reason is None:
        assert out.stdout.startswith("GPU  NAME")
    else:
        assert out.stdout == f"No GPUs: {reason}\n"
        assert json.loads(gpus("--json").stdout) == {"reason": reason, "devices": [], "sweep": None}


def make_sweep(root: Path, gpu_mem: int) -> SweepDir:
    sweep = SweepDir(root / "demo")
    sweep.path.mkdir(parents=True)
    resources = {"cpus": 1, "gpus": 0, "gpu_mem": gpu_mem, "max_gpu_util": None}
    write_json(sweep.sweep_json, {"format": FORMAT, "name": "demo", "settings": {"resources": resources}})
    return sweep


def test_a_running_sweeps_reservations(tmp_path: Path) -> None:
    path = tmp_path / "gpus.json"
    probe = FakeProbe("2x24GiB", path=path)
    sweep = make_sweep(tmp_path, 6 * GiB)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": fake_uuid(1)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(2 * GiB), "60"], env=env, start_new_session=True
    )
    try:
        run = sweep.run("lr=0.1", 0)
        run.path.mkdir(parents=True)
        device = {"index": 1, "uuid": fake_uuid(1), "name": "Fake GPU 24.0GiB"}
        run.write_status(Status(State.RUNNING, attempt=1, pid=child.pid, gpus=(device,)))
        wait_for(lambda: probe.read()[1].processes, what="the run's allocation")

        out = gpus("--fake-gpus", str(path), "--sweep", str(sweep.path))
        assert out.returncode == 0, out.stderr
        assert (
            out.stdout.splitlines()[-1]
            == f"{sweep.path}: no orchestrator is running this sweep; live readings only."
        )

        with SweepLock(sweep) as lock:
            assert lock.acquire()
            out = gpus("--fake-gpus", str(path), "--sweep", str(sweep.path))
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[2].split()[-3:] == ["0B", "2.0GiB", "4.0GiB"]  # others, orchestra, reserved
        assert lines[3].strip() == "run lr=0.1/0: 6.0GiB reserved, 2.0GiB in use"
        assert lines[-1] == f"{sweep.path}: orchestrator pid {os.getpid()}, 1 running run on GPUs."
    finally:
        child.kill()
        child.wait()


def test_a_directory_that_is_not_a_sweep(tmp_path: Path) -> None:
    out = gpus("--fake-gpus", "1x8GiB", "--sweep", str(tmp_path))
    assert out.returncode == 2
    assert "not a sweep directory" in out.stderr
