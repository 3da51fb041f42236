"""What the dashboard needs of a sweep: a table to read and commands to send.

Three things have this face: the scheduler itself (``--foreground``: the dashboard in the
orchestrator's process), :class:`orchestra.service.client.RemoteSweep` (attached to a sweep's
service over its control socket) and :class:`orchestra.service.files.FileSweep` (a sweep whose
service is not running, read from its files). The dashboard only reads :meth:`SweepSource.snapshot`
on its timers (when ``version`` moved) and sends commands; it never receives one message per
change, so a big or busy sweep cannot flood it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from orchestra.scheduler.commands import Command, Reply
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


class SweepSource(Protocol):
    """A sweep as the dashboard sees it."""

    @property
    def version(self) -> int: ...
    @property
    def done(self) -> bool: ...

    def snapshot(self) -> Snapshot: ...
    def gpu_views(self) -> Sequence[GpuView]: ...
    async def send(self, command: Command) -> list[Reply]: ...
