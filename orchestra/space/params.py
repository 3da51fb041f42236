"""The building blocks of a config: values to sweep, to draw, to derive, or to vary together."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from orchestra.errors import SpaceError


class Grid(list):
    """Values to sweep over; every combination of all Grids is one variant.

    A ``list`` subclass, as in lagom: ``Grid([1e-3, 1e-4])``. A plain list is a fixed value.
    """


class Sample:
    """A value drawn afresh for every variant: ``Sample(lambda: 10 ** random.uniform(-4, -2))``.

    Draws happen once, at plan time, and are recorded in ``sweep.json``; resuming a sweep never
    draws again.
    """

    def __init__(self, f: Callable[[], Any]) -> None:
        if not callable(f):
            raise SpaceError(f"Sample needs a function of no arguments, got {type(f).__name__}")
        self.f = f

    def __call__(self) -> Any:
        return self.f()

    def __repr__(self) -> str:
        return f"Sample({getattr(self.f, '__qualname__', self.f)!r})"


class Condition:
    """A value computed from the rest of the finished config: ``Condition(lambda c: 2 * c['hidden'])``."""

    def __init__(self, f: Callable[[dict[str, Any]], Any]) -> None:
        if not callable(f):
            raise SpaceError(f"Condition needs a function of the config, got {type(f).__name__}")
        self.f = f

    def __call__(self, config: dict[str, Any]) -> Any:
        return self.f(config)

    def __repr__(self) -> str:
        return f"Condition({getattr(self.f, '__qualname__', self.f)!r})"


class Zip:
    """Values of several keys that vary together, one sweep axis instead of a product.

    Write it under a tuple of keys::

        Config({("lr", "batch_size"): Zip([1e-3, 3e-4], [32, 64]), "env": Grid(["a", "b"])})

    gives 4 variants: (1e-3, 32) and (3e-4, 64), each with both envs. ``Zip(lr=[...], batch_size=[...])``
    is the same under any tuple key naming those keys.
    """

    def __init__(self, *columns: Iterable[Any], **named: Iterable[Any]) -> None:
        if columns and named:
            raise SpaceError("Zip takes either lists by position or keyword lists, not both")
        self.names: tuple[str, ...] | None = tuple(named) if named else None
        cols = [list(c) for c in (named.values() if named else columns)]
        if not cols:
            raise SpaceError("Zip needs at least one list of values")
        lengths = {len(c) for c in cols}
        if len(lengths) != 1:
            raise SpaceError(f"Zip lists must have equal lengths, got {sorted(len(c) for c in cols)}")
        self.columns = cols

    def __len__(self) -> int:
        return len(self.columns[0])

    def points(self, keys: tuple[str, ...]) -> list[dict[str, Any]]:
        """One dict per position: ``[{keys[0]: col0[i], keys[1]: col1[i]}, ...]``."""
        label = ", ".join(keys)
        if self.names is not None and set(self.names) != set(keys):
            raise SpaceError(
                f"config key ({label}): Zip names {list(self.names)} differ from the key's names"
            )
        if len(keys) != len(self.columns):
            raise SpaceError(f"config key ({label}): {len(keys)} names but Zip has {len(self.columns)} lists")
        cols: Mapping[str, list[Any]] = (
            dict(zip(self.names, self.columns)) if self.names else dict(zip(keys, self.columns))
        )
        return [{k: cols[k][i] for k in keys} for i in range(len(self))]

    def __repr__(self) -> str:
        return f"Zip({', '.join(map(repr, self.columns))})"
