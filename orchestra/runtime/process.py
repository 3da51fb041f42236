"""Process hygiene for a run: line-buffered output, dying with the orchestrator, SIGTERM as an exception."""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType

PR_SET_PDEATHSIG = 1


class Terminated(BaseException):
    """Raised in the run's main thread when SIGTERM reaches it (a cancel, a timeout, a shutdown).

    It derives from BaseException, like KeyboardInterrupt, so ``except Exception`` in user code
    does not swallow it. Catch it to save a last snapshot, then let it propagate::

        try:
            for itr in range(start, n):
                ...
        except Terminated:
            ctx.snapshot(itr, state)
            raise

    The run then exits with status 143 and ``result.json`` says ``"terminated"``. The orchestrator
    sends SIGKILL after its grace period, so keep the handler short. Only the first SIGTERM
    raises; later ones are ignored so that they cannot interrupt that last snapshot.
    """


def line_buffer_stdio() -> None:
    """Make stdout and stderr flush at every newline: they are ``output.log``, read live."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)


def die_with_parent(expected_parent: int | None) -> None:
    """Ask Linux to SIGKILL this process when its parent dies, and die now if it already has.

    The parent-death signal fires when the *thread* that started this process exits, so the
    orchestrator must start runs from a thread that lives as long as it does. It is set after
    exec, so a parent that died between fork and here is caught by comparing ``getppid()``
    with ``expected_parent`` (``ORCHESTRA_PARENT_PID``): the run then ends as a SIGKILL would
    have ended it. Without ``expected_parent`` (a run started by hand) only the signal is set.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            print(f"[orchestra] prctl(PR_SET_PDEATHSIG) failed: {os.strerror(err)}", file=sys.stderr)
    if expected_parent is not None and os.getppid() != expected_parent:
        print(
            f"[orchestra] the orchestrator (pid {expected_parent}) is gone before the run started; exiting",
            file=sys.stderr,
        )
        os.kill(os.getpid(), signal.SIGKILL)


class TermSignal:
    """SIGTERM handling: the first SIGTERM while ``armed`` raises :class:`Terminated`.

    ``raised_at`` records when that happened, so a run whose code swallowed the exception and
    returned is still known to have been stopped. Once disarmed (the entry function returned),
    SIGTERM is ignored: the run is only writing its result and about to exit.
    """

    def __init__(self) -> None:
        self.raised_at: float | None = None
        self.armed = True

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)

    def disarm(self) -> None:
        self.armed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.armed:
            self.armed = False
            self.raised_at = time.time()
            raise Terminated("SIGTERM")
