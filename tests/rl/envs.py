"""Small gymnasium envs whose every step is known, for exact checks of runners and wrappers."""

from __future__ import annotations

from typing import Any

import gymnasium
from gymnasium import spaces


class CountingEnv(gymnasium.Env):
    """Observations 0, 1, 2, ...; reward = action; terminated at ``end``; info ``{'t': obs}``."""

    def __init__(self, end: int = 3, truncate_at: int | None = None) -> None:
        self.observation_space = spaces.Discrete(100)
        self.action_space = spaces.Discrete(100)
        self.end = end
        self.truncate_at = truncate_at
        self.t = 0
        self.resets = 0

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self.t = 0
        self.resets += 1
        return 0, {"reset": self.resets}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        self.t += 1
        terminated = self.t >= self.end
        truncated = self.truncate_at is not None and self.t >= self.truncate_at
        return self.t, float(action), terminated, truncated, {"t": self.t}


class RecordingAgent:
    """Acts ``10 + obs`` and reports ``V = obs / 2``; records every call's step type and kwargs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def choose_action(self, x: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((x.step_type.name, dict(kwargs)))
        return {"raw_action": 10 + x.observation, "V": x.observation / 2}
