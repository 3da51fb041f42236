"""BaseAgent, RandomAgent and BaseEngine (lagom's agent.py, engine.py and test_random_agent)."""

from __future__ import annotations

import gymnasium
import pytest

from orchestra.rl import BaseAgent, BaseEngine, RandomAgent, TimeStepEnv


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_random_agent_samples_the_action_space(env_id):
    env = TimeStepEnv(gymnasium.make(env_id))
    agent = RandomAgent(None, env, "cpu")
    out = agent.choose_action(env.reset(seed=0))
    assert isinstance(out, dict) and out["raw_action"] in env.action_space
    assert agent.learn([]) == {}


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_random_agent_on_a_vector_env_samples_one_action_per_env(env_id):
    env = gymnasium.make_vec(env_id, num_envs=5, vectorization_mode="sync")
    out = RandomAgent(None, env, None).choose_action(env.reset(seed=0))
    assert isinstance(out["raw_action"], list) and len(out["raw_action"]) == 5
    assert all(a in env.single_action_space for a in out["raw_action"])


def test_random_agent_draws_from_the_spaces_own_generator():
    env = gymnasium.make("CartPole-v1")
    actions = []
    for _ in range(2):
        env.action_space.seed(7)
        actions.append([RandomAgent(None, env, None).choose_action(None)["raw_action"] for _ in range(20)])
    assert actions[0] == actions[1]


def test_base_agent_keeps_what_it_is_given():
    class Agent(BaseAgent):
        def choose_action(self, x, **kwargs):
            return {"raw_action": 0}

        def learn(self, D, **kwargs):
            return {"loss": 0.0}

    agent = Agent({"lr": 0.1}, "env", "cuda:0", gamma=0.99)
    assert (agent.config, agent.env, agent.device, agent.gamma) == ({"lr": 0.1}, "env", "cuda:0", 0.99)
    assert agent.info == {} and agent.is_recurrent is None


def test_an_agent_must_choose_and_learn():
    class Half(BaseAgent):
        def choose_action(self, x, **kwargs):
            return {"raw_action": 0}

    with pytest.raises(TypeError):
        Half(None, None, None)


def test_base_engine_sets_its_keywords_and_is_abstract():
    class Engine(BaseEngine):
        def train(self, n=None, **kwargs):
            D = self.runner(self.agent, self.env, 2)
            return {"n": n, "D": D}

        def eval(self, n=None, **kwargs):
            return {}

    engine = Engine({"lr": 1}, agent="A", env="B", runner=lambda agent, env, T: [agent, env, T])
    assert engine.config == {"lr": 1} and engine.agent == "A" and engine.env == "B"
    assert engine.train(3) == {"n": 3, "D": ["A", "B", 2]}
    with pytest.raises(TypeError):
        BaseEngine({})
    with pytest.raises(TypeError):
        Engine({}, config={})  # config is given twice
