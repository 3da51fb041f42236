"""garage's wrap_experiment, ExperimentContext, Snapshotter, dump_json and LogEncoder on orchestra."""

from __future__ import annotations

import enum
import inspect
import itertools
import json
import os
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

import numpy as np
import pytest

from orchestra.compat.garage import (
    ExperimentContext,
    Snapshotter,
    dump_json,
    wrap_experiment,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_signature_drops_ctxt_and_makes_the_rest_keyword_only() -> None:
    @wrap_experiment
    def exp(ctxt, seed=1, env="test-env", lr=0.5):
        """Docs of exp."""

    assert str(inspect.signature(exp)) == "(*, seed=1, env='test-env', lr=0.5)"
    assert exp.__name__ == "exp" and exp.__doc__ == "Docs of exp."


def test_the_first_parameter_must_be_ctxt() -> None:
    with pytest.raises(ValueError, match="first parameter named 'ctxt' instead of 'ctx'"):
        wrap_experiment(lambda ctx, seed: None)
    with pytest.raises(ValueError, match="has no parameters"):
        wrap_experiment(lambda: None)


def test_decorator_with_options_takes_exactly_one_function() -> None:
    template = wrap_experiment(snapshot_mode="all")
    with pytest.raises(ValueError, match="Please apply the result of wrap_experiment"):
        template(lambda ctxt: None, lambda ctxt: None)


def test_a_run_gets_a_context_log_dir_variant_and_metadata(in_tmp: Path, capsys) -> None:
    @wrap_experiment(snapshot_mode="gap", snapshot_gap=2)
    def my_exp(ctxt, seed, lr=0.5):
        return ctxt

    ctxt = my_exp(seed=3)
    log_dir = in_tmp / "data" / "local" / "experiment" / "my_exp"
    assert isinstance(ctxt, ExperimentContext)
    assert (ctxt.snapshot_dir, ctxt.snapshot_mode, ctxt.snapshot_gap) == (str(log_dir), "gap", 2)
    assert json.loads((log_dir / "variant.json").read_text()) == {"seed": 3}  # defaults are not recorded
    assert (log_dir / "metadata.json").exists()
    assert f"[my_exp] Logging to {log_dir}" in capsys.readouterr().out


def test_positional_arguments_and_unknown_options_are_refused() -> None:
    @wrap_experiment
    def exp(ctxt, seed=1):
        pass

    with pytest.raises(ValueError, match="only supports keyword arguments"):
        exp(3)
    with pytest.raises(ValueError, match="Unknown key bogus in wrap_experiment options"):
        exp({"bogus": 1})


def test_an_options_dict_overrides_the_templates(in_tmp: Path, capsys) -> None:
    @wrap_experiment(snapshot_mode="last")
    def exp(ctxt, seed=1):
        return ctxt

    ctxt = exp({"log_dir": str(in_tmp / "custom"), "snapshot_mode": "all"}, seed=2)
    assert ctxt.snapshot_dir == str(in_tmp / "custom") and ctxt.snapshot_mode == "all"


def test_sequential_directories_are_claimed_in_turn(in_tmp: Path, capsys) -> None:
    @wrap_experiment(prefix="pre", name="named")
    def exp(ctxt):
        return ctxt.snapshot_dir

    base = str(in_tmp / "data" / "local" / "pre" / "named")
    assert [exp() for _ in range(3)] == [base, base + "_1", base + "_2"]


def test_use_existing_dir_reuses_it(in_tmp: Path, capsys) -> None:
    @wrap_experiment(use_existing_dir=True)
    def exp(ctxt):
        return ctxt.snapshot_dir

    assert exp() == exp()


@pytest.mark.parametrize(
    ("name_parameters", "suffix"),
    [
        (None, ""),
        ("passed", "_seed=4_lr=0.1"),
        ("all", "_seed=4_env=test-env_lr=0.1"),
        (["env"], "_env=test-env"),
    ],
)
def test_name_parameters_in_signature_order(in_tmp: Path, capsys, name_parameters, suffix: str) -> None:
    @wrap_experiment(name_parameters=name_parameters)
    def exp(ctxt, seed=1, env="test-env", lr=0.5):
        return ctxt.snapshot_dir

    assert exp(lr=0.1, seed=4) == str(in_tmp / "data" / "local" / "experiment" / ("exp" + suffix))


def test_bad_name_parameters_fail_at_call_time() -> None:
    @wrap_experiment(name_parameters="some")
    def exp(ctxt):
        pass

    with pytest.raises(ValueError, match='one of None, "passed", or "all"'):
        exp()


def test_conflicting_snapshot_settings_fail_before_a_directory_is_made(in_tmp: Path) -> None:
    with pytest.raises(ValueError, match="snapshot_gap must be 1"):
        wrap_experiment(snapshot_mode="last", snapshot_gap=3)

    @wrap_experiment
    def exp(ctxt):
        pass

    with pytest.raises(ValueError, match="needs snapshot_gap > 1"):
        exp({"snapshot_mode": "gap_overwrite"})
    assert not (in_tmp / "data").exists()


def test_an_experiment_that_raises_leaks_nothing_into_the_next(in_tmp: Path, capsys) -> None:
    @wrap_experiment
    def exp(ctxt, fail=False):
        if fail:
            raise RuntimeError("boom")
        return ctxt.snapshot_dir

    fds_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(RuntimeError, match="boom"):
        exp(fail=True)
    second = exp()
    assert second.endswith("exp_1")
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert sorted(os.listdir(in_tmp / "data" / "local" / "experiment")) == ["exp", "exp_1"]


CONCURRENT = """
import sys
from orchestra.compat.garage import wrap_experiment

@wrap_experiment(archive_launch_repo=False)
def race(ctxt):
    print(ctxt.snapshot_dir)

race()
"""


def test_concurrent_experiments_never_share_a_directory(in_tmp: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT], cwd=in_tmp, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    dirs = [p.communicate(timeout=60)[0].split()[-1] for p in procs]
    base = str(in_tmp / "data" / "local" / "experiment" / "race")
    assert sorted(dirs) == [base, base + "_1", base + "_2", base + "_3"]


GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
LAUNCHER = """
import warnings
warnings.simplefilter("always")
from orchestra.compat.garage import Snapshotter, wrap_experiment

@wrap_experiment(log_dir={log_dir!r})
def exp(ctxt, seed=1):
    Snapshotter(ctxt.snapshot_dir, ctxt.snapshot_mode, ctxt.snapshot_gap).save_itr_params(0, {{"seed": seed}})

exp(seed=7)
"""


def test_metadata_and_launch_archive_of_the_launching_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "subdir").mkdir()
    log_dir = tmp_path / "out"
    (repo / "subdir" / "run_exp.py").write_text(LAUNCHER.format(log_dir=str(log_dir)))
    (repo / "deleted.txt").write_text("x")
    subprocess.run([*GIT, "add", "."], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "init"], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    (repo / "deleted.txt").unlink()
    (repo / "test.txt").write_text("untracked")
    with open(repo / "large.obj", "wb") as f:
        f.truncate(10 * 2**20)
    out = subprocess.run(
        [sys.executable, "subdir/run_exp.py"],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads((log_dir / "metadata.json").read_text()) == {
        "githash": head + "-dirty",
        "launcher": "subdir/run_exp.py",
    }
    assert json.loads((log_dir / "variant.json").read_text()) == {"seed": 7}
    listing = subprocess.run(
        ["tar", "-tJf", str(log_dir / "launch_archive.tar.xz")], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "subdir/run_exp.py" in listing and "test.txt" in listing
    assert "large.obj" not in listing and "deleted.txt" not in listing
    assert "Archiving a launch repo larger than 8MiB" in out.stderr
    assert Snapshotter(log_dir).load(log_dir) == {"seed": 7}  # 'last' mode: params.pkl in the log dir


class Color(enum.Enum):
    RED = 1


class Slotted:
    __slots__ = ("a",)

    def __init__(self) -> None:
        self.a = 1


class Node:
    def __init__(self) -> None:
        self.me = self
        self.table = {(1, 2): "tuple key"}


def plain_function() -> None:
    pass


def test_dump_json_encodes_what_garage_encodes(tmp_path: Path) -> None:
    data = {
        "np_int": np.int64(3),
        "np_bool": np.bool_(True),
        "array": np.arange(2),
        "cls": Color,
        "enum": Color.RED,
        "slots": Slotted(),
        "node": Node(),
        "function": plain_function,
        "builtin": len,
        "counter": itertools.count(),
        "ref": weakref.ref(Color),
        "frozen": frozenset([1]),
    }
    path = tmp_path / "deep" / "x.json"
    dump_json(path, data)
    out = json.loads(path.read_text())
    assert out["np_int"] == 3.0 and isinstance(out["np_int"], float)
    assert out["np_bool"] is True
    assert out["array"] == "array([0, 1])"
    assert out["cls"] == {"$typename": f"{__name__}.Color"}
    assert out["enum"] == {"$enum": f"{__name__}.Color.RED"}
    assert out["slots"] == {"a": 1, "$type": f"{__name__}.Slotted"}
    assert out["node"]["me"].startswith(f"circular <{__name__}.Node object")
    assert out["node"]["table"] == {"(1, 2)": "tuple key"}
    assert out["function"] == {"$type": "builtins.function"}  # garage HEAD's quirk: functions have a __dict__
    assert out["builtin"] == {"$function": "builtins.len"}
    assert out["counter"] == "count(0)"
    assert out["ref"].startswith("<weakref at ")
    assert out["frozen"] == [1]
    assert path.read_text().startswith('{\n  "np_int"')  # indent 2, keys in insertion order


def test_snapshotter_keeps_garages_interface(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import os
        from orchestra.compat.garage import Snapshotter
        s = Snapshotter()
        print(s.snapshot_dir == os.path.join(os.getcwd(), "data", "local", "experiment"), os.path.isdir(s.snapshot_dir))
        print(s.snapshot_mode, s.snapshot_gap)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    assert out.stdout.split() == ["True", "True", "last", "1"], out.stderr
