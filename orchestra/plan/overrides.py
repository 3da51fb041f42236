"""Command-line overrides of a sweep's space, Hydra style: ``lr=0.1,0.01 batch_size=32 +note=try``.

``KEY=VALUE`` sets a key of the space to one value; ``KEY=A,B,C`` (or ``KEY=choice(A,B,C)``, or
``KEY=range(1,5)``) sweeps it over those values; ``+KEY=VALUE`` adds a key the space does not have.
A Grid narrowed to some of its own values keeps those variants as they were (names, draws and
results), and a value equal to one of the space's (``1`` for ``1.0``) takes the space's.

Values parse as Hydra's do: ``1`` int, ``0.1``/``1e-3``/``inf`` float, ``true``/``false`` bool,
``null`` None, ``'a,b'``/``"x y"`` quoted strings, ``[1,2]`` lists, ``{a: 1}`` dicts, anything
else a string (``adam``).

Which keys exist depends on the space: a :class:`~orchestra.space.Config`'s keys (each key of a
``Zip`` too, which narrows the zipped rows), an :class:`~orchestra.space.ExperimentGrid`'s keys as
added (``pi:hidden``), a :class:`~orchestra.space.Description`'s parameters
(``metaParameters.alpha``, or ``alpha`` when it permutes one section), the keys of a list of
configs (which can only be narrowed), and ``seed`` for the sweep's seeds.

The same syntax selects runs: ``--only 'lr=0.1'`` keeps the planned runs whose variant the
narrowed space still has (:func:`select`). docs/cli.md describes what an ``up`` with overrides does
to a sweep that exists already.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from orchestra.errors import SpaceError, UserError, did_you_mean
from orchestra.space.values import to_json_value
from orchestra.space.variant import Space

if TYPE_CHECKING:
    from orchestra.plan.prepare import Reconciled
    from orchestra.sweep import Sweep

SEED = "seed"


class OverrideError(UserError):
    """An override that does not parse, names a key the space lacks, or cannot apply."""


@dataclass(frozen=True)
class Override:
    """One ``[+]KEY=VALUE[,VALUE...]`` as typed, parsed."""

    key: str
    values: tuple[Any, ...]
    sweep: bool  # several values (or choice/range): the key is swept over them
    add: bool  # +KEY: a key the space does not have yet
    text: str

    def identity(self) -> bytes:
        """What the override means, for comparing with a recorded one (``1e-1`` equals ``0.1``)."""
        return orjson.dumps(
            [self.key, self.add, self.sweep, [to_json_value(v, self.key) for v in self.values]]
        )


# ---------------------------------------------------------------------------------------------
# parsing


def parse(text: str, what: str = "override") -> Override:
    """Parse one ``[+]KEY=VALUE``; an :class:`OverrideError` says what is wrong with it."""
    add = text.startswith("+")
    body = text[1:] if add else text
    key, eq, value = body.partition("=")
    key = key.strip()
    if not eq or not key:
        raise OverrideError(f"{what} {text!r}: write KEY=VALUE (e.g. lr=0.1, or lr=0.1,0.01 to sweep)")
    if key.startswith(("~", "+")):
        raise OverrideError(f"{what} {text!r}: deleting keys (~KEY) and forcing (++KEY) are not supported")
    try:
        values, sweep = _Reader(value).sweep()
    except _Syntax as exc:
        raise OverrideError(f"{what} {text!r}: {exc}") from None
    for v in values:
        try:
            to_json_value(v, key)
        except SpaceError as exc:
            raise OverrideError(f"{what} {text!r}: {exc}") from None
    return Override(key, tuple(values), sweep, add, text)


def parse_all(texts: Iterable[str], what: str = "override") -> tuple[Override, ...]:
    """Parse several; a key given twice is a mistake."""
    out = tuple(parse(t, what) for t in texts)
    seen: dict[str, str] = {}
    for o in out:
        if o.key in seen:
            raise OverrideError(f"{what}s {seen[o.key]!r} and {o.text!r} set {o.key!r} twice; give it once")
        seen[o.key] = o.text
    return out


class _Syntax(Exception):
    pass


_INT = re.compile(r"[+-]?(0|[1-9][0-9_]*)")
_FLOAT = re.compile(r"[+-]?((\d[\d_]*)?\.\d[\d_]*|\d[\d_]*\.?)([eE][+-]?\d+)?|[+-]?(inf|nan)", re.IGNORECASE)
_SPECIAL = ",[]{}()'\":"


class _Reader:
    """A small recursive-descent reader of Hydra's value grammar."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def sweep(self) -> tuple[list[Any], bool]:
        self._space()
        if self.i == len(self.text):
            return [""], False  # KEY= sets the empty string, as Hydra does
        func = re.match(r"(choice|range)\s*\(", self.text[self.i :])
        if func:
            self.i += func.end()
            args = self._items(")")
            self._end()
            return (self._range(args) if func.group(1) == "range" else args), True
        other = re.match(r"([A-Za-z_]\w*)\s*\(", self.text[self.i :])
        if other:
            raise _Syntax(f"{other.group(1)}() is not supported; write the values out, e.g. lr=0.1,0.01")
        values = [self.element()]
        while self._peek(","):
            self.i += 1
            values.append(self.element())
        self._end()
        return values, len(values) > 1

    def element(self) -> Any:
        self._space()
        c = self.text[self.i : self.i + 1]
        if c == "[":
            self.i += 1
            return self._items("]")
        if c == "{":
            self.i += 1
            return self._dict()
        if c in ("'", '"'):
            return self._quoted(c)
        start = self.i
        while self.i < len(self.text) and self.text[self.i] not in _SPECIAL:
            self.i += 1
        word = self.text[start : self.i].strip()
        if not word:
            raise _Syntax(f"a value is missing at column {start + 1}")
        return _primitive(word)

    def _items(self, close: str) -> list[Any]:
        items: list[Any] = []
        self._space()
        if self._peek(close):
            self.i += 1
            return items
        while True:
            items.append(self.element())
            self._space()
            if self._peek(","):
                self.i += 1
                continue
            if self._peek(close):
                self.i += 1
                return items
            raise _Syntax(f"expected ',' or {close!r} at column {self.i + 1}")

    def _dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self._space()
        if self._peek("}"):
            self.i += 1
            return out
        while True:
            self._space()
            start = self.i
            while self.i < len(self.text) and self.text[self.i] not in ":,}":
                self.i += 1
            key = self.text[start : self.i].strip().strip("'\"")
            if not key or not self._peek(":"):
                raise _Syntax(f"a dict needs KEY: VALUE at column {start + 1}")
            self.i += 1
            out[key] = self.element()
            self._space()
            if self._peek(","):
                self.i += 1
                continue
            if self._peek("}"):
                self.i += 1
                return out
            raise _Syntax(f"expected ',' or '}}' at column {self.i + 1}")

    def _quoted(self, quote: str) -> str:
        start = self.i
        self.i += 1
        out = []
        while self.i < len(self.text):
            c = self.text[self.i]
            if c == "\\" and self.i + 1 < len(self.text):
                out.append(self.text[self.i + 1])
                self.i += 2
                continue
            if c == quote:
                self.i += 1
                return "".join(out)
            out.append(c)
            self.i += 1
        raise _Syntax(f"the quote {quote} at column {start + 1} is never closed")

    @staticmethod
    def _range(args: list[Any]) -> list[Any]:
        if not 1 <= len(args) <= 3 or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            raise _Syntax("range takes 1 to 3 integers: range(stop), range(start, stop[, step])")
        values = list(range(*args))
        if not values:
            raise _Syntax(f"range({', '.join(map(str, args))}) is empty")
        return values

    def _peek(self, c: str) -> bool:
        return self.text.startswith(c, self.i)

    def _space(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def _end(self) -> None:
        self._space()
        if self.i != len(self.text):
            raise _Syntax(
                f"unexpected {self.text[self.i]!r} at column {self.i + 1} (quote a value that holds it)"
            )


def _primitive(word: str) -> Any:
    low = word.lower()
    if low == "null":
        return None
    if low in ("true", "false"):
        return low == "true"
    if _INT.fullmatch(word):
        return int(word.replace("_", ""))
    if _FLOAT.fullmatch(word):
        return float(word.replace("_", ""))
    return word


# ---------------------------------------------------------------------------------------------
# applying


def apply(
    space: Space, seeds: tuple[int, ...], overrides: Sequence[Override], what: str = "override"
) -> tuple[Space, tuple[int, ...]]:
    """The space and seeds with ``overrides`` applied (nothing is changed in place)."""
    for o in overrides:
        if o.key == SEED and not o.add and SEED not in _keys(space, o, what):
            seeds = _seeds(o, what)
            continue
        keys = _keys(space, o, what)
        if o.add:
            if o.key in keys:
                raise OverrideError(
                    f"{what} {o.text!r}: the space has {o.key!r} already; set it without the '+'"
                )
        elif o.key not in keys:
            names = ", ".join([*keys, SEED]) or SEED
            raise OverrideError(
                f"{what} {o.text!r}: the sweep has no key {o.key!r}{did_you_mean(o.key, [*keys, SEED])} "
                f"(keys: {names}; +{o.key}=... adds one)"
            )
        existing = keys.get(o.key) or []
        values = [_same_as(v, existing) for v in o.values]
        try:
            space = space.overridden(o.key, values, sweep=o.sweep, add=o.add)  # type: ignore[attr-defined]
        except SpaceError as exc:
            raise OverrideError(f"{what} {o.text!r}: {exc}") from None
    return space, seeds


def _keys(space: Space, o: Override, what: str) -> dict[str, list[Any] | None]:
    overridable = getattr(space, "overridable", None)
    if overridable is None:
        raise OverrideError(
            f"{what} {o.text!r}: a {type(space).__name__} space takes no overrides; change the sweep file"
        )
    keys: dict[str, list[Any] | None] = overridable()
    return keys


def _seeds(o: Override, what: str) -> tuple[int, ...]:
    values = [v for v in o.values]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise OverrideError(f"{what} {o.text!r}: seeds are non-negative integers, e.g. seed=0,1,2")
    if len(set(values)) != len(values):
        raise OverrideError(f"{what} {o.text!r}: a seed is listed twice")
    return tuple(values)


def same(a: Any, b: Any) -> bool:
    """Equal as config values: ``1 == 1.0``, but a bool equals only a bool."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    return bool(type(a) is type(b) and a == b)


def _same_as(value: Any, existing: Sequence[Any]) -> Any:
    for e in existing:
        if same(value, e):
            return e
    return value


# ---------------------------------------------------------------------------------------------
# texts for sweep.json and messages


def texts(overrides: Sequence[Override]) -> list[str]:
    return [o.text for o in overrides]


def equal(a: Sequence[Override], b: Sequence[Override]) -> bool:
    """Whether two sets of overrides mean the same plan (order and spelling aside)."""
    return sorted(o.identity() for o in a) == sorted(o.identity() for o in b)


def shown(overrides: Sequence[Override]) -> str:
    return " ".join(o.text for o in overrides) or "none"


# ---------------------------------------------------------------------------------------------
# --only


def select(rec: Reconciled, sweep: Sweep, only: Sequence[Override]) -> Reconciled:
    """``rec`` with only the runs every ``--only`` selects: those whose variant and seed the plan,
    narrowed by that override, still has (a narrowed Grid keeps its variants as they are)."""
    if not only:
        return rec
    space, seeds = apply(sweep.space, sweep.seeds, parse_all(rec.record.get("overrides") or []))
    keep: set[str] | None = None
    for o in only:
        if o.add:
            raise OverrideError(f"--only {o.text!r}: selects by the keys the sweep has; drop the '+'")
        keys = _keys(space, o, "--only")
        if keys.get(o.key, []) is None:
            raise OverrideError(
                f"--only {o.text!r}: {o.key!r} is drawn or computed for each variant; select by a "
                "Grid or fixed key (or by seed)"
            )
        narrowed, narrowed_seeds = apply(space, seeds, [o], what="--only")
        plan = sweep.plan(rec.name, space=narrowed, seeds=narrowed_seeds)
        masked = {v.masked() for v in plan.variants}
        chosen = {r.id for r in rec.runs if r.spec.seed in plan.seeds and r.spec.variant.masked() in masked}
        if not chosen:
            have = keys.get(o.key) or (seeds if o.key == SEED else [])
            raise OverrideError(
                f"--only {o.text!r} matches no run of the plan ({o.key}: {', '.join(map(repr, have))})"
            )
        keep = chosen if keep is None else keep & chosen
    if not keep:
        raise OverrideError(f"--only {shown(only)}: no run of the plan matches all of them")
    return replace(rec, runs=[r for r in rec.runs if r.id in keep])
