"""Reading a run's parameters by key: literal keys, dotted (or ``a:b``) paths into nested dicts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()
"""What :func:`get_param` returns for a key a run does not have."""

_SEPARATORS = ".:"


def get_param(params: Mapping[str, Any], key: str, default: Any = MISSING) -> Any:
    """The value of ``key`` in ``params``; ``default`` when absent.

    A literal key wins (lagom's flat ``"network.lr"``); otherwise the key is a path into nested
    dicts, split at ``.`` or ``:`` (spinningup's ``ac_kwargs:hidden``), so ``get_param(p,
    "model.name")`` reads ``p["model"]["name"]``.
    """
    if key in params:
        return params[key]
    for i, ch in enumerate(key):
        if ch in _SEPARATORS:
            head = key[:i]
            sub = params.get(head)
            if isinstance(sub, Mapping):
                found = get_param(sub, key[i + 1 :], MISSING)
                if found is not MISSING:
                    return found
    return default


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists kept)."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def hashable(value: Any) -> Any:
    """A dict key standing for a JSON value: lists become tuples, dicts sorted item tuples."""
    if isinstance(value, list):
        return tuple(hashable(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((k, hashable(v)) for k, v in value.items()))
    return value


def same_value(a: Any, b: Any) -> bool:
    """Equality of JSON values, with NaN equal to NaN (a swept NaN is still one value)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def equal_except(a: Mapping[str, Any], b: Mapping[str, Any], ignore: Iterable[str] = ()) -> bool:
    """Whether two parameter dicts are equal on every (flattened) key but those under ``ignore``."""
    skip = tuple(ignore)
    fa, fb = flatten(a), flatten(b)

    def ignored(k: str) -> bool:
        return any(k == s or k.startswith(s + ".") for s in skip)

    keys = {k for k in (*fa, *fb) if not ignored(k)}
    return all(k in fa and k in fb and same_value(fa[k], fb[k]) for k in keys)


def varying_keys(params: Sequence[Mapping[str, Any]]) -> list[str]:
    """Flattened keys whose value differs between the given parameter dicts, in first-seen order."""
    flats = [flatten(p) for p in params]
    order: dict[str, None] = {}
    for f in flats:
        order.update(dict.fromkeys(f))
    out = []
    for k in order:
        first = flats[0].get(k, MISSING)
        if any(not same_value(f.get(k, MISSING), first) for f in flats[1:]):
            out.append(k)
    return out


def format_value(value: Any) -> str:
    """A short text for a parameter or score in tables and legends."""
    if value is MISSING or value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)
