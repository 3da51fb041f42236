"""``Box``: a space of continuous, integer and categorical dimensions, for a search to explore.

>>> space = Box({"lr": (1e-4, 1e-1, "log"), "gamma": (0.9, 0.999), "layers": (1, 4, "int"),
...              "act": ["relu", "tanh"]}, fixed={"env_id": "CartPole-v1"})

A dimension is written ``(low, high)`` (a float between the two), ``(low, high, "log")`` (a float
drawn on a log scale), ``(low, high, "int")`` or ``(low, high, "log-int")`` (an integer, both ends
included), or a list of choices. ``fixed`` values go into every config unchanged.

The evolution strategies work in the unit cube: each dimension is mapped to ``[0, 1]`` (on a log
scale where asked), so one ``sigma0`` means the same fraction of every range. :meth:`Box.decode`
turns a point of the cube into a config, clipping it into the box; :meth:`Box.encode` goes back.
Pure Python: nothing here imports numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestra.errors import SpaceError
from orchestra.space.values import to_json_value

SCALES = ("linear", "log", "int", "log-int")


class BoxError(SpaceError):
    """A Box that cannot be searched: bounds in the wrong order, a log range through zero, ..."""


@dataclass(frozen=True)
class Dim:
    """One dimension: ``kind`` is ``float``, ``int`` or ``choice``; ``log`` for a log scale."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    def decode(self, u: float) -> Any:
        """The value at ``u`` in ``[0, 1]`` (clipped first)."""
        u = min(1.0, max(0.0, float(u))) if math.isfinite(u) else 0.5
        if self.kind == "choice":
            return self.choices[min(len(self.choices) - 1, int(u * len(self.choices)))]
        if self.kind == "int":  # each integer owns the cell [k, k + 1) of the (log) range
            if self.log:
                lo, hi = math.log(self.low), math.log(self.high + 1)
                return int(min(self.high, max(self.low, math.floor(math.exp(lo + u * (hi - lo))))))
            return int(min(self.high, self.low + math.floor(u * (self.high - self.low + 1))))
        if self.log:
            if u in (0.0, 1.0):
                return self.high if u else self.low
            lo, hi = math.log(self.low), math.log(self.high)
            return min(self.high, max(self.low, math.exp(lo + u * (hi - lo))))
        return self.low + u * (self.high - self.low)

    def encode(self, value: Any) -> float:
        """The point of ``[0, 1]`` that decodes to ``value`` (the middle of an integer's or a choice's cell)."""
        if self.kind == "choice":
            return (self.choices.index(value) + 0.5) / len(self.choices)
        if self.kind == "int" and not self.log:
            return (value - self.low + 0.5) / (self.high - self.low + 1)
        if self.kind == "int":
            lo, hi = math.log(self.low), math.log(self.high + 1)
            return (math.log(value + 0.5) - lo) / (hi - lo)
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and value != int(value):
            return False
        return self.low <= value <= self.high

    def to_json(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"kind": "choice", "choices": list(self.choices)}
        return {"kind": self.kind, "low": self.low, "high": self.high, "log": self.log}

    def describe(self) -> str:
        if self.kind == "choice":
            return f"one of {list(self.choices)}"
        scale = " (log)" if self.log else ""
        return f"{self.kind} in [{self.low:g}, {self.high:g}]{scale}"


