"""lagom.utils, lagom.envs, lagom.transform and lagom's top-level names under orchestra.compat.lagom."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orchestra.compat import lagom
from orchestra.compat.lagom.utils import (
    CloudpickleWrapper,
    Seeder,
    pickle_dump,
    pickle_load,
    set_global_seeds,
    yaml_dump,
    yaml_load,
)
from orchestra.errors import UserError


def test_every_lagom_name_imports_from_its_module_path():
    from orchestra.compat.lagom import (  # noqa: F401
        CEM,
        CMAES,
        BaseAgent,
        BaseEngine,
        BaseES,
        BaseRunner,
        EpisodeRunner,
        Logger,
        RandomAgent,
        StepRunner,
        StepType,
        TimeStep,
        Trajectory,
    )
    from orchestra.compat.lagom.envs import TimeStepEnv
    from orchestra.compat.lagom.experiment import Condition, Config, Grid, Sample, run_experiment  # noqa: F401
    from orchestra.compat.lagom.transform import LinearSchedule  # noqa: F401
    from orchestra.rl import TimeStepEnv as Native

    assert TimeStepEnv is Native and lagom.Trajectory is Trajectory
    with pytest.raises(AttributeError):
        lagom.NotALagomName  # noqa: B018


def test_config_and_run_experiment_import_without_the_rl_extra():
    code = (
        "import sys; sys.modules['numpy'] = sys.modules['gymnasium'] = sys.modules['cma'] = None\n"
        "from orchestra.compat.lagom import Config, Grid, run_experiment\n"
        "print(len(Config({'a': Grid([1, 2])}).make_configs()))\n"
        "from orchestra.compat.lagom import Trajectory\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "2"
    assert "ModuleNotFoundError" in out.stderr or "ImportError" in out.stderr


def test_lagoms_seeder_test():
    seeder = Seeder(init_seed=0)
    assert seeder.rng.get_state()[1][0] == 0
    assert Seeder(0)(5) == [209652396, 398764591, 924231285, 1478610112, 441365315]
    assert Seeder(0)([2, 3]) == [[209652396, 398764591, 924231285], [1478610112, 441365315, 1537364731]]
    assert [seeder(1), seeder(1)] == [[209652396], [398764591]]
    assert len(seeder(size=5)) == 5
    assert np.asarray(seeder([1, 3])).shape == (1, 3) and np.asarray(seeder([2, 3])).shape == (2, 3)
    for bad in (-1, 1.5, np.int64(3)):
        with pytest.raises(AssertionError, match="non-negative int"):
            Seeder(bad)


def test_set_global_seeds_seeds_random_and_numpy():
    set_global_seeds(3)
    first = (random.random(), np.random.rand())
    set_global_seeds(3)
    assert (random.random(), np.random.rand()) == first
    set_global_seeds(2**40)  # numpy takes it modulo 2**32
    with pytest.raises(UserError, match="must be an integer"):
        set_global_seeds("3")


def test_lagoms_pickle_yaml_test(tmp_path: Path):
    configs = [{"one": 1, "two": [2, 3]}, {"three": 3, "four": [4, 5]}]
    pickle_dump(configs, tmp_path / ".tmp_pickle")
    assert pickle_load(tmp_path / ".tmp_pickle.pkl") == configs
    yaml_dump(configs, tmp_path / ".tmp_yaml")
    loaded = yaml_load(tmp_path / ".tmp_yaml.yml")
    assert loaded == configs and [list(c) for c in loaded] == [["one", "two"], ["three", "four"]]
    pickle_dump(lambda x: x + 1, str(tmp_path / "f"), ext=".pickle")
    assert pickle_load(tmp_path / "f.pickle")(1) == 2  # cloudpickle: lambdas survive
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp_pickle.pkl", ".tmp_yaml.yml", "f.pickle"]


def test_cloudpickle_wrapper_pickles_a_lambda_and_forwards():
    def scale(x, factor=2):
        return x * factor

    scale.label = "scale"
    wrapped = pickle.loads(pickle.dumps(CloudpickleWrapper(lambda x, factor=2: x * factor)))
    assert wrapped(3) == 6 and wrapped(3, factor=3) == 9
    assert CloudpickleWrapper(scale).label == "scale"
    with pytest.raises(AttributeError):
        CloudpickleWrapper(scale).missing  # noqa: B018
