"""Code that runs inside a run's process. Kept lean: it is imported once per run.

``python -m orchestra.runtime <run-dir>`` runs one attempt of one run
(:mod:`orchestra.runtime.entrypoint`). An entry function gets a :class:`RunContext` as ``ctx``,
whose ``logger`` is a lagom :class:`Logger` that streams to ``metrics.jsonl``; SIGTERM reaches it
as :class:`Terminated`.
"""

from orchestra.runtime.context import RunContext
from orchestra.runtime.logger import Logger
from orchestra.runtime.process import Terminated
from orchestra.runtime.snapshot import Snapshotter

__all__ = ["Logger", "RunContext", "Snapshotter", "Terminated"]
