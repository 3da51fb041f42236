"""Config values: what may be written as JSON, and a stable content hash.

A run's config travels to its process as ``config.json``, so every value must survive a JSON round
trip. :func:`to_json_value` checks that once, at plan time, and names the offending key when it
does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from orchestra.errors import ConfigValueError

JSONValue = Any
_INT64 = 2**63


def to_json_value(value: Any, key: str = "") -> JSONValue:
    """Return ``value`` as plain JSON data (dicts, lists, str, int, float, bool, None).

    Tuples become lists; numpy scalars and subclasses of the plain types (``np.float64``,
    ``IntEnum``) become the plain Python values; anything else that JSON cannot hold raises
    :class:`ConfigValueError` naming ``key`` (dotted for nested values).
    """
    t = type(value)
    # exact types first: a sweep of 100,000 variants converts millions of plain values
    if t is str or t is bool or value is None:
        return value
    if t is float:
        return value if value - value == 0.0 else _not_finite(value, key)
    if t is int:
        return value if -_INT64 <= value < _INT64 else _too_big(value, key)
    if t is dict or isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                if not isinstance(k, str):
                    raise ConfigValueError(
                        f"config key {_join(key, repr(k))!r}: dict keys must be strings to be written as JSON"
                    )
                k = str.__str__(k)
            tv = type(v)
            plain = (
                tv is str
                or tv is bool
                or v is None
                or (tv is float and v - v == 0.0)
                or (tv is int and -_INT64 <= v < _INT64)
            )
            out[k] = v if plain else to_json_value(v, _join(key, k))
        return out
    if t is list or t is tuple or isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return to_json_value(int(value), key)
    if isinstance(value, float):
        return to_json_value(float(value), key)
    item = _numpy_scalar(value)
    if item is not None:
        return to_json_value(item, key)
    what = getattr(value, "__qualname__", None) or type(value).__qualname__
    raise ConfigValueError(
        f"config key {key!r}: {what} ({type(value).__name__}) cannot be written as JSON; "
        "use a string or number and build the object inside the run"
    )


def _not_finite(value: float, key: str) -> Any:
    raise ConfigValueError(
        f"config key {key!r}: {value!r} cannot be written as JSON; use None or a string such as 'inf'"
    )


def _too_big(value: int, key: str) -> Any:
    raise ConfigValueError(f"config key {key!r}: integer {value} does not fit in 64 bits for JSON")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _numpy_scalar(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    return None


def content_hash(params: Mapping[str, Any]) -> str:
    """A stable 16-hex-digit hash of JSON data: equal configs hash equal on every machine."""
    data = orjson.dumps(params, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()[:16]
