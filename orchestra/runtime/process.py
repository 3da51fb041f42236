"""Process hygiene for a run: line-buffered output, dying with its parent, SIGTERM as an exception."""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

# The C module behind ``signal``: the Python one builds enums that cost every run ~0.5 ms.
signal: Any = importlib.import_module("_signal")

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


def die_with_parent(expected_parent: int, sig: int = signal.SIGKILL) -> None:
    """Ask Linux to SIGKILL (or send ``sig`` to) this process when its parent dies, and die now if it already has.

    Called only when the backend asks for the link (``ORCHESTRA_PARENT_PID``): a local run dies
    with its orchestrator (or with the zygote it was forked from), a Slurm job (whose parent is
    slurmstepd) does not. The parent-death signal fires when the *thread* that started this
    process exits, so the parent must start runs from a thread that lives as long as it does. It
    is set after exec (or fork), so a parent that died in between is caught by comparing
    ``getppid()`` with ``expected_parent``: the run then ends as a SIGKILL would have ended it.
    """
    if sys.platform.startswith("linux"):
        err = set_parent_death_signal(sig)
        if err:
            print(f"[orchestra] prctl(PR_SET_PDEATHSIG) failed: {os.strerror(err)}", file=sys.stderr)
    if os.getppid() != expected_parent:
        print(
            f"[orchestra] the process that started this run (pid {expected_parent}) is gone before the run "
            "started; exiting",
            file=sys.stderr,
        )
        os.kill(os.getpid(), signal.SIGKILL)


def set_parent_death_signal(sig: int) -> int:
    """``prctl(PR_SET_PDEATHSIG, sig)``; returns 0 or the errno (Linux only)."""
    prctl = _prctl()
    if prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0:
        return 0
    return _get_errno()


_PRCTL: list[Callable[..., int]] = []


def _prctl() -> Callable[..., int]:
    """libc's ``prctl``, reached through ``_ctypes`` directly.

    ``import ctypes`` costs about 2 ms, a tenth of a bare Python's start-up, and every run pays
    it; the four names used here have been in ``_ctypes`` since Python 2.5. Should they ever move,
    the public module is used instead.
    """
    if _PRCTL:
        return _PRCTL[0]
    try:
        import _ctypes

        ct: Any = _ctypes  # private names, typed loosely on purpose

        class _CInt(ct._SimpleCData):
            _type_ = "i"

        class _Function(ct.CFuncPtr):
            _flags_ = ct.FUNCFLAG_CDECL | ct.FUNCFLAG_USE_ERRNO
            _restype_ = _CInt

        class _Libc:
            _handle = ct.dlopen(None)

        function: Any = _Function(("prctl", _Libc()))
        call: Callable[..., int] = lambda *args: int(function(*args))  # noqa: E731
    except (ImportError, AttributeError, TypeError, OSError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.prctl
    _PRCTL.append(call)
    return call


def _get_errno() -> int:
    try:
        import _ctypes

        ct: Any = _ctypes
        return int(ct.get_errno())
    except (ImportError, AttributeError):
        import ctypes

        return ctypes.get_errno()


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
