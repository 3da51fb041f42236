"""TimeStep and Trajectory: lagom's own tests (test/test_lagom.py) on gymnasium envs, and properties."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.rl import StepType, TimeStep, TimeStepEnv, Trajectory


def test_step_types_are_lagoms():
    assert [int(t) for t in StepType] == [0, 1, 2] and [t.name for t in StepType] == ["FIRST", "MID", "LAST"]


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_timestep_predicates_along_an_episode(env_id):
    env = gymnasium.make(env_id)
    observation, _ = env.reset(seed=0)
    timestep = TimeStep(StepType.FIRST, observation=observation, reward=None, done=None, info=None)
    assert timestep.first() and not timestep.mid() and not timestep.last()
    assert not timestep.time_limit() and not timestep.terminal()
    env.action_space.seed(0)
    for _ in range(env.spec.max_episode_steps):
        observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            info = {**info, "TimeLimit.truncated": truncated and not terminated}
            timestep = TimeStep(StepType.LAST, observation, reward, True, info)
            assert timestep.last() and not timestep.first() and not timestep.mid()
            assert timestep.time_limit() == (truncated and not terminated)
            assert timestep.terminal() == terminated
            break
        timestep = TimeStep(StepType.MID, observation, reward, False, info)
        assert timestep.mid() and not timestep.first() and not timestep.last()
        assert not timestep.time_limit() and not timestep.terminal()
    else:
        pytest.fail("the episode never ended")


def test_timestep_checks_and_lookups():
    with pytest.raises(AssertionError, match="reward, done and info must be None"):
        TimeStep(StepType.FIRST, 0, 1.0, None, None).first()
    with pytest.raises(AssertionError, match="done=True"):
        TimeStep(StepType.LAST, 0, 1.0, False, {}).last()
    ts = TimeStep(StepType.MID, 0, 1.0, False, {"V": 2})
    assert ts["V"] == 2 and repr(ts) == "TimeStep(MID)"
    with pytest.raises(KeyError):
        ts["missing"]
    assert TimeStep(StepType.LAST, 0, 1.0, True, {"TimeLimit.truncated": 1}).time_limit() == 1


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_lagoms_trajectory_test(env_id):
    env = TimeStepEnv(gymnasium.make(env_id))
    env.action_space.seed(1)
    traj = Trajectory()
    assert len(traj) == 0 and traj.T == 0
    with pytest.raises(AssertionError, match="starts with a FIRST timestep"):
        traj.add(TimeStep(StepType.MID, 1, 2, True, {}), 0.5)
    timestep = env.reset(seed=1)
    traj.add(timestep, None)
    assert len(traj) == 1 and traj.T == 0
    with pytest.raises(AssertionError, match="needs its action"):
        traj.add(TimeStep(StepType.MID, 1, 2, True, {}), None)
    while not timestep.last():
        action = env.action_space.sample()
        timestep = env.step(action)
        traj.add(timestep, action)
        if not timestep.last():
            assert len(traj) == traj.T + 1 and not traj.finished
    with pytest.raises(AssertionError, match="finished trajectory"):
        traj.add(timestep, 5.3)
    traj.extra_info = {"last_V": 2.4, "last_action": 1.3}
    traj.extra_info = {**traj.extra_info, "last_Q": 5.4}
    assert traj.extra_info == {"last_V": 2.4, "last_action": 1.3, "last_Q": 5.4}
    assert traj.finished
    assert traj.reach_time_limit == traj[-1].time_limit() and traj.reach_terminal == traj[-1].terminal()
    assert np.asarray(traj.observations).shape == (traj.T + 1, *env.observation_space.shape)
    assert len(traj.actions) == len(traj.rewards) == len(traj.dones) == len(traj.infos) == traj.T
    for t, (obs, action, next_obs, reward, done) in enumerate(traj.transitions):
        assert np.allclose(obs, traj[t].observation) and np.allclose(action, traj.actions[t])
        assert np.allclose(next_obs, traj[t + 1].observation)
        assert reward == traj[t + 1].reward and done == traj[t + 1].done
    assert len(traj.get_infos("TimeLimit.truncated")) == 1


def test_pendulum_ends_by_its_time_limit_not_a_terminal_state():
    env = TimeStepEnv(gymnasium.make("Pendulum-v1"))
    env.action_space.seed(0)
    traj = Trajectory()
    ts = env.reset(seed=0)
    traj.add(ts, None)
    while not ts.last():
        a = env.action_space.sample()
        ts = env.step(a)
        traj.add(ts, a)
    assert traj.T == 200 and traj.reach_time_limit and not traj.reach_terminal
    assert repr(traj) == "Trajectory(T: 200, Finished: True, Reach time limit: True, Reach terminal: False)"


def test_nested_iteration_over_one_trajectory_sees_every_pair():
    traj = Trajectory()
    traj.add(TimeStep(StepType.FIRST, 0, None, None, None), None)
    traj.add(TimeStep(StepType.MID, 1, 0.0, False, {}), 0)
    traj.add(TimeStep(StepType.LAST, 2, 0.0, True, {}), 0)
    assert len([(a, b) for a in traj for b in traj]) == 9  # lagom's shared cursor gave 3


def test_transitions_need_a_transition():
    traj = Trajectory()
    traj.add(TimeStep(StepType.FIRST, 0, None, None, None), None)
    with pytest.raises(AssertionError, match="T == 0"):
        _ = traj.transitions


# ---------------------------------------------------------------------------------------- properties

step = st.tuples(
    st.integers(-5, 5), st.floats(-10, 10), st.dictionaries(st.sampled_from("abc"), st.integers())
)


@given(steps=st.lists(step, max_size=30), ends=st.booleans(), truncated=st.booleans())
def test_trajectory_views_agree_with_what_was_added(steps, ends, truncated):
    traj = Trajectory()
    traj.add(TimeStep(StepType.FIRST, "start", None, None, None), None)
    for i, (action, reward, info) in enumerate(steps):
        last = ends and i == len(steps) - 1
        if last:
            info = {**info, "TimeLimit.truncated": truncated}
        traj.add(TimeStep(StepType.LAST if last else StepType.MID, i, reward, last, info), action)
    T = len(steps)
    assert len(traj) == T + 1 and traj.T == T
    assert traj.observations == ["start", *range(T)]
    assert traj.actions == [a for a, _, _ in steps]
    assert traj.rewards == [r for _, r, _ in steps]
    assert traj.dones == [ends and i == T - 1 for i in range(T)]
    assert [ts.observation for ts in traj] == traj.observations and traj[1:] == traj.timesteps[1:]
    finished = ends and T > 0
    assert traj.finished == finished
    assert traj.reach_time_limit == (finished and truncated)
    assert traj.reach_terminal == (finished and not truncated)
    assert traj.get_infos("a") == [info["a"] for _, _, info in steps if "a" in info]
    if T:
        assert [tr[0] for tr in traj.transitions] == traj.observations[:-1]
        assert [tr[2] for tr in traj.transitions] == traj.observations[1:]
        assert [tr[1] for tr in traj.transitions] == traj.actions
    if finished:
        with pytest.raises(AssertionError):
            traj.add(TimeStep(StepType.MID, 0, 0.0, False, {}), 0)
        assert len(traj) == T + 1  # a refused add changes nothing


@given(kinds=st.lists(st.sampled_from(list(StepType)), min_size=1, max_size=10))
def test_a_trajectory_accepts_exactly_lagoms_sequences(kinds):
    """FIRST first; after it anything until a LAST, then nothing."""
    traj = Trajectory()
    accepted = 0
    for i, kind in enumerate(kinds):
        first = kind is StepType.FIRST
        ts = TimeStep(
            kind, i, None if first else 0.0, None if first else kind is StepType.LAST, None if first else {}
        )
        should = (accepted == 0 and first) or (accepted > 0 and not traj.finished)
        try:
            traj.add(ts, None if accepted == 0 else 1)
        except AssertionError:
            assert not should
        else:
            assert should
            accepted += 1
    assert len(traj) == accepted
