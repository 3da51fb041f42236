"""Runners collect data: an agent acting in a :class:`~orchestra.rl.env.TimeStepEnv`.

- ``EpisodeRunner()(agent, env, N)``: ``N`` finished trajectories (whole episodes).
- ``StepRunner(reset_on_call=True)(agent, env, T)``: ``T`` steps in all, cut into trajectories at
  episode ends; every trajectory but the last is finished. With ``reset_on_call=False`` the next
  call goes on from where this one stopped (its first trajectory starts with a synthetic FIRST
  timestep holding the last observation, ``runner.observation``).

For every action the agent's output dict (without ``'raw_action'``) is merged into the next
timestep's ``info`` (agent keys win over env keys), and each trajectory's ``extra_info['last_info']``
is the agent's answer to ``choose_action(last_timestep, last_info=True)``. The runners seed
nothing and never call ``learn`` (lagom's semantics; docs/compat.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from orchestra.rl.data import StepType, TimeStep, Trajectory


class BaseRunner(ABC):
    """Base class of runners: ``runner(agent, env, **kwargs)`` returns the collected data."""

    @abstractmethod
    def __call__(self, agent: Any, env: Any, **kwargs: Any) -> Any: ...


def _check_env(env: Any) -> None:
    from orchestra.rl.env import TimeStepEnv

    if not isinstance(env, TimeStepEnv):
        raise AssertionError(
            f"runners need a TimeStepEnv as the outermost wrapper, got {type(env).__name__}; "
            "wrap the env last: env = TimeStepEnv(env)"
        )


def _act(agent: Any, timestep: TimeStep, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    out = agent.choose_action(timestep, **kwargs)
    if not isinstance(out, dict) or "raw_action" not in out:
        raise KeyError(
            f"{type(agent).__name__}.choose_action must return a dict with 'raw_action' "
            f"(the action for env.step), got {out!r}"
        )
    action = out.pop("raw_action")
    return action, out


def _step(agent: Any, env: Any, traj: Trajectory, timestep: TimeStep, kwargs: dict[str, Any]) -> TimeStep:
    action, out = _act(agent, timestep, kwargs)
    timestep = env.step(action)
    timestep.info = {**timestep.info, **out}
    traj.add(timestep, action)
    return timestep


def _close(agent: Any, traj: Trajectory, timestep: TimeStep, kwargs: dict[str, Any]) -> None:
    traj.extra_info["last_info"] = agent.choose_action(timestep, last_info=True, **kwargs)


class EpisodeRunner(BaseRunner):
    """``runner(agent, env, N)``: ``N`` whole episodes, each a finished Trajectory."""

    def __call__(self, agent: Any, env: Any, N: int, **kwargs: Any) -> list[Trajectory]:  # type: ignore[override]
        _check_env(env)
        D = []
        for _ in range(N):
            traj = Trajectory()
            timestep = env.reset()
            traj.add(timestep, None)
            while not timestep.last():
                timestep = _step(agent, env, traj, timestep, kwargs)
            _close(agent, traj, timestep, kwargs)
            D.append(traj)
        return D


class StepRunner(BaseRunner):
    """``runner(agent, env, T)``: ``T`` steps, cut into trajectories where episodes end."""

    def __init__(self, reset_on_call: bool = True) -> None:
        self.reset_on_call = reset_on_call
        self.observation: Any = None

    def __call__(self, agent: Any, env: Any, T: int, **kwargs: Any) -> list[Trajectory]:  # type: ignore[override]
        _check_env(env)
        D = []
        traj = Trajectory()
        if self.reset_on_call or self.observation is None:
            timestep = env.reset()
        else:
            timestep = TimeStep(StepType.FIRST, self.observation, None, None, None)
        traj.add(timestep, None)
        for _ in range(T):
            timestep = _step(agent, env, traj, timestep, kwargs)
            if timestep.last():
                _close(agent, traj, timestep, kwargs)
                D.append(traj)
                traj = Trajectory()
                timestep = env.reset()
                traj.add(timestep, None)
        if traj.T > 0:
            _close(agent, traj, timestep, kwargs)
            D.append(traj)
        if not self.reset_on_call:
            self.observation = timestep.observation
        return D
