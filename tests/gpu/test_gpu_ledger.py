"""The GPU ledger over a scripted fake probe: packing, races, releases, whole GPUs, failures."""

from __future__ import annotations

import json

import orjson
import pytest

from orchestra.rundir import RunDir, State, Status
from orchestra.scheduler.gpu import (
    CPU_GRANT,
    GpuLedger,
    GpuRequest,
    cpu_env,
    parse_gpu_selection,
)
from orchestra.scheduler.probe import FakeProbe, NullProbe, fake_uuid
from orchestra.sweep import Resources
from tests.gpu.helpers import GiB, MiB, rig

# -- packing and best fit ------------------------------------------------------------------------


def test_small_runs_pack_onto_one_gpu_before_the_next_and_gpu0_comes_last() -> None:
    r = rig("2x24GiB")
    placed = [r.place(f"r{i}", mem=8 * GiB) for i in range(7)]
    assert placed == [1, 1, 1, 0, 0, 0, None]


def test_best_fit_takes_the_fullest_device_that_still_fits() -> None:
    r = rig("3x24GiB")
    r.probe.set_process(2, pid=555, used=10 * GiB)  # someone else's job on GPU 2
    r.ledger.refresh()
    assert r.place("r1", mem=8 * GiB) == 2  # 14GiB left there: the tightest fit
    assert r.place("r2", mem=16 * GiB) == 1  # GPU 2 has 6GiB left; GPU 1 before GPU 0


def test_gpu0_is_last_among_near_equal_devices_but_taken_when_it_fits_best() -> None:
    r = rig("3x24GiB")
    r.probe.set_process(0, pid=555, used=300 * MiB)  # a desktop session on GPU 0
    r.ledger.refresh()
    assert r.place("r1", mem=1 * GiB) == 1  # GPU 0 is 300MiB fuller: noise, not a better fit
    r.probe.set_process(0, pid=555, used=12 * GiB)
    r.ledger.refresh()
    assert r.place("r2", mem=10 * GiB) == 0  # now GPU 0 is clearly the best fit


def test_request_from_sweep_resources() -> None:
    r = rig("1x24GiB")
    grant = r.ledger.place("r1", Resources(gpu_mem=20 * GiB))
    assert grant is not None and grant.devices[0].index == 0
    assert r.ledger.place("r2", Resources(gpu_mem=20 * GiB)) is None
    assert r.ledger.feasible(Resources(gpu_mem=30 * GiB)) is not None


# -- the allocate-late race ------------------------------------------------------------------------


def test_a_reservation_counts_before_the_run_touches_the_gpu() -> None:
    r = rig("1x24GiB")
    assert r.place("r1", mem=16 * GiB) == 0
    # no refresh, and after one: r1 has allocated nothing yet; its 16GiB are still spoken for
    assert r.place("r2", mem=16 * GiB) is None
    r.ledger.refresh()
    assert r.place("r2", mem=16 * GiB) is None
    assert r.place("r3", mem=8 * GiB) == 0
    assert r.place("r4", mem=1) is None


def test_allocated_memory_is_not_counted_twice() -> None:
    r = rig("1x24GiB")
    assert r.place("r1", mem=12 * GiB) == 0
    r.allocate("r1", 0, 12 * GiB)
    r.ledger.refresh()
    view = r.view(0)
    assert (view.orchestra, view.reserved, view.available) == (12 * GiB, 0, 12 * GiB)
    assert r.place("r2", mem=12 * GiB) == 0


def test_a_run_partway_through_allocating_keeps_the_rest_reserved() -> None:
    r = rig("1x24GiB")
    assert r.place("r1", mem=16 * GiB) == 0
    r.allocate("r1", 0, 4 * GiB)
    r.ledger.refresh()
    assert (r.view(0).orchestra, r.view(0).reserved, r.view(0).available) == (4 * GiB, 12 * GiB, 8 * GiB)
    assert r.place("r2", mem=9 * GiB) is None
    assert r.place("r2", mem=8 * GiB) == 0


def test_a_run_that_uses_more_than_it_reserved_is_counted_by_what_it_uses() -> None:
    r = rig("1x24GiB")
    assert r.place("r1", mem=4 * GiB) == 0
    r.allocate("r1", 0, 20 * GiB)
    r.ledger.refresh()
    assert r.view(0).available == 4 * GiB
    assert r.place("r2", mem=5 * GiB) is None


