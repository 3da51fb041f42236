"""lagom's reinforcement-learning toolkit on gymnasium (the ``rl`` extra: numpy, gymnasium, cma).

- data: :class:`StepType`, :class:`TimeStep`, :class:`Trajectory`;
- agents: :class:`BaseAgent`, :class:`RandomAgent`;
- environments: :class:`TimeStepEnv` (gymnasium's terminated/truncated as lagom's TimeSteps);
- runners: :class:`BaseRunner`, :class:`EpisodeRunner`, :class:`StepRunner`;
- engines: :class:`BaseEngine`;
- evolution strategies: :class:`BaseES`, :class:`CMAES`, :class:`CEM` (ask/tell, ``state``/``restore``);
- :class:`LinearSchedule`, :class:`Seeder`, :func:`set_global_seeds`.

A sketch of one training iteration, lagom's way::

    env = TimeStepEnv(gymnasium.make("CartPole-v1"))
    agent = MyAgent(config, env, device)
    engine = MyEngine(config, agent=agent, env=env, runner=EpisodeRunner())
    for n in range(100):
        logs = engine.train(n)          # D = runner(agent, env, N); agent.learn(D)

The semantics are lagom's; docs/compat.md lists where they differ.
gymnasium is imported only with :class:`TimeStepEnv`, so the evolution strategies (used by
orchestra's searches) need numpy and cma alone.
"""

from typing import Any

from orchestra.rl.agent import BaseAgent, RandomAgent
from orchestra.rl.data import StepType, TimeStep, Trajectory
from orchestra.rl.engine import BaseEngine
from orchestra.rl.es import CEM, CMAES, BaseES, CEMResult, ESOptionError
from orchestra.rl.runner import BaseRunner, EpisodeRunner, StepRunner
from orchestra.rl.schedule import LinearSchedule
from orchestra.rl.seeding import Seeder, set_global_seeds

__all__ = [
    "CEM",
    "CMAES",
    "BaseAgent",
    "BaseES",
    "BaseEngine",
    "BaseRunner",
    "CEMResult",
    "ESOptionError",
    "EpisodeRunner",
    "LinearSchedule",
    "RandomAgent",
    "Seeder",
    "StepRunner",
    "StepType",
    "TimeStep",
    "TimeStepEnv",
    "Trajectory",
    "set_global_seeds",
]


def __getattr__(name: str) -> Any:
    if name == "TimeStepEnv":
        from orchestra.rl.env import TimeStepEnv

        return TimeStepEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
