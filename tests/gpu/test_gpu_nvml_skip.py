"""A CPU sweep on a machine without an NVIDIA device node does not load NVML (device presence is
the edge faked here: the paths NVML would open)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra import Config, Grid, Sweep
from orchestra.errors import PlanError
from orchestra.scheduler import probe
from orchestra.service.session import UpOptions, local_backend


def _noop(config):
    return None


def _sweep(**resources) -> Sweep:
    return Sweep(_noop, Config({"x": Grid([1])}), **resources)


@pytest.fixture
def probes(monkeypatch) -> list[str]:
    made: list[str] = []
    real = probe.make_probe

    def recording(spec: str = "auto"):
        made.append(spec)
        return real(spec)

    monkeypatch.setattr(probe, "make_probe", recording)
    return made


def _nodes(monkeypatch, tmp_path: Path, present: bool) -> None:
    node = tmp_path / "nvidiactl"
    if present:
        node.write_text("")
    monkeypatch.setattr(probe, "NVIDIA_DEVICE_NODES", (str(node),))


def test_a_cpu_sweep_without_a_device_node_loads_no_nvml(monkeypatch, tmp_path: Path, probes):
    _nodes(monkeypatch, tmp_path, present=False)
    backend = local_backend(UpOptions(workers=2), _sweep())
    assert backend.gpus is None and probes == []


def test_a_device_node_or_a_gpu_sweep_or_fake_gpus_ask_nvml(monkeypatch, tmp_path: Path, probes):
    _nodes(monkeypatch, tmp_path, present=True)
    local_backend(UpOptions(workers=2), _sweep())
    _nodes(monkeypatch, tmp_path / "absent", present=False)
    gpu_sweep = _sweep(gpus=1)
    backend = local_backend(UpOptions(workers=2), gpu_sweep)  # NVML is asked, and says why no GPU
    assert backend.gpus is not None and backend.problem(gpu_sweep.resources)
    backend = local_backend(UpOptions(workers=2, fake_gpus="1x8GiB"), _sweep())
    assert backend.gpus is not None
    assert probes == ["auto", "auto", "fake:1x8GiB"]


def test_gpus_none_still_refuses_a_gpu_sweep(monkeypatch, tmp_path: Path, probes):
    _nodes(monkeypatch, tmp_path, present=False)
    with pytest.raises(PlanError, match="--gpus none"):
        local_backend(UpOptions(workers=2, gpus="none"), _sweep(gpus=1))
    assert probes == []
