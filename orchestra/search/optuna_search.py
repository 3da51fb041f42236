"""``OptunaSearch``: Optuna's own ask/tell (``study.ask`` / ``study.tell``) over a Box, asynchronous.

Needs the ``search`` extra (``pip install 'orchestra-sweeps[search]'``); optuna is imported only when a
sweep uses it.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

from orchestra.search.base import BoxSearch, SearchError, check_concurrency
from orchestra.search.box import Box, Dim


class OptunaSearch(BoxSearch):
    """An Optuna study with ``sampler`` (default ``TPESampler(seed=seed)``) proposes the candidates.

    Each candidate is one trial: ``study.ask`` with the Box's distributions, ``study.tell`` with its
    score (a candidate without one is told as ``FAIL``). The study lives in memory and is saved
    with the sweep, so a resumed sweep continues it. Results are told as they arrive, so beyond
    the sampler's random start-up trials the proposals depend on the order runs finish in; with
    ``max_concurrent=1`` they are fully reproducible from the seed.

    >>> import optuna
    >>> search = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=0))
    """

    def __init__(
        self, sampler: Any = None, *, seed: int | None = None, max_concurrent: int | None = None
    ) -> None:
        super().__init__(seed)
        if sampler is not None and seed is not None:
            raise SearchError(
                "OptunaSearch: give the seed to your sampler (e.g. TPESampler(seed=0)), not both"
            )
        self.sampler = sampler
        self.max_concurrent = check_concurrency(max_concurrent, "OptunaSearch")
        self.study: Any = None
        self._open: list[tuple[int, dict[str, Any]]] = []  # (trial number, params) asked, not told

    def setup(self, box: Box, mode: str) -> None:
        super().setup(box, mode)
        optuna = _optuna()
        sampler = self.sampler if self.sampler is not None else optuna.samplers.TPESampler(seed=self.seed)
        direction = "maximize" if mode == "max" else "minimize"
        self.study = optuna.create_study(direction=direction, sampler=sampler)
        self.distributions = {d.name: _distribution(optuna, d) for d in box.dims}

    def ask(self, n: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            trial = self.study.ask(self.distributions)
            params = {d.name: trial.params[d.name] for d in self.space.dims}
            self._open.append((trial.number, params))
            out.append({**self.space.fixed, **params})
        return out

    def tell(self, configs: Sequence[Mapping[str, Any]], values: Sequence[float]) -> None:
        from optuna.trial import TrialState

        for config, value in zip(configs, values):
            params = {d.name: config[d.name] for d in self.space.dims}
            i = next((i for i, (_, p) in enumerate(self._open) if p == params), None)
            if i is None:
                raise ValueError(f"OptunaSearch.tell: {params} was not asked (or was told already)")
            number, _ = self._open.pop(i)
            if value is None or not math.isfinite(value):
                self.study.tell(number, state=TrialState.FAIL)
            else:
                self.study.tell(number, value)

    def state(self) -> dict[str, Any]:
        return {"seed": self.seed, "study": pickle.dumps(self.study), "open": self._open}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.seed = state["seed"]
        self.study = pickle.loads(state["study"])
        self._open = [(n, dict(p)) for n, p in state["open"]]

    def options(self) -> dict[str, Any]:
        return {"sampler": _describe_sampler(self.sampler), "max_concurrent": self.max_concurrent}


def _describe_sampler(sampler: Any) -> dict[str, Any] | None:
    """A sampler's class and its plain options (its seed is not kept where it can be read back)."""
    if sampler is None:
        return None
    kind = type(sampler)
    plain = {
        k.lstrip("_"): v
        for k, v in sorted(vars(sampler).items())
        if v is None or isinstance(v, (bool, int, float, str))
    }
    return {"kind": f"{kind.__module__}.{kind.__qualname__}", **plain}


def _optuna() -> Any:
    try:
        import optuna
    except ModuleNotFoundError:
        raise SearchError(
            "OptunaSearch needs optuna: pip install optuna (or orchestra's search extra)"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _distribution(optuna: Any, dim: Dim) -> Any:
    dists = optuna.distributions
    if dim.kind == "choice":
        return dists.CategoricalDistribution(list(dim.choices))
    if dim.kind == "int":
        return dists.IntDistribution(int(dim.low), int(dim.high), log=dim.log)
    return dists.FloatDistribution(dim.low, dim.high, log=dim.log)
