"""Evolution strategies as plain ask/tell objects: ``CMAES`` (over pycma) and ``CEM``.

Both minimise. A generation is ``solutions = es.ask()``, evaluate each, ``es.tell(solutions,
values)``; ``es.result`` has ``xbest, fbest, evals_best, evaluations, iterations, xfavorite, stds``.

>>> es = CEM([0.0, 0.0], 1.0, {"popsize": 8, "elite_ratio": 0.25, "noise_scheduler_args": [0.0, 0.0, 1], "seed": 0})
>>> for _ in range(20):
...     xs = es.ask()
...     es.tell(xs, [float(((x - 3) ** 2).sum()) for x in xs])
>>> bool(abs(es.result.xfavorite - 3).max() < 0.5)
True

Each keeps its random stream to itself, so a search is reproducible from its seed whatever else
the process draws, and ``es.state()`` is a picklable snapshot that ``restore(state)`` returns to:
the asks after a restore are the asks the uninterrupted search would have made.
"""

from __future__ import annotations

import pickle
import secrets
from abc import ABC, abstractmethod
from collections import namedtuple
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from orchestra.errors import UserError
from orchestra.rl.schedule import LinearSchedule


class ESOptionError(UserError, KeyError, TypeError):
    """An option an evolution strategy needs is missing or wrong (a ``KeyError``/``TypeError`` as in lagom)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BaseES(ABC):
    """Base class of evolution strategies: ``ask()``, ``tell(solutions, function_values)``, ``result``.

    Minimisation: to maximise a return, tell its negative.
    """

    @abstractmethod
    def ask(self) -> Any:
        """Sample candidate solutions of a new generation."""

    @abstractmethod
    def tell(self, solutions: Any, function_values: Sequence[Any]) -> None:
        """Update the search from the objective values of ``solutions`` (those ``ask`` returned)."""

    @property
    @abstractmethod
    def result(self) -> Any:
        """``xbest, fbest, evals_best, evaluations, iterations, xfavorite, stds``."""

    def state(self) -> dict[str, Any]:
        """A picklable snapshot of the search (subclasses that support saving override this)."""
        raise NotImplementedError(f"{type(self).__name__} cannot save its state")

    def restore(self, state: Mapping[str, Any]) -> None:
        """Return to a snapshot made by :meth:`state`."""
        raise NotImplementedError(f"{type(self).__name__} cannot restore a state")


class _Randn:
    """pycma's ``randn`` option: standard normal samples from a private ``RandomState``.

    pycma's default draws from numpy's global generator, which it re-seeds; with this, the same
    seed gives the same samples as pycma's default would, but no other code can disturb them, and
    the generator travels with the strategy when it is pickled.
    """

    def __init__(self, seed: int) -> None:
        self.rng = np.random.RandomState(seed)

    def __call__(self, *shape: int) -> Any:
        return self.rng.standard_normal(shape)


class CMAES(BaseES):
    """CMA-ES from the ``cma`` package: ``CMAES(x0, sigma0, opts=None)`` with pycma's options.

    ``sigma0`` is a scalar (pycma refuses a list). ``opts['seed']`` seeds the strategy's own
    generator (default: a random seed, kept in ``self.seed``); numpy's global generator is left alone.
    ``ask()`` returns a list of ``popsize`` arrays; ``result`` is pycma's (best-ever ``xbest``/``fbest``,
    and ``stop``). pycma prints a banner unless ``opts['verbose'] = -9``.

    >>> es = CMAES([0.0, 0.0], 0.5, {"popsize": 6, "seed": 1, "verbose": -9})
    >>> len(es.ask()), es.popsize
    (6, 6)
    """

    def __init__(self, x0: Any, sigma0: float, opts: Mapping[str, Any] | None = None) -> None:
        try:
            import cma
        except ModuleNotFoundError as exc:
            raise UserError("CMAES needs the cma package: pip install cma (or orchestra's rl extra)") from exc
        options = dict(opts or {})
        if "randn" in options:
            raise ESOptionError(
                "CMAES: the 'randn' option is the strategy's own generator; seed it with 'seed'"
            )
        self.seed = _seed(options.pop("seed", None), "CMAES")
        options["randn"] = _Randn(self.seed)
        options["seed"] = float("nan")  # pycma: leave numpy's global generator alone
        self.es = cma.CMAEvolutionStrategy(x0, sigma0, options)
        self._sync()

    def _sync(self) -> None:
        self.x0 = self.es.x0
        self.sigma0 = self.es.sigma0
        self.popsize = self.es.popsize

    def ask(self) -> list[Any]:
        return list(self.es.ask())

    def tell(self, solutions: Any, function_values: Sequence[Any]) -> None:
        self.es.tell(solutions, function_values)

    @property
    def result(self) -> Any:
        return self.es.result

    def stop(self) -> dict[str, Any]:
        """pycma's termination criteria that are met now (empty while the search should go on)."""
        return dict(self.es.stop())

    def state(self) -> dict[str, Any]:
        return {"kind": "CMAES", "seed": self.seed, "es": pickle.dumps(self.es)}

    def restore(self, state: Mapping[str, Any]) -> None:
        _check_state(state, "CMAES")
        self.es = pickle.loads(state["es"])
        self.seed = state["seed"]
        self._sync()

    def __repr__(self) -> str:
        return f"CMAES in dimension {self.es.N} (seed={self.seed})"


CEMResult = namedtuple(
    "CEMResult",
    ["xbest", "fbest", "evals_best", "evaluations", "iterations", "xfavorite", "stds"],
    defaults=(None, None, None, None, None, None, None),
)


