"""spinningup's call_experiment: each thunk in a fresh interpreter, spinningup's paths and banners."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from orchestra.compat.spinup_run import CallExperimentError, call_experiment, setup_logger_kwargs
from orchestra.errors import PayloadError


def recording_thunk():
    """A thunk (defined inside a function, so it travels by value) that writes what it got."""

    def thunk(seed, logger_kwargs, **kwargs):
        import json
        import os
        import sys

        os.makedirs(logger_kwargs["output_dir"], exist_ok=True)
        record = {
            "pid": os.getpid(),
            "seed": seed,
            "logger_kwargs": logger_kwargs,
            "kwargs": {k: v for k, v in kwargs.items() if k != "env_fn"},
            "env": kwargs["env_fn"]() if "env_fn" in kwargs else None,
            "in_mpi": os.environ.get("IN_MPI"),
            "marker_seen": "orchestra_marker" in sys.modules,
        }
        sys.modules["orchestra_marker"] = sys  # would leak into the next experiment in the same process
        path = os.path.join(logger_kwargs["output_dir"], f"record-{os.getpid()}.json")
        with open(path, "w") as f:
            json.dump(record, f)

    return thunk


def records(output_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(output_dir.glob("record-*.json"))]


def test_the_thunk_runs_in_a_fresh_interpreter_with_spinups_kwargs(tmp_path: Path, capfd) -> None:
    thunk = recording_thunk()
    for seed in (0, 10):
        call_experiment("ppo_test", thunk, seed=seed, data_dir=str(tmp_path), epochs=3, hid=(64, 64))
    out = capfd.readouterr().out
    for seed in (0, 10):
        output_dir = tmp_path / "ppo_test" / f"ppo_test_s{seed}"
        (record,) = records(output_dir)
        assert record["pid"] != os.getpid()
        assert record["seed"] == seed and record["kwargs"] == {"epochs": 3, "hid": [64, 64]}
        assert record["logger_kwargs"] == {"output_dir": str(output_dir), "exp_name": "ppo_test"}
        assert record["marker_seen"] is False  # nothing leaked from the previous experiment
    assert "Running experiment:" in out and "ppo_test" in out
    assert '"epochs":\t3' in out and '"seed":\t10' in out  # spinningup's separators
    assert "End of experiment." in out and str(tmp_path / "ppo_test" / "ppo_test_s10") in out


def test_datestamped_directories() -> None:
    kwargs = setup_logger_kwargs("exp", seed=3, data_dir="/data", datestamp=True)
    day = time.strftime("%Y-%m-%d")
    assert kwargs["output_dir"].startswith(f"/data/{day}_exp/{day}_")
    assert kwargs["output_dir"].endswith("-exp_s3")
    assert setup_logger_kwargs("exp", data_dir="/d") == {"output_dir": "/d/exp", "exp_name": "exp"}


def test_default_data_dir_is_data_in_the_current_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert setup_logger_kwargs("e", seed=1)["output_dir"] == str(tmp_path / "data" / "e" / "e_s1")


def test_given_logger_kwargs_are_left_alone(tmp_path: Path, capfd) -> None:
    mine = {"output_dir": str(tmp_path / "mine"), "exp_name": "custom"}
    call_experiment("exp", recording_thunk(), logger_kwargs=mine, data_dir=str(tmp_path / "unused"))
    assert records(tmp_path / "mine")[0]["logger_kwargs"] == mine
    assert "Note: Call experiment is not handling logger_kwargs." in capfd.readouterr().out
    assert not (tmp_path / "unused").exists()


def test_a_failing_thunk_prints_the_banner_and_raises(tmp_path: Path, capfd) -> None:
    def thunk(seed, logger_kwargs):
        raise ValueError("bad hyperparameters")

    with pytest.raises(subprocess.CalledProcessError):
        call_experiment("broken", thunk, data_dir=str(tmp_path))
    captured = capfd.readouterr()
    assert "There appears to have been an error in your experiment." in captured.out
    assert "ValueError: bad hyperparameters" in captured.err


def test_env_name_needs_gymnasium(tmp_path: Path) -> None:
    with pytest.raises(CallExperimentError, match="gymnasium is not installed"):
        call_experiment("exp", recording_thunk(), env_name="CartPole-v1", data_dir=str(tmp_path))
    assert not (tmp_path / "exp").exists()


def test_env_name_becomes_env_fn(tmp_path: Path, monkeypatch, capfd) -> None:
    fake = tmp_path / "site"
    (fake / "gymnasium").mkdir(parents=True)
    (fake / "gymnasium" / "__init__.py").write_text("def make(name):\n    return f'env:{name}'\n")
    monkeypatch.syspath_prepend(str(fake))  # so the parent sees it installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fake), os.environ["PYTHONPATH"]]))
    call_experiment("gym", recording_thunk(), env_name="CartPole-v1", data_dir=str(tmp_path))
    (record,) = records(tmp_path / "gym" / "gym_s0")
    assert record["env"] == "env:CartPole-v1" and "env_name" not in record["kwargs"]


def test_num_cpu_above_one_needs_mpirun(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no mpirun here
    with pytest.raises(CallExperimentError, match="mpirun is not on PATH"):
        call_experiment("mpi", recording_thunk(), num_cpu=2, data_dir=str(tmp_path))


FAKE_MPIRUN = """#!/bin/sh
# mpirun -np N command...: run the command N times (each "rank" in turn)
n=$2; shift 2
i=0
while [ "$i" -lt "$n" ]; do "$@" || exit $?; i=$((i + 1)); done
"""


def test_num_cpu_runs_every_rank_under_mpirun(tmp_path: Path, monkeypatch, capfd) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mpirun = bin_dir / "mpirun"
    mpirun.write_text(FAKE_MPIRUN)
    mpirun.chmod(mpirun.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), os.environ["PATH"]]))
    call_experiment("mpi", recording_thunk(), num_cpu=3, data_dir=str(tmp_path))
    ranks = records(tmp_path / "mpi" / "mpi_s0")
    assert len(ranks) == 3 and {r["in_mpi"] for r in ranks} == {"1"}


def test_an_unpicklable_thunk_is_named_before_launching(tmp_path: Path) -> None:
    import threading

    lock = threading.Lock()

    def thunk(seed, logger_kwargs):
        with lock:
            pass

    with pytest.raises(PayloadError, match=r"closure variable 'lock' \(lock\)"):
        call_experiment("exp", thunk, data_dir=str(tmp_path))


def test_experiment_grid_run_calls_each_variant_in_turn(tmp_path: Path, capfd) -> None:
    from orchestra.compat.spinup import ExperimentGrid

    eg = ExperimentGrid("grid")
    eg.add("seed", [0, 1])
    eg.add("lr", [0.1, 0.2], "lr", in_name=True)
    eg.run(recording_thunk(), data_dir=str(tmp_path))
    out = capfd.readouterr().out
    for lr in ("0-1", "0-2"):
        for seed in (0, 1):
            (record,) = records(tmp_path / f"grid_lr{lr}" / f"grid_lr{lr}_s{seed}")
            assert record["seed"] == seed and record["kwargs"]["lr"] in (0.1, 0.2)
    assert "grid_lr0-1" in out and "Running 4 variants" in out


def test_experiment_grid_run_with_a_thunk_key_and_a_failure_stops_the_grid(tmp_path: Path) -> None:
    from orchestra.compat.spinup import ExperimentGrid

    def failing(seed, logger_kwargs, **kwargs):
        raise RuntimeError("this variant fails")

    eg = ExperimentGrid("g")
    eg.add("algo", [failing, recording_thunk()], "", in_name=True)
    with pytest.raises(subprocess.CalledProcessError):
        eg.run("algo", data_dir=str(tmp_path))
    assert not list(tmp_path.glob("**/record-*.json")), "the variant after the failing one never ran"
