"""A variant is one resolved config of a sweep; a space is anything that lists variants."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from orchestra.errors import SpaceError
from orchestra.space.naming import unique_names
from orchestra.space.values import content_hash, to_json_value


@dataclass(frozen=True, eq=False)
class Variant:
    """One config of a sweep.

    ``index`` is its position (0..n-1) in enumeration order, ``params`` the resolved config (plain
    JSON data), ``name`` a readable, filesystem-safe name unique within the sweep, ``key`` a content
    hash of ``params``, and ``sampled`` the keys whose values were drawn by ``Sample``.
    """

    index: int
    params: Mapping[str, Any]
    name: str
    key: str
    sampled: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "key": self.key,
            "params": self.params,
            "sampled": list(self.sampled),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Variant:
        return cls(d["index"], d["params"], d["name"], d["key"], tuple(d.get("sampled", ())))

    def masked(self) -> str:
        """Its identity without its Sample draws: what the sweep file (and the overrides) decide."""
        fixed = {k: val for k, val in self.params.items() if k not in self.sampled}
        return content_hash({"params": fixed, "sampled": sorted(self.sampled)})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Variant) and (self.index, self.key, self.name) == (
            other.index,
            other.key,
            other.name,
        )

    def __hash__(self) -> int:
        return hash((self.index, self.key, self.name))


@dataclass(frozen=True)
class Draft:
    """What a space front-end proposes for one variant before names are made unique."""

    params: Mapping[str, Any]
    name: str
    sampled: tuple[str, ...] = ()


@runtime_checkable
class Space(Protocol):
    """Anything that can list its variants (Config, ExperimentGrid, Description, ...)."""

    def variants(self) -> list[Variant]: ...


def finalize(drafts: Sequence[Draft], *, default_name: str = "default") -> list[Variant]:
    """Check every config is JSON data, hash it, and give each variant a unique name."""
    if not drafts:
        raise SpaceError("the sweep space has no variants")
    params = [to_json_value(dict(d.params)) for d in drafts]
    keys = [content_hash(p) for p in params]
    names = unique_names([d.name for d in drafts], keys, default=default_name)
    return [
        Variant(i, p, n, k, tuple(d.sampled))
        for i, (d, p, n, k) in enumerate(zip(drafts, params, names, keys))
    ]


def varying_keys(configs: Iterable[Mapping[str, Any]]) -> list[str]:
    """Top-level keys whose value differs between configs, in first-seen order."""
    configs = list(configs)
    order: dict[str, None] = {}
    for c in configs:
        order.update(dict.fromkeys(c))
    out = []
    for k in order:
        first = configs[0].get(k, _MISSING)
        if any(c.get(k, _MISSING) != first for c in configs[1:]):
            out.append(k)
    return out


_MISSING = object()


class VariantList:
    """A space given as explicit configs: ``[{"lr": 1e-3}, {"lr": 1e-4}]``."""

    def __init__(self, configs: Iterable[Mapping[str, Any]]) -> None:
        self.configs = list(configs)
        for i, c in enumerate(self.configs):
            if not isinstance(c, Mapping):
                raise SpaceError(f"config #{i} of the sweep list is a {type(c).__name__}, not a dict")

    def variants(self) -> list[Variant]:
        from orchestra.space.naming import params_name

        keys = varying_keys(self.configs)
        return finalize([Draft(c, params_name(c, keys)) for c in self.configs])

    def overridable(self) -> dict[str, list[Any] | None]:
        """Every key of the configs, with the values they take."""
        return dict(self._values())

    def _values(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for c in self.configs:
            for k, v in c.items():
                values = out.setdefault(k, [])
                if not any(v == x and type(v) is type(x) for x in values):
                    values.append(v)
        return out

    def overridden(self, key: str, values: list[Any], *, sweep: bool, add: bool = False) -> VariantList:
        """The configs whose ``key`` is one of ``values``: a list of configs can only be narrowed."""
        have = self._values().get(key, [])
        missing = [v for v in values if not any(v == x and type(v) is type(x) for x in have)]
        if add or missing:
            shown = ", ".join(map(repr, have))
            raise SpaceError(f"a list of configs can only be narrowed to values it has ({key}: {shown})")
        kept = [
            c
            for c in self.configs
            if key in c and any(c[key] == v and type(c[key]) is type(v) for v in values)
        ]
        return VariantList(kept)


def as_space(obj: Any) -> Space:
    """Accept a space, a list of config dicts, or one config dict.

    An object whose ``variants()`` means something else (the compat adapters keep their seed
    library's meaning) offers its space through ``__orchestra_space__()`` instead.
    """
    adapter = getattr(type(obj), "__orchestra_space__", None)
    if adapter is not None:
        return as_space(adapter(obj))
    if isinstance(obj, Space):
        return obj
    if isinstance(obj, Mapping):
        from orchestra.space.config import Config

        return Config(dict(obj))
    if isinstance(obj, (list, tuple)):
        return VariantList(obj)
    raise SpaceError(
        f"a sweep space must be a Config, an ExperimentGrid, a Description, or a list of dicts; "
        f"got {type(obj).__name__}"
    )
