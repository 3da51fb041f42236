"""PyExpUtils' experiment descriptions: ``ExperimentDescription``, ``loadExperiment``, ``getConfig``.

Over orchestra's native :class:`~orchestra.space.description.Description`, with PyExpUtils' names and
its reading of ``config.json`` from the current directory. Differences from PyExpUtils, where it
crashed or lost data: an empty list of values, a negative index, a missing section, an unknown
``{field}`` in a save path or a bad ``config.json`` each give one clear error (a ``KeyError`` or
``FileNotFoundError`` where PyExpUtils raised one, so ``except KeyError`` still catches it); ``getExperimentName``
reads ``config.json`` only when the description has a path; empty dicts are kept; lists of more
than ten dicts keep their order.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shutil
from dataclasses import dataclass, fields
from typing import Any

from orchestra.errors import SpaceError
from orchestra.space.description import (
    Description,
    build,
    hyphenated_stringify,
    join_path,
    merge,
    read_description,
    up_path,
)

CONFIG_FILE = "config.json"


class DescriptionKeyError(SpaceError, KeyError):
    """A key PyExpUtils looked up and did not find (a ``KeyError`` there, and here too)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DescriptionFileNotFoundError(SpaceError, FileNotFoundError):
    """A file PyExpUtils opened that is not there (a ``FileNotFoundError`` there, and here too)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Config:
    """The settings in ``config.json``: ``save_path`` (required), ``log_path``, ``experiment_directory``."""

    save_path: str
    log_path: str = ".logs"
    experiment_directory: str = "experiments"


@functools.cache
def getConfig() -> Config:
    """``config.json`` of the current directory, read once per process (``getConfig.cache_clear()`` forgets it)."""
    where = os.path.join(os.getcwd(), CONFIG_FILE)
    try:
        with open(CONFIG_FILE, encoding="utf-8") as f:
            d = json.load(f)
    except FileNotFoundError:
        raise DescriptionFileNotFoundError(
            f"{where}: no such file; PyExpUtils reads save_path from config.json in the current directory"
        ) from None
    except json.JSONDecodeError as exc:
        raise SpaceError(f"{where}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(d, dict):
        raise SpaceError(
            f'{where}: must hold a JSON object such as {{"save_path": "results/{{name}}/{{params}}"}}'
        )
    known = [f.name for f in fields(Config)]
    unknown = [k for k in d if k not in known]
    if unknown:
        raise SpaceError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(known)}")
    if "save_path" not in d:
        raise DescriptionKeyError(
            f"{where}: 'save_path' is required, e.g. \"results/{{name}}/{{params}}/{{run}}\""
        )
    for k, v in d.items():
        if not isinstance(v, str):
            raise SpaceError(f"{where}: {k!r} must be a string, got {type(v).__name__}")
    return Config(**d)


class ExperimentDescription:
    """PyExpUtils' ``ExperimentDescription(d, path=None, keys='metaParameters', save_key=None)``.

    >>> exp = ExperimentDescription({"metaParameters": {"alpha": [1.0, 0.5], "lambda": [1.0, 0.99]}})
    >>> exp.numPermutations(), exp.getPermutation(1)["metaParameters"], exp.getRun(4)
    (4, {'alpha': 0.5, 'lambda': 1.0}, 1)

    Subclasses may set attributes in ``__init__`` (``self.agent = d['agent']``) and use them as
    ``{agent}`` in save paths. The permutations are worked out on first use and kept: later changes
    to the permuted sections of ``d`` are not seen.
    """

    def __init__(
        self,
        d: dict[str, Any],
        path: str | None = None,
        keys: str | list[str] = "metaParameters",
        save_key: str | None = None,
    ) -> None:
        self._d = d
        self.keys = keys
        self.path = path
        self.save_key = save_key
        self._native: Description | None = None

    def _description(self) -> Description:
        if self._native is None:
            for k in self.getKeys():
                if isinstance(self._d, dict) and isinstance(k, str) and k not in self._d:
                    have = ", ".join(repr(x) for x in self._d) or "none"
                    raise DescriptionKeyError(
                        f"experiment description has no {k!r} section to permute (its keys: {have})"
                    )
            self._native = Description(self._d, self.getKeys(), path=self.path, save_key=self.save_key)
        return self._native

    def getKeys(self, keys: str | list[str] | None = None) -> list[str]:
        """The names of the permuted sections, as a list."""
        keys = keys if keys is not None else self.keys
        return keys if isinstance(keys, list) else [keys]

    def permutable(self) -> dict[str, Any]:
        """``{section: d[section]}`` for each permuted section."""
        self._description()
        return {k: self._d[k] for k in self.getKeys()}

    def getPermutation(self, idx: int) -> dict[str, Any]:
        """The whole description with permutation ``idx`` of its sections (indices wrap); a fresh copy."""
        chosen = self._description().choose(idx)
        return copy.deepcopy(merge(self._d, build((p.path, v) for p, v in chosen)))

    def numPermutations(self) -> int:
        return self._description().num_permutations

    def getRun(self, idx: int) -> int:
        """How many times ``idx`` wrapped around the permutations: ``idx // numPermutations()``."""
        return self._description().run(idx)

    def getExperimentName(self) -> str:
        """``d['name']`` (default ``'unnamed'``) without a path; with one, its directory below
        ``config.json``'s ``experiment_directory`` (``d['name']`` is then ignored)."""
        if self.path is None:
            return str(self._d.get("name", "unnamed"))
        return self._description().experiment_name(getConfig().experiment_directory)

    def _getSaveKey(self, save_key: str | None = None) -> str:
        if save_key is not None:
            return save_key
        if self.save_key is not None:
            return self.save_key
        return getConfig().save_path

    def interpolateSavePath(self, idx: int, key: str | None = None) -> str:
        """The save path of ``idx``: ``key``, ``save_key`` or ``config.json``'s ``save_path`` filled in.

        ``{name}``, ``{params}`` (``alpha-0.5_lambda-1.0``), ``{run}`` and any attribute of this object.
        """
        template = self._getSaveKey(key)
        attrs = vars(self)
        for field in re.findall(r"\{(.*?)\}", template):
            if field not in ("name", "params", "run") and field not in attrs:
                known = ", ".join(
                    ["name", "params", "run", *sorted(k for k in attrs if not k.startswith("_"))]
                )
                raise DescriptionKeyError(
                    f"save path {template!r}: unknown field {{{field}}}; known fields: {known}"
                )
        return self._description().save_path(
            idx, template, attributes=attrs, experiment_name=self.getExperimentName
        )

    def buildSaveContext(self, idx: int, base: str = "", key: str | None = None) -> FileSystemContext:
        return FileSystemContext(self.interpolateSavePath(idx, key), base)

    def __orchestra_space__(self) -> Description:
        """The native description, for ``orchestra.Sweep``: one variant per permutation."""
        return self._description()


