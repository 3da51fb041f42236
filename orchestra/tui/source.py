"""What the dashboard needs of a scheduler: a table to read and commands to send.

:class:`orchestra.scheduler.core.Scheduler` is the real one. The dashboard only reads
:meth:`SweepSource.snapshot` on its timers (when ``version`` moved) and calls the commands; it
never receives one message per change, so a big or busy sweep cannot flood it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from orchestra.scheduler.table import Snapshot


class GpuView(Protocol):
    """One device as the GPU panel shows it: the fields of ``orchestra.scheduler.gpu.GpuView`` it reads."""

    @property
    def index(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def total(self) -> int: ...
    @property
    def orchestra(self) -> int: ...  # bytes used by orchestra's runs
    @property
    def others(self) -> int: ...  # bytes used by anything else
    @property
    def reserved(self) -> int: ...  # bytes reserved by placed runs and not allocated yet
    @property
    def util(self) -> float | None: ...
    @property
    def runs(self) -> Sequence[Any]: ...


class GpuSource(Protocol):
    def views(self) -> Sequence[GpuView]: ...


class SweepSource(Protocol):
    """The scheduler as the dashboard sees it."""

    @property
    def version(self) -> int: ...
    @property
    def done(self) -> bool: ...
    @property
    def paused(self) -> bool: ...
    @property
    def gpus(self) -> GpuSource | None: ...  # the GPU ledger, None for a sweep without GPUs

    def snapshot(self) -> Snapshot: ...
    def cancel(self, run_id: str) -> str: ...
    def kill(self, run_id: str) -> str: ...
    def retry(self, run_id: str) -> str: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def stop(self) -> None: ...
    def interrupt(self) -> None: ...
    def kill_all(self) -> None: ...


def gpu_views(source: SweepSource) -> Sequence[GpuView]:
    """The devices to show; none for a sweep without GPUs."""
    return source.gpus.views() if source.gpus is not None else ()
