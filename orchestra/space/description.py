"""PyExpUtils-style experiment descriptions: one JSON dict, every permutation reachable by index.

::

    {
      "algorithm": "SARSA",
      "metaParameters": {"alpha": [1.0, 0.5, 0.25, 0.125], "lambda": [1.0, 0.99, 0.98, 0.96]}
    }

Inside the permuted sections (``metaParameters`` unless ``keys`` says otherwise) a list is one
parameter to sweep and anything else is fixed; dicts nest (``optimizer.alpha``), lists of dicts are
walked element by element (``layers.[0].units``), and ``[[64, 64]]`` fixes a list value. The
flattened keys are sorted as strings (their full dotted path, section name included) and
permutation ``i`` takes value ``(i // accum) % len(values)`` of each in turn, so the alphabetically
first key varies fastest; indices wrap, and ``i // num_permutations`` is the run number.

Where PyExpUtils crashes or silently loses data (an empty list, an empty dict, a key with a dot in
it, lists of more than ten dicts) this module does the evident thing or says what is wrong.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from orchestra.errors import SpaceError
from orchestra.space.values import to_json_value
from orchestra.space.variant import Draft, Variant, finalize

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Parameter:
    """One flattened key of the permuted sections: its path, its dotted text and its values.

    A fixed value is a parameter with one value. ``text`` is written as PyExpUtils writes it
    (``metaParameters.layers.[0].units``) and decides the permutation order.
    """

    path: PathKey
    text: str
    values: tuple[Any, ...]


class Description:
    """A sweep space written as a PyExpUtils experiment description.

    >>> desc = Description({"metaParameters": {"alpha": [1.0, 0.5], "lambda": [1.0, 0.99]}})
    >>> desc.num_permutations, desc.permutation(1)["metaParameters"]
    (4, {'alpha': 0.5, 'lambda': 1.0})

    ``d`` is copied: later changes to the caller's dict are not seen. ``keys`` names the sections
    to permute (one name or a list); ``path`` is the file it came from (it decides
    :meth:`experiment_name`); ``save_key`` is the default template of :meth:`save_path`.
    """

    def __init__(
        self,
        d: Mapping[str, Any],
        keys: str | Sequence[str] = "metaParameters",
        *,
        path: str | os.PathLike[str] | None = None,
        save_key: str | None = None,
    ) -> None:
        if not isinstance(d, Mapping):
            raise SpaceError(
                f"an experiment description must be a dict (a JSON object), got {type(d).__name__}"
            )
        self.d: dict[str, Any] = copy.deepcopy(dict(d))
        self.keys = _check_sections(keys, self.d, "" if path is None else f"{os.fspath(path)}: ")
        self.path = None if path is None else os.fspath(path)
        if save_key is not None and not isinstance(save_key, str):
            raise SpaceError(
                f"experiment description save_key must be a string, got {type(save_key).__name__}"
            )
        self.save_key = save_key
        self.parameters = flatten({k: self.d[k] for k in self.keys})
        self.num_permutations = math.prod(len(p.values) for p in self.parameters)
        self.named: frozenset[str] = frozenset()  # parameters kept in names with one value (overrides)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        keys: str | Sequence[str] = "metaParameters",
        *,
        save_key: str | None = None,
    ) -> Description:
        """Read a description from a JSON file."""
        return cls(read_description(path), keys, path=path, save_key=save_key)

    def __len__(self) -> int:
        return self.num_permutations

    # -- permutations ------------------------------------------------------------------------

    def choose(self, idx: int) -> list[tuple[Parameter, Any]]:
        """The value permutation ``idx`` gives each parameter (indices wrap)."""
        _check_index(idx)
        out = []
        accum = 1
        for p in self.parameters:
            n = len(p.values)
            out.append((p, p.values[(idx // accum) % n]))
            accum *= n
        return out

    def sections(self, idx: int) -> dict[str, Any]:
        """The permuted sections of permutation ``idx``: ``{"metaParameters": {"alpha": 0.5, ...}}``."""
        return copy.deepcopy(build((p.path, v) for p, v in self.choose(idx)))

    def permutation(self, idx: int) -> dict[str, Any]:
        """The whole description with its sections permuted (a fresh copy, safe to change)."""
        return copy.deepcopy(merge(self.d, build((p.path, v) for p, v in self.choose(idx))))

    def params(self, idx: int) -> Any:
        """The permuted section (one key) or ``{section: ...}`` (several): what ``{params}`` shows."""
        return pick(self.sections(idx), self.keys)

    def run(self, idx: int) -> int:
        """How many times ``idx`` wrapped around: ``idx // num_permutations``."""
        _check_index(idx)
        return idx // self.num_permutations

    # -- names and paths ---------------------------------------------------------------------

    def experiment_name(self, experiment_directory: str = "experiments") -> str:
        """``d['name']`` (default ``'unnamed'``) without a path; with one, the file's directory.

        The path loses the current directory, ``experiment_directory + '/'`` and every ``./``, as
        PyExpUtils does: ``experiments/overfit/best/ann.json`` is ``overfit/best``.
        """
        if self.path is None:
            return str(self.d.get("name", "unnamed"))
        path = (
            self.path.replace(os.getcwd() + "/", "").replace(experiment_directory + "/", "").replace("./", "")
        )
        return up_path(path)

    def params_string(self, idx: int) -> str:
        """``{params}``: the permuted parameters as ``alpha-0.5_lambda-1.0``."""
        params = self.params(idx)
        if not isinstance(params, Mapping):
            raise SpaceError(
                f"{{params}} needs the permuted section {self.keys[0]!r} to be a dict, got {type(params).__name__}"
            )
        return hyphenated_stringify(params)

    def save_path(
        self,
        idx: int,
        template: str | None = None,
        *,
        attributes: Mapping[str, Any] | None = None,
        experiment_name: Callable[[], str] | None = None,
    ) -> str:
        """Fill a save-path template such as ``results/{name}/{algorithm}/{params}/{run}``.

        ``{name}``, ``{params}`` and ``{run}`` are the experiment name, the permuted parameters and
        the run number; any other ``{x}`` is ``str()`` of the attribute ``x`` of this object (or of
        ``attributes``, when given). ``template`` defaults to ``save_key``.
        """
        template = template if template is not None else self.save_key
        if template is None:
            raise SpaceError("save path: no template; pass one or give the description a save_key")
        attrs = vars(self) if attributes is None else attributes
        name = experiment_name or self.experiment_name
        special: dict[str, Callable[[], str]] = {
            "params": lambda: self.params_string(idx),
            "run": lambda: str(self.run(idx)),
            "name": name,
        }

        def field(key: str) -> str:
            if key in special:
                return special[key]()
            if key in attrs:
                return str(attrs[key])
            known = ", ".join(["name", "params", "run", *sorted(k for k in attrs if not k.startswith("_"))])
            raise SpaceError(f"save path {template!r}: unknown field {{{key}}}; known fields: {known}")

        return interpolate(template, field)

    # -- the sweep -----------------------------------------------------------------------------

    def variants(self) -> list[Variant]:
        """One variant per permutation; its config is the whole permuted description."""
        # One working copy of the sections, checked to be plain JSON data once, gets each
        # permutation's values set in place and is copied out through orjson: far cheaper than
        # rebuilding and checking nested dicts per index.
        values = [[to_json_value(v, p.text) for v in p.values] for p in self.parameters]
        work = build((p.path, v[0]) for p, v in zip(self.parameters, values))
        strip = 1 if len(self.keys) == 1 else 0  # one section: names drop its prefix, as {params}
        slots = []
        accum = 1
        for p, plain in zip(self.parameters, values):
            n = len(p.values)
            if n > 1 or p.text in self.named:
                container: Any = work
                for part in p.path[:-1]:
                    container = container[part]
                labels = [_name_items(p, v, strip) for v in p.values]
                slots.append((container, p.path[-1], plain, n, accum, labels))
            accum *= n
        drafts = []
        for idx in range(self.num_permutations):
            items: list[tuple[str, str]] = []
            for container, key, values, n, stride, labels in slots:
                j = (idx // stride) % n
                container[key] = values[j]
                items.extend(labels[j])
            items.sort(key=_first)
            config = merge(self.d, orjson.loads(orjson.dumps(work)))
            drafts.append(Draft(config, "_".join(text for _, text in items)))
        return finalize(drafts, default_name=self.experiment_name())

    # -- overrides (orchestra/plan/overrides.py) --------------------------------------------

    def overridable(self) -> dict[str, list[Any] | None]:
        """Each parameter by its dotted text, and by its text within the section when there is one."""
        out: dict[str, list[Any] | None] = {}
        for p in self.parameters:
            out[p.text] = list(p.values)
        if len(self.keys) == 1:
            for p in self.parameters:
                out.setdefault(_text(p.path[1:]), list(p.values))
        return out

    def overridden(self, key: str, values: list[Any], *, sweep: bool, add: bool = False) -> Description:
        """A copy whose parameter ``key`` takes ``values`` (one that was in names stays in them)."""
        if add:
            raise SpaceError(
                f"a description's parameters come from its file; add {key!r} to its sections there"
            )
        full = key if any(p.text == key for p in self.parameters) else f"{self.keys[0]}.{key}"
        new = copy.copy(self)
        new.parameters = [replace(p, values=tuple(values)) if p.text == full else p for p in self.parameters]
        new.num_permutations = math.prod(len(p.values) for p in new.parameters)
        if any(p.text == full and len(p.values) > 1 for p in self.parameters):
            new.named = self.named | {full}
        return new

    def __repr__(self) -> str:
        return f"Description(keys={self.keys}, num_permutations={self.num_permutations}, path={self.path!r})"


def _first(item: tuple[str, str]) -> str:
    return item[0]


def _name_items(p: Parameter, value: Any, strip: int) -> list[tuple[str, str]]:
    prefix = _text(p.path[strip:])
    return [(k, f"{k}-{v}") for k, v in _flat_items(value, prefix)]


# ---------------------------------------------------------------------------------------------
# flattening and rebuilding


def flatten(sections: Mapping[str, Any]) -> list[Parameter]:
    """The parameters of ``sections`` sorted by dotted text (the permutation order)."""
    out: list[Parameter] = []
    _walk(sections, (), out)
    out.sort(key=lambda p: p.text)
    for a, b in itertools.pairwise(out):
        if a.text == b.text:
            raise SpaceError(
                f"experiment description: two keys flatten to {a.text!r}; a key with a dot in it "
                "collides with a nested dict of the same path, rename one"
            )
    return out


def _walk(value: Any, path: PathKey, out: list[Parameter]) -> None:
    text = _text(path)
    if isinstance(value, Mapping):
        if path and not value:
            out.append(Parameter(path, text, (value,)))  # PyExpUtils dropped empty dicts
        for k, v in value.items():
            if not isinstance(k, str):
                raise SpaceError(
                    f"experiment description key {_text((*path, str(k)))!r}: keys must be strings"
                )
            _walk(v, (*path, k), out)
    elif isinstance(value, list):
        if not value:
            raise SpaceError(
                f"experiment description key {text!r}: an empty list has no value to sweep; "
                "write [[]] to fix the value to an empty list"
            )
        if isinstance(value[0], Mapping):
            for i, sub in enumerate(value):
                if not isinstance(sub, Mapping):
                    raise SpaceError(
                        f"experiment description key {_text((*path, i))!r}: a list of dicts holds a "
                        f"{type(sub).__name__}; wrap the list in another list to fix it as one value"
                    )
                _walk(sub, (*path, i), out)
        else:
            out.append(Parameter(path, text, tuple(value)))
    else:
        out.append(Parameter(path, text, (value,)))


def _text(path: PathKey) -> str:
    return ".".join(f"[{part}]" if isinstance(part, int) else part for part in path)


_HOLE = object()


def build(leaves: Iterable[tuple[PathKey, Any]]) -> dict[str, Any]:
    """Nested dicts and lists from ``(path, value)`` pairs; integer path parts index lists."""
    root: dict[str, Any] = {}
    for path, value in leaves:
        node: Any = root
        for here, nxt in itertools.pairwise(path):
            node = _child(node, here, [] if isinstance(nxt, int) else {})
        _put(node, path[-1], value)
    return root


def _child(node: Any, key: str | int, empty: Any) -> Any:
    if isinstance(key, int):
        while len(node) <= key:
            node.append(_HOLE)
        if node[key] is _HOLE:
            node[key] = empty
        return node[key]
    return node.setdefault(key, empty)


def _put(node: Any, key: str | int, value: Any) -> None:
    if isinstance(key, int):
        while len(node) <= key:
            node.append(_HOLE)
    node[key] = value


def merge(d: Mapping[str, Any], sections: Mapping[str, Any]) -> dict[str, Any]:
    """PyExpUtils' ``merge``: the permuted sections first, then the rest of ``d`` in its order."""
    out = dict(sections)
    for k, v in d.items():
        out.setdefault(k, v)
    return out


def pick(sections: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """One section's value, or ``{section: value}`` for several (PyExpUtils' ``pick(unwrap(keys))``)."""
    if len(keys) == 1:
        return sections[keys[0]]
    return {k: sections[k] for k in keys}


# ---------------------------------------------------------------------------------------------
# text


def hyphenated_stringify(d: Mapping[str, Any]) -> str:
    """``{'beta': 0.95, 'alpha': -0.5}`` -> ``'alpha--0.5_beta-0.95'``.

    Keys are flattened (``optimizer.alpha``, ``hidden.[0]``) and sorted as strings; values are
    written with ``str()``. An empty dict or list is written as it is (``opt-{}``).
    """
    if not isinstance(d, Mapping):
        raise SpaceError(f"hyphenatedStringify needs a dict, got {type(d).__name__}")
    items = sorted(_flat_items(d, ""), key=lambda kv: kv[0])
    return "_".join(f"{k}-{v}" for k, v in items)


def _flat_items(value: Any, text: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            if not isinstance(k, str):
                raise SpaceError(f"key {f'{text}.{k!r}' if text else repr(k)}: keys must be strings")
            yield from _flat_items(v, f"{text}.{k}" if text else k)
    elif isinstance(value, list) and value and text:
        nested = isinstance(value[0], Mapping)
        for i, v in enumerate(value):
            if nested and not isinstance(v, Mapping):
                raise SpaceError(f"key {text}.[{i}]: a list of dicts holds a {type(v).__name__}")
            if nested:
                yield from _flat_items(v, f"{text}.[{i}]")
            else:
                yield f"{text}.[{i}]", v
    else:
        yield text, value


_FIELD = re.compile(r"{.*?}")


def interpolate(template: str, field: Callable[[str], str]) -> str:
    """Replace every ``{x}`` in ``template`` by ``field('x')``, as PyExpUtils' ``interpolate``."""
    out = template
    for match in _FIELD.findall(template):
        out = out.replace(match, field(match[1:-1]))
    return out


def split_path(path: str) -> list[str]:
    parts = path.split("/")
    if parts[0] == "":
        parts[0] = "/"
    return parts


def join_path(*parts: str) -> str:
    """PyExpUtils' ``Path.join``: empty parts dropped, slashes collapsed, leading ``/`` kept."""
    cleaned = [re.sub(r"/+", "/", p).strip("/") for p in parts if p != ""]
    path = "/".join(p for p in cleaned if p != "")
    if parts and parts[0].startswith("/"):
        path = "/" + path
    return path


def up_path(path: str) -> str:
    """The parent directory of ``path`` (``''`` for a bare file name)."""
    return join_path(*split_path(path)[:-1])


# ---------------------------------------------------------------------------------------------
# checks and files


def _check_sections(keys: str | Sequence[str], d: Mapping[str, Any], where: str = "") -> tuple[str, ...]:
    """The names of the sections to permute, checked (``where``: the file's name and a colon, or "")."""
    names = (keys,) if isinstance(keys, str) else tuple(keys) if isinstance(keys, (list, tuple)) else None
    if not names or not all(isinstance(k, str) for k in names):
        raise SpaceError(
            f"experiment description keys must be a section name or a list of them, got {keys!r}"
        )
    for k in names:
        if k not in d:
            have = ", ".join(repr(x) for x in d) or "none"
            raise SpaceError(
                f"{where}experiment description has no {k!r} section to permute (its keys: {have})"
            )
        if not isinstance(d[k], (Mapping, list)):
            raise SpaceError(
                f"{where}experiment description section {k!r} must be an object of parameters such as "
                f'{{"alpha": [0.1, 0.01]}}, got {type(d[k]).__name__} {d[k]!r}'
            )
    return tuple(dict.fromkeys(names))


def _check_index(idx: int) -> None:
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        raise SpaceError(f"permutation index must be a non-negative integer, got {idx!r}")


def read_description(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON experiment description file; a clear error if it is missing or not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise SpaceError(f"{os.fspath(path)}: no such experiment description file") from None
    except IsADirectoryError:
        raise SpaceError(f"{os.fspath(path)}: is a directory, not an experiment description file") from None
    except json.JSONDecodeError as exc:
        raise SpaceError(f"{os.fspath(path)}:{exc.lineno}: not valid JSON: {exc.msg}") from None
