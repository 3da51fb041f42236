"""lagom's ``lagom.envs.TimeStepEnv``, on gymnasium: see :mod:`orchestra.rl.env`."""

from orchestra.rl.env import TimeStepEnv

__all__ = ["TimeStepEnv"]
