"""lagom's evolution strategies as searches over a Box: ``CMAES`` and ``CEM``, generational.

Each works in the Box's unit cube (:mod:`orchestra.search.box`), so ``sigma0`` is a fraction of
every dimension's range; a whole population is asked at once and told together. Under the hood
they are :class:`orchestra.rl.es.CMAES` (pycma) and :class:`orchestra.rl.es.CEM`, with lagom's
option names; both minimise, so a score to maximise is told negated, and a candidate without a
score is told as the worst (``inf``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from orchestra.search.base import BoxSearch, SearchError
from orchestra.search.box import Box


def _check_popsize(popsize: Any, who: str) -> int | None:
    if popsize is None:
        return None
    if isinstance(popsize, bool) or not isinstance(popsize, int) or popsize < 2:
        raise SearchError(f"{who} popsize must be an integer >= 2 (a population to compare), got {popsize!r}")
    return popsize


def _check_sigma(sigma0: Any, who: str) -> float:
    if isinstance(sigma0, bool) or not isinstance(sigma0, (int, float)) or not 0 < sigma0 < math.inf:
        raise SearchError(
            f"{who} sigma0 must be a number > 0 (a fraction of each dimension's range, e.g. 0.3), got {sigma0!r}"
        )
    return float(sigma0)


class _ES(BoxSearch, ABC):
    """What CMAES and CEM share: a start point, the asked population, the unit-cube mapping."""

    def __init__(self, sigma0: float, popsize: int | None, x0: Mapping[str, Any] | None, seed: int | None):
        super().__init__(seed)
        who = type(self).__name__
        self.sigma0 = _check_sigma(sigma0, who)
        self._popsize = _check_popsize(popsize, who)
        if x0 is not None and not isinstance(x0, Mapping):
            raise SearchError(f"{who} x0 must be a dict of start values, e.g. {{'lr': 1e-3}}, got {x0!r}")
        self.x0 = dict(x0) if x0 is not None else None
        self.es: Any = None
        self._asked: list[list[float]] = []  # the population asked and not told yet
        self._before_ask: Any = None

    def check(self, box: Box) -> None:
        who = type(self).__name__
        choice = next((d.name for d in box.dims if d.kind == "choice"), None)
        if choice is not None:
            raise SearchError(
                f"{who} searches numbers, but Box dimension {choice!r} is a list of choices; "
                "use OptunaSearch or RandomSearch, or make it a range"
            )
        if self.x0 is not None:
            box.encode(self.x0)

    def start(self, box: Box) -> list[float]:
        return box.encode(self.x0) if self.x0 is not None else [0.5] * len(box.dims)

    def ask(self, n: int) -> list[dict[str, Any]]:
        if n != self.popsize:
            raise ValueError(f"{type(self).__name__} asks for whole populations of {self.popsize}, not {n}")
        self._before_ask = self.es.state()
        points = [list(map(float, x)) for x in self._ask()]
        self._asked = points
        return [self.space.decode(p) for p in points]

    def tell(self, configs: Sequence[Mapping[str, Any]], values: Sequence[float]) -> None:
        if len(configs) != len(self._asked) or len(values) != len(self._asked):
            raise ValueError(
                f"{type(self).__name__}.tell needs the {len(self._asked)} configs last asked and one value each"
            )
        self._tell(self._asked, [self.cost(v) for v in values])
        self._asked = []

    def state(self) -> dict[str, Any]:
        # Saved between an ask and its tell, the strategy is kept as it was before the ask, and
        # restore asks again: pycma finds the solutions it sent by their hash, which changes from
        # one process to the next, so a strategy pickled after its ask could not take its tell.
        es = self._before_ask if self._asked else self.es.state()
        return {"seed": self.seed, "es": es, "asked": self._asked}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.seed = state["seed"]
        self.es.restore(state["es"])
        self._asked = []
        if state["asked"]:
            self.ask(self.popsize)
            if self._asked != [list(p) for p in state["asked"]]:
                raise SearchError(
                    f"{type(self).__name__}: the saved state does not ask its last population again; "
                    "start a new sweep with --name NEW"
                )

    def options(self) -> dict[str, Any]:
        return {"sigma0": self.sigma0, "popsize": self._popsize, "x0": self.x0}

    @property
    @abstractmethod
    def popsize(self) -> int:
        """How many candidates a generation has."""

    @abstractmethod
    def _ask(self) -> Sequence[Sequence[float]]:
        """The next population, as points of the unit cube."""

    @abstractmethod
    def _tell(self, points: list[list[float]], costs: list[float]) -> None:
        """Update the strategy from the population's costs (smaller is better)."""


