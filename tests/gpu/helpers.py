"""Shared pieces of the GPU tests: a fake clock and a ledger over a scripted fake probe."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestra.scheduler.gpu import GpuLedger
from orchestra.scheduler.probe import FakeProbe

GiB = 1 << 30
MiB = 1 << 20


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Rig:
    """A ledger over ``FakeProbe(spec)``; ``pids[run]`` is what ``pids_of(run)`` answers."""

    probe: FakeProbe
    ledger: GpuLedger
    clock: FakeClock
    pids: dict[str, set[int]] = field(default_factory=dict)

    def place(self, key: str, **request: Any) -> int | None:
        """Place run ``key``; the index of its (first) device, or None."""
        from orchestra.scheduler.gpu import GpuRequest

        grant = self.ledger.place(key, GpuRequest(**request))
        return None if grant is None else grant.devices[0].index

    def allocate(self, key: str, device: int, used: int | None, pid: int | None = None) -> None:
        """Run ``key``'s process (``pid``, default derived from the key) now uses ``used`` bytes."""
        pid = pid if pid is not None else 10_000 + int(key.lstrip("r") or 0)
        self.pids.setdefault(key, set()).add(pid)
        self.probe.set_process(device, pid, used)

    def view(self, index: int) -> Any:
        return next(v for v in self.ledger.views() if v.index == index)


def rig(spec: str = "2x24GiB", **kwargs: Any) -> Rig:
    probe = FakeProbe(spec)
    clock = FakeClock()
    pids: dict[str, set[int]] = {}
    ledger = GpuLedger(probe, clock=clock, pids_of=lambda key: pids.get(key, set()), **kwargs)
    return Rig(probe, ledger, clock, pids)