def test_a_process_whose_bytes_nvml_cannot_tell_leaves_the_reservation_whole() -> None:
    r = rig("1x24GiB")
    assert r.place("r1", mem=10 * GiB) == 0
    r.allocate("r1", 0, None)  # listed, bytes unknown (some containers)
    r.probe.set_extra_used(0, 10 * GiB)  # the device's own counters still see the memory
    r.ledger.refresh()
    assert r.view(0).available == 4 * GiB  # counted twice rather than not at all
    assert r.place("r2", mem=5 * GiB) is None


# -- other users ---------------------------------------------------------------------------------


def test_other_users_processes_take_memory_away_once_read() -> None:
    r = rig("1x24GiB")
    r.probe.set_process(0, pid=777, used=20 * GiB)
    r.ledger.refresh()
    assert r.place("r1", mem=8 * GiB) is None
    view = r.view(0)
    assert view.others == 20 * GiB and view.processes == ((777, 20 * GiB),)
    r.probe.end_process(777)
    r.ledger.refresh()
    assert r.place("r1", mem=8 * GiB) == 0


def test_memory_in_use_by_no_listed_process_counts_as_others() -> None:
    r = rig("1x24GiB")
    r.probe.set_extra_used(0, 18 * GiB)
    r.ledger.refresh()
    assert r.view(0).others == 18 * GiB
    assert r.place("r1", mem=8 * GiB) is None
    assert r.place("r1", mem=6 * GiB) == 0


