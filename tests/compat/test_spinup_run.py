"""spinningup's call_experiment: each thunk in a fresh interpreter, spinningup's paths and banners."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
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


def test_env_name_becomes_a_gymnasium_env_fn(tmp_path: Path) -> None:
    def thunk(seed, logger_kwargs, env_fn):
        import json
        import os

        env = env_fn()
        obs, _ = env.reset(seed=seed)
        os.makedirs(logger_kwargs["output_dir"], exist_ok=True)
        with open(os.path.join(logger_kwargs["output_dir"], "env.json"), "w") as f:
            json.dump({"id": env.spec.id, "module": type(env.unwrapped).__module__, "obs": len(obs)}, f)

    call_experiment("gym", thunk, env_name="CartPole-v1", data_dir=str(tmp_path))
    record = json.loads((tmp_path / "gym" / "gym_s0" / "env.json").read_text())
    assert record == {"id": "CartPole-v1", "module": "gymnasium.envs.classic_control.cartpole", "obs": 4}


def test_env_name_without_gymnasium_is_refused_before_launching(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["gymnasium"] = None  # as if it were not installed
        from orchestra.compat.spinup import call_experiment
        from orchestra.errors import UserError
        try:
            call_experiment("exp", print, env_name="CartPole-v1", data_dir={str(tmp_path)!r})
        except ValueError as exc:
            print(isinstance(exc, UserError), exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith(
        "True call_experiment: env_name='CartPole-v1' becomes env_fn = gymnasium.make"
    )
    assert "gymnasium is not installed" in out.stdout
    assert not (tmp_path / "exp").exists()


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


@pytest.fixture
def no_wait(monkeypatch):
    from orchestra.compat.spinup import user_config

    monkeypatch.setattr(user_config, "WAIT_BEFORE_LAUNCH", 0)


def test_experiment_grid_run_calls_each_variant_in_turn(tmp_path: Path, capfd, no_wait) -> None:
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


def test_experiment_grid_run_with_a_thunk_key_and_a_failure_stops_the_grid(tmp_path: Path, no_wait) -> None:
    from orchestra.compat.spinup import ExperimentGrid

    def failing(seed, logger_kwargs, **kwargs):
        raise RuntimeError("this variant fails")

    eg = ExperimentGrid("g")
    eg.add("algo", [failing, recording_thunk()], "", in_name=True)
    with pytest.raises(subprocess.CalledProcessError):
        eg.run("algo", data_dir=str(tmp_path))
    assert not list(tmp_path.glob("**/record-*.json")), "the variant after the failing one never ran"


def test_experiment_grid_run_waits_before_launching(tmp_path: Path, capfd, monkeypatch) -> None:
    from orchestra.compat.spinup import ExperimentGrid, user_config

    monkeypatch.setattr(user_config, "WAIT_BEFORE_LAUNCH", 0.3)
    eg = ExperimentGrid("w")
    eg.add("lr", [0.1])
    started = time.monotonic()
    eg.run(recording_thunk(), data_dir=str(tmp_path))
    assert time.monotonic() - started >= 0.3
    assert "Launching in 0.3 seconds; Ctrl-C to stop." in capfd.readouterr().out


def test_user_config_defaults_are_read_when_used(tmp_path: Path, monkeypatch) -> None:
    from orchestra.compat import spinup
    from orchestra.compat.spinup import user_config

    defaults = (
        spinup.DEFAULT_DATA_DIR,
        spinup.FORCE_DATESTAMP,
        spinup.DEFAULT_SHORTHAND,
        spinup.WAIT_BEFORE_LAUNCH,
    )
    assert defaults == ("data", False, True, 5)
    monkeypatch.setattr(user_config, "DEFAULT_DATA_DIR", str(tmp_path / "elsewhere"))
    assert setup_logger_kwargs("e", seed=1)["output_dir"] == str(tmp_path / "elsewhere" / "e" / "e_s1")
    monkeypatch.setattr(user_config, "FORCE_DATESTAMP", True)
    assert setup_logger_kwargs("e", data_dir="/d")["output_dir"] == f"/d/{time.strftime('%Y-%m-%d')}_e"
    monkeypatch.setattr(user_config, "DEFAULT_SHORTHAND", False)
    eg = spinup.ExperimentGrid("g")
    eg.add("pi_lr", [0.1, 0.2])
    assert eg.variant_name({"pi_lr": 0.1}) == "g_pi_lr0-1"