class CEM(BaseES):
    """The cross-entropy method: ``CEM(x0, sigma0, opts)``, lagom's options.

    ``opts``: ``popsize`` (samples per generation), ``elite_ratio`` (the best
    ``max(1, int(elite_ratio * popsize))`` samples become the next distribution),
    ``noise_scheduler_args`` (``[initial, final, N]`` or ``[initial, final, N, start]``: extra
    variance added while sampling, scheduled linearly over generations) and ``seed`` (default: a
    draw from numpy's global generator).

    ``ask()`` returns an array of shape ``(popsize, *x0.shape)``; ``tell`` sets the mean and the
    standard deviation to those of the elite (ties keep ``ask`` order). ``result.xbest``/``fbest`` are
    the best solution told so far, ``evals_best`` the evaluation that found it.
    """

    def __init__(self, x0: Any, sigma0: Any, opts: Mapping[str, Any] | None = None) -> None:
        if not isinstance(opts, Mapping):
            raise ESOptionError(
                "CEM needs opts with 'popsize', 'elite_ratio' and 'noise_scheduler_args', "
                f"e.g. {{'popsize': 32, 'elite_ratio': 0.2, 'noise_scheduler_args': [0.01, 0.001, 400]}}; got {opts!r}"
            )
        missing = [k for k in ("popsize", "elite_ratio", "noise_scheduler_args") if k not in opts]
        if missing:
            raise ESOptionError(f"CEM opts lack {', '.join(map(repr, missing))}; given: {sorted(opts)}")
        popsize = opts["popsize"]
        if isinstance(popsize, bool) or not isinstance(popsize, (int, np.integer)) or popsize < 1:
            raise ESOptionError(f"CEM opts 'popsize' must be a positive integer, got {popsize!r}")
        self.x0 = x0
        self.sigma0 = sigma0
        self.popsize = int(popsize)
        self.elite_ratio = opts["elite_ratio"]
        self.elite_size = max(1, int(self.elite_ratio * self.popsize))
        self.seed = _seed(
            opts.get("seed"), "CEM", draw=lambda: int(np.random.randint(1, 2**32, dtype=np.int64))
        )
        self.np_random = np.random.RandomState(self.seed)
        args = opts["noise_scheduler_args"]
        if not isinstance(args, Sequence) or not 3 <= len(args) <= 4:
            raise ESOptionError(
                f"CEM opts 'noise_scheduler_args' must be [initial, final, N] or [initial, final, N, start], got {args!r}"
            )
        self.noise_scheduler = LinearSchedule(*args)
        self.iter = 0
        self.x = np.asarray(x0).astype(np.float32)
        self.shape = self.x.shape
        if np.isscalar(sigma0):
            self.sigma = np.full(self.shape, sigma0, dtype=np.float32)
        else:
            self.sigma = np.asarray(sigma0).astype(np.float32)
        self.xbest: Any = None
        self.fbest: Any = None
        self.evals_best: int | None = None
        self.evaluations = 0

    def ask(self) -> Any:
        extra = self.noise_scheduler(self.iter)
        sigma = np.sqrt(self.sigma**2 + extra)
        return self.np_random.normal(self.x, sigma, size=(self.popsize, *self.shape))

    def tell(self, solutions: Any, function_values: Sequence[Any]) -> None:
        S = np.asarray(solutions).astype(np.float32)
        if len(S) != len(function_values):
            raise ValueError(
                f"CEM.tell: {len(function_values)} function values for {len(S)} solutions; give one value per solution"
            )
        order = np.argsort(np.asarray(function_values), kind="stable")[: self.elite_size]
        elite = S[order]
        self.x = elite.mean(axis=0)
        self.sigma = elite.std(axis=0)
        self.iter += 1
        best = function_values[int(order[0])]
        if self.fbest is None or best < self.fbest:
            self.xbest = elite[0]
            self.fbest = best
            self.evals_best = self.evaluations + int(order[0]) + 1
        self.evaluations += len(S)

    @property
    def result(self) -> CEMResult:
        return CEMResult(
            xbest=self.xbest,
            fbest=self.fbest,
            evals_best=self.evals_best,
            evaluations=self.evaluations,
            iterations=self.iter,
            xfavorite=self.x,
            stds=self.sigma,
        )

    _STATE = ("x", "sigma", "iter", "xbest", "fbest", "evals_best", "evaluations", "seed")

    def state(self) -> dict[str, Any]:
        data = {k: _copy(getattr(self, k)) for k in self._STATE}
        return {"kind": "CEM", **data, "rng": self.np_random.get_state()}

    def restore(self, state: Mapping[str, Any]) -> None:
        _check_state(state, "CEM")
        for k in self._STATE:
            setattr(self, k, _copy(state[k]))
        self.np_random = np.random.RandomState()
        self.np_random.set_state(state["rng"])

    def __repr__(self) -> str:
        return f"CEM in dimension {self.x.size} (seed={self.seed})"


def _copy(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else value


def _seed(seed: Any, who: str, draw: Any = None) -> int:
    if seed is None:
        return int(draw()) if draw is not None else secrets.randbits(32)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ESOptionError(f"{who} opts 'seed' must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


def _check_state(state: Mapping[str, Any], kind: str) -> None:
    if not isinstance(state, Mapping) or state.get("kind") != kind:
        got = state.get("kind") if isinstance(state, Mapping) else type(state).__name__
        raise UserError(
            f"{kind}.restore: not a {kind} state (got {got!r}); give what {kind}.state() returned"
        )
