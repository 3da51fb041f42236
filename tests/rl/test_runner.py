"""EpisodeRunner and StepRunner: lagom's tests on CartPole-v1 and Pendulum-v1, and exact traces."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

from orchestra.rl import EpisodeRunner, RandomAgent, StepRunner, TimeStepEnv, Trajectory
from tests.rl.envs import CountingEnv, RecordingAgent


def make(env_id: str, seed: int = 0) -> TimeStepEnv:
    env = TimeStepEnv(gymnasium.make(env_id))
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("N", [1, 5, 10])
def test_lagoms_episode_runner_test(env_id, N):
    env = make(env_id)
    D = EpisodeRunner()(RandomAgent(None, env, "cpu"), env, N)
    assert len(D) == N and all(isinstance(d, Trajectory) for d in D)
    assert all(traj.finished and traj[0].first() and traj[-1].last() for traj in D)
    assert all(ts.mid() for traj in D for ts in traj[1:-1])
    assert all("raw_action" in traj.extra_info["last_info"] for traj in D)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("T", [1, 100, 500])
def test_lagoms_step_runner_test(env_id, T):
    env = make(env_id)
    agent = RandomAgent(None, env, None)
    runner = StepRunner(reset_on_call=True)
    D = runner(agent, env, T)
    assert runner.observation is None
    assert sum(traj.T for traj in D) == T
    assert all(isinstance(traj, Trajectory) and traj[0].first() for traj in D)
    assert all(traj[-1].last() for traj in D[:-1])
    assert all("raw_action" in traj.extra_info["last_info"] for traj in D)

    runner = StepRunner(reset_on_call=False)
    D = runner(agent, env, 1)
    assert D[0][0].first() and len(D[0]) == 2
    assert np.allclose(D[0][-1].observation, runner.observation)
    D2 = runner(agent, env, 3)
    assert np.allclose(D2[-1][-1].observation, runner.observation)
    assert np.allclose(D[0][-1].observation, D2[0][0].observation)
    assert D2[0][0].first() and D2[0][0].reward is None
    assert all("raw_action" in traj.extra_info["last_info"] for traj in D + D2)


def test_episode_runner_trace():
    env = TimeStepEnv(CountingEnv(end=3))
    agent = RecordingAgent()
    (traj,) = EpisodeRunner()(agent, env, 1, mode="x")
    assert agent.calls == [
        ("FIRST", {"mode": "x"}),
        ("MID", {"mode": "x"}),
        ("MID", {"mode": "x"}),
        ("LAST", {"last_info": True, "mode": "x"}),
    ]
    assert traj.observations == [0, 1, 2, 3] and traj.actions == [10, 11, 12]
    assert traj.rewards == [10.0, 11.0, 12.0] and traj.dones == [False, False, True]
    assert traj.infos == [
        {"t": 1, "V": 0.0},
        {"t": 2, "V": 0.5},
        {"t": 3, "V": 1.0, "TimeLimit.truncated": False},
    ]
    assert traj.extra_info == {"last_info": {"raw_action": 13, "V": 1.5}}
    assert traj.transitions[0] == [0, 10, 1, 10.0, False]


def test_agent_keys_override_env_keys_in_info():
    class Shadowing(RecordingAgent):
        def choose_action(self, x, **kwargs):
            return {"raw_action": 0, "t": "agent"}

    (traj,) = EpisodeRunner()(Shadowing(), TimeStepEnv(CountingEnv(end=1)), 1)
    assert traj.infos[0]["t"] == "agent"


def test_step_runner_cuts_at_episode_ends_and_resets():
    inner = CountingEnv(end=3)
    env = TimeStepEnv(inner)
    D = StepRunner(True)(RecordingAgent(), env, 5)
    assert [traj.T for traj in D] == [3, 2] and D[0].finished and not D[1].finished
    assert D[1].observations == [0, 1, 2] and inner.resets == 2
    assert D[1].extra_info["last_info"] == {"raw_action": 12, "V": 1.0}


def test_step_runner_without_reset_goes_on_where_it_stopped():
    inner = CountingEnv(end=3)
    env = TimeStepEnv(inner)
    runner = StepRunner(reset_on_call=False)
    (first,) = runner(RecordingAgent(), env, 2)
    assert first.observations == [0, 1, 2] and runner.observation == 2
    D = runner(RecordingAgent(), env, 2)
    assert [traj.observations for traj in D] == [[2, 3], [0, 1]]
    assert D[0].finished and D[0][0].reward is None and runner.observation == 1
    assert StepRunner()(RecordingAgent(), env, 0) == []


def test_an_episode_ending_on_the_last_step_still_resets_the_env():
    inner = CountingEnv(end=2)
    D = StepRunner(True)(RecordingAgent(), TimeStepEnv(inner), 2)
    assert [traj.T for traj in D] == [2] and inner.resets == 2


def test_runners_need_a_timestep_env_and_a_raw_action():
    with pytest.raises(AssertionError, match="TimeStepEnv"):
        EpisodeRunner()(RecordingAgent(), CountingEnv(), 1)

    class Silent(RecordingAgent):
        def choose_action(self, x, **kwargs):
            return {"V": 0}

    with pytest.raises(KeyError, match="raw_action"):
        StepRunner()(Silent(), TimeStepEnv(CountingEnv()), 1)
