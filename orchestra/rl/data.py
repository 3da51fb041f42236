"""What an agent and an environment exchange: ``StepType``, ``TimeStep`` and ``Trajectory``.

lagom's data model (docs/compat.md): a trajectory starts with a ``FIRST`` timestep
(observation only), then one ``MID`` or ``LAST`` timestep per action; it is finished when its last
timestep is ``LAST``. ``time_limit()`` tells an episode cut by a step limit from one that reached
a terminal state (``terminal()``), which matters for bootstrapping values.

>>> traj = Trajectory()
>>> traj.add(TimeStep(StepType.FIRST, 0, None, None, None), None)
>>> traj.add(TimeStep(StepType.LAST, 1, 1.0, True, {"TimeLimit.truncated": False}), 0)
>>> traj.observations, traj.actions, traj.rewards, traj.reach_terminal
([0, 1], [0], [1.0], True)

Misuse (adding to a finished trajectory, a first timestep that is not ``FIRST``) raises
``AssertionError`` as in lagom, with a message that says what was wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, overload


class StepType(IntEnum):
    FIRST = 0
    MID = 1
    LAST = 2


@dataclass
class TimeStep:
    """One step of an episode: ``TimeStep(step_type, observation, reward, done, info)``.

    A ``FIRST`` timestep carries only the observation (``reward``, ``done`` and ``info`` are None);
    ``ts[key]`` is ``ts.info[key]``.
    """

    step_type: StepType
    observation: Any
    reward: Any
    done: Any
    info: Any

    def __getitem__(self, key: str) -> Any:
        return self.info[key]

    def first(self) -> bool:
        if self.step_type == StepType.FIRST and not (
            self.reward is None and self.done is None and self.info is None
        ):
            raise AssertionError(
                "a FIRST timestep carries only the observation: reward, done and info must be None, "
                f"got reward={self.reward!r}, done={self.done!r}, info={self.info!r}"
            )
        return self.step_type == StepType.FIRST

    def mid(self) -> bool:
        return self.step_type == StepType.MID

    def last(self) -> bool:
        if self.step_type == StepType.LAST and not (self.done is not None and self.done):
            raise AssertionError(f"a LAST timestep must have done=True, got done={self.done!r}")
        return self.step_type == StepType.LAST

    def time_limit(self) -> Any:
        """Whether the episode was cut by a step limit: ``info['TimeLimit.truncated']`` of a LAST step."""
        return self.last() and self.info.get("TimeLimit.truncated", False)

    def terminal(self) -> bool:
        """Whether the episode reached a terminal state (LAST, not cut by a step limit)."""
        return self.last() and not self.time_limit()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.step_type.name})"


class Trajectory:
    """A sequence of timesteps and the actions between them.

    ``len(traj)`` counts timesteps, ``traj.T`` transitions (one fewer). ``observations`` has T+1
    items (the first included); ``actions``, ``rewards``, ``dones`` and ``infos`` have T.
    """

    def __init__(self) -> None:
        self.timesteps: list[TimeStep] = []
        self._actions: list[Any] = []
        self._extra_info: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.timesteps)

    @property
    def T(self) -> int:
        return max(0, len(self) - 1)

    @overload
    def __getitem__(self, index: int) -> TimeStep: ...
    @overload
    def __getitem__(self, index: slice) -> list[TimeStep]: ...
    def __getitem__(self, index: int | slice) -> TimeStep | list[TimeStep]:
        return self.timesteps[index]

    def __iter__(self) -> Iterator[TimeStep]:
        return iter(self.timesteps)

    @property
    def finished(self) -> bool:
        return len(self) > 0 and self.timesteps[-1].last()

    @property
    def reach_time_limit(self) -> bool:
        return len(self) > 0 and bool(self.timesteps[-1].time_limit())

    @property
    def reach_terminal(self) -> bool:
        return len(self) > 0 and self.timesteps[-1].terminal()

    def add(self, timestep: TimeStep, action: Any) -> None:
        """Append ``timestep``, reached by ``action`` (None for the first timestep)."""
        if self.finished:
            raise AssertionError(f"cannot add to a finished trajectory ({self!r}); start a new Trajectory")
        if len(self) == 0:
            if not timestep.first():
                raise AssertionError(
                    f"a trajectory starts with a FIRST timestep (from env.reset()), got {timestep!r}"
                )
            if action is not None:
                raise AssertionError(f"the first timestep has no action, got action={action!r}")
        else:
            if action is None:
                raise AssertionError(
                    f"every timestep after the first needs its action, got None for {timestep!r}"
                )
            self._actions.append(action)
        self.timesteps.append(timestep)

    @property
    def transitions(self) -> list[list[Any]]:
        """``[observation, action, next_observation, reward, done]`` for each of the T transitions."""
        if self.T == 0:
            raise AssertionError("a trajectory with no transitions (T == 0) has no transitions")
        ts = self.timesteps
        return [
            [ts[t].observation, self._actions[t], ts[t + 1].observation, ts[t + 1].reward, ts[t + 1].done]
            for t in range(self.T)
        ]

    @property
    def observations(self) -> list[Any]:
        return [ts.observation for ts in self.timesteps]

    @property
    def actions(self) -> list[Any]:
        return self._actions

    @property
    def rewards(self) -> list[Any]:
        return [ts.reward for ts in self.timesteps[1:]]

    @property
    def dones(self) -> list[Any]:
        return [ts.done for ts in self.timesteps[1:]]

    @property
    def infos(self) -> list[Any]:
        return [ts.info for ts in self.timesteps[1:]]

    def get_infos(self, key: str) -> list[Any]:
        """``info[key]`` of every timestep after the first that has it."""
        return [ts.info[key] for ts in self.timesteps[1:] if key in ts.info]

    @property
    def extra_info(self) -> dict[str, Any]:
        """Anything about the whole trajectory; runners put the agent's ``last_info`` here."""
        return self._extra_info

    @extra_info.setter
    def extra_info(self, info: dict[str, Any]) -> None:
        self._extra_info = info

    def __repr__(self) -> str:
        return (
            f"Trajectory(T: {self.T}, Finished: {self.finished}, Reach time limit: {self.reach_time_limit}, "
            f"Reach terminal: {self.reach_terminal})"
        )