class Box:
    """A search space; see the module docstring. ``names`` lists the searched dimensions in order."""

    def __init__(self, dims: Mapping[str, Any], fixed: Mapping[str, Any] | None = None) -> None:
        if not isinstance(dims, Mapping):
            raise BoxError(
                f"Box needs a dict of dimensions, e.g. Box({{'lr': (1e-4, 1e-1, 'log')}}); got {type(dims).__name__}"
            )
        if not dims:
            raise BoxError(
                "Box has no dimension to search; give at least one, e.g. {'lr': (1e-4, 1e-1, 'log')}"
            )
        self.dims: tuple[Dim, ...] = tuple(_dim(name, spec) for name, spec in dims.items())
        fixed = dict(fixed or {})
        for key in fixed:
            if not isinstance(key, str):
                raise BoxError(f"Box fixed key {key!r}: keys must be strings")
            if key in dims:
                raise BoxError(f"Box key {key!r} is both searched and fixed; keep one")
        self.fixed: dict[str, Any] = to_json_value(fixed, "fixed") if fixed else {}

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dims]

    @property
    def continuous(self) -> bool:
        """Every dimension is a number (an evolution strategy can search it)."""
        return all(d.kind != "choice" for d in self.dims)

    def decode(self, point: Sequence[float]) -> dict[str, Any]:
        """The config (fixed values, then the searched ones) at ``point`` of the unit cube."""
        if len(point) != len(self.dims):
            raise ValueError(f"a point of this Box has {len(self.dims)} coordinates, got {len(point)}")
        config = dict(self.fixed)
        for dim, u in zip(self.dims, point):
            config[dim.name] = dim.decode(float(u))
        return config

    def encode(self, config: Mapping[str, Any]) -> list[float]:
        """The unit-cube point of ``config``'s searched values (a start point given in the box's units)."""
        point = []
        for dim in self.dims:
            if dim.name not in config:
                raise BoxError(f"Box start point lacks {dim.name!r}; give a value for every dimension")
            value = config[dim.name]
            if not dim.contains(value):
                raise BoxError(f"Box start point {dim.name}={value!r} is outside {dim.describe()}")
            point.append(dim.encode(value))
        extra = sorted(set(config) - set(self.names))
        if extra:
            raise BoxError(f"Box start point names {extra[0]!r}, which is not a dimension of the Box")
        return point

    def to_json(self) -> dict[str, Any]:
        return {"dims": {d.name: d.to_json() for d in self.dims}, "fixed": self.fixed}

    def variants(self) -> list[Any]:
        """A Box is searched, not listed: it needs ``Sweep(search=...)``."""
        raise BoxError(
            "a Box is searched, not enumerated: give the Sweep a search, e.g. search=RandomSearch(), "
            "with objective=, mode= and budget="
        )

    def __repr__(self) -> str:
        dims = ", ".join(f"{d.name}: {d.describe()}" for d in self.dims)
        return f"Box({dims})"


def _dim(name: Any, spec: Any) -> Dim:
    if not isinstance(name, str) or not name:
        raise BoxError(f"Box dimension {name!r}: names must be non-empty strings")
    if isinstance(spec, list):
        if not spec:
            raise BoxError(f"Box dimension {name!r}: the list of choices is empty")
        choices = tuple(to_json_value(c, name) for c in spec)
        if len(set(map(repr, choices))) != len(choices):
            raise BoxError(f"Box dimension {name!r}: a choice is listed twice")
        return Dim(name, "choice", choices=choices)
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        raise BoxError(
            f"Box dimension {name!r}: write (low, high), (low, high, 'log'), (low, high, 'int') "
            f"or a list of choices; got {spec!r}"
        )
    low, high = spec[0], spec[1]
    scale = spec[2] if len(spec) == 3 else "linear"
    if scale not in SCALES:
        raise BoxError(f"Box dimension {name!r}: scale {scale!r} is not one of {', '.join(SCALES)}")
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            raise BoxError(f"Box dimension {name!r}: bounds must be finite numbers, got {spec!r}")
    if low >= high:
        raise BoxError(f"Box dimension {name!r}: low {low!r} must be below high {high!r}")
    log = scale in ("log", "log-int")
    if log and low <= 0:
        raise BoxError(f"Box dimension {name!r}: a log range needs low > 0, got {low!r}")
    if scale in ("int", "log-int"):
        if low != int(low) or high != int(high):
            raise BoxError(f"Box dimension {name!r}: an integer range needs whole bounds, got {spec!r}")
        return Dim(name, "int", int(low), int(high), log)
    return Dim(name, "float", float(low), float(high), log)
