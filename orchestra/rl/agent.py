"""Agents: ``BaseAgent(config, env, device, **kwargs)`` and ``RandomAgent``.

An agent turns a :class:`~orchestra.rl.data.TimeStep` into an action (``choose_action``) and
learns from collected data (``learn``). The runners rely on this contract (lagom's):

- ``choose_action(timestep, **kwargs)`` returns a fresh dict with ``'raw_action'``, the object
  given to ``env.step``; every other key is merged into the next timestep's ``info``.
- Called with ``last_info=True`` on a trajectory's final timestep, it is a bootstrap query: the
  runner stores the whole dict in ``traj.extra_info['last_info']`` and steps nothing.

The base class is plain Python (no torch): an agent that is a network can also subclass
``torch.nn.Module``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class BaseAgent(ABC):
    """Base class of agents; stores ``config``, ``env``, ``device`` and every keyword as attributes.

    >>> class Greedy(BaseAgent):
    ...     def choose_action(self, x, **kwargs):
    ...         return {"raw_action": 0}
    ...     def learn(self, D, **kwargs):
    ...         return {}
    >>> Greedy({"lr": 0.1}, env=None, device="cpu", gamma=0.99).gamma
    0.99
    """

    def __init__(self, config: Any, env: Any, device: Any, **kwargs: Any) -> None:
        self.config = config
        self.env = env
        self.device = device
        for key, value in kwargs.items():
            setattr(self, key, value)
        self.info: dict[str, Any] = {}
        self.is_recurrent: bool | None = None

    @abstractmethod
    def choose_action(self, x: Any, **kwargs: Any) -> dict[str, Any]:
        """A dict with ``'raw_action'`` (what ``env.step`` gets) and anything else worth keeping."""

    @abstractmethod
    def learn(self, D: Any, **kwargs: Any) -> Any:
        """Learn from ``D`` (e.g. a list of Trajectory); returns a dict of what happened (losses, ...)."""


class RandomAgent(BaseAgent):
    """Samples actions uniformly from the env's action space (its own RNG: seed it with
    ``env.action_space.seed(seed)``); on a vector env, one action per sub-env, as a list."""

    def choose_action(self, x: Any, **kwargs: Any) -> dict[str, Any]:
        num_envs = getattr(self.env, "num_envs", None)
        single = getattr(self.env, "single_action_space", None)
        if num_envs is not None and single is not None:
            return {"raw_action": [single.sample() for _ in range(num_envs)]}
        return {"raw_action": self.env.action_space.sample()}

    def learn(self, D: Any, **kwargs: Any) -> dict[str, Any]:
        return {}
