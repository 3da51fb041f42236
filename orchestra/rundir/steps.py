"""Which ``metrics.jsonl`` keys are the step (the x axis) rather than a metric: one list, one owner."""

from __future__ import annotations

STEP_KEYS = ("step", "iteration", "itr", "epoch", "timestep", "global_step")
