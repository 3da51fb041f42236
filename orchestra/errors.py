"""Errors a user can cause and fix.

Every mistake in a sweep file, a sweep space, a command line or a run directory raises a subclass
of :class:`UserError`. Its message is one line that names the file, key or run and says what to do;
the CLI prints it and exits with status 2. Any other exception is a bug in orchestra.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable


class UserError(Exception):
    """A mistake the user can fix. ``str(err)`` is the whole message, one line."""

    exit_code = 2


class SpaceError(UserError, ValueError):
    """A sweep space (Config, ExperimentGrid, description) that cannot be expanded."""


class ConfigValueError(SpaceError, TypeError):
    """A config value that cannot be written as JSON."""


class SweepFileError(UserError):
    """A sweep file that cannot be loaded (syntax error, no Sweep, two of them, ...)."""


class PlanError(UserError):
    """A sweep that cannot be planned on this machine or into this directory."""


class RunDirError(UserError):
    """A directory that is not a sweep or run directory, or holds unreadable records."""


class PayloadError(UserError):
    """An entry function that cannot be serialised for the run processes."""


class CompatAssertionError(SpaceError, AssertionError):
    """A mistake a seed library caught with ``assert``: still an AssertionError for code that
    catches one, and a one-line UserError for the CLI."""


def fix_for(exc: OSError, again: str) -> str:
    """What to do about a file orchestra could not write: ``free some space, then <again>``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"free some space, then {again}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"make it writable (or choose another --root), then {again}"
    return f"fix the path (or choose another --root), then {again}"


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'status'?"`` when a candidate is close to ``word``, else ``""``."""
    import difflib  # here, not above: every run's process imports this module and never needs it

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
