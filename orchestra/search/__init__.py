"""Adaptive sweeps: ask/tell searches over a ``Box``, and early stopping.

>>> from orchestra import Sweep
>>> from orchestra.search import Box, CMAES, ASHA
>>> space = Box({"lr": (1e-4, 1e-1, "log"), "gamma": (0.9, 0.999)}, fixed={"env_id": "CartPole-v1"})
>>> sweep = Sweep(train, space, seeds=[0, 1, 2],
...               search=CMAES(sigma0=0.3, popsize=8), objective="return", mode="max", budget=96,
...               stopper=ASHA(metric="return", mode="max", max_t=100, grace_period=10, reduction_factor=3))

Every candidate is a normal run (one per seed) of the sweep; docs/search.md says how the search is
driven, saved and resumed. Importing this package is cheap: numpy, cma and optuna are imported
only by the searches that need them, when a sweep starts.
"""

from orchestra.search.base import Search, SearchError
from orchestra.search.box import Box, BoxError
from orchestra.search.es import CEM, CMAES
from orchestra.search.optuna_search import OptunaSearch
from orchestra.search.random_search import RandomSearch
from orchestra.search.stoppers import ASHA, MedianStopping, Stopper

__all__ = [
    "ASHA",
    "CEM",
    "CMAES",
    "Box",
    "BoxError",
    "MedianStopping",
    "OptunaSearch",
    "RandomSearch",
    "Search",
    "SearchError",
    "Stopper",
]
