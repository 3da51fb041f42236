"""lagom-style configs: a dict whose values may be ``Grid``, ``Sample``, ``Condition`` or ``Zip``."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from orchestra.errors import SpaceError
from orchestra.space.naming import params_name
from orchestra.space.params import Condition, Grid, Sample, Zip, derive_seed, seeded_draws
from orchestra.space.values import to_json_value
from orchestra.space.variant import Draft, Variant, finalize

Key = str | tuple[str, ...]


class Config:
    """A sweep space written as one dict, lagom's way.

    ``Grid`` values are swept (the last Grid key varies fastest), ``Sample`` values are drawn once
    per config, ``Condition`` values are computed from the finished config, ``Zip`` under a tuple
    key varies several keys together, and anything else is fixed. With ``num_sample=n`` the whole
    grid is repeated ``n`` times, each time with fresh draws (only when there is a Sample).

    >>> Config({"lr": Grid([0.1, 0.01]), "layers": Grid([1, 2])}).make_configs()[1]
    {'ID': 1, 'lr': 0.1, 'layers': 2}
    """

    def __init__(self, items: Mapping[Key, Any], num_sample: int = 1, keep_dict_order: bool = False) -> None:
        if not isinstance(items, Mapping):
            raise SpaceError(f"Config needs a dict of config keys, got {type(items).__name__}")
        if isinstance(num_sample, bool) or not isinstance(num_sample, int) or num_sample < 1:
            raise SpaceError(f"Config num_sample must be a positive integer, got {num_sample!r}")
        self.items = dict(items)
        self.keep_dict_order = keep_dict_order
        self.keys_grid: list[Key] = []
        self.keys_sample: list[str] = []
        self.keys_fixed: list[str] = []
        for key, value in self.items.items():
            if isinstance(key, tuple):
                if not isinstance(value, Zip):
                    raise SpaceError(f"config key {key!r}: a tuple of keys needs a Zip value")
                for k in key:
                    _check_key(k)
                self.keys_grid.append(key)
                continue
            _check_key(key)
            if isinstance(value, Zip):
                raise SpaceError(f"config key {key!r}: a Zip goes under a tuple of the keys it sets")
            if isinstance(value, Grid):
                self.keys_grid.append(key)
            elif isinstance(value, Sample):
                self.keys_sample.append(key)
            else:
                self.keys_fixed.append(key)
        flat = [k for key in self.items for k in (key if isinstance(key, tuple) else (key,))]
        dupes = sorted({k for k in flat if flat.count(k) > 1})
        if dupes:
            raise SpaceError(f"config key {dupes[0]!r} is set twice (once inside a Zip tuple key)")
        # lagom: without a Sample there is nothing to repeat
        self.num_sample = num_sample if self.keys_sample else 1

    def _axes(self) -> list[list[dict[str, Any]]]:
        axes = []
        for key in self.keys_grid:
            value = self.items[key]
            if isinstance(key, tuple):
                axes.append(value.points(key))
            else:
                axes.append([{key: v} for v in value])
        return axes

    def _build(self, *, check: bool, sample_seed: int | None = None) -> list[dict[str, Any]]:
        axes = self._axes()
        if check:
            for key, axis in zip(self.keys_grid, axes):
                if not axis:
                    raise SpaceError(f"config key {key!r}: Grid is empty, so the sweep has no variants")
        product = list(itertools.product(*axes))
        fixed = {k: self.items[k] for k in self.keys_fixed}
        samples = [(k, self.items[k]) for k in self.keys_sample]
        order = None
        if self.keep_dict_order:
            order = [k for key in self.items for k in (key if isinstance(key, tuple) else (key,))]
        # Conditions can only come from fixed keys, Grid values or Sample draws
        conditions = bool(samples) or any(
            isinstance(v, Condition)
            for v in (*fixed.values(), *(v for a in axes for p in a for v in p.values()))
        )
        configs = []
        for n in range(len(product) * self.num_sample):
            x: dict[str, Any] = {"ID": n, **fixed}
            for point in product[n % len(product)]:
                x.update(point)
            if samples and sample_seed is not None:
                with seeded_draws(_draw_seed(sample_seed, product[n % len(product)], n // len(product))):
                    for k, f in samples:
                        x[k] = _call(k, f)
            else:
                for k, f in samples:
                    x[k] = _call(k, f)
            if order is not None:
                x = {"ID": n, **{k: x[k] for k in order}}
            if conditions:
                for k, v in x.items():
                    if isinstance(v, Condition):
                        x[k] = _call(k, v, x)
            configs.append(x)
        return configs

    def make_configs(self) -> list[dict[str, Any]]:
        """lagom's list of config dicts, each with an ``'ID'`` first (an empty Grid gives ``[]``)."""
        return self._build(check=False)

    def variants(self, *, sample_seed: int | None = None) -> list[Variant]:
        """The variants, with Sample draws seeded per config from ``sample_seed`` when given."""
        shown: list[str] = []
        for key in self.keys_grid:
            shown.extend(key if isinstance(key, tuple) else (key,))
        shown.extend(self.keys_sample)
        sampled = tuple(self.keys_sample)
        texts: dict[int, str] = {}
        drafts = []
        for params in self._build(check=True, sample_seed=sample_seed):
            del params["ID"]
            drafts.append(Draft(params, params_name(params, shown, texts), sampled))
        return finalize(drafts)

    # -- overrides (orchestra/plan/overrides.py) --------------------------------------------

    def overridable(self) -> dict[str, list[Any] | None]:
        """Each key an override may set, with its values now (None: drawn or computed)."""
        out: dict[str, list[Any] | None] = {}
        for key, value in self.items.items():
            if isinstance(key, tuple):
                for k, column in zip(key, zip(*[p.values() for p in value.points(key)])):
                    out[k] = list(column)
            elif isinstance(value, Grid):
                out[key] = list(value)
            elif isinstance(value, (Sample, Condition)):
                out[key] = None
            else:
                out[key] = [value]
        return out

    def overridden(self, key: str, values: list[Any], *, sweep: bool, add: bool = False) -> Config:
        """A copy with ``key`` set to ``values``: swept (a Grid) or fixed; a zipped key narrows its Zip.

        A key that was shown in variant names (a Grid or a Sample) stays a Grid, so a narrowed Grid
        keeps its variants' names and draws.
        """
        items = dict(self.items)
        zipped = next((k for k in items if isinstance(k, tuple) and key in k), None)
        if zipped is not None:
            items[zipped] = _narrow_zip(zipped, items[zipped], key, values)
        else:
            shown = isinstance(items.get(key), (Grid, Sample))
            items[key] = Grid(values) if sweep or shown else values[0]
        return Config(items, num_sample=self.num_sample, keep_dict_order=self.keep_dict_order)

    def __repr__(self) -> str:
        return f"Config({self.items!r}, num_sample={self.num_sample})"


