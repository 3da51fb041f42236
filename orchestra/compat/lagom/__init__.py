"""lagom's names, over orchestra's native model: ``from orchestra.compat.lagom import ...`` for ``from lagom import ...``.

- ``orchestra.compat.lagom``: ``BaseAgent``, ``RandomAgent``, ``StepType``, ``TimeStep``, ``Trajectory``,
  ``BaseEngine``, ``BaseRunner``, ``EpisodeRunner``, ``StepRunner``, ``BaseES``, ``CMAES``, ``CEM``,
  ``Logger`` (lagom's top level), and ``Config``, ``Grid``, ``Sample``, ``Condition``, ``run_experiment``;
- ``orchestra.compat.lagom.experiment``: ``Config``, ``Grid``, ``Sample``, ``Condition``, ``run_experiment``;
- ``orchestra.compat.lagom.envs``: ``TimeStepEnv`` (on gymnasium);
- ``orchestra.compat.lagom.utils``: ``Seeder``, ``set_global_seeds``, ``pickle_dump``, ``pickle_load``,
  ``yaml_dump``, ``yaml_load``, ``CloudpickleWrapper``;
- ``orchestra.compat.lagom.transform``: ``LinearSchedule``.

The RL names come from :mod:`orchestra.rl` and need the ``rl`` extra (numpy, gymnasium, cma); they
are imported when first used, so ``Config`` and ``run_experiment`` work without it. Every
difference from lagom is listed in docs/compat.md.
"""

from __future__ import annotations

import importlib
from typing import Any

from orchestra.compat.lagom.experiment import Condition, Config, Grid, Sample, run_experiment
from orchestra.runtime.logger import Logger

_RL = {
    "BaseAgent": "orchestra.rl.agent",
    "RandomAgent": "orchestra.rl.agent",
    "StepType": "orchestra.rl.data",
    "TimeStep": "orchestra.rl.data",
    "Trajectory": "orchestra.rl.data",
    "BaseEngine": "orchestra.rl.engine",
    "BaseRunner": "orchestra.rl.runner",
    "EpisodeRunner": "orchestra.rl.runner",
    "StepRunner": "orchestra.rl.runner",
    "BaseES": "orchestra.rl.es",
    "CMAES": "orchestra.rl.es",
    "CEM": "orchestra.rl.es",
}

__all__ = ["Condition", "Config", "Grid", "Logger", "Sample", "run_experiment", *_RL]


def __getattr__(name: str) -> Any:
    module = _RL.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
