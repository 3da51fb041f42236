"""PyExpUtils' ``PyExpUtils.runner.parallel.build``: a GNU parallel command line for a list of tasks.

>>> build({"executable": "python run.py", "cores": 4, "tasks": [0, 1, 2], "delay": 0.5})
'parallel -j 4 --delay 0.5 python run.py ::: 0 1 2'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestra.compat.pyexputils.cmdline import flagString

__all__ = ["build"]


def build(d: Mapping[str, Any]) -> str | None:
    """``parallel -j <cores> [--delay d] [--sshloginfile f] [-n batch] <executable> ::: <tasks>``; None
    without tasks. ``executable``, ``cores`` and ``tasks`` are required (``KeyError`` otherwise)."""
    ex = d["executable"]
    cores = d["cores"]
    tasks = d["tasks"]
    tasks = tasks if isinstance(tasks, str) else " ".join(map(str, tasks))
    pairs = [
        ("-j", cores),
        ("--delay", d.get("delay")),
        ("--sshloginfile", d.get("sshloginfile")),
        ("-n", d.get("batch")),
    ]
    if len(tasks) == 0:
        return None
    return f"parallel {flagString(pairs, joiner=' ')} {ex} ::: {tasks}"
