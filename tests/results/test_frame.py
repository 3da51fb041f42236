"""to_dataframe: one row per run or per (run, step); pandas is optional."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from orchestra.results import MetricError, load_sweep
from tests.results.sweepdirs import record, write_run, write_sweep


@pytest.fixture
def sweep(tmp_path):
    configs = [
        {"lr": 0.1, "model": {"hidden": 64}, "step": "adam"},
        {"lr": 0.2, "model": {"hidden": 128}, "step": "sgd"},
    ]
    sd, vs = write_sweep(tmp_path, configs, seeds=(0, 1))
    write_run(sd, vs[0], 0, curves={"iteration": [0, 1, 2], "loss": [3.0, 2.0, 1.0]})
    write_run(
        sd,
        vs[0],
        1,
        records=[record(0, loss=5.0), record(1, loss=4.0, note="x"), record(1, attempt=2, loss=3.5)],
    )
    write_run(sd, vs[1], 0, curves={"loss": [9.0]}, state="running")
    return load_sweep(sd.path)


def test_one_row_per_run_with_parameters_and_final_values(sweep):
    df = sweep.to_dataframe()
    assert list(df.columns) == [
        "run",
        "variant",
        "seed",
        "state",
        "lr",
        "model.hidden",
        "step",
        "iteration",
        "loss",
    ]
    assert len(df) == 4
    assert df["seed"].tolist() == [0, 1, 0, 1]
    assert df["state"].tolist() == ["completed", "completed", "lost", "queued"]
    assert df["model.hidden"].tolist() == [64, 64, 128, 128]
    assert df["loss"].tolist()[:3] == [1.0, 3.5, 9.0] and math.isnan(df["loss"].tolist()[3])


def test_one_row_per_run_and_step(sweep):
    df = sweep.to_dataframe(steps=True, metrics=["loss", "iteration"])
    # the parameter named "step" makes room for the step column
    assert list(df.columns) == [
        "run",
        "variant",
        "seed",
        "state",
        "lr",
        "model.hidden",
        "param:step",
        "step",
        "time",
        "loss",
        "iteration",
    ]
    assert len(df) == 3 + 2 + 1  # repeated step 1 of the second run kept once
    assert df["step"].tolist() == [0, 1, 2, 0, 1, 0]
    assert df["loss"].tolist() == [3.0, 2.0, 1.0, 5.0, 3.5, 9.0]
    assert df["param:step"].tolist() == ["adam"] * 5 + ["sgd"]
    assert df["iteration"].tolist()[:3] == [0, 1, 2] and df["iteration"].isna().tolist()[3:] == [True] * 3


def test_naming_a_metric_no_run_logged_is_a_user_error(sweep):
    with pytest.raises(
        MetricError, match=r"logged metrics: iteration, loss$"
    ):  # "note" was on a replaced record
        sweep.to_dataframe(metrics=["acc"])


def test_without_pandas_the_error_says_how_to_install_it(sweep):
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "from orchestra.results import load_sweep, MissingExtraError\n"
        f"s = load_sweep({str(sweep.path)!r})\n"
        "try:\n    s.to_dataframe()\nexcept MissingExtraError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (
        out.stdout.strip()
        == "to_dataframe() needs pandas, which is not installed; pip install 'orchestra-sweeps[analysis]'"
    )
