"""Human-readable, filesystem-safe, length-bounded variant names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from orchestra.pathnames import check_path_component as check_path_component  # moved; kept importable here

MAX_NAME = 96
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def format_value(value: Any) -> str:
    """A short text for a config value in a name: ``0.0003`` -> ``0.0003``, ``[64, 64]`` -> ``64-64``."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "-".join(format_value(v) for v in value)
    if isinstance(value, Mapping):
        return "-".join(f"{k}.{format_value(v)}" for k, v in value.items())
    return str(value)


def sanitize(text: str) -> str:
    """Replace every run of characters outside ``[A-Za-z0-9._=+-]`` with ``-``; never ``.``/``..``."""
    safe = _UNSAFE.sub("-", text).strip("-")
    if safe.startswith("."):
        safe = "_" + safe
    return safe


def bound(name: str, digest: str, limit: int = MAX_NAME) -> str:
    """Cut ``name`` to ``limit`` characters, keeping it unique by a digest suffix when cut."""
    if len(name) <= limit:
        return name
    suffix = "~" + digest[:8]
    return name[: limit - len(suffix)].rstrip("-_.=") + suffix


def params_name(params: Mapping[str, Any], keys: Iterable[str], texts: dict[int, str] | None = None) -> str:
    """``key=value`` pairs of the given keys joined by ``_``, before sanitising.

    ``texts`` caches each value's text by identity across one expansion, where the same Grid
    values recur in thousands of variants; the values must outlive it.
    """
    parts = []
    for k in keys:
        if k in params:
            v = params[k]
            if texts is None:
                parts.append(f"{k}={format_value(v)}")
                continue
            text = texts.get(id(v))
            if text is None:
                text = texts[id(v)] = format_value(v)
            parts.append(f"{k}={text}")
    return "_".join(parts)


def unique_names(proposals: list[str], digests: list[str], *, default: str = "default") -> list[str]:
    """Sanitise and bound each proposal, then make them unique within the list.

    A name that two variants share gets the variant's digest appended; variants with identical
    content (and so identical digests) get their position appended as well.
    """
    fallback = sanitize(default) or "default"
    names = [bound(sanitize(p) or fallback, d) for p, d in zip(proposals, digests)]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    out: list[str] = []
    taken: set[str] = set()
    for i, (n, d) in enumerate(zip(names, digests)):
        if seen[n] > 1:
            n = bound(n, d, MAX_NAME - 9) + "~" + d[:8]
        if n in taken:
            n = bound(n, d, MAX_NAME - 8) + f"~{i}"
        taken.add(n)
        out.append(n)
    return out
