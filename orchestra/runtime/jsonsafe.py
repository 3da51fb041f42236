"""Turn whatever a run returns or logs into JSON data, never failing.

JSON holds dicts with string keys, lists, strings, finite numbers, booleans and null. Everything
else becomes something readable: numpy and torch scalars their Python value, small arrays lists,
non-finite floats the strings ``"nan"``, ``"inf"`` and ``"-inf"`` (which ``float()`` reads back),
and any other object its (shortened) ``repr``. numpy and torch are recognised by their module
name, so neither is imported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_INT64 = 2**63
MAX_STRING = 10_000  # characters kept of a string or repr in result.json
MAX_ITEMS = 1_000  # items kept of a list or dict
MAX_DEPTH = 20
MAX_ARRAY = 1_000  # arrays with more elements are described, not listed
_ARRAY_MODULES = ("numpy", "torch", "jax", "jaxlib")


def to_jsonable(value: Any) -> Any:
    """``value`` as JSON data for result.json: nested, bounded, never raising."""
    return _convert(value, 0, set())


def metric_value(value: Any, max_string: int = 200) -> Any:
    """A logged value as one JSON scalar for metrics.jsonl: number, boolean, string or null.

    Scalars (numpy, torch, one-element arrays) become numbers; anything else a short string.
    """
    value = _unwrap_scalar(value, squeeze=True)
    out = _scalar(value, max_string)
    return _short_repr(value, max_string) if out is _NOT_SCALAR else out


_NOT_SCALAR = object()


def _scalar(value: Any, max_string: int) -> Any:
    """A JSON scalar (None, bool, int, float, str) as JSON data, or ``_NOT_SCALAR``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, float):
        return value if value - value == 0.0 else _nonfinite(value)  # inf - inf and nan - nan are nan
    if isinstance(value, str):
        return _clean_str(value, max_string)
    return _NOT_SCALAR


def _convert(value: Any, depth: int, active: set[int]) -> Any:
    value = _unwrap_scalar(value)
    scalar = _scalar(value, MAX_STRING)
    if scalar is not _NOT_SCALAR:
        return scalar
    if depth >= MAX_DEPTH:
        return _short_repr(value, MAX_STRING)
    if id(value) in active:
        return f"<circular reference to {type(value).__name__}>"
    array = _array_as_list(value)
    if array is not None:
        return array if isinstance(array, str) else _convert(array, depth + 1, active)
    if isinstance(value, Mapping):
        active.add(id(value))
        try:
            out: dict[str, Any] = {}
            for i, (k, v) in enumerate(value.items()):
                if i >= MAX_ITEMS:
                    out["..."] = f"{len(value) - MAX_ITEMS} more items"
                    break
                key = k if isinstance(k, str) else _short_repr(k, 200)
                out[_clean_str(key, 200)] = _convert(v, depth + 1, active)
            return out
        finally:
            active.discard(id(value))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        active.add(id(value))
        try:
            out_list = [_convert(v, depth + 1, active) for v in items[:MAX_ITEMS]]
        finally:
            active.discard(id(value))
        if len(items) > MAX_ITEMS:
            out_list.append(f"... {len(items) - MAX_ITEMS} more items")
        return out_list
    return _short_repr(value, MAX_STRING)


def _unwrap_scalar(value: Any, squeeze: bool = False) -> Any:
    """numpy/torch/jax scalars (and, with ``squeeze``, one-element arrays) as Python numbers."""
    if type(value).__module__.split(".", 1)[0] not in _ARRAY_MODULES:
        return value
    try:
        shape = tuple(value.shape)
        if shape == () or (squeeze and _prod(shape) == 1):
            return value.item()
    except Exception:
        return value
    return value


def _array_as_list(value: Any) -> list[Any] | str | None:
    """A small numpy array or torch tensor as a list; a large one as a description."""
    if type(value).__module__.split(".", 1)[0] not in _ARRAY_MODULES or not hasattr(value, "tolist"):
        return None
    try:
        size = _prod(tuple(value.shape))
        if size > MAX_ARRAY:
            return f"{type(value).__name__}(shape={tuple(value.shape)}, dtype={value.dtype})"
        out = value.tolist()
    except Exception:
        return None
    return out if isinstance(out, list) else [out]


def _nonfinite(x: float) -> str:
    return "nan" if x != x else ("inf" if x > 0 else "-inf")


def _prod(shape: Iterable[int]) -> int:
    """``math.prod``, without loading the math module into every run for it."""
    n = 1
    for d in shape:
        n *= d
    return n


def _clean_str(s: str, limit: int) -> str:
    if len(s) > limit:
        s = s[:limit] + f"... ({len(s) - limit} more characters)"
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: JSON encoders refuse them
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s


def _short_repr(value: Any, limit: int) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} object; repr failed: {type(exc).__name__}>"
    if not isinstance(text, str):
        text = f"<{type(value).__name__} object>"
    return _clean_str(text, limit)
