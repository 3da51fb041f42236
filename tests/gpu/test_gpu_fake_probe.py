"""The fake probe: specs, scripting, and its state file shared with other (real) processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra.errors import UserError
from orchestra.scheduler.gpu import GpuLedger, GpuRequest
from orchestra.scheduler.probe import FakeProbe, fake_allocate, fake_probe, fake_uuid, parse_fake_spec
from tests.gpu.helpers import GiB
from tests.helpers import wait_for


def test_specs() -> None:
    assert parse_fake_spec("4x24GiB") == [24 * GiB] * 4
    assert parse_fake_spec("2x80GiB, 1x16GiB") == [80 * GiB, 80 * GiB, 16 * GiB]
    assert parse_fake_spec("24GiB") == [24 * GiB]
    for bad in ("", "4x", "x24GiB", "0x24GiB", "4xlots", "65x1GiB", "40x1GiB,40x1GiB"):
        with pytest.raises(UserError, match="fake GPUs"):
            parse_fake_spec(bad)


def test_fresh_devices() -> None:
    readings = FakeProbe("1x16GiB,1x80GiB").read()
    assert [
        (r.index, r.uuid, r.name, r.total, r.used, r.free, r.util, r.processes, r.ok) for r in readings
    ] == [
        (0, fake_uuid(0), "Fake GPU 16.0GiB", 16 * GiB, 0, 16 * GiB, 0.0, (), True),
        (1, fake_uuid(1), "Fake GPU 80.0GiB", 80 * GiB, 0, 80 * GiB, 0.0, (), True),
    ]


def test_scripting_processes_utilisation_errors_and_vanishing() -> None:
    probe = FakeProbe("2x24GiB")
    probe.set_process(0, 11, 2 * GiB)
    probe.set_process(fake_uuid(0), 12, None)
    probe.set_process(0, 11, 3 * GiB)  # the same pid again: replaced, not added
    probe.set_extra_used(0, GiB)
    probe.set_util(1, 75.0)
    first, second = probe.read()
    assert first.processes == ((11, 3 * GiB), (12, None))
    assert (first.used, first.free) == (4 * GiB, 20 * GiB)
    assert second.util == 75.0
    probe.end_process(11)
    assert probe.read()[0].processes == ((12, None),)
    probe.fail(1)
    assert [r.ok for r in probe.read()] == [True, False]
    probe.vanish(1)
    assert [r.index for r in probe.read()] == [0]
    probe.restore(1)
    assert [r.ok for r in probe.read()] == [True, True]
    with pytest.raises(ValueError, match="no fake GPU"):
        probe.fail(7)


def test_a_state_file_is_shared_between_probes(tmp_path: Path) -> None:
    path = tmp_path / "gpus.json"
    writer = FakeProbe("2x8GiB", path=path)
    reader = fake_probe(str(path))
    writer.set_process(1, 99, GiB)
    assert reader.read()[1].processes == ((99, GiB),)
    reader.fail(0)
    assert not writer.read()[0].ok


def test_missing_or_foreign_state_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no fake GPU state here"):
        FakeProbe.attach(tmp_path / "nope.json")
    (tmp_path / "other.json").write_text('{"format": 1}')
    with pytest.raises(UserError, match="not a fake GPU state file"):
        fake_probe(str(tmp_path / "other.json"))


CHILD = """
import sys, time
from orchestra.scheduler.probe import fake_allocate
fake_allocate(sys.argv[1], int(sys.argv[2]))
time.sleep(float(sys.argv[3]))
"""


def test_a_child_process_allocates_on_its_visible_device_and_the_ledger_attributes_it(tmp_path: Path) -> None:
    path = tmp_path / "gpus.json"
    probe = FakeProbe("2x24GiB", path=path)
    children: dict[str, set[int]] = {}
    ledger = GpuLedger(probe, pids_of=lambda key: children.get(key, set()))
    grant = ledger.place("r1", GpuRequest(mem=10 * GiB))
    assert grant is not None
    env = {**os.environ, **grant.env()}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(6 * GiB), "60"], env=env)
    try:
        children["r1"] = {child.pid}
        wait_for(lambda: probe.read()[1].processes, what="the child's allocation")
        ledger.refresh()
        view = next(v for v in ledger.views() if v.index == 1)
        assert view.processes == ()  # the child's memory is orchestra's, not someone else's
        assert (view.orchestra, view.reserved, view.available) == (6 * GiB, 4 * GiB, 14 * GiB)
    finally:
        child.kill()
        child.wait()


def test_fake_allocate_needs_a_visible_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeProbe("1x8GiB", path=tmp_path / "gpus.json")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(RuntimeError, match="given no GPU"):
        fake_allocate(tmp_path / "gpus.json", GiB)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "gpus.json"
    probe = FakeProbe("1x80GiB", path=path)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": fake_uuid(0)}
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(path), str((i + 1) * GiB), "60"], env=env)
        for i in range(8)
    ]
    try:
        expected = sorted((c.pid, (i + 1) * GiB) for i, c in enumerate(children))
        wait_for(lambda: sorted(probe.read()[0].processes) == expected, what="all 8 allocations")
    finally:
        for c in children:
            c.kill()
            c.wait()


def test_memory_of_a_real_process_is_freed_when_it_exits(tmp_path: Path) -> None:
    path = tmp_path / "gpus.json"
    probe = FakeProbe("1x24GiB", path=path)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": fake_uuid(0)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(4 * GiB), "60"], env=env)
    wait_for(lambda: probe.read()[0].used == 4 * GiB, what="the child's allocation")
    child.kill()
    child.wait()
    assert probe.read()[0].used == 0, "like the driver, the fake frees a dead process's memory"
    probe.set_process(0, 999_999_999, GiB)  # a scripted (not real) process stays until it is ended
    assert probe.read()[0].used == GiB
