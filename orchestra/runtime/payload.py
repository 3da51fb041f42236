"""The entry function, serialised once per sweep with cloudpickle into ``payload.pkl``.

Functions from the user's sweep file travel by value (the file is not importable in the run's
process); functions from importable packages travel by reference. A function that cannot be
pickled fails here, at plan time, with the name of the object that stopped it.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable, Iterable
from typing import Any

import cloudpickle

from orchestra.errors import PayloadError


def dumps_entry(fn: Callable[..., Any], by_value: Iterable[types.ModuleType] = ()) -> bytes:
    """cloudpickle ``fn``; modules in ``by_value`` are pickled by value (the sweep file's module)."""
    modules = list(by_value)
    for m in modules:
        cloudpickle.register_pickle_by_value(m)
    try:
        return cloudpickle.dumps(fn, protocol=5)
    except Exception as exc:
        culprit = _find_culprit(fn)
        where = f"{culprit}: " if culprit else ""
        name = getattr(fn, "__qualname__", repr(fn))
        raise PayloadError(
            f"entry function {name!r} cannot be sent to the run processes: {where}{type(exc).__name__}: {exc}; "
            "create such objects inside the function instead"
        ) from exc
    finally:
        for m in modules:
            cloudpickle.unregister_pickle_by_value(m)


def write_payload(path: str | os.PathLike[str], data: bytes) -> None:
    """Write payload bytes atomically (temp file, fsync, rename)."""
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_payload(path: str | os.PathLike[str]) -> Callable[..., Any]:
    with open(path, "rb") as f:
        fn = cloudpickle.load(f)
    if not callable(fn):
        raise PayloadError(f"{os.fspath(path)}: holds a {type(fn).__name__}, not a function")
    return fn


def _find_culprit(fn: Any) -> str | None:
    """The global, closure variable or default of ``fn`` that cannot be pickled, described."""
    code = getattr(fn, "__code__", None)
    candidates: list[tuple[str, Any]] = []
    if code is not None:
        globs = getattr(fn, "__globals__", {})
        for name in _names(code):
            if name in globs:
                candidates.append((f"global {name!r}", globs[name]))
        for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
            try:
                candidates.append((f"closure variable {name!r}", cell.cell_contents))
            except ValueError:
                continue
        for i, d in enumerate(getattr(fn, "__defaults__", None) or ()):
            candidates.append((f"default #{i}", d))
        for k, d in (getattr(fn, "__kwdefaults__", None) or {}).items():
            candidates.append((f"default {k!r}", d))
    for label, obj in candidates:
        if isinstance(obj, types.ModuleType):
            continue
        try:
            cloudpickle.dumps(obj)
        except Exception:
            inner = _find_culprit(obj) if isinstance(obj, types.FunctionType) else None
            return f"{label} ({type(obj).__name__})" + (f" -> {inner}" if inner else "")
    return None


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names
