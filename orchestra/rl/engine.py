"""``BaseEngine(config, **kwargs)``: the training and evaluation loop of one experiment.

Every keyword becomes an attribute, so a typical engine is built as
``Engine(config, agent=agent, env=env, runner=runner)`` and its ``train(n)`` collects data with
``self.runner(self.agent, self.env, T)`` and calls ``self.agent.learn(D)``.

>>> class Engine(BaseEngine):
...     def train(self, n=None, **kwargs):
...         return {"iteration": n}
...     def eval(self, n=None, **kwargs):
...         return {}
>>> Engine({"lr": 1}, agent="A").agent
'A'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class BaseEngine(ABC):
    """Base class of engines; subclasses define ``train(n)`` and ``eval(n)``."""

    def __init__(self, config: Any, **kwargs: Any) -> None:
        self.config = config
        for key, value in kwargs.items():
            setattr(self, key, value)

    @abstractmethod
    def train(self, n: int | None = None, **kwargs: Any) -> Any:
        """One training iteration ``n``; returns what it measured (a dict or a Logger)."""

    @abstractmethod
    def eval(self, n: int | None = None, **kwargs: Any) -> Any:
        """One evaluation after iteration ``n``; returns what it measured (a dict or a Logger)."""