def _narrow_zip(keys: tuple[str, ...], zipped: Zip, key: str, values: list[Any]) -> Zip:
    points = zipped.points(keys)
    kept = [p for p in points if any(p[key] == v and type(p[key]) is type(v) for v in values)]
    missing = [v for v in values if not any(p[key] == v and type(p[key]) is type(v) for p in points)]
    if missing:
        have = ", ".join(map(repr, dict.fromkeys(p[key] for p in points)))
        others = ", ".join(k for k in keys if k != key)
        raise SpaceError(
            f"{key!r} is zipped with {others}, so it can only be narrowed to values it has ({have})"
        )
    return Zip(*[[p[k] for p in kept] for k in keys])


def _draw_seed(sample_seed: int, point: tuple[dict[str, Any], ...], repeat: int) -> int:
    """The seed of one config's draws: the sweep's, its Grid values, which repetition it is."""
    values = {k: v for p in point for k, v in p.items() if not isinstance(v, (Condition, Sample))}
    return derive_seed(sample_seed, to_json_value(values), repeat)


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise SpaceError(f"config key {key!r}: keys must be strings, got {type(key).__name__}")
    if not key or "\0" in key:
        raise SpaceError(f"config key {key!r}: keys must be non-empty and free of NUL")
    if key == "ID":
        raise SpaceError("config key 'ID' is reserved: it numbers the configs")


def _call(key: str, f: Sample | Condition, *args: Any) -> Any:
    try:
        return f(*args)
    except Exception as exc:
        kind = type(f).__name__
        raise SpaceError(f"config key {key!r}: {kind} raised {type(exc).__name__}: {exc}") from exc


__all__ = ["Condition", "Config", "Grid", "Sample", "Zip"]
