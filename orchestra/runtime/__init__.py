"""Code that runs inside a run's process. Kept lean: it is imported once per run.

``python -m orchestra.runtime <run-dir>`` runs one attempt of one run
(:mod:`orchestra.runtime.entrypoint`). An entry function gets a :class:`RunContext` as ``ctx``,
whose ``logger`` is a lagom :class:`Logger` that streams to ``metrics.jsonl``; SIGTERM reaches it
as :class:`Terminated`. The names below are imported on first use (PEP 562), so the run's own
start-up loads only the modules it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestra.runtime.context import RunContext
    from orchestra.runtime.logger import Logger
    from orchestra.runtime.process import Terminated
    from orchestra.runtime.snapshot import Snapshotter

_LAZY = {
    "RunContext": "orchestra.runtime.context",
    "Logger": "orchestra.runtime.logger",
    "Terminated": "orchestra.runtime.process",
    "Snapshotter": "orchestra.runtime.snapshot",
}

__all__ = ["Logger", "RunContext", "Snapshotter", "Terminated"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestra.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