def test_utilisation_cap_skips_busy_devices() -> None:
    r = rig("2x24GiB")
    r.probe.set_util(1, 95.0)
    r.probe.set_util(0, None)  # not reported: no reason to refuse it
    r.ledger.refresh()
    assert r.place("r1", mem=GiB, max_util=50) == 0
    assert r.place("r2", mem=GiB * 47 // 2) == 1  # without a cap a busy device is fine
    r.probe.set_util(0, 80.0)
    r.ledger.refresh()
    assert r.place("r3", mem=GiB, max_util=50) is None
    assert "busier than 50%" in r.ledger.waiting_reason(GpuRequest(mem=GiB, max_util=50))


# -- release -------------------------------------------------------------------------------------


def test_release_waits_until_nvml_shows_the_memory_back() -> None:
    r = rig("1x24GiB")
    assert r.place("r1", mem=16 * GiB) == 0
    r.allocate("r1", 0, 16 * GiB, pid=4242)
    r.ledger.refresh()
    r.ledger.release("r1")
    r.pids.pop("r1")  # its process group is gone
    r.ledger.refresh()  # ... but the driver has not freed its memory yet
    assert r.place("r2", mem=16 * GiB) is None
    assert r.view(0).runs[0].releasing
    r.probe.end_process(4242)
    assert r.place("r2", mem=16 * GiB) is None  # not before a reading shows it
    r.ledger.refresh()
    assert r.view(0).runs == ()
    assert r.place("r2", mem=16 * GiB) == 0


def test_release_of_a_run_that_never_touched_the_gpu_needs_one_more_reading() -> None:
    r = rig("1x24GiB")
    assert r.place("r1", mem=16 * GiB) == 0
    r.ledger.release("r1")
    assert r.place("r2", mem=16 * GiB) is None
    r.ledger.refresh()
    assert r.place("r2", mem=16 * GiB) == 0


def test_release_times_out_when_nvml_never_confirms() -> None:
    r = rig("1x24GiB", release_timeout=15.0)
    assert r.place("r1", mem=16 * GiB) == 0
    r.allocate("r1", 0, None, pid=4242)  # listed with unknown bytes, and it stays listed
    r.ledger.refresh()
    r.ledger.release("r1")
    r.pids.pop("r1")
    r.clock.advance(14.0)
    r.ledger.refresh()
    assert r.place("r2", mem=16 * GiB) is None
    r.clock.advance(1.0)
    assert r.place("r2", mem=16 * GiB) == 0  # the timeout is checked at placement too


def test_a_retry_may_be_placed_while_its_previous_attempt_is_releasing() -> None:
    r = rig("1x24GiB")
    assert r.place("r1", mem=8 * GiB) == 0
    with pytest.raises(ValueError, match="already holds"):
        r.place("r1", mem=8 * GiB)
    r.ledger.release("r1")
    assert r.place("r1", mem=8 * GiB) == 0  # the new attempt
    assert r.view(0).available == 8 * GiB  # old attempt still counted until confirmed
    r.ledger.refresh()
    assert r.view(0).available == 16 * GiB
    r.ledger.release("nobody")  # a run that held no GPU: nothing happens


# -- whole GPUs ----------------------------------------------------------------------------------


def test_whole_gpu_requests_take_devices_no_other_run_uses() -> None:
    r = rig("3x24GiB")
    assert r.place("small", mem=2 * GiB) == 1
    grant = r.ledger.place("big", GpuRequest(gpus=2))
    assert grant is not None and [d.index for d in grant.devices] == [2, 0]
    assert grant.exclusive
    assert r.place("small2", mem=2 * GiB) == 1  # nothing is packed onto a whole GPU
    assert r.place("big2", gpus=1) is None
    assert "held whole by a run" in r.ledger.waiting_reason(GpuRequest(gpus=1))
    r.ledger.release("big")
    r.ledger.refresh()
    assert r.place("big2", gpus=1) == 2


def test_whole_gpu_refuses_a_device_others_use_more_than_a_little() -> None:
    r = rig("2x24GiB")
    r.probe.set_process(1, pid=900, used=1 * GiB)  # a notebook: fine
    r.probe.set_process(0, pid=901, used=8 * GiB)  # a training job: not a whole GPU any more
    r.ledger.refresh()
    assert r.place("w1", gpus=1) == 1
    assert r.place("w2", gpus=1) is None
    assert "used by others" in r.ledger.waiting_reason(GpuRequest(gpus=1))
    assert r.place("p1", mem=8 * GiB) == 0  # a packable run may still share GPU 0


def test_whole_gpus_with_memory_need_that_much_on_each() -> None:
    r = rig("2x24GiB", headroom=GiB)
    r.probe.set_process(0, pid=900, used=2 * GiB)
    r.ledger.refresh()
    assert r.place("w", gpus=2, mem=22 * GiB) is None  # GPU 0 has 21GiB after headroom
    grant = r.ledger.place("w", GpuRequest(gpus=2, mem=21 * GiB))
    assert grant is not None and {d.index for d in grant.devices} == {0, 1}


# -- devices failing -----------------------------------------------------------------------------


def test_a_device_that_errors_mid_run_is_avoided_until_it_comes_back() -> None:
    r = rig("2x24GiB")
    assert r.place("r1", mem=8 * GiB) == 1
    r.allocate("r1", 1, 8 * GiB, pid=4242)
    r.probe.fail(1)
    r.ledger.refresh()  # no crash; the run keeps its reservation
    view = r.view(1)
    assert not view.ok and view.error and view.runs[0].key == "r1"
    assert r.place("r2", mem=8 * GiB) == 0
    assert r.place("r3", mem=20 * GiB) is None
    assert "GPU 1 unavailable" in r.ledger.waiting_reason(GpuRequest(mem=20 * GiB))
    r.ledger.release("r1")
    r.pids.pop("r1")
    r.probe.end_process(4242)
    r.ledger.refresh()  # the errored device cannot confirm the release
    assert r.view(1).runs[0].releasing
    r.probe.restore(1)
    r.ledger.refresh()
    assert r.view(1).runs == ()
    assert r.place("r3", mem=20 * GiB) == 1


def test_a_vanished_device_is_shown_as_gone_and_not_used() -> None:
    r = rig("2x24GiB")
    r.probe.vanish(fake_uuid(1))
    r.ledger.refresh()
    view = r.view(1)
    assert not view.ok and "no longer reported" in (view.error or "")
    assert r.place("r1", gpus=1) == 0
    assert r.place("r2", gpus=1) is None
    r.probe.restore(1)
    r.ledger.refresh()
    assert r.place("r2", gpus=1) == 1


# -- selection, headroom, feasibility -----------------------------------------------------------


def test_headroom_stays_free_on_every_device() -> None:
    r = rig("1x24GiB", headroom=2 * GiB)
    assert r.place("r1", mem=23 * GiB) is None
    assert r.place("r1", mem=22 * GiB) == 0
    assert r.view(0).available == 0


def test_allowed_and_avoided_devices() -> None:
    r = rig("4x24GiB", allowed={2, 3}, avoid={3})
    assert r.place("r1", gpus=1) == 2
    assert r.place("r2", gpus=1) is None
    assert [v.selected for v in r.ledger.views()] == [False, False, True, False]


def test_infeasible_requests_are_reported_at_plan_time() -> None:
    led = rig("2x24GiB", headroom=GiB).ledger
    assert led.feasible(GpuRequest()) is None
    assert led.feasible(GpuRequest(mem=23 * GiB)) is None
    assert led.feasible(GpuRequest(gpus=2)) is None
    assert led.feasible(GpuRequest(mem=30 * GiB)) == (
        "asks for 30.0GiB on one GPU, but the largest usable GPU has 24.0GiB less 1.0GiB headroom (GPU 0)"
    )
    assert led.feasible(GpuRequest(gpus=3)) == "asks for 3 whole GPUs, but only 2 can be used (GPUs 0, 1)"
    assert "only 0 usable GPU(s) have that much" in (led.feasible(GpuRequest(gpus=2, mem=24 * GiB)) or "")


def test_feasibility_follows_the_selection() -> None:
    assert rig("2x24GiB", allowed={1, 5}).ledger.feasible(GpuRequest(gpus=1)) == (
        "GPU 5 was selected, but this machine has only GPUs 0, 1"
    )
    none_left = rig("2x24GiB", avoid={0, 1}).ledger.feasible(GpuRequest(gpus=1))
    assert none_left == "asks for 1 whole GPU, but the GPU selection leaves none of GPUs 0, 1"
    big = FakeProbe("1x16GiB,1x80GiB")
    assert GpuLedger(big, avoid={1}).feasible(GpuRequest(mem=40 * GiB)) is not None
    assert GpuLedger(big).feasible(GpuRequest(mem=40 * GiB)) is None


def test_no_gpus_means_gpu_runs_are_infeasible_and_cpu_runs_are_not() -> None:
    led = GpuLedger(NullProbe("GPUs are turned off (--gpus none)"))
    assert led.reason == "GPUs are turned off (--gpus none)"
    assert led.views() == []
    assert led.feasible(GpuRequest()) is None
    assert led.feasible(GpuRequest(mem=GiB)) == (
        "asks for 1.0GiB on one GPU, but this machine has no GPUs (GPUs are turned off (--gpus none))"
    )
    assert led.place("r1", GpuRequest()) is CPU_GRANT
    assert led.place("r1", GpuRequest(mem=GiB)) is None


def test_parse_gpu_selection() -> None:
    from orchestra.errors import UserError

    assert parse_gpu_selection("all") is None
    assert parse_gpu_selection("none") == frozenset()
    assert parse_gpu_selection("0, 2") == {0, 2}
    for bad in ("", "x", "-1", "0,,a"):
        with pytest.raises(UserError, match="--gpus"):
            parse_gpu_selection(bad)


# -- what a run gets ---------------------------------------------------------------------------


def test_grant_environment_names_devices_by_uuid() -> None:
    r = rig("3x24GiB")
    grant = r.ledger.place("r1", GpuRequest(gpus=2))
    assert grant is not None
    env = grant.env()
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env["CUDA_VISIBLE_DEVICES"] == f"{fake_uuid(1)},{fake_uuid(2)}"
    assert env["ORCHESTRA_DEVICE"] == "cuda:0"
    assert json.loads(env["ORCHESTRA_GPUS"]) == [
        {"index": 1, "uuid": fake_uuid(1), "name": "Fake GPU 24.0GiB"},
        {"index": 2, "uuid": fake_uuid(2), "name": "Fake GPU 24.0GiB"},
    ]
    assert cpu_env() == {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "CUDA_VISIBLE_DEVICES": "",
        "ORCHESTRA_DEVICE": "cpu",
        "ORCHESTRA_GPUS": "[]",
    }


def test_granted_devices_are_status_records(tmp_path) -> None:
    r = rig("2x24GiB")
    grant = r.ledger.place("r1", GpuRequest(mem=GiB))
    assert grant is not None
    device = grant.devices[0]
    assert dict(device) == {"index": 1, "uuid": fake_uuid(1), "name": "Fake GPU 24.0GiB"}
    assert device["uuid"] == fake_uuid(1)
    run = RunDir(tmp_path)
    run.write_status(Status(State.RUNNING, attempt=1, gpus=tuple(grant.devices)))
    assert orjson.loads(run.status.read_bytes())["gpus"] == grant.to_json()
    assert run.read_status() == Status(State.RUNNING, attempt=1, gpus=tuple(grant.to_json()))


def test_views_split_memory_between_orchestra_others_and_reservations() -> None:
    r = rig("1x24GiB", headroom=GiB)
    r.probe.set_process(0, pid=900, used=3 * GiB)
    assert r.place("r1", mem=8 * GiB) == 0
    r.allocate("r1", 0, 5 * GiB, pid=4242)
    r.ledger.refresh()
    (view,) = r.ledger.views()
    assert (view.total, view.used, view.free) == (24 * GiB, 8 * GiB, 16 * GiB)
    assert (view.orchestra, view.others, view.reserved, view.available) == (
        5 * GiB,
        3 * GiB,
        3 * GiB,
        12 * GiB,
    )
    assert view.processes == ((900, 3 * GiB),)
    (run,) = view.runs
    assert (run.key, run.reserved, run.used, run.releasing, run.exclusive) == (
        "r1",
        8 * GiB,
        5 * GiB,
        False,
        False,
    )
    assert view.to_json()["runs"] == [run.to_json()]
