"""lagom's way, on orchestra: REINFORCE with a linear softmax policy on CartPole-v1 (numpy only).

    python examples/lagom_cartpole.py                  # 3 learning rates x 3 seeds, ~25 s on 2 cores
    orchestra plot logs/lagom_cartpole --metric return --group-by lr -o cartpole.png
    orchestra results logs/lagom_cartpole --metric return --mode max --last-pct 10

A lagom-style agent (``choose_action`` / ``learn``), an ``EpisodeRunner`` and an engine whose
``train(n)`` collects episodes and learns from them; ``run_experiment`` runs every (config, seed)
job in a process of its own and writes lagom's layout (``configs.pkl``, ``<ID>/config.yml``,
``<ID>/<seed>/``) into an orchestra sweep directory. Each job also measures ``RandomAgent``'s
return, the baseline the learned policy is compared with at the end. Calling the script again
resumes: finished jobs are kept.
"""

from __future__ import annotations

import argparse
import os

import gymnasium
import numpy as np

from orchestra.compat.lagom import (
    BaseAgent,
    BaseEngine,
    Config,
    EpisodeRunner,
    Grid,
    Logger,
    RandomAgent,
    run_experiment,
)
from orchestra.compat.lagom.envs import TimeStepEnv
from orchestra.compat.lagom.utils import pickle_dump, set_global_seeds


class Agent(BaseAgent):
    """A linear softmax policy over the observation, learnt by REINFORCE with normalised returns."""

    def __init__(self, config, env, device, seed=0, **kwargs):
        super().__init__(config, env, device, **kwargs)
        self.W = np.zeros((env.observation_space.shape[0] + 1, env.action_space.n))
        self.rng = np.random.default_rng(seed)

    def _probs(self, observation):
        logits = np.append(observation, 1.0) @ self.W
        z = np.exp(logits - logits.max())
        return z / z.sum()

    def choose_action(self, x, **kwargs):
        probs = self._probs(x.observation)
        return {"raw_action": int(self.rng.choice(len(probs), p=probs)), "probs": probs}

    def learn(self, D, **kwargs):
        gamma = self.config["agent.gamma"]
        grads, returns = [], []
        for traj in D:
            G, Gs = 0.0, []
            for r in reversed(traj.rewards):
                G = r + gamma * G
                Gs.append(G)
            returns.extend(reversed(Gs))
            for obs, action, info in zip(traj.observations[:-1], traj.actions, traj.infos):
                onehot = np.eye(len(info["probs"]))[action]
                grads.append(np.outer(np.append(obs, 1.0), onehot - info["probs"]))
        adv = np.asarray(returns)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        step = np.mean([g * a for g, a in zip(grads, adv)], axis=0)
        self.W += self.config["agent.lr"] * step
        return {"grad_norm": float(np.linalg.norm(step))}


class Engine(BaseEngine):
    def train(self, n=None, **kwargs):
        D = self.runner(self.agent, self.env, self.config["train.episodes"])
        out = self.agent.learn(D)
        logger = Logger()
        logger("iteration", n)
        logger("return", float(np.mean([sum(traj.rewards) for traj in D])))
        logger("horizon", float(np.mean([traj.T for traj in D])))
        logger("grad_norm", out["grad_norm"])
        return logger

    def eval(self, n=None, **kwargs):
        D = self.runner(self.eval_agent, self.env, self.config["eval.episodes"])
        return float(np.mean([sum(traj.rewards) for traj in D]))


def run(config, seed, device, logdir):
    set_global_seeds(seed)
    env = TimeStepEnv(gymnasium.make(config["env.id"]))
    env.reset(seed=seed)
    env.action_space.seed(seed)
    agent = Agent(config, env, device, seed=seed)
    engine = Engine(
        config, agent=agent, env=env, runner=EpisodeRunner(), eval_agent=RandomAgent(config, env, device)
    )
    random_return = engine.eval()
    train_logs = []
    for n in range(config["train.iterations"]):
        logger = engine.train(n)
        train_logs.append(logger.logs)
        logger.dump(keys=["iteration", "return"], index=-1)  # inside a job: also a metrics.jsonl record
    pickle_dump(obj=train_logs, f=logdir / "train_logs", ext=".pkl")
    final = float(np.mean([logs["return"][-1] for logs in train_logs[-5:]]))
    return {"lr": config["agent.lr"], "seed": seed, "final_return": final, "random_return": random_return}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--log-dir", default="logs/lagom_cartpole")
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    args = p.parse_args()
    config = Config(
        {
            "env.id": "CartPole-v1",
            "agent.lr": Grid([1.0, 3.0, 10.0]),
            "agent.gamma": 0.99,
            "train.iterations": args.iterations,
            "train.episodes": 8,
            "eval.episodes": 20,
        }
    )
    results = run_experiment(run, config, seeds=[1, 2, 3], log_dir=args.log_dir, max_workers=args.workers)
    print(f"\n{'lr':>6}  {'seed':>4}  {'return (last 5 iterations)':>26}  {'RandomAgent':>11}")
    for r in results:
        print(f"{r['lr']:>6}  {r['seed']:>4}  {r['final_return']:>26.1f}  {r['random_return']:>11.1f}")
    learned = np.mean([r["final_return"] for r in results])
    random = np.mean([r["random_return"] for r in results])
    print(f"mean over all jobs: {learned:.1f} learned vs {random:.1f} random")


if __name__ == "__main__":
    main()
