"""Every process a hardening test started, its runs' grandchildren included, ends with the test,
passed or failed, and so do its sweeps' cgroups: a test that proves a leak must not leak itself."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra import proc


def _started_in(directory: Path) -> list[int]:
    """Processes whose working directory or run directory is inside ``directory``."""
    inside = str(directory) + os.sep
    out = []
    for pid in proc.pids():
        if pid == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd").removesuffix(" (deleted)") + os.sep
        except OSError:
            continue
        run_dir = proc.environ_value(pid, "ORCHESTRA_RUN_DIR") or ""
        if cwd.startswith(inside) or run_dir.startswith(inside):
            out.append(pid)
    return out


@pytest.fixture(autouse=True)
def _no_process_outlives_the_test(tmp_path: Path) -> Iterator[None]:
    yield
    for pid in _started_in(tmp_path):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    # the cgroups an orchestrator killed by the test (and never followed by an up) left, now empty
    from orchestra.scheduler.backends import cgroup

    for runs in tmp_path.glob("**/runs"):
        group = cgroup.sweep_cgroup(str(runs))
        if group is not None:
            cgroup.remove(group)
