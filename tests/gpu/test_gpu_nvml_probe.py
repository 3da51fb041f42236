"""NvmlProbe against pynvml's real API surface, its C-calling functions stubbed at the module boundary.

The stubs return pynvml's own structs and raise pynvml's own NVMLError classes, so the probe sees
what it would see from a driver. The last test calls the real, unstubbed NVML of this machine.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import pynvml
import pytest

from orchestra.scheduler.probe import GpuReading, NullProbe, NvmlProbe, make_probe
from tests.gpu.helpers import GiB, MiB


@dataclass
class Dev:
    uuid: str
    name: str
    total: int
    used: int
    reserved: int = 0
    util: int | None = 30
    compute: list[tuple[int, int | None]] = field(default_factory=list)
    graphics: list[tuple[int, int | None]] = field(default_factory=list)
    error: int | None = None  # NVML error code every call on this device raises


class StubNvml:
    """The devices a stubbed NVML reports, and a log of the calls the probe made."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, devices: list[Dev], *, v2: bool = True) -> None:
        self.devices = devices
        self.v2 = v2  # whether the "driver" has nvmlDeviceGetMemoryInfo_v2
        self.calls: list[str] = []
        self.init_error: int | None = None
        self.process_versions = {"v3": True, "v2": True}
        for name in (
            "nvmlInit",
            "nvmlShutdown",
            "nvmlDeviceGetCount",
            "nvmlDeviceGetHandleByIndex",
            "nvmlDeviceGetUUID",
            "nvmlDeviceGetName",
            "nvmlDeviceGetMemoryInfo",
            "nvmlDeviceGetUtilizationRates",
            "nvmlDeviceGetComputeRunningProcesses",
            "nvmlDeviceGetComputeRunningProcesses_v2",
            "nvmlDeviceGetGraphicsRunningProcesses",
            "nvmlDeviceGetGraphicsRunningProcesses_v2",
        ):
            assert hasattr(pynvml, name), f"pynvml has no {name}: the probe's API surface moved"
            monkeypatch.setattr(pynvml, name, getattr(self, name))

    def _dev(self, handle: Any) -> Dev:
        dev = self.devices[handle]
        if dev.error is not None:
            raise pynvml.NVMLError(dev.error)
        return dev

    def nvmlInit(self) -> None:
        self.calls.append("init")
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self.calls.append(f"handle {index}")
        self._dev(index)
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self._dev(handle).uuid

    def nvmlDeviceGetName(self, handle: int) -> str:
        return self._dev(handle).name

    def nvmlDeviceGetMemoryInfo(self, handle: int, version: int | None = None) -> Any:
        dev = self._dev(handle)
        if version:
            self.calls.append("memory v2")
            if not self.v2:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
            assert version == pynvml.nvmlMemory_v2
            mem = pynvml.c_nvmlMemory_v2_t()
            mem.version, mem.reserved = version, dev.reserved
            mem.total, mem.used, mem.free = dev.total, dev.used, dev.total - dev.used - dev.reserved
            return mem
        self.calls.append("memory v1")
        mem = pynvml.c_nvmlMemory_t()
        mem.total, mem.used, mem.free = (
            dev.total,
            dev.used + dev.reserved,
            dev.total - dev.used - dev.reserved,
        )
        return mem

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        dev = self._dev(handle)
        if dev.util is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        util = pynvml.c_nvmlUtilization_t()
        util.gpu, util.memory = dev.util, 0
        return util

    def _procs(self, items: list[tuple[int, int | None]], version: str) -> list[Any]:
        self.calls.append(f"processes {version}")
        if not self.process_versions[version]:
            if version == "v3":  # what pynvml's @throwOnVersionMismatch turns FUNCTION_NOT_FOUND into
                raise pynvml.NVMLLibraryMismatchError("Unversioned function called ...")
            raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        return [pynvml.nvmlFriendlyObject({"pid": pid, "usedGpuMemory": used}) for pid, used in items]

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        return self._procs(self._dev(handle).compute, "v3")

    def nvmlDeviceGetComputeRunningProcesses_v2(self, handle: int) -> list[Any]:
        return self._procs(self._dev(handle).compute, "v2")

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: int) -> list[Any]:
        return self._procs(self._dev(handle).graphics, "v3")

    def nvmlDeviceGetGraphicsRunningProcesses_v2(self, handle: int) -> list[Any]:
        return self._procs(self._dev(handle).graphics, "v2")


def two_devices() -> list[Dev]:
    return [
        Dev("GPU-aaaa", "NVIDIA A100-SXM4-80GB", 80 * GiB, 10 * GiB, reserved=512 * MiB,
            compute=[(100, 6 * GiB), (101, None)], graphics=[(100, 6 * GiB), (102, 300 * MiB)]),
        Dev("GPU-bbbb", "NVIDIA A100-SXM4-80GB", 80 * GiB, 0, util=None),
    ]  # fmt: skip


