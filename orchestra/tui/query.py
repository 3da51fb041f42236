"""The run table's filter: ``/`` then words that must all match.

- ``text``: part of the run's id (``variant/seed``), any case.
- ``state:failed`` (a prefix is enough: ``state:f``; several with commas: ``state:failed,cancelled``).
- ``gpu:1``: runs placed on GPU 1 (commas for several; ``gpu:none`` for CPU-only runs).
- ``seed:0``: runs with that seed (commas for several).
- ``lr=3e-4``: runs whose parameter ``lr`` equals the value; numbers compare as numbers (``3e-4``
  matches ``0.0003``), other values as text, any case.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestra.scheduler.table import RunRow

Test = Callable[[RunRow], bool]


@dataclass(frozen=True)
class RunQuery:
    """A parsed filter; ``matches(row)`` is true when every word matches."""

    text: str
    tests: tuple[Test, ...]

    @classmethod
    def parse(cls, text: str) -> RunQuery:
        return cls(text, tuple(_term(word) for word in text.split()))

    def __bool__(self) -> bool:
        return bool(self.tests)

    def matches(self, row: RunRow) -> bool:
        return all(test(row) for test in self.tests)


def _term(word: str) -> Test:
    if "=" in word:
        key, _, value = word.partition("=")
        if key:
            return _param_equals(key, value)
    field, sep, value = word.partition(":")
    if sep and field.lower() in _FIELDS and value:
        return _FIELDS[field.lower()]([v for v in value.lower().split(",") if v])
    needle = word.lower()
    return lambda row: needle in row.id.lower()


def _state_in(values: list[str]) -> Test:
    return lambda row: any(row.state.value.startswith(v) for v in values)


def _gpu_in(values: list[str]) -> Test:
    wanted = {v for v in values if v != "none"}
    cpu = "none" in values

    def test(row: RunRow) -> bool:
        if not row.gpus:
            return cpu
        return any(str(g.get("index")) in wanted for g in row.gpus)

    return test


def _seed_in(values: list[str]) -> Test:
    return lambda row: str(row.seed) in values


_FIELDS: dict[str, Callable[[list[str]], Test]] = {"state": _state_in, "gpu": _gpu_in, "seed": _seed_in}


def _param_equals(key: str, text: str) -> Test:
    number = _number(text)

    def test(row: RunRow) -> bool:
        value = _lookup(row.params, key)
        if value is _MISSING:
            return False
        if number is not None and not isinstance(value, bool) and isinstance(value, (int, float)):
            return math.isclose(float(value), number, rel_tol=1e-9, abs_tol=0.0)
        return str(value).lower() == text.lower()

    return test


_MISSING = object()


def _lookup(params: Mapping[str, Any], key: str) -> Any:
    """``params[key]``, or a nested value for ``a:b`` / ``a.b`` keys written against nested dicts."""
    if key in params:
        return params[key]
    for sep in (":", "."):
        if sep in key:
            value: Any = params
            for part in key.split(sep):
                if not isinstance(value, Mapping) or part not in value:
                    break
                value = value[part]
            else:
                return value
    return _MISSING


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
