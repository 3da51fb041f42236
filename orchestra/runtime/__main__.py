"""``python -m orchestra.runtime <run-dir>``: see :mod:`orchestra.runtime.entrypoint`.

The run's own directories come first on ``sys.path``: the directory it was started in, then
``PYTHONPATH`` (orchestra's source root, the sweep file's directory, the caller's entries). The
runtime's own imports (the standard library, cloudpickle, orchestra's modules) would look in each
of them first, and miss: about 1 ms of a run's start. So they are moved behind the interpreter's
own directories while the runtime imports what it needs, and put back, in their order, before
anything of the run's is loaded (the payload, the entry function, its imports). A ``json.py`` or
``logging.py`` beside the sweep file no longer breaks the runtime either (the run's own ``import
json`` gets the standard library's, imported already, as in any program that imported it first);
the run's other modules beside the sweep file are found first, as before. The payload is unpickled
by the cloudpickle the run's own ``sys.path`` finds first, as before: an entry holding another one
than the interpreter's stays in front, with those after it.
"""

import os
import sys

from orchestra.runtime import joincgroup

joincgroup.begin()  # on a thread, meanwhile: the kernel may take milliseconds (see joincgroup)


def _move_run_paths_last() -> list[str]:
    """Move the leading ``sys.path`` entries that are the run's (the start directory and the
    ``PYTHONPATH`` entries) to its end; returns them, in their order."""
    given = [] if sys.flags.ignore_environment else os.environ.get("PYTHONPATH", "").split(os.pathsep)
    run_paths = {os.path.abspath(p) for p in given if p}  # as site made them: absolute
    # sys.path[0]: the directory `python -m` was started in (none under -P, Python >= 3.11)
    count = 0 if getattr(sys.flags, "safe_path", False) else 1
    while count < len(sys.path) and sys.path[count] in run_paths:
        count += 1
    # The payload is unpickled by the cloudpickle the run's own sys.path finds first: where that is
    # one of these entries, and the rest of sys.path would find another, it stays in front.
    holder = next((i for i, entry in enumerate(sys.path[:count]) if _may_hold_cloudpickle(entry)), None)
    if holder is not None:
        rest = next((entry for entry in sys.path[count:] if _may_hold_cloudpickle(entry)), None)
        if rest != sys.path[holder]:
            count = holder
    moved = sys.path[:count]
    del sys.path[:count]
    sys.path.extend(moved)
    return moved


def _may_hold_cloudpickle(entry: str) -> bool:
    """Whether ``entry`` may hold a cloudpickle (a directory with one, or not a directory: a zip)."""
    entry = entry or "."
    if not os.path.isdir(entry):
        return os.path.exists(entry)
    return os.path.exists(os.path.join(entry, "cloudpickle")) or os.path.exists(
        os.path.join(entry, "cloudpickle.py")
    )


def _put_back(moved: list[str]) -> None:
    """Undo :func:`_move_run_paths_last`: the moved entries go back to the front, in their order."""
    for entry in moved:
        if entry in sys.path:  # its last occurrence is the one moved (nothing appended it since)
            del sys.path[len(sys.path) - 1 - sys.path[::-1].index(entry)]
    sys.path[:0] = moved


_moved = _move_run_paths_last()
try:
    from orchestra.runtime.entrypoint import exit_with, main
finally:
    _put_back(_moved)

if __name__ == "__main__":
    exit_with(main())
