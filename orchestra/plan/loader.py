"""Import a user's sweep file by path and find its ``Sweep``.

Errors in the file are reported as one line with the file and line number; nothing is written
or launched before the file has loaded cleanly.
"""

from __future__ import annotations

import importlib.util
import linecache
import os
import re
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

from orchestra.errors import SweepFileError, UserError
from orchestra.sweep import Sweep


@dataclass(frozen=True)
class LoadedSweep:
    """A Sweep and where it came from: the sweep file (or the module of a Sweep built in Python)."""

    sweep: Sweep
    path: Path
    module: types.ModuleType
    attr: str
    by_value: bool = True  # the module travels by value (a sweep file is not importable by runs)

    @classmethod
    def of(cls, sweep: Sweep) -> LoadedSweep:
        """A Sweep built in Python rather than loaded from a file (lagom's ``run_experiment``, tests).

        Its entry function's module is recorded as the launcher; functions of ``__main__`` travel by
        value (cloudpickle does that by itself), those of importable modules by reference.
        """
        module = (
            sys.modules.get(getattr(sweep.entry, "__module__", "") or "__main__") or sys.modules["__main__"]
        )
        file = getattr(module, "__file__", None)
        path = Path(file).resolve() if file else Path.cwd() / "__main__.py"
        return cls(sweep, path, module, "", by_value=False)


def load_sweep_file(spec: str) -> LoadedSweep:
    """Load ``path.py`` (or ``path.py:name`` to pick one of several Sweeps)."""
    path_text, attr = _split(spec)
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise SweepFileError(f"{path_text}: no such file; give the path of your sweep file, e.g. sweep.py")
    if path.suffix != ".py":
        raise SweepFileError(f"{path_text}: a sweep file is a Python file ending in .py")
    path = path.resolve()
    module = _exec(path)
    sweeps = {k: v for k, v in vars(module).items() if isinstance(v, Sweep) and not k.startswith("_")}
    if attr is not None:
        if attr not in sweeps:
            have = ", ".join(sorted(sweeps)) or "none"
            raise SweepFileError(f"{path_text}: no Sweep named {attr!r} (Sweeps in the file: {have})")
        return LoadedSweep(sweeps[attr], path, module, attr)
    if not sweeps:
        raise SweepFileError(
            f"{path_text}: no Sweep object found; assign one at the top level, "
            "e.g. `sweep = Sweep(train, Config({...}))`"
        )
    if len(sweeps) > 1:
        names = sorted(sweeps)
        raise SweepFileError(
            f"{path_text}: {len(names)} Sweep objects ({', '.join(names)}); pick one with {path_text}:{names[0]}"
        )
    ((name, sweep),) = sweeps.items()
    return LoadedSweep(sweep, path, module, name)


def _split(spec: str) -> tuple[str, str | None]:
    m = re.fullmatch(r"(.+\.py):([A-Za-z_][A-Za-z0-9_]*)", spec)
    return (m.group(1), m.group(2)) if m else (spec, None)


def _exec(path: Path) -> types.ModuleType:
    name = "orchestra_sweep_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SweepFileError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)  # as `python sweep.py` would: its neighbours are importable
    sys.modules[name] = module
    try:
        # The text that runs is the text that is recorded: it goes into linecache (so tracebacks
        # here and in the runs show it even after the file is edited) and into the payload.
        text = importlib.util.decode_source(path.read_bytes())  # honours a coding cookie
        linecache.cache[str(path)] = (len(text), None, text.splitlines(True), str(path))
        exec(compile(text, str(path), "exec", dont_inherit=True), module.__dict__)
    except SyntaxError as exc:
        del sys.modules[name]
        line = f":{exc.lineno}" if exc.lineno else ""
        raise SweepFileError(f"{_rel(path)}{line}: syntax error: {exc.msg}") from None
    except SystemExit as exc:
        del sys.modules[name]
        raise SweepFileError(
            f"{_rel(path)}{_line_in(path, exc)}: the sweep file called sys.exit({exc.code!r}) while it was "
            "loaded; orchestra imports it to find its Sweep, so put the code that runs it as a script under "
            "`if __name__ == '__main__':`"
        ) from None
    except BaseException as exc:
        del sys.modules[name]
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise SweepFileError(f"{_rel(path)}{_line_in(path, exc)}: {_describe(exc)}") from None
    return module


def _line_in(path: Path, exc: BaseException) -> str:
    """``:N`` for the deepest frame of the traceback that is in the sweep file."""
    line = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == str(path) and frame.lineno:
            line = f":{frame.lineno}"
    return line


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError):
        return f"cannot import {exc.name!r} ({exc}); install it or fix the import"
    if isinstance(exc, ImportError):
        return f"import failed: {exc}"
    if isinstance(exc, UserError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
