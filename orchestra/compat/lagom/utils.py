"""lagom's ``lagom.utils``: ``Seeder``, ``set_global_seeds``, pickle and YAML files, ``CloudpickleWrapper``.

As in lagom, ``pickle_dump(obj, f, ext='.pkl')`` and ``yaml_dump(obj, f, ext='.yml')`` always append
``ext`` to ``f`` (``pickle_dump(x, 'logs')`` writes ``logs.pkl``) and the loads open ``f`` as given.
Pickles are cloudpickles (lambdas and closures survive); YAML keeps the dict's key order.

Differences: the files are written atomically (a temp file renamed into place, so a crash leaves
the old file or the new one, never half of one); ``set_global_seeds`` seeds torch only if torch is
installed, and numpy with the seed modulo 2**32 (lagom imported torch, and numpy refused larger seeds).
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import cloudpickle

from orchestra.atomic import write_bytes
from orchestra.errors import UserError
from orchestra.rl.seeding import Seeder, set_global_seeds

__all__ = [
    "CloudpickleWrapper",
    "Seeder",
    "pickle_dump",
    "pickle_load",
    "set_global_seeds",
    "yaml_dump",
    "yaml_load",
]


def _path(f: str | os.PathLike[str]) -> str:
    return os.fspath(f)


def pickle_dump(obj: Any, f: str | os.PathLike[str], ext: str = ".pkl") -> None:
    """cloudpickle ``obj`` into ``f + ext``."""
    write_bytes(_path(f) + ext, cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def pickle_load(f: str | os.PathLike[str]) -> Any:
    """Load what :func:`pickle_dump` wrote (give the whole file name, extension included)."""
    with open(_path(f), "rb") as file:
        return cloudpickle.load(file)


def _yaml() -> Any:
    try:
        import yaml
    except ModuleNotFoundError as exc:
        raise UserError(
            "lagom's YAML files need PyYAML: pip install pyyaml (or orchestra's rl extra)"
        ) from exc
    return yaml


def yaml_dump(obj: Any, f: str | os.PathLike[str], ext: str = ".yml") -> None:
    """Write ``obj`` as YAML into ``f + ext``, keys in insertion order."""
    text = _yaml().dump(obj, sort_keys=False)
    write_bytes(_path(f) + ext, text.encode("utf-8"))


def yaml_load(f: str | os.PathLike[str]) -> Any:
    """Read a YAML file (PyYAML's ``FullLoader``)."""
    yaml = _yaml()
    with open(_path(f)) as file:
        return yaml.load(file, Loader=yaml.FullLoader)


class CloudpickleWrapper:
    """Wrap a callable so that it pickles with cloudpickle (lambdas, closures), e.g. for a process pool.

    Calls and attributes go to the wrapped object; what the call returns travels by plain pickle.
    """

    def __init__(self, x: Any) -> None:
        self.x = x

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.x(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == "x":  # not set yet (while unpickling)
            raise AttributeError(name)
        return getattr(self.x, name)

    def __getstate__(self) -> bytes:
        return cloudpickle.dumps(self.x)

    def __setstate__(self, ob: bytes) -> None:
        self.x = pickle.loads(ob)
