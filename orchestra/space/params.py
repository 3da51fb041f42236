"""The building blocks of a config: values to sweep, to draw, to derive, or to vary together."""

from __future__ import annotations

import hashlib
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson

from orchestra.errors import SpaceError


class Grid(list):
    """Values to sweep over; every combination of all Grids is one variant.

    A ``list`` subclass, as in lagom: ``Grid([1e-3, 1e-4])``. A plain list is a fixed value.
    """


class Sample:
    """A value drawn afresh for every variant: ``Sample(lambda: 10 ** random.uniform(-4, -2))``.

    Draws happen once, at plan time, and are recorded in ``sweep.json``; resuming a sweep never
    draws again. When orchestra plans a sweep the draws are reproducible: Python's ``random`` and
    numpy's global generator are seeded for each config from the sweep's ``sample_seed`` (by
    default derived from the sweep's name), that config's Grid values and its repetition number
    (``num_sample``), so ``orchestra up --dry-run`` shows the draws the run will use, two dry runs
    agree, and narrowing a Grid with an override keeps the surviving variants' draws. The global
    generators are restored afterwards. ``Config.make_configs()`` (lagom's own API, and so
    ``orchestra.compat.lagom``) keeps lagom's behaviour: it draws from the generators as they are,
    afresh on every call.
    """

    def __init__(self, f: Callable[[], Any]) -> None:
        if not callable(f):
            raise SpaceError(f"Sample needs a function of no arguments, got {type(f).__name__}")
        self.f = f

    def __call__(self) -> Any:
        return self.f()

    def __repr__(self) -> str:
        return f"Sample({getattr(self.f, '__qualname__', self.f)!r})"


def derive_seed(*parts: Any) -> int:
    """A seed for numpy and ``random`` (below 2**32) from JSON-able parts, equal on every machine."""
    digest = hashlib.sha256(orjson.dumps(list(parts), option=orjson.OPT_SORT_KEYS)).digest()
    return int.from_bytes(digest[:4], "big")


@contextmanager
def seeded_draws(seed: int) -> Iterator[None]:
    """Seed Python's ``random`` and numpy's global generator (when numpy is imported), then restore them."""
    state = random.getstate()
    np = sys.modules.get("numpy")
    np_state = np.random.get_state() if np is not None else None
    random.seed(seed)
    if np is not None:
        np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)
        if np is not None:
            np.random.set_state(np_state)


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
