"""Which key is the step: declared, else one list of RL/ML step names; and what the runtime writes."""

from __future__ import annotations

import pytest

from orchestra import Config, Grid, Sweep
from orchestra.errors import UserError
from orchestra.rundir import read_jsonl
from orchestra.rundir.steps import STEP_KEYS, is_step_key, row_step, step_key
from orchestra.runtime.logger import Logger, MetricsWriter


@pytest.mark.parametrize(
    ("values", "declared", "step"),
    [
        ({"episode": 3, "env_steps": 600, "return": 1.5}, None, 600),  # the finer counter wins
        ({"episode": 3, "env_steps": 600}, "episode", 3),
        ({"epoch": 2, "global_step": 900}, None, 900),
        ({"iteration": 7, "itr": 8}, None, 7),
        ({"TotalEnvSteps": 4000, "Epoch": 4}, None, 4000),  # garage's and spinningup's names
        ({"time/total_timesteps": 2048, "time/iterations": 1}, None, 2048),  # stable-baselines'
        ({"frames": 4000.0, "loss": 1.0}, None, 4000),  # an integral float counts
        ({"step": 2.5, "epoch": 1}, None, 1),  # a fractional one does not
        ({"step": True}, None, None),
        ({"loss": 1.0}, None, None),
        ({"loss": 1.0}, "env_steps", None),
    ],
)
def test_row_step(values, declared, step):
    assert row_step(values, declared) == step


def test_the_list_names_the_usual_rl_and_ml_counters_once():
    for name in ("iteration", "itr", "step", "epoch", "episode", "env_steps", "timesteps", "total_timesteps",
                 "frames", "global_step"):  # fmt: skip
        assert name in STEP_KEYS
    assert len(set(STEP_KEYS)) == len(STEP_KEYS)
    assert is_step_key("Itr") and is_step_key("reward", declared="reward") and not is_step_key("return")
    assert step_key(["return", "episode", "env_steps"]) == "env_steps"
    assert step_key(["return", "episode"], declared="tick") is None


def test_a_logger_told_its_step_writes_it_and_rows_without_it_take_the_last(tmp_path, capsys):
    path = tmp_path / "metrics.jsonl"
    writer = MetricsWriter(path, attempt=1, step="env_steps")  # what Sweep(step="env_steps") sets up
    run_logger = Logger(metrics=writer)
    run_logger("episode", 1)
    run_logger("env_steps", 200)
    run_logger.dump()
    run_logger("eval_return", 9.5)  # an evaluation dump after it: at the same step
    run_logger.dump()
    own = Logger(metrics=writer, step="episode")  # told otherwise
    own("episode", 1)
    own("env_steps", 200)
    own.dump()
    assert [r["step"] for r in read_jsonl(path).records] == [200, 200, 1]


def test_sweep_records_its_step_and_objective_and_passes_the_step_to_runs():
    sweep = Sweep(
        lambda: None, Config({"lr": Grid([1, 2])}), step="env_steps", objective="return", mode="max"
    )
    assert {k: sweep.settings()[k] for k in ("step", "objective", "mode")} == {
        "step": "env_steps",
        "objective": "return",
        "mode": "max",
    }
    assert sweep.run_options()["step"] == "env_steps"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"objective": "return"}, "Sweep objective 'return' needs mode='max' or mode='min'"),
        ({"objective": "return", "mode": "up"}, "needs mode='max' or mode='min' (whether bigger is better), got 'up'"),
        ({"mode": "max"}, "Sweep mode='max' needs an objective"),
        ({"step": "env_steps", "objective": "env_steps", "mode": "max"}, "Sweep objective 'env_steps' is the step"),
        ({"step": ""}, "Sweep step must be the name of a logged key"),
    ],
)  # fmt: skip
def test_sweep_objective_mistakes(kw, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Sweep(lambda: None, Config({"lr": Grid([1, 2])}), **kw)
