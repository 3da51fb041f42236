"""TimeStepEnv: gymnasium's (terminated, truncated) as lagom's TimeSteps (lagom's test_timestep_env)."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

from orchestra.rl import StepType, TimeStepEnv
from tests.rl.envs import CountingEnv


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_wrapped_and_raw_envs_agree_step_by_step(env_id):
    raw = gymnasium.make(env_id)
    env = TimeStepEnv(gymnasium.make(env_id))
    obs, _ = raw.reset(seed=3)
    timestep = env.reset(seed=3)
    assert timestep.first() and np.allclose(timestep.observation, obs)
    raw.action_space.seed(3)
    for _ in range(env.spec.max_episode_steps):
        action = raw.action_space.sample()
        obs, reward, terminated, truncated, info = raw.step(action)
        timestep = env.step(action)
        assert np.allclose(timestep.observation, obs) and timestep.reward == reward
        assert timestep.done == (terminated or truncated)
        if timestep.done:
            assert timestep.last()
            assert timestep.info == {**info, "TimeLimit.truncated": truncated and not terminated}
            assert timestep.time_limit() == (truncated and not terminated)
            assert timestep.terminal() == terminated
            break
        assert timestep.mid() and timestep.info == info


def test_a_step_limit_is_a_time_limit_and_a_terminal_state_is_terminal():
    env = TimeStepEnv(CountingEnv(end=3, truncate_at=2))
    env.reset()
    env.step(0)
    ts = env.step(0)
    assert (
        ts.last()
        and ts.time_limit()
        and not ts.terminal()
        and ts.info == {"t": 2, "TimeLimit.truncated": True}
    )
    env = TimeStepEnv(CountingEnv(end=2))
    env.reset()
    env.step(0)
    ts = env.step(0)
    assert ts.last() and ts.terminal() and not ts.time_limit()


def test_terminated_wins_when_both_are_set():
    env = TimeStepEnv(CountingEnv(end=2, truncate_at=2))
    env.reset()
    env.step(0)
    ts = env.step(0)
    assert ts.terminal() and ts.info["TimeLimit.truncated"] is False


def test_the_envs_info_dict_is_not_changed():
    inner = CountingEnv(end=1)
    seen = {}

    class Keep(gymnasium.Wrapper):
        def step(self, action):
            out = self.env.step(action)
            seen["info"] = out[4]
            return out

    env = TimeStepEnv(Keep(inner))
    env.reset()
    ts = env.step(0)
    assert "TimeLimit.truncated" in ts.info and seen["info"] == {"t": 1}


def test_reset_info_stays_on_the_wrapper_and_spaces_are_the_envs():
    inner = CountingEnv()
    env = TimeStepEnv(inner)
    ts = env.reset(seed=5)
    assert ts.step_type is StepType.FIRST and ts.info is None and env.reset_info == {"reset": 1}
    assert env.action_space is inner.action_space and env.observation_space is inner.observation_space
    assert env.unwrapped is inner
    assert TimeStepEnv(gymnasium.make("CartPole-v1")).spec.id == "CartPole-v1"