def loadExperiment(
    path: str, Model: type[ExperimentDescription] = ExperimentDescription
) -> ExperimentDescription:
    """Read a JSON experiment description file into ``Model(d, path=path)``."""
    if not os.path.exists(path):
        raise DescriptionFileNotFoundError(f"{path}: no such experiment description file")
    return Model(read_description(path), path=path)


def hyphenatedStringify(d: dict[str, Any]) -> str:
    """``{'beta': 0.95, 'alpha': -0.5}`` -> ``'alpha--0.5_beta-0.95'`` (keys flattened and sorted)."""
    return hyphenated_stringify(d)


class FileSystemContext:
    """A save path below a base directory: ``resolve('returns.npy')``, ``ensureExists()``."""

    def __init__(self, path: str, base: str = "") -> None:
        self._path = path
        self._base = base

    def getBase(self) -> str:
        return self._base

    def resolve(self, path: str = "") -> str:
        """``base/path/<path>``; leading ``../`` walk up from it; no leading ``/`` unless ``base`` has one."""
        base = join_path(self._base, self._path)
        path = path.replace(base + "/", "")
        while path.startswith("../"):
            path = path[3:]
            base = up_path(base)
        return base if path == "" else join_path(base, path)

    def exists(self, path: str = "") -> bool:
        return os.path.exists(self.resolve(path))

    def ensureExists(self, path: str = "") -> str:
        """Make the directory (and its parents); returns its path."""
        path = self.resolve(path)
        os.makedirs(path, exist_ok=True)
        return path

    def remove(self, path: str = "") -> None:
        shutil.rmtree(self.resolve(path))
