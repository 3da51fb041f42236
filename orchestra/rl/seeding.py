"""Seeds: ``set_global_seeds(seed)`` and ``Seeder``, a private stream of seeds.

>>> Seeder(0)(5)
[209652396, 398764591, 924231285, 1478610112, 441365315]
"""

from __future__ import annotations

from typing import Any

from orchestra.errors import CompatAssertionError
from orchestra.runtime.seeding import seed_everything


def set_global_seeds(seed: int) -> None:
    """Seed ``random``, numpy's global generator and torch (every device).

    numpy and torch are seeded now if imported, else when first imported, so a run that never uses
    torch does not import it. Environments and action spaces have their own generators: seed them
    with ``env.reset(seed=...)`` and ``env.action_space.seed(...)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        seed = _as_int(seed)
    seed_everything(seed)


def _as_int(seed: Any) -> int:
    try:
        import numpy as np

        if isinstance(seed, np.integer):
            return int(seed)
    except ModuleNotFoundError:
        pass
    raise CompatAssertionError(f"set_global_seeds: the seed must be an integer, got {seed!r}")


class Seeder:
    """Draws seeds from its own generator (``numpy.random.RandomState(init_seed)``); each call continues it.

    ``seeder(size)`` returns a list of ints in ``[0, 2**31 - 1)`` with ``size``'s shape (an int or a
    list of dimensions).
    """

    def __init__(self, init_seed: int = 0) -> None:
        if isinstance(init_seed, bool) or not isinstance(init_seed, int) or init_seed < 0:
            raise CompatAssertionError(f"Seeder: init_seed must be a non-negative int, got {init_seed!r}")
        import numpy as np

        self.rng = np.random.RandomState(init_seed)
        self.max = int(np.iinfo(np.int32).max)

    def __call__(self, size: int | list[int] = 1) -> list[Any]:
        return list(self.rng.randint(0, self.max, size=size).tolist())
