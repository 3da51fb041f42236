"""Backends: where and how a run's process lives. The scheduler decides *what* runs next; a backend
owns everything about *where*:

- **placement**: whether a run fits now (CPU slots and the GPU ledger locally; Slurm queues for
  itself) and the resources it was given (:class:`Placement`);
- **the run's environment**: what ``python -m orchestra.runtime <run-dir>`` starts with
  (the parent-death link locally, nothing of the kind on a cluster);
- **liveness**: a :class:`Handle` with an ``id``, ``wait``, ``terminate`` and ``kill``. No pids cross
  this boundary: a Slurm job has none the orchestrator could signal;
- **recovery**: after an orchestrator died, :meth:`Backend.recover` finds out what became of the
  runs it recorded as running: re-attached (a Slurm job goes on), or gone, with every leftover
  process of theirs killed first (locally: grandchildren included).

Backends are siblings behind this one protocol, as submitit's local and Slurm executors are. A
backend with a queue of its own (Slurm) adds two things. Its handles are :class:`QueuedHandle`:
an attempt waits in that queue, recorded as ``queued`` with its handle, until it starts, and it may
be requeued. And it :class:`HoldsQueue`: pausing the sweep holds what waits there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from orchestra.rundir import Exit, Reason, Status
from orchestra.sweep import Resources


@dataclass(frozen=True)
class RunLaunch:
    """What to start for one attempt of one run: which run, which attempt, and the sweep it belongs to."""

    run_id: str
    run_dir: Path
    attempt: int
    sweep_env: Mapping[str, str]
    sweep_file: Path | None
    cwd: Path


@dataclass(frozen=True)
class Placement:
    """What a backend granted a run: recorded in ``status.json`` (``gpus``) and given to the launch."""

    run_id: str
    resources: Resources
    gpus: tuple[Mapping[str, Any], ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # e.g. CUDA_VISIBLE_DEVICES
    threads: int = 1  # OMP/MKL threads the run may use
    token: Any = None  # the backend's own bookkeeping (a GPU grant, a job array slot)


@dataclass(frozen=True)
class Ended:
    """How an attempt's process ended, as far as the backend knows.

    ``returncode`` >= 0 is an exit status, < 0 the number of the signal that killed it, ``None``
    when the backend cannot tell (a Slurm job that vanished). ``reason`` is set by a backend that
    knows better than an exit status can say (Slurm: timeout, out of memory, node failure).
    """

    returncode: int | None
    reason: Reason | None = None
    message: str = ""


class Handle(Protocol):
    """A started attempt."""

    @property
    def id(self) -> str:
        """How the backend names it, for people: ``pid 4242``, ``job 1234_7``."""
        ...

    def record(self) -> dict[str, Any]:
        """What ``status.json`` keeps of it (``handle``), enough for :meth:`Backend.recover`."""
        ...

    async def wait(self) -> Ended:
        """Until the attempt's process has ended and nothing of it is left running."""
        ...

    def terminate(self) -> None:
        """Ask every process of the attempt to stop (SIGTERM); it may save a snapshot first."""
        ...

    def kill(self) -> None:
        """End every process of the attempt now (SIGKILL)."""
        ...


@dataclass(frozen=True)
class Progress:
    """A change a queueing backend saw in an attempt before it ended.

    ``running``: it started on its resources (``host``, since ``at``) as attempt ``attempt``. Not
    running: it went back to the backend's queue (preempted and requeued); attempt ``attempt`` ended
    as ``exit`` says, and the next one waits. ``record`` is the handle's record now and ``where`` the
    row's text for it ("job 1234_7 on node3").
    """

    running: bool
    attempt: int
    at: float
    record: Mapping[str, Any]
    where: str
    host: str | None = None
    exit: Exit | None = None


@runtime_checkable
class QueuedHandle(Handle, Protocol):
    """A handle whose attempt waits in the backend's own queue before it runs (a pending Slurm job)."""

    @property
    def pending(self) -> bool:
        """It waits in the backend's queue now (recorded as ``queued``, with its handle)."""
        ...

    @property
    def where(self) -> str:
        """The row's text for it now: "job 1234_7 pending (Priority)", "job 1234_7 on node3"."""
        ...

    async def progress(self) -> Progress | Ended:
        """The next change of the attempt, in order; :class:`Ended` is the last one."""
        ...


_QUEUED: dict[type, bool] = {}


def is_queued(handle: object) -> bool:
    """``isinstance(handle, QueuedHandle)``, known per type after the first (a protocol's isinstance
    looks at every member: tens of microseconds, several times per run)."""
    kind = type(handle)
    known = _QUEUED.get(kind)
    if known is None:
        known = _QUEUED[kind] = isinstance(handle, QueuedHandle)
    return known


@runtime_checkable
class HoldsQueue(Protocol):
    """A backend that can hold what waits in its own queue (pausing a sweep holds its pending jobs)."""

    def hold(self, held: bool) -> None:
        """Hold every attempt waiting in the queue (and those launched from now on), or release them."""
        ...


class Backend(Protocol):
    """Where runs live; see the module docstring."""

    name: str
    runs_outlive_orchestrator: bool  # False locally: a dying orchestrator takes its runs with it

    def describe(self) -> str:
        """Its capacity in a few words, for the line ``up`` starts with ("4 workers")."""
        ...

    def problem(self, resources: Resources) -> str | None:
        """Why runs asking for ``resources`` can never run here (checked at plan time), else None."""
        ...

    def place(self, run_id: str, resources: Resources) -> Placement | None:
        """Resources for ``run_id`` now, or None when they are not free yet."""
        ...

    def waiting_reason(self, resources: Resources) -> str:
        """Why a run with ``resources`` cannot be placed now, in one line ("" when it can)."""
        ...

    def release(self, placement: Placement) -> None:
        """The attempt that held ``placement`` has ended (all its processes are gone)."""
        ...

    async def launch(self, batch: Sequence[tuple[RunLaunch, Placement]]) -> list[Handle | Exception]:
        """Start a batch of attempts (one ``sbatch --array`` on Slurm); per item a handle or the error
        that kept it from starting (an OSError, a planted link where its output belongs)."""
        ...

    async def recover(self, sweep_runs: Path, running: Mapping[str, Status]) -> dict[str, Handle | None]:
        """After an orchestrator died: for each run it left ``running``, a handle when it still
        runs and can be re-attached, else None. Leftover processes that cannot be re-attached are
        killed before this returns (nothing of a dead orchestrator's runs survives locally)."""
        ...

    async def watch(self, wake: Callable[[], None]) -> None:
        """The backend's own background work for the life of the scheduler (GPU readings, a
        batched job watcher); calls ``wake()`` when placement may have become possible."""
        ...

    def views(self) -> Sequence[Any]:
        """Per-device views for the dashboard's GPU panel (empty without GPUs)."""
        ...
