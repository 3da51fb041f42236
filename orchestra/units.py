"""Parsing and printing of durations and byte sizes, as users write them."""

from __future__ import annotations

import math
import re

from orchestra.errors import UserError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min|h|hr|d)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}

_BYTES = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_BYTE_UNITS = {
    "b": 1,
    "k": 1000, "kb": 1000, "ki": 1024, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mi": 1024**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gi": 1024**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "ti": 1024**4, "tib": 1024**4,
}  # fmt: skip


def parse_duration(value: str | float | int | None, what: str = "duration") -> float | None:
    """Seconds from ``90``, ``"90s"``, ``"30m"``, ``"2h"``, ``"1.5d"``; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UserError(f"{what}: {value!r} is not a duration; write e.g. '90s', '30m' or '2h'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise UserError(f"{what}: {value!r} is not a duration; write e.g. '90s', '30m' or '2h'")
        seconds = float(m.group(1)) * _DURATION_UNITS[(m.group(2) or "s").lower()]
    if not 0 < seconds < math.inf:  # NaN too
        raise UserError(f"{what}: must be a positive number of seconds, got {value!r}")
    return seconds


def parse_bytes(value: str | int | float | None, what: str = "size") -> int | None:
    """Bytes from ``"6GiB"``, ``"6GB"``, ``"512MiB"``, ``"1.5g"`` or a number; None stays None.

    Suffixes with ``i`` are binary (GiB = 2**30), without are decimal (GB = 10**9).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise UserError(f"{what}: {value!r} is not a size; write e.g. '6GiB' or '512MiB'")
    if isinstance(value, (int, float)):
        n = float(value)
    else:
        m = _BYTES.match(str(value))
        if not m:
            raise UserError(f"{what}: {value!r} is not a size; write e.g. '6GiB' or '512MiB'")
        n = float(m.group(1)) * _BYTE_UNITS[(m.group(2) or "b").lower()]
    if not 0 < n < math.inf:  # NaN too
        raise UserError(f"{what}: must be a positive number of bytes, got {value!r}")
    return int(n)


def format_bytes(n: float) -> str:
    """``6442450944`` -> ``6.0GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}TiB"


def format_duration(seconds: float | None) -> str:
    """``3725`` -> ``1h02m``, ``75`` -> ``1m15s``, ``9.5`` -> ``9.5s``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