class CMAES(_ES):
    """CMA-ES (pycma, through lagom's ``CMAES``) over a Box.

    ``sigma0``: the initial step size as a fraction of each range; ``popsize``: candidates per
    generation (default pycma's ``4 + int(3 ln n)``); ``x0``: the start point in the Box's units
    (default the middle of every range); ``seed``; ``opts``: more pycma options (lagom's ``opts``).
    Candidates stay inside the Box (pycma's ``bounds=[0, 1]`` in the unit cube). The search ends
    early when pycma's own termination criteria are met (``tolfun``, ``tolx``, ...).

    >>> search = CMAES(sigma0=0.3, popsize=8, seed=1)
    """

    def __init__(
        self,
        sigma0: float = 0.3,
        popsize: int | None = None,
        *,
        x0: Mapping[str, Any] | None = None,
        seed: int | None = None,
        opts: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(sigma0, popsize, x0, seed)
        opts = dict(opts or {})
        for key in ("popsize", "seed", "randn"):
            if key in opts:
                raise SearchError(f"CMAES opts {key!r}: give it as CMAES({key}=...) instead")
        self.opts = opts
        self._n: int | None = None

    def check(self, box: Box) -> None:
        super().check(box)
        self._n = len(box.dims)

    @property
    def popsize(self) -> int:
        if self._popsize is not None:
            return self._popsize
        if self._n is None:
            raise RuntimeError("CMAES.popsize is known once the Box is (CMAES.check(box))")
        return 4 + int(3 * math.log(self._n))

    def pycma_options(self) -> dict[str, Any]:
        """The options handed to pycma: ``bounds`` to the unit cube, quiet, the popsize and seed."""
        return {"bounds": [0, 1], "verbose": -9, **self.opts, "popsize": self.popsize, "seed": self.seed}

    def setup(self, box: Box, mode: str) -> None:
        super().setup(box, mode)
        from orchestra.rl.es import CMAES as LagomCMAES

        self.es = LagomCMAES(self.start(box), self.sigma0, self.pycma_options())

    def _ask(self) -> Sequence[Sequence[float]]:
        return self.es.ask()

    def _tell(self, points: list[list[float]], costs: list[float]) -> None:
        import numpy as np

        # pycma maps the solutions it sent back to its internal ones by identity or value
        self.es.tell([np.asarray(p) for p in points], costs)

    def done(self) -> bool:
        return self.es is not None and bool(self.es.stop())

    def options(self) -> dict[str, Any]:
        return {**super().options(), "opts": self.opts}


class CEM(_ES):
    """The cross-entropy method (lagom's ``CEM``) over a Box.

    lagom's options and its baseline's defaults: ``popsize`` 32, ``elite_ratio`` 0.2 (the best
    ``max(1, int(elite_ratio * popsize))`` candidates make the next distribution),
    ``noise_scheduler_args`` ``[0.01, 0.001, 400, 0]`` (extra variance, scheduled linearly over
    generations); ``sigma0`` (a fraction of each range), ``x0`` (the start point in the Box's
    units, default the middle), ``seed``. Candidates outside the cube are clipped into the Box.
    """

    def __init__(
        self,
        sigma0: float = 0.3,
        popsize: int = 32,
        *,
        elite_ratio: float = 0.2,
        noise_scheduler_args: Sequence[float] = (0.01, 0.001, 400, 0),
        x0: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(sigma0, popsize, x0, seed)
        if popsize is None:
            raise SearchError("CEM popsize must be an integer >= 2, got None")
        if (
            isinstance(elite_ratio, bool)
            or not isinstance(elite_ratio, (int, float))
            or not 0 < elite_ratio <= 1
        ):
            raise SearchError(f"CEM elite_ratio must be a fraction in (0, 1], got {elite_ratio!r}")
        args = list(noise_scheduler_args)
        if not 3 <= len(args) <= 4:
            raise SearchError(
                f"CEM noise_scheduler_args must be [initial, final, N] or [initial, final, N, start], got {args!r}"
            )
        if not isinstance(args[2], int) or args[2] < 1 or (len(args) == 4 and not isinstance(args[3], int)):
            raise SearchError(f"CEM noise_scheduler_args: N and start must be whole numbers, got {args!r}")
        self.elite_ratio = float(elite_ratio)
        self.noise_scheduler_args = args

    @property
    def popsize(self) -> int:
        assert self._popsize is not None
        return self._popsize

    def setup(self, box: Box, mode: str) -> None:
        super().setup(box, mode)
        from orchestra.rl.es import CEM as LagomCEM

        self.es = LagomCEM(
            self.start(box),
            self.sigma0,
            {
                "popsize": self.popsize,
                "elite_ratio": self.elite_ratio,
                "noise_scheduler_args": self.noise_scheduler_args,
                "seed": self.seed,
            },
        )

    def _ask(self) -> Sequence[Sequence[float]]:
        return [list(map(float, row)) for row in self.es.ask()]

    def _tell(self, points: list[list[float]], costs: list[float]) -> None:
        self.es.tell(points, costs)

    def options(self) -> dict[str, Any]:
        return {
            **super().options(),
            "elite_ratio": self.elite_ratio,
            "noise_scheduler_args": self.noise_scheduler_args,
        }
