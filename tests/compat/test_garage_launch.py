"""garage's deprecated run_experiment / to_local_command, its experiment_wrapper, and deterministic."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from orchestra.compat.garage import ExperimentTemplate, get_seed, run_experiment, set_seed, to_local_command
from orchestra.compat.garage.experiment import deterministic
from orchestra.compat.garage.experiment.experiment import run_experiment as same_run_experiment
from orchestra.compat.garage.experiment.experiment_wrapper import run_experiment as wrapper_main


def test_to_local_command_formats_garages_flags(monkeypatch):
    monkeypatch.delenv("GARAGE_ENV", raising=False)
    cmd = to_local_command(
        {"exp_name": "e", "algo": {"_name": "ppo", "lr": 0.1}, "hidden": [32, 32], "none": None, "q": "a b"},
        python_command="python3",
        script="my.wrapper",
    )
    assert (
        cmd
        == "python3 -m my.wrapper  --exp_name 'e'  --algo 'ppo'  --algo_lr '0.1'  --hidden '32' '32'  --none   --q 'a b'"
    )
    monkeypatch.setenv("GARAGE_ENV", "{'A': 1}")
    assert to_local_command({}).startswith(
        "A=1 python -m orchestra.compat.garage.experiment.experiment_wrapper"
    )
    monkeypatch.setenv("GARAGE_ENV", "__import__('os')")
    with pytest.raises(ValueError, match="GARAGE_ENV"):
        to_local_command({})


def method_call(snapshot_config, variant_data, from_dir, from_epoch):
    """Record what garage's child would hand the method call (defined here: travels by value)."""
    import json as j
    import os as o
    import random as r

    o.makedirs(snapshot_config.snapshot_dir, exist_ok=True)
    with open(o.path.join(snapshot_config.snapshot_dir, "called.json"), "w") as f:
        j.dump(
            {
                "snapshot": list(snapshot_config),
                "variant": variant_data,
                "from": [from_dir, from_epoch],
                "random": r.random(),
                "force_cpu": [o.environ.get("GARAGE_FORCE_CPU"), o.environ.get("CUDA_VISIBLE_DEVICES")],
            },
            f,
        )


def test_run_experiment_runs_the_call_in_a_child_with_garages_arguments(tmp_path: Path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    call = method_call
    call.__module__ = "__main__"  # so cloudpickle sends it by value, as from a launcher script
    with pytest.warns(DeprecationWarning):
        run_experiment(call, exp_prefix="my_exp", variant={"lr": 0.5}, seed=3, python_command=sys.executable)
    (log_dir,) = (tmp_path / "data" / "local" / "my-exp").iterdir()
    assert re.fullmatch(r"my_exp_\d{4}(_\d\d){5}_\d{4}", log_dir.name)
    called = json.loads((log_dir / "called.json").read_text())
    assert called["snapshot"] == [str(log_dir), "last", 1]
    assert called["variant"] == {"lr": 0.5, "exp_name": log_dir.name}
    assert called["from"] == [None, None] and called["force_cpu"][0] == "False"
    random.seed(3)
    assert called["random"] == random.random()  # --seed went through set_seed
    assert json.loads((log_dir / "variant.json").read_text()) == {"lr": 0.5, "exp_name": log_dir.name}
    assert json.loads((log_dir / "params.json").read_text())["seed"] == 3
    assert "-m orchestra.compat.garage.experiment.experiment_wrapper" in capfd.readouterr().out


def test_force_cpu_hides_gpus_from_the_child_only(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    call = method_call
    call.__module__ = "__main__"
    with pytest.warns(DeprecationWarning):
        run_experiment(
            call, exp_name="cpu", log_dir=str(tmp_path / "cpu"), force_cpu=True, python_command=sys.executable
        )
    called = json.loads((tmp_path / "cpu" / "called.json").read_text())
    assert called["force_cpu"] == ["True", "-1"]
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_a_failing_child_raises_and_dry_prints_only(tmp_path: Path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)

    def broken(*args):
        raise RuntimeError("boom")

    broken.__module__ = "__main__"
    with pytest.warns(DeprecationWarning), pytest.raises(subprocess.CalledProcessError):
        run_experiment(broken, exp_name="b", python_command=sys.executable)
    with pytest.warns(DeprecationWarning):
        run_experiment(broken, exp_name="dry", dry=True)
    assert (
        "--exp_name 'dry'" in capfd.readouterr().out
        and not (tmp_path / "data" / "local" / "experiment" / "dry").exists()
    )
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="method_call or batch_tasks"):
        run_experiment()
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ValueError, match=r"batch_tasks\[0\] has no callable"),
    ):
        run_experiment(batch_tasks=[{"exp_name": "x"}])
    assert same_run_experiment is run_experiment


def test_the_wrapper_passes_resume_arguments(tmp_path: Path):
    data = base64.b64encode(cloudpickle.dumps(method_call)).decode()
    wrapper_main(
        [
            "",
            "--args_data",
            data,
            "--log_dir",
            str(tmp_path / "d"),
            "--resume_from_dir",
            "r/",
            "--resume_from_epoch",
            "first",
        ]
    )
    called = json.loads((tmp_path / "d" / "called.json").read_text())
    assert called["from"] == ["r/", "first"] and called["variant"] is None


def test_set_seed_and_get_seed():
    set_seed(4294967294 + 5)
    assert get_seed() == 5 and deterministic.get_seed() == 5
    first = (random.random(), np.random.rand())
    set_seed(5)
    assert (random.random(), np.random.rand()) == first


def test_set_seed_makes_torch_deterministic_when_torch_is_loaded():
    code = textwrap.dedent(
        """
        import sys, types, warnings
        torch = types.ModuleType("torch")
        torch.seeds = []
        torch.manual_seed = torch.seeds.append
        torch.backends = types.SimpleNamespace(cudnn=types.SimpleNamespace(deterministic=False, benchmark=True))
        sys.modules["torch"] = torch
        from orchestra.compat.garage.experiment.deterministic import set_seed
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            set_seed(7)
        print(torch.seeds, torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, len(w))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[7]", "True", "False", "1"]


def test_experiment_template_as_the_seed_documents_it(tmp_path: Path):
    def exp(ctxt, seed=1):
        return ctxt.snapshot_dir

    template = ExperimentTemplate(
        function=exp,
        log_dir=str(tmp_path / "t"),
        name=None,
        prefix="experiment",
        snapshot_mode="last",
        snapshot_gap=1,
        archive_launch_repo=False,
        name_parameters=None,
        use_existing_dir=True,
    )
    assert template(seed=2) == str(tmp_path / "t")
