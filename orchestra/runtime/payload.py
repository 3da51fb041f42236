"""The entry function, serialised once per sweep with cloudpickle into ``payload.pkl``.

Functions from the user's sweep file travel by value (the file is not importable in the run's
process); functions from importable packages travel by reference. A function that cannot be
pickled fails here, at plan time, with the name of the object that stopped it, e.g.::

    entry function 'train' cannot be sent to the run processes: global 'state' (dict) -> key 'lock'
    (lock): TypeError: cannot pickle '_thread.lock' object; create such objects inside the function instead
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import cloudpickle

from orchestra.atomic import write_bytes
from orchestra.errors import PayloadError

_MAX_DEPTH = 6  # how deep the culprit search follows references before giving up
_MAX_ITEMS = 200  # items looked at per container


def dumps_entry(fn: Callable[..., Any], by_value: Iterable[types.ModuleType] = ()) -> bytes:
    """cloudpickle ``fn``; modules in ``by_value`` are pickled by value (the sweep file's module)."""
    modules = list(by_value)
    for m in modules:
        cloudpickle.register_pickle_by_value(m)
    try:
        try:
            return cloudpickle.dumps(fn, protocol=5)
        except Exception as exc:
            culprit = find_culprit(fn)
            where = f"{culprit}: " if culprit else ""
            name = getattr(fn, "__qualname__", None) or type(fn).__name__
            raise PayloadError(
                f"entry function {name!r} cannot be sent to the run processes: {where}"
                f"{type(exc).__name__}: {exc}; create such objects inside the function instead"
            ) from exc
    finally:
        for m in modules:
            cloudpickle.unregister_pickle_by_value(m)


def write_payload(path: str | os.PathLike[str], data: bytes) -> None:
    """Write payload bytes atomically (temp file, fsync, rename)."""
    write_bytes(path, data)


def load_payload(path: str | os.PathLike[str]) -> Callable[..., Any]:
    """Unpickle the entry function; any failure is a PayloadError that says what to fix."""
    where = os.fspath(path)
    try:
        with open(where, "rb") as f:
            fn = cloudpickle.load(f)
    except ModuleNotFoundError as exc:
        raise PayloadError(
            f"{where}: the entry function needs module {exc.name!r}, which the run cannot import; "
            "install it, or put it beside the sweep file (that directory is on the run's PYTHONPATH)"
        ) from exc
    except Exception as exc:
        raise PayloadError(f"{where}: cannot load the entry function ({type(exc).__name__}: {exc})") from exc
    if not callable(fn):
        raise PayloadError(f"{where}: holds a {type(fn).__name__}, not a function")
    return fn


def find_culprit(obj: Any) -> str | None:
    """Describe the path to the first object reachable from ``obj`` that cannot be pickled.

    Follows what cloudpickle would follow: a function's globals, closure variables and defaults,
    a partial's function and arguments, a bound method's instance, an object's attributes and
    the items of containers. Returns e.g. ``"global 'db' (Connection) -> attribute 'sock' (socket)"``.
    """
    return _search(obj, 0, set())


def _search(obj: Any, depth: int, seen: set[int]) -> str | None:
    if depth >= _MAX_DEPTH or id(obj) in seen:
        return None
    seen.add(id(obj))
    for label, child in _references(obj):
        if isinstance(child, types.ModuleType) or _picklable(child):
            continue
        here = f"{label} ({type(child).__name__})"
        inner = _search(child, depth + 1, seen)
        return f"{here} -> {inner}" if inner else here
    return None


def _picklable(obj: Any) -> bool:
    try:
        cloudpickle.dumps(obj)
    except Exception:
        return False
    return True


def _references(obj: Any) -> Iterator[tuple[str, Any]]:
    """(label, object) pairs for what pickling ``obj`` would pickle in turn."""
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        for name in sorted(_names(code)):
            if name in obj.__globals__:
                yield f"global {name!r}", obj.__globals__[name]
        for name, cell in zip(code.co_freevars, obj.__closure__ or ()):
            try:
                yield f"closure variable {name!r}", cell.cell_contents
            except ValueError:  # an empty cell: the variable was never assigned
                continue
        for i, d in enumerate(obj.__defaults__ or ()):
            yield f"default #{i}", d
        for k, d in (obj.__kwdefaults__ or {}).items():
            yield f"default {k!r}", d
    elif isinstance(obj, functools.partial):
        yield "partial function", obj.func
        for i, a in enumerate(obj.args):
            yield f"partial argument #{i}", a
        for k, a in obj.keywords.items():
            yield f"partial argument {k!r}", a
    elif isinstance(obj, types.MethodType):
        yield "method's instance", obj.__self__
        yield "method's function", obj.__func__
    elif isinstance(obj, dict):
        for i, (k, v) in enumerate(obj.items()):
            if i >= _MAX_ITEMS:
                break
            yield f"key {k!r}", v
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, v in enumerate(obj):
            if i >= _MAX_ITEMS:
                break
            yield f"item #{i}", v
    elif not isinstance(obj, type):
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            for k, v in attrs.items():
                yield f"attribute {k!r}", v


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names