def test_reads_memory_utilisation_and_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = StubNvml(monkeypatch, two_devices())
    probe = NvmlProbe()
    assert probe.reason is None
    first, second = probe.read()
    assert first == GpuReading(
        0, "GPU-aaaa", "NVIDIA A100-SXM4-80GB",
        total=80 * GiB, used=10 * GiB, free=80 * GiB - 10 * GiB - 512 * MiB, util=30.0,
        processes=((100, 6 * GiB), (101, None), (102, 300 * MiB)),
    )  # fmt: skip
    assert second.ok and second.util is None and second.processes == ()  # no utilisation: not an error
    assert "memory v2" in nvml.calls and "memory v1" not in nvml.calls
    # processes are read before memory (see NvmlProbe: the safe order for attribution)
    assert nvml.calls.index("processes v3") < nvml.calls.index("memory v2")
    probe.close()
    probe.close()
    assert nvml.calls.count("init") == 1 and nvml.calls.count("shutdown") == 1


def test_handles_are_fetched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = StubNvml(monkeypatch, two_devices())
    probe = NvmlProbe()
    probe.read()
    probe.read()
    assert nvml.calls.count("handle 0") == 1


def test_a_driver_without_memory_info_v2_falls_back_to_v1(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = StubNvml(monkeypatch, two_devices(), v2=False)
    probe = NvmlProbe()
    first, _ = probe.read()
    assert first.ok and first.total == 80 * GiB and first.free == 80 * GiB - 10 * GiB - 512 * MiB
    probe.read()
    assert nvml.calls.count("memory v2") == 1  # tried once, then v1 only


def test_a_pynvml_without_the_v2_struct_uses_v1(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = StubNvml(monkeypatch, two_devices())
    monkeypatch.delattr(pynvml, "nvmlMemory_v2")
    first, _ = NvmlProbe().read()
    assert first.ok and first.used == 10 * GiB + 512 * MiB
    assert "memory v2" not in nvml.calls


def test_a_driver_older_than_the_process_api_falls_back_to_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = StubNvml(monkeypatch, two_devices())
    nvml.process_versions["v3"] = False
    probe = NvmlProbe()
    assert probe.read()[0].processes == ((100, 6 * GiB), (101, None), (102, 300 * MiB))
    probe.read()
    assert nvml.calls.count("processes v3") == 2  # compute and graphics, once each, then v2 only


def test_one_device_erroring_is_unavailable_and_the_others_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = two_devices()
    nvml = StubNvml(monkeypatch, devices)
    probe = NvmlProbe()
    probe.read()
    devices[0].error = pynvml.NVML_ERROR_GPU_IS_LOST
    lost, fine = probe.read()
    assert not lost.ok and lost.error == "NVML: GPU is lost"
    assert (lost.index, lost.uuid, lost.total) == (0, "GPU-aaaa", 0)
    assert fine.ok and fine.total == 80 * GiB
    devices[0].error = None
    assert probe.read()[0].ok
    assert nvml.calls.count("handle 0") == 2  # a fresh handle after the error


def test_a_device_that_errors_from_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = two_devices()
    devices[1].error = pynvml.NVML_ERROR_UNKNOWN
    StubNvml(monkeypatch, devices)
    first, broken = NvmlProbe().read()
    assert first.ok and not broken.ok and broken.uuid == "" and broken.error == "NVML: Unknown Error"


def test_nvml_not_loading_means_no_gpus_with_one_line_why(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = StubNvml(monkeypatch, two_devices())
    nvml.init_error = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
    probe = NvmlProbe()
    assert (
        probe.reason == "NVML did not load (NVML Shared Library Not Found: no NVIDIA driver on this machine?)"
    )
    assert probe.read() == []
    probe.close()
    assert "shutdown" not in nvml.calls

    nvml.init_error = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
    assert NvmlProbe().reason == "NVML did not load (Driver Not Loaded: the NVIDIA driver is not running)"


def test_nvml_with_no_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    StubNvml(monkeypatch, [])
    probe = NvmlProbe()
    assert probe.reason == "NVML loaded but found no GPUs" and probe.read() == []


def test_no_pynvml_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    probe = NvmlProbe()
    assert probe.reason is not None and probe.reason.startswith("pynvml is not importable")
    assert probe.read() == []


def test_make_probe_specs() -> None:
    from orchestra.errors import UserError

    assert isinstance(make_probe("auto"), NvmlProbe)
    none = make_probe("none")
    assert isinstance(none, NullProbe) and none.read() == [] and none.reason
    assert [r.total for r in make_probe("fake:2x8GiB").read()] == [8 * GiB, 8 * GiB]
    with pytest.raises(UserError, match="not one of auto, none"):
        make_probe("nvidia")


def test_the_real_nvml_of_this_machine_reads_or_says_why_not() -> None:
    """Unstubbed: on a machine without a GPU (as where this was written) NVML fails to load."""
    probe = NvmlProbe()
    try:
        readings = probe.read()
        if probe.reason is None:
            assert readings and all(r.uuid.startswith(("GPU-", "MIG-")) for r in readings if r.ok)
            assert all(r.total == r.used + r.free or r.total > r.free for r in readings if r.ok)
        else:
            assert readings == [] and "\n" not in probe.reason
    finally:
        probe.close()
