"""``RandomSearch``: configs drawn uniformly from a Box (log dimensions uniformly in the log), asynchronous."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from orchestra.search.base import BoxSearch, check_concurrency


class RandomSearch(BoxSearch):
    """Random search over a Box: each candidate an independent uniform draw.

    Its proposals do not depend on results, so a fixed ``seed`` proposes the same candidates
    whatever order runs finish in. ``max_concurrent`` caps the candidates in flight.

    >>> search = RandomSearch(seed=0)
    """

    def __init__(self, *, seed: int | None = None, max_concurrent: int | None = None) -> None:
        super().__init__(seed)
        self.max_concurrent = check_concurrency(max_concurrent, "RandomSearch")
        self.rng = random.Random(0)
        self.told = 0

    def setup(self, box: Any, mode: str) -> None:
        super().setup(box, mode)
        self.rng = random.Random(self.seed)

    def ask(self, n: int) -> list[dict[str, Any]]:
        dims = len(self.space.dims)
        return [self.space.decode([self.rng.random() for _ in range(dims)]) for _ in range(n)]

    def tell(self, configs: Sequence[Mapping[str, Any]], values: Sequence[float]) -> None:
        self.told += len(configs)

    def state(self) -> dict[str, Any]:
        return {"seed": self.seed, "rng": self.rng.getstate(), "told": self.told}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.seed = state["seed"]
        self.rng.setstate(state["rng"])
        self.told = state["told"]

    def options(self) -> dict[str, Any]:
        return {"max_concurrent": self.max_concurrent}
