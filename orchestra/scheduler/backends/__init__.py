"""Backends start a run's process somewhere and hand back a handle to watch and signal it.

They share one small protocol so the scheduler does not care where a run lives (the local machine
now, a Slurm allocation later).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class LaunchSpec:
    """What to start: the command, its environment and directory, and the log its output goes to."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    log_path: Path


class Handle(Protocol):
    """A started run: its pid, its exit, and signals to its whole process group."""

    pid: int

    async def wait(self) -> int:
        """The exit status: >= 0 an exit code, < 0 the number of the signal that killed it."""
        ...

    def signal(self, sig: int) -> None:
        """Send ``sig`` to every process of the run (a no-op once they are all gone)."""
        ...

    def members(self) -> list[int]:
        """PIDs of the run's processes still alive (zombies excluded)."""
        ...


class Backend(Protocol):
    async def start(self, spec: LaunchSpec) -> Handle: ...
