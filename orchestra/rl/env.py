"""``TimeStepEnv``: a gymnasium env whose ``reset`` and ``step`` return :class:`TimeStep`\\ s.

lagom wrapped gym's 4-tuple API; gymnasium's ``step`` returns ``(obs, reward, terminated,
truncated, info)``. The wrapper maps it the way gymnasium's own ``convert_to_done_step_api`` and
old gym's ``TimeLimit`` did (docs/compat.md):

- ``reset(**kwargs)`` gives ``TimeStep(FIRST, obs, None, None, None)``; gymnasium's reset ``info``
  is kept on the wrapper as ``reset_info`` (a FIRST timestep carries no info);
- ``step(action)`` gives ``done = terminated or truncated``, ``LAST`` when done else ``MID``, and on
  the last step ``info['TimeLimit.truncated'] = truncated and not terminated`` (in a copy of the
  env's info): ``time_limit()`` is a step-limit cut, ``terminal()`` a terminal state, and
  ``terminated`` wins when both are set.

>>> import gymnasium
>>> env = TimeStepEnv(gymnasium.make("CartPole-v1"))
>>> env.reset(seed=0).first()
True
"""

from __future__ import annotations

from typing import Any

import gymnasium

from orchestra.rl.data import StepType, TimeStep


class TimeStepEnv(gymnasium.Wrapper):
    """Wrap a (single, non-vector) gymnasium env; it must be the outermost wrapper for the runners."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.reset_info: dict[str, Any] | None = None

    def reset(self, **kwargs: Any) -> TimeStep:  # type: ignore[override]
        observation, info = self.env.reset(**kwargs)
        self.reset_info = info
        return TimeStep(StepType.FIRST, observation, None, None, None)

    def step(self, action: Any) -> TimeStep:  # type: ignore[override]
        observation, reward, terminated, truncated, info = self.env.step(action)
        done = bool(terminated or truncated)
        if done:
            info = {**info, "TimeLimit.truncated": bool(truncated and not terminated)}
        return TimeStep(StepType.LAST if done else StepType.MID, observation, reward, done, info)
