"""CMA-ES over the weights of a linear CartPole-v1 policy, each candidate a run of its own.

    orchestra up examples/es_cartpole.py                 # 40 candidates x 3 seeds = 120 runs, ~30 s on 2 cores
    orchestra results sweeps/es_cartpole                 # candidates ranked by their mean return
    orchestra plot sweeps/es_cartpole --x generation -o es_cartpole.png

The policy pushes right when ``w . observation > 0``: four weights, searched in [-1, 1] by
CMA-ES (lagom's ``CMAES``, popsize 8, one generation at a time). Each candidate is evaluated on
three episodes, one run per seed (the episode's reset seed); the search is told the candidate's
mean return. With the seed below, a candidate balances the pole for the maximum of 500 steps on
all three episodes in generation 2 (by the 24th candidate), well within the budget of 40.
"""

import gymnasium
import numpy as np

from orchestra import Sweep
from orchestra.search import CMAES, Box


def episode(ctx, config, seed):
    weights = np.array([config[f"w{i}"] for i in range(4)])
    env = gymnasium.make("CartPole-v1")
    observation, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        observation, reward, terminated, truncated, _ = env.step(int(observation @ weights > 0))
        total += float(reward)
        done = terminated or truncated
    ctx.logger("return", total)
    ctx.logger.dump()
    return {"return": total}


sweep = Sweep(
    episode,
    Box({f"w{i}": (-1.0, 1.0) for i in range(4)}),
    seeds=[0, 1, 2],
    search=CMAES(sigma0=0.3, popsize=8, seed=0),
    objective="return",
    mode="max",
    budget=40,
)
