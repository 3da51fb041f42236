"""Seed ``random``, ``numpy`` and ``torch`` from the run's seed, without importing what the run does not use.

Each is seeded at once when it is already imported, and otherwise the moment the run first
imports it (an import hook that removes itself), so ``import torch`` inside the entry function
gets a seeded torch, and a run that never touches torch does not pay the second it takes to
import it (nor one that never uses ``random`` the millisecond of importing that). numpy's global
generator takes the seed modulo 2**32 (its limit); torch gets ``torch.manual_seed(seed)``, which
seeds every device.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

Seeder = Callable[[types.ModuleType, int], None]


def _seed_random(random: types.ModuleType, seed: int) -> None:
    random.seed(seed)


def _seed_numpy(np: types.ModuleType, seed: int) -> None:
    np.random.seed(seed % 2**32)


def _seed_torch(torch: types.ModuleType, seed: int) -> None:
    torch.manual_seed(seed)


SEEDERS: dict[str, Seeder] = {"random": _seed_random, "numpy": _seed_numpy, "torch": _seed_torch}
NEEDED = {"numpy": "numpy.random"}  # what a seeder imports that its module does not import itself


def import_what_seeding_needs() -> None:
    """Import what seeding the modules already imported will import (``numpy.random``: numpy 2
    imports it on first use, 10-20 ms). A warm-start zygote calls it once, so its runs do not."""
    for name, needed in NEEDED.items():
        if name in sys.modules:
            importlib.import_module(needed)


def seed_everything(seed: int) -> None:
    """Seed ``random``, numpy and torch now, or when they are first imported."""
    pending: dict[str, Seeder] = {}
    for name, seeder in SEEDERS.items():
        module = sys.modules.get(name)
        if module is not None:
            seeder(module, seed)
        else:
            pending[name] = seeder
    if pending:
        sys.meta_path.insert(0, _SeedOnImport(seed, pending))


class _SeedOnImport:
    """A meta-path finder that seeds a module right after its first import runs.

    It finds nothing itself: it asks the finders after it for the module's spec and wraps that
    spec's loader so the seeder runs once the module's code has executed.
    """

    def __init__(self, seed: int, pending: dict[str, Seeder]) -> None:
        self.seed = seed
        self.pending = pending

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: Any = None) -> Any:
        if fullname not in self.pending:
            return None
        spec = _find_with_others(self, fullname, path, target)
        loader = getattr(spec, "loader", None)
        if loader is None or isinstance(loader, type) or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_seed(module: types.ModuleType) -> None:
            del loader.exec_module  # back to the loader's own method
            exec_module(module)
            # importlib.util.find_spec() also lands here without loading: seed only what was executed
            seeder = self.pending.pop(fullname, None)
            if not self.pending:
                self._remove()
            if seeder is not None:
                seeder(module, self.seed)

        loader.exec_module = exec_and_seed
        return spec

    def _remove(self) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass


def _find_with_others(me: object, fullname: str, path: Sequence[str] | None, target: Any) -> Any:
    for finder in list(sys.meta_path):
        if finder is me:
            continue
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        spec = find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None
