"""What a search is to orchestra: an ask/tell object, generational or asynchronous.

Any object with these four methods can drive a sweep (``Sweep(search=...)``)::

    ask(n) -> list[dict]            # n new configs to evaluate
    tell(configs, values) -> None   # how configs did: the objective's score, averaged over seeds
    state() -> object               # a picklable snapshot of the search
    restore(state) -> None          # go back to a snapshot

``values`` are scores in the objective's own units (bigger is better with ``mode="max"``), ``nan``
for a candidate that has none (every seed failed before logging it). ``configs`` are those ``ask``
returned, in the order asked.

Optional attributes say how to drive it:

- ``popsize`` (an int): a generational search. It is asked for a whole population at once and
  told all of it in one call, when every candidate finished (CMA-ES, CEM).
- otherwise asynchronous: asked for one config whenever a slot frees and told each result as it
  arrives (Optuna, random search). ``max_concurrent`` caps the candidates in flight (default: as
  many as the CPU slots hold, each candidate taking one slot per seed).
- ``setup(box, mode)``: called once before anything else with the sweep's space and direction.
- ``done()``: True when the search has nothing more to propose (CMA-ES converged).
- ``describe()``: JSON data naming the search and its options; a sweep whose search describes
  itself differently from the one recorded is refused, like a changed sweep file.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from orchestra.errors import UserError
from orchestra.search.box import Box

MODES = ("max", "min")
SEARCH_JSON = "search.json"  # a search sweep's saved state, beside sweep.json (orchestra.search.driver)


class SearchError(UserError):
    """A search, stopper or objective that cannot work as given (one line, exit 2)."""


@runtime_checkable
class Search(Protocol):
    """The ask/tell protocol; see the module docstring."""

    def ask(self, n: int) -> list[dict[str, Any]]: ...

    def tell(self, configs: Sequence[Mapping[str, Any]], values: Sequence[float]) -> None: ...

    def state(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


def popsize_of(search: Any) -> int | None:
    """The population of a generational search, None for an asynchronous one."""
    size = getattr(search, "popsize", None)
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def describe(search: Any) -> dict[str, Any]:
    """What identifies a search's configuration (its ``describe()``, else its class)."""
    method = getattr(search, "describe", None)
    if callable(method):
        return dict(method())
    kind = type(search)
    return {"kind": f"{kind.__module__}.{kind.__qualname__}"}


def check_seed(seed: Any, who: str) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise SearchError(f"{who} seed must be an integer in [0, 2**32), got {seed!r}")
    return seed


def check_concurrency(value: Any, who: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SearchError(f"{who} max_concurrent must be an integer >= 1, got {value!r}")
    return value


class BoxSearch:
    """Shared by orchestra's searches: the Box, the direction, and a seed drawn once when not given."""

    name = "search"
    max_concurrent: int | None = None

    def __init__(self, seed: int | None) -> None:
        self.seed_given = check_seed(seed, type(self).__name__)
        self.seed: int = self.seed_given if self.seed_given is not None else 0
        self.box: Box | None = None
        self.mode = "max"

    def check(self, box: Box) -> None:
        """Refuse a Box this search cannot work on (at ``Sweep(...)``, before anything runs)."""

    def setup(self, box: Box, mode: str) -> None:
        self.check(box)
        self.box = box
        self.mode = mode
        self.seed = self.seed_given if self.seed_given is not None else secrets.randbits(32)

    @property
    def space(self) -> Box:
        if self.box is None:
            raise RuntimeError(f"{type(self).__name__}.setup(box, mode) must be called before ask")
        return self.box

    def cost(self, value: float) -> float:
        """``value`` as a cost to minimise: negated for ``max``; a missing value is the worst."""
        if value is None or not math.isfinite(value):
            return math.inf
        return -value if self.mode == "max" else value

    def describe(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, "seed": self.seed_given, **self.options()}

    def options(self) -> dict[str, Any]:
        return {}

    def done(self) -> bool:
        return False
