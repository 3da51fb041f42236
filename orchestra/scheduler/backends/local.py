"""The local backend: each run is a process in its own session on this machine.

The child's stdout and stderr are ``output.log`` itself (opened for append and handed over as a
file descriptor): the orchestrator never copies a run's bytes. Its own session makes the run a
process group that can be signalled as a whole, grandchildren (DataLoader workers) included.
"""

from __future__ import annotations

import os
import subprocess

import anyio
from anyio.abc import Process

from orchestra.scheduler.backends import LaunchSpec


class LocalHandle:
    def __init__(self, process: Process) -> None:
        self._process = process
        self.pid: int = process.pid

    async def wait(self) -> int:
        return await self._process.wait()

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def members(self) -> list[int]:
        return group_members(self.pid)


class LocalBackend:
    """Start ``spec.argv`` in a new session with output on ``spec.log_path``."""

    async def start(self, spec: LaunchSpec) -> LocalHandle:
        fd = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            process = await anyio.open_process(
                list(spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                cwd=spec.cwd,
                env=spec.env,
                start_new_session=True,
            )
        finally:
            os.close(fd)
        return LocalHandle(process)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``, read from /proc."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []  # the common case once a run has exited: no scan of /proc needed
    except PermissionError:
        pass
    out = []
    try:
        entries = os.listdir("/proc")
    except FileNotFoundError:  # not Linux: fall back to "is anything in the group"
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except (ProcessLookupError, PermissionError):
            return []
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            out.append(int(name))
    return out
