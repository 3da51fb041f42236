"""The entry function, serialised once per sweep with cloudpickle into ``payload.pkl``.

Functions from the user's sweep file travel by value (the file is not importable in the run's
process); functions from importable packages travel by reference. A function that cannot be
pickled fails here, at plan time, with the name of the object that stopped it, e.g.::

    entry function 'train' cannot be sent to the run processes: global 'state' (dict) -> key 'lock'
    (lock): TypeError: cannot pickle '_thread.lock' object; create such objects inside the function instead

The payload also carries the source of each by-value module as it was at launch (its path and
text). cloudpickle 3.1 renames the file of every by-value code object to ``<dynamic-code>``; the
run gives the sweep file's code objects their file name back and registers the launch-time text
with :mod:`linecache`, so tracebacks and pdb show ``sweep.py``, the line number and the line,
even after the file was edited.
"""

from __future__ import annotations

import functools
import linecache
import os
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

import cloudpickle

from orchestra.atomic import write_bytes
from orchestra.errors import PayloadError

_MAX_DEPTH = 6  # how deep the culprit search follows references before giving up
_MAX_ITEMS = 200  # items looked at per container


_FORMAT = "orchestra-payload/1"


def dumps_entry(fn: Callable[..., Any], by_value: Iterable[types.ModuleType] = ()) -> bytes:
    """cloudpickle ``fn``; modules in ``by_value`` are pickled by value (the sweep file's module).

    The source of each by-value module that has a file travels with it (see the module docstring).
    """
    modules = list(by_value)
    sources = [s for s in map(_source_of, modules) if s is not None]
    for m in modules:
        cloudpickle.register_pickle_by_value(m)
    try:
        try:
            if not sources:
                return cloudpickle.dumps(fn, protocol=5)
            return cloudpickle.dumps({"format": _FORMAT, "entry": fn, "sources": sources}, protocol=5)
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
    """Write payload bytes atomically (temp file, fsync, rename), mode 0644 whatever the umask."""
    write_bytes(path, data, mode=0o644)


def load_payload(path: str | os.PathLike[str]) -> Callable[..., Any]:
    """Unpickle the entry function from ``path``; see :func:`load_payload_file`."""
    where = os.fspath(path)
    with open(where, "rb") as f:
        return load_payload_file(f, where)


def check_payload_file(st: os.stat_result, where: str) -> None:
    """Refuse a payload that someone else could have written: every run executes what it holds.

    It must belong to this user (or root) and be writable by nobody else (``orchestra up``
    writes it 0644).
    """
    euid = os.geteuid()
    if st.st_uid not in (euid, 0):
        raise PayloadError(
            f"{where}: belongs to uid {st.st_uid}, not to this user (uid {euid}); every run executes it, "
            "so it must be yours: run `orchestra up` again to rewrite it"
        )
    if st.st_mode & 0o022:
        who = " and ".join(w for w, bit in (("its group", 0o020), ("others", 0o002)) if st.st_mode & bit)
        raise PayloadError(
            f"{where}: is writable by {who} (mode {st.st_mode & 0o777:04o}), and every run executes it: "
            f"`chmod go-w {where}` or run `orchestra up` again, which writes it 0644"
        )


def load_payload_file(f: BinaryIO, where: str) -> Callable[..., Any]:
    """Unpickle the entry function from the open file ``f``; any failure is a PayloadError that says what to fix.

    The file's owner and mode are checked first (:func:`check_payload_file`). The sweep file's
    code objects get their file name back and its launch-time source is registered with
    :mod:`linecache` (see the module docstring).
    """
    check_payload_file(os.fstat(f.fileno()), where)
    try:
        fn = cloudpickle.load(f)
        if isinstance(fn, dict) and fn.get("format") == _FORMAT:
            sources = fn["sources"]
            fn = fn["entry"]
            restore_sources(fn, sources)
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


def _source_of(module: types.ModuleType) -> dict[str, str] | None:
    """The module's name, file and text as it was executed (the loader put it in linecache)."""
    path = getattr(module, "__file__", None)
    if not path:
        return None
    lines = linecache.getlines(path, module.__dict__)
    if not lines:
        return None
    return {"module": module.__name__, "path": path, "text": "".join(lines)}


def restore_sources(fn: Any, sources: Iterable[dict[str, str]]) -> None:
    """Register each module's launch-time text with linecache and give its code objects their file back.

    Walks what ``fn`` reaches that was defined in those modules: functions (their nested code,
    closures, defaults and the module globals they share), classes and their methods, partials
    and bound methods. Data is not walked.
    """
    paths: dict[str, str] = {}
    for src in sources:
        path, text = src["path"], src["text"]
        # mtime None: linecache.checkcache never replaces it with the edited file on disk
        linecache.cache[path] = (len(text), None, text.splitlines(True), path)
        paths[src["module"]] = path
    fixed: dict[int, types.CodeType] = {}

    def fix(code: types.CodeType, path: str) -> types.CodeType:
        done = fixed.get(id(code))
        if done is not None:
            return done
        consts = tuple(fix(c, path) if isinstance(c, types.CodeType) else c for c in code.co_consts)
        new = code.replace(co_filename=path, co_consts=consts)
        fixed[id(code)] = new
        return new

    seen: set[int] = set()
    stack: list[Any] = [fn]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, functools.partial):
            stack += [obj.func, *obj.args, *obj.keywords.values()]
        elif isinstance(obj, types.MethodType):
            stack += [obj.__func__, obj.__self__]
        elif isinstance(obj, (staticmethod, classmethod)):
            stack.append(obj.__func__)
        elif isinstance(obj, property):
            stack += [f for f in (obj.fget, obj.fset, obj.fdel) if f is not None]
        elif isinstance(obj, types.FunctionType):
            where = paths.get(obj.__module__)
            if where is None:
                continue
            obj.__code__ = fix(obj.__code__, where)
            stack += [c.cell_contents for c in obj.__closure__ or () if _filled(c)]
            stack += [*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()]
            stack += [v for v in obj.__globals__.values() if isinstance(v, (types.FunctionType, type))]
        elif isinstance(obj, type) and obj.__module__ in paths:
            stack += list(vars(obj).values())


def _filled(cell: Any) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:  # an empty cell: the variable was never assigned
        return False
    return True


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
