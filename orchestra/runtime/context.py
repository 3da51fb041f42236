"""``RunContext``: what a run's entry function gets as ``ctx`` (or garage's ``ctxt``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from orchestra.rundir.names import SNAPSHOTS
from orchestra.runtime.logger import Logger
from orchestra.runtime.snapshot import Snapshotter

if TYPE_CHECKING:
    from pathlib import Path


class RunContext:
    """The run's facts and tools.

    ``logdir`` (a ``Path``: the run directory, where the run may write its own files), ``seed``,
    ``config`` (the resolved config dict), ``device`` (a string: ``"cpu"``, or ``"cuda:0"`` for the
    first GPU assigned; ``torch.device(ctx.device)`` makes it a torch device), ``attempt`` (1 for
    the first attempt, 2 for the first retry, ...), ``logger`` (a :class:`RunLogger`: lagom's
    Logger, whose ``dump()`` prints what was logged since the previous dump and streams it to
    ``metrics.jsonl``).

    ``snapshot(itr, obj)`` saves a snapshot under the sweep's snapshot mode; ``resume()`` returns
    ``(next_itr, obj)`` from the newest snapshot, where ``next_itr`` is the saved iteration plus one,
    or None when there is none yet. So a loop resumes where it stopped::

        start, state = ctx.resume() or (0, init_state())
        for itr in range(start, n_itr):
            ...
            ctx.snapshot(itr, state)

    It also has the interface of garage's ``ExperimentContext`` (``snapshot_dir``,
    ``snapshot_mode``, ``snapshot_gap``), so garage code that builds a ``Snapshotter`` from it
    writes its snapshots where ``resume()`` finds them.
    """

    def __init__(
        self,
        *,
        logdir: str | os.PathLike[str],
        seed: int,
        config: dict[str, Any],
        device: str = "cpu",
        attempt: int = 1,
        logger: Logger | None = None,
        snapshot_mode: str = "last",
        snapshot_gap: int = 1,
        run_dir_fd: int | None = None,
    ) -> None:
        self._logdir = os.fspath(logdir)
        self._path: Path | None = None
        self.seed = seed
        self.config = config
        self.device = device
        self.attempt = attempt
        self.logger = logger if logger is not None else Logger()
        self.snapshotter = Snapshotter(
            os.path.join(self._logdir, SNAPSHOTS),
            snapshot_mode,
            snapshot_gap,
            create=False,
            parent_fd=run_dir_fd,
        )

    @property
    def logdir(self) -> Path:
        if self._path is None:
            from pathlib import Path  # made when asked for: a run that never asks does not import pathlib

            self._path = Path(self._logdir)
        return self._path

    @property
    def snapshot_dir(self) -> str:
        return self.snapshotter.snapshot_dir

    @property
    def snapshot_mode(self) -> str:
        return self.snapshotter.snapshot_mode

    @property
    def snapshot_gap(self) -> int:
        return self.snapshotter.snapshot_gap

    def snapshot(self, itr: int, obj: Any) -> None:
        """Save ``obj`` as the snapshot of iteration ``itr`` if the snapshot mode says so.

        The file is complete or absent, so a run killed mid-save resumes from the previous one.
        """
        self.snapshotter.save_itr_params(itr, obj)

    def resume(self) -> tuple[int, Any] | None:
        """``(itr + 1, obj)`` of the newest snapshot (this or an earlier attempt's), or None.

        The newest is ``params.pkl`` when the mode writes it, else the highest ``itr_N.pkl``. A
        ``params.pkl`` that does not record its iteration (one copied from garage) resumes at 0.
        """
        newest = self.snapshotter.load_newest()
        if newest is None:
            return None
        itr, obj = newest
        return (0 if itr is None else itr + 1), obj

    def __repr__(self) -> str:
        return f"RunContext(logdir={self._logdir!r}, seed={self.seed}, device={self.device!r}, attempt={self.attempt})"
