"""spinningup-style grids: ``ExperimentGrid`` with ``add(key, vals, shorthand, in_name)``."""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from orchestra.errors import SpaceError
from orchestra.space.variant import Draft, Variant, finalize

_VALID = set(string.ascii_letters + string.digits)
_VALID_NAME = set("-_" + string.ascii_letters + string.digits)


def default_shorthand(key: str) -> str:
    """spinningup's shorthand: first three characters of each ``:`` part, alphanumerics kept."""
    return "-".join("".join(c for c in part[:3] if c in _VALID) for part in key.split(":"))


def valid_str(v: Any) -> str:
    """spinningup's value text for names: ``0.001`` -> ``0-001``, ``[64, 64]`` -> ``64-64``."""
    if hasattr(v, "__name__"):
        return valid_str(v.__name__)
    if isinstance(v, (tuple, list)):
        return "-".join(valid_str(x) for x in v)
    s = str(v).lower()
    return "".join(c if c in _VALID_NAME else "-" for c in s)


class ExperimentGrid:
    """A grid of experiments, as spinningup's ``ExperimentGrid``.

    Keys added first vary slowest; ``a:b:c`` keys build nested dicts; ``variant_name`` makes
    spinningup's names (``name_lr0-001_hid64-64``). Unlike spinningup, a key added twice is an
    error rather than a silent override, a key that is both a value and a parent (``a`` and
    ``a:b``) is refused when it is added, and a dict-valued key's sub-keys are merged into a copy
    of the dict rather than into the user's object.

    >>> eg = ExperimentGrid("ppo"); eg.add("lr", [0.1, 0.01], "lr"); eg.variants()[1].name
    'ppo_lr0-01'
    """

    def __init__(self, name: str = "") -> None:
        self.keys: list[str] = []
        self.vals: list[list[Any]] = []
        self.shs: list[str | None] = []
        self.in_names: list[bool] = []
        self.name(name)

    def name(self, _name: str) -> None:
        """Set the grid's name, the start of every variant name."""
        if not isinstance(_name, str):
            raise SpaceError(f"ExperimentGrid name must be a string, got {type(_name).__name__}")
        self._name = _name

    def add(self, key: str, vals: Any, shorthand: str | None = None, in_name: bool = False) -> None:
        """Add a parameter: ``vals`` is a list of values (anything else is one value)."""
        if not isinstance(key, str) or not key:
            raise SpaceError(f"ExperimentGrid.add: key must be a non-empty string, got {key!r}")
        if shorthand is not None and not isinstance(shorthand, str):
            raise SpaceError(f"ExperimentGrid.add({key!r}): shorthand must be a string or None")
        if not isinstance(vals, list):
            vals = [vals]
        if not vals:
            raise SpaceError(f"ExperimentGrid key {key!r}: the list of values is empty")
        self._check_collision(key)
        self.keys.append(key)
        self.vals.append(vals)
        self.shs.append(default_shorthand(key) if shorthand is None else shorthand)
        self.in_names.append(in_name)

    def _check_collision(self, key: str) -> None:
        for old in self.keys:
            if old == key:
                raise SpaceError(
                    f"ExperimentGrid key {key!r} is added twice; give all its values in one add()"
                )
            parent_holds_dicts = key.startswith(old + ":") and all(
                isinstance(v, Mapping) for v in self.vals[self.keys.index(old)]
            )
            if (key.startswith(old + ":") or old.startswith(key + ":")) and not parent_holds_dicts:
                raise SpaceError(
                    f"ExperimentGrid keys {old!r} and {key!r} collide: one would hold a value and a dict "
                    "at once (You can't assign multiple values to the same key.)"
                )

    def __len__(self) -> int:
        n = 1
        for v in self.vals:
            n *= len(v)
        return n

    def flat_variants(self) -> list[dict[str, Any]]:
        """Variants as flat dicts keyed by the added keys; the last added key varies fastest."""
        return _product(zip(self.keys, self.vals))

    @property
    def seeds(self) -> list[Any] | None:
        """The values of a ``seed`` key, which orchestra runs as the sweep's seeds (None without one)."""
        return list(self.vals[self.keys.index("seed")]) if "seed" in self.keys else None

    def variants(self) -> list[Variant]:
        """The variants without the ``seed`` key: in orchestra a run is (variant, seed)."""
        flats = _product((k, v) for k, v in zip(self.keys, self.vals) if k != "seed")
        named = self._named_keys()
        # a dict-valued key that took a:b sub-keys shows the merged dict, as in spinningup
        merged = any(o.startswith(k + ":") for k in self.keys for o in self.keys)
        texts: dict[int, str] = {}
        drafts = []
        for flat in flats:
            nested = unflatten(flat)
            value_of = (lambda k, n=nested: get_val(n, k)) if merged else flat.__getitem__
            drafts.append(Draft(nested, _compose(self._name, named, value_of, texts)))
        return finalize(drafts, default_name=self._name or "default")

    def nested_variants(self) -> list[dict[str, Any]]:
        """spinningup's ``variants()``: nested dicts built from ``a:b`` keys."""
        return [unflatten(f) for f in self.flat_variants()]

    def variant_name(self, variant: Mapping[str, Any]) -> str:
        """spinningup's name of a variant: the grid name plus each varying parameter's shorthand+value."""
        return _compose(self._name, self._named_keys(), lambda k: get_val(variant, k), {})

    def _named_keys(self) -> list[tuple[str, str, bool]]:
        """``(key, shown shorthand, bool-only)`` of each parameter that goes into names, in add order."""
        return [
            (k, valid_str(sh if sh is not None else k), all(isinstance(x, bool) for x in v))
            for k, v, sh, inn in zip(self.keys, self.vals, self.shs, self.in_names)
            if (len(v) > 1 or inn) and k != "seed"
        ]

    def overridable(self) -> dict[str, list[Any] | None]:
        """Each key as added (``seed`` is the sweep's seeds), with its values."""
        return {k: list(v) for k, v in zip(self.keys, self.vals) if k != "seed"}

    def overridden(self, key: str, values: list[Any], *, sweep: bool, add: bool = False) -> ExperimentGrid:
        """A copy with ``key``'s values replaced (a key that was in names stays in them), or added."""
        new = ExperimentGrid(self._name)
        new.keys, new.vals, new.shs, new.in_names = (
            list(self.keys),
            list(self.vals),
            list(self.shs),
            list(self.in_names),
        )
        if add:
            new.add(key, list(values))
            return new
        i = new.keys.index(key)
        new.in_names[i] = new.in_names[i] or len(new.vals[i]) > 1
        new.vals[i] = list(values)
        return new

    def print(self) -> None:
        """Print the grid as spinningup does (without its colours): keys, shorthands, values, counts."""
        line = "=" * 80
        print(line)
        msg = f"ExperimentGrid [{self._name}] runs over parameters:\n"
        if len(msg) > 80:
            msg = f"ExperimentGrid [{self._name}]\n runs over parameters:\n"
        print(msg)
        for k, v, sh in zip(self.keys, self.vals, self.shs):
            print("", k.ljust(40), "[" + sh + "]" if sh is not None else "", "\n")
            for val in v:
                print("\t" + str(shown(val)))
            print()
        total = len(self)
        seeds = self.seeds
        print(" Variants, counting seeds: ".ljust(40), total)
        print(" Variants, not counting seeds: ".ljust(40), total // len(seeds) if seeds else total)
        print()
        print(line)


def _compose(
    name: str, named: list[tuple[str, str, bool]], value_of: Callable[[str], Any], texts: dict[int, str]
) -> str:
    """spinningup's name: ``_<shorthand><value>`` per parameter, bare ``_<shorthand>`` for a true bool.

    ``texts`` caches value texts by identity over one expansion (the values must outlive it).
    """
    for k, param, bools in named:
        val = value_of(k)
        if bools:
            if val:
                name += "_" + param
            continue
        text = texts.get(id(val))
        if text is None:
            text = texts[id(val)] = valid_str(val)
        name += "_" + param + text
    return name.lstrip("_")


def _product(axes: Iterable[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{}]
    for key, vals in axes:
        out = [{**pre, key: v} for pre in out for v in vals]
    return out


def shown(value: Any) -> Any:
    """A value as spinningup's ``convert_json`` shows it: JSON as is, functions by name, objects by fields."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError, OverflowError):
        pass
    if isinstance(value, Mapping):
        return {shown(k): shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shown(v) for v in value]
    name = getattr(value, "__name__", None)
    if isinstance(name, str) and "lambda" not in name:
        return name
    fields = getattr(value, "__dict__", None)
    if fields:
        return {str(value): shown(fields)}
    return str(value)


def get_val(v: Mapping[str, Any], k: str) -> Any:
    """Value of ``a:b:c`` in a nested variant (the literal key is tried first, as spinningup)."""
    if k in v:
        return v[k]
    head, _, rest = k.partition(":")
    return get_val(v[head], rest)


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{'a:b': 1, 'a:c': 2}`` -> ``{'a': {'b': 1, 'c': 2}}``, splitting at the first colon."""
    out: dict[str, Any] = {}
    subs: dict[str, dict[str, Any]] = {}
    for k, v in flat.items():
        if ":" in k:
            head, rest = k.split(":", 1)
            subs.setdefault(head, {})[rest] = v
            out.setdefault(head, None)
        else:
            out[k] = v
    for head, sub in subs.items():
        # a dict-valued key gets its sub-keys merged into a copy (spinningup mutated the original)
        base = out[head] if isinstance(out[head], Mapping) else {}
        out[head] = {**base, **unflatten(sub)}
    return out
