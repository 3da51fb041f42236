"""orchestra.compat.pyexputils behaves as PyExpUtils' ExperimentDescription (SEEDS §A4.1-A4.3, §D.1, §D.3)."""

from __future__ import annotations

import json
import os

import pytest

from orchestra import Sweep
from orchestra.compat.pyexputils import (
    Config,
    ExperimentDescription,
    FileSystemContext,
    getConfig,
    hyphenatedStringify,
    loadExperiment,
)
from orchestra.errors import SpaceError

README = {
    "algorithm": "SARSA",
    "environment": "MountainCar",
    "metaParameters": {"alpha": [1.0, 0.5, 0.25, 0.125], "lambda": [1.0, 0.99, 0.98, 0.96]},
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A fresh directory as the current one, with getConfig's memory cleared before and after."""
    monkeypatch.chdir(tmp_path)
    getConfig.cache_clear()
    yield tmp_path
    getConfig.cache_clear()


def write_config(d):
    with open("config.json", "w") as f:
        json.dump(d, f)


def fake_description():
    return {
        "metaParameters": {"alpha": [0.01, 0.02, 0.04], "epsilon": 0.05, "gamma": [0.9]},
        "envParameters": {"size": 30, "noise": [0.01, 0.02]},
    }


# -- the README example and its discrepancy (D.1) -----------------------------------------------


def test_readme_permutations_with_the_code_order():
    exp = ExperimentDescription(README)
    assert exp.numPermutations() == 16
    assert exp.getPermutation(0)["metaParameters"] == {"alpha": 1.0, "lambda": 1.0}
    assert exp.getPermutation(1)["metaParameters"] == {"alpha": 0.5, "lambda": 1.0}
    assert exp.getPermutation(15)["metaParameters"] == {"alpha": 0.125, "lambda": 0.96}
    assert exp.getPermutation(16)["metaParameters"] == {"alpha": 1.0, "lambda": 1.0}
    assert [exp.getRun(i) for i in (0, 12, 16, 32)] == [0, 0, 1, 2]


def test_run_r_of_permutation_p_is_index_p_plus_r_times_P():
    exp = ExperimentDescription(README)
    for p in (0, 5, 15):
        for r in (0, 1, 3):
            idx = p + r * 16
            assert exp.getPermutation(idx) == exp.getPermutation(p) and exp.getRun(idx) == r


def test_without_run_in_the_template_all_runs_share_a_path():
    exp = ExperimentDescription(README, save_key="results/{params}")
    assert exp.interpolateSavePath(3) == exp.interpolateSavePath(3 + 16) == "results/alpha-0.125_lambda-1.0"
    assert ExperimentDescription(README, save_key="r/{run}").interpolateSavePath(3 + 16) == "r/1"


# -- PyExpUtils' own tests -------------------------------------------------------------------------


def test_permutable():
    desc = fake_description()
    assert ExperimentDescription(desc, keys=["metaParameters"]).permutable() == {
        "metaParameters": desc["metaParameters"]
    }
    assert ExperimentDescription(desc, keys=["metaParameters", "envParameters"]).permutable() == desc
    assert ExperimentDescription(desc).getKeys() == ["metaParameters"]
    assert ExperimentDescription(desc).getKeys("x") == ["x"]


def test_get_permutations():
    desc = fake_description()
    got = ExperimentDescription(desc).getPermutation(0)
    assert got == {**desc, "metaParameters": {"alpha": 0.01, "epsilon": 0.05, "gamma": 0.9}}
    got = ExperimentDescription(desc, keys=["metaParameters", "envParameters"]).getPermutation(0)
    assert got == {
        "metaParameters": {"alpha": 0.01, "epsilon": 0.05, "gamma": 0.9},
        "envParameters": {"size": 30, "noise": 0.01},
    }


def test_num_permutations():
    desc = fake_description()
    assert ExperimentDescription(desc).numPermutations() == 3
    assert ExperimentDescription(desc, keys=["envParameters"]).numPermutations() == 2
    assert ExperimentDescription(desc, keys=["metaParameters", "envParameters"]).numPermutations() == 6


def test_several_sections_vary_the_alphabetically_first_path_fastest():
    exp = ExperimentDescription(fake_description(), keys=["metaParameters", "envParameters"])
    assert [(p["envParameters"]["noise"], p["metaParameters"]["alpha"]) for p in map(exp.getPermutation, range(4))] == [
        (0.01, 0.01), (0.02, 0.01), (0.01, 0.02), (0.02, 0.02),
    ]  # fmt: skip


def test_mutating_a_permutation_does_not_change_the_next():
    exp = ExperimentDescription(
        {"metaParameters": {"alpha": [0.01, 0.02, 0.04], "epsilon": 0.05, "gamma": [0.9]}}
    )
    params = exp.getPermutation(0)["metaParameters"]
    params["new_param"] = 1
    assert exp.getPermutation(0)["metaParameters"] == {"alpha": 0.01, "epsilon": 0.05, "gamma": 0.9}


def test_permutations_are_cached_but_fixed_keys_are_read_live():
    d = {"metaParameters": {"alpha": [1, 2]}, "algorithm": "q"}
    exp = ExperimentDescription(d)
    assert exp.numPermutations() == 2
    d["metaParameters"]["alpha"].append(3)
    d["algorithm"] = "sarsa"
    assert exp.numPermutations() == 2
    assert exp.getPermutation(0) == {"metaParameters": {"alpha": 1}, "algorithm": "sarsa"}


def test_save_path_with_subclass_attributes(project):
    desc = {
        "name": "test",
        "algorithm": "q",
        "environment": "mountaincar",
        "metaParameters": {"alpha": [0.01, 0.02], "epsilon": 0.05},
    }

    class MLExpDesc(ExperimentDescription):
        def __init__(self, d):
            super().__init__(d)
            self.algorithm = d["algorithm"]
            self.env = d["environment"]

    exp = MLExpDesc(desc)
    assert (
        exp.interpolateSavePath(0, key="{name}/{algorithm}/{env}/{params}/{run}")
        == "test/q/mountaincar/alpha-0.01_epsilon-0.05/0"
    )
    assert exp.interpolateSavePath(3, key="{name}/{params}/{run}") == "test/alpha-0.02_epsilon-0.05/1"


def test_interpolate_save_path_of_nested_parameters():
    desc = {"metaParameters": {"optimizer": {"alpha": [0.1, 0.2], "beta": [0.99, 0.999]}, "epsilon": 0.05}}
    got = ExperimentDescription(desc).interpolateSavePath(0, key="{params}")
    assert got == "epsilon-0.05_optimizer.alpha-0.1_optimizer.beta-0.99"


def test_several_keys_prefix_params_with_section_names():
    exp = ExperimentDescription(fake_description(), keys=["metaParameters", "envParameters"])
    assert exp.interpolateSavePath(1, key="{params}") == (
        "envParameters.noise-0.02_envParameters.size-30_metaParameters.alpha-0.01_"
        "metaParameters.epsilon-0.05_metaParameters.gamma-0.9"
    )


def test_save_key_config_and_argument_precedence(project):
    write_config({"save_path": "results/{name}/{params}"})
    exp = ExperimentDescription({"name": "mc", "metaParameters": {"a": [1, 2]}}, save_key="keyed/{run}")
    assert exp.interpolateSavePath(3) == "keyed/1"
    assert exp.interpolateSavePath(3, key="arg/{params}") == "arg/a-2"
    assert (
        ExperimentDescription({"name": "mc", "metaParameters": {"a": [1, 2]}}).interpolateSavePath(1)
        == "results/mc/a-2"
    )


def test_unknown_field_is_a_clear_error_naming_it():
    exp = ExperimentDescription({"metaParameters": {"a": 1}})
    with pytest.raises(
        SpaceError, match=r"unknown field \{agent\}; known fields: name, params, run, keys, path, save_key"
    ):
        exp.interpolateSavePath(0, key="results/{agent}/{params}")


def test_attribute_fields_are_written_with_str(project):
    exp = ExperimentDescription({"metaParameters": {"a": 1}}, save_key="{keys}/{path}")
    assert exp.interpolateSavePath(0) == "metaParameters/None"


# -- experiment names (D.3) ----------------------------------------------------------------------


def mock_repo(root):
    path = root / "mock_repo" / "experiments" / "overfit" / "best" / "ann.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"name": "ignored", **README}))
    return path


@pytest.mark.parametrize(
    "spelling",
    [
        "mock_repo/experiments/overfit/best/ann.json",
        "{cwd}/mock_repo/experiments/overfit/best/ann.json",
        "./mock_repo/experiments/overfit/best/ann.json",
    ],
)
def test_experiment_name_from_the_file_path(project, spelling):
    mock_repo(project)
    write_config({"save_path": "results", "experiment_directory": "mock_repo/experiments"})
    exp = loadExperiment(spelling.format(cwd=os.getcwd()))
    assert exp.getExperimentName() == "overfit/best"
    getConfig.cache_clear()
    write_config({"save_path": "results"})
    assert exp.getExperimentName() == "mock_repo/overfit/best"


def test_experiment_name_strips_the_experiment_directory_from_the_config(project):
    mock_repo(project)
    os.chdir("mock_repo")
    write_config({"save_path": "results", "experiment_directory": "experiments"})
    assert loadExperiment("experiments/overfit/best/ann.json").getExperimentName() == "overfit/best"


def test_experiment_name_without_a_path_needs_no_config(project):
    assert (
        ExperimentDescription({"name": "MountainCar-v0", "metaParameters": {}}).getExperimentName()
        == "MountainCar-v0"
    )
    assert ExperimentDescription({"metaParameters": {}}).getExperimentName() == "unnamed"


def test_build_save_context_has_no_leading_slash(project):
    exp = ExperimentDescription({"name": "mc", "algorithm": "SARSA", "metaParameters": {"alpha": [1.0, 0.5]}})
    exp.agent = "SARSA"  # type: ignore[attr-defined]
    ctx = exp.buildSaveContext(0, key="results/{name}/{agent}/{params}")
    assert ctx.resolve("returns.npy") == "results/mc/SARSA/alpha-1.0/returns.npy"
    assert ctx.ensureExists() == "results/mc/SARSA/alpha-1.0"
    assert (project / "results" / "mc" / "SARSA" / "alpha-1.0").is_dir()
    assert exp.buildSaveContext(0, base="/scratch", key="r").resolve("x") == "/scratch/r/x"


# -- config.json ----------------------------------------------------------------------------------


def test_get_config_reads_config_json_once(project):
    write_config({"save_path": "results/{name}/{params}"})
    config = getConfig()
    assert config == Config("results/{name}/{params}", ".logs", "experiments")
    write_config({"save_path": "other"})
    assert getConfig() is config
    getConfig.cache_clear()
    assert getConfig().save_path == "other"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "config.json: no such file"),
        ("{", r"config.json:1: not valid JSON"),
        ("[1]", "config.json: must hold a JSON object"),
        ('{"log_path": "x"}', "config.json: 'save_path' is required"),
        ('{"save_path": "x", "savepath": "y"}', "config.json: unknown key 'savepath'"),
        ('{"save_path": 3}', "config.json: 'save_path' must be a string"),
    ],
)
def test_bad_config_json_is_a_clear_error(project, content, message):
    if content is not None:
        (project / "config.json").write_text(content)
    with pytest.raises(SpaceError, match=message):
        getConfig()


# -- loading, stringify, file contexts ---------------------------------------------------------------


def test_load_experiment_with_a_model(project):
    path = mock_repo(project)

    class Model(ExperimentDescription):
        pass

    exp = loadExperiment(str(path), Model)
    assert isinstance(exp, Model) and exp.path == str(path) and exp.numPermutations() == 16
    with pytest.raises(SpaceError, match="no such experiment description file"):
        loadExperiment("missing.json")


def test_hyphenated_stringify():
    assert hyphenatedStringify({"alpha": 0.1, "beta": 0.99, "gamma": 1, "optimizer": "SuperFast"}) == (
        "alpha-0.1_beta-0.99_gamma-1_optimizer-SuperFast"
    )
    assert hyphenatedStringify({"beta": 0.95, "alpha": -0.5}) == "alpha--0.5_beta-0.95"
    assert hyphenatedStringify({"epsilon": 0.1, "optimizer": {"alpha": 0.9, "beta": 0.99}}) == (
        "epsilon-0.1_optimizer.alpha-0.9_optimizer.beta-0.99"
    )
    assert (
        hyphenatedStringify({"lr": 1e-05, "Z": True, "hidden": [64, 64]})
        == "Z-True_hidden.[0]-64_hidden.[1]-64_lr-1e-05"
    )


def test_file_system_context(project):
    ctx = FileSystemContext("path/to/results", "scratch")
    assert ctx.getBase() == "scratch"
    assert ctx.resolve() == "scratch/path/to/results"
    assert ctx.resolve("rmsve.npy") == "scratch/path/to/results/rmsve.npy"
    assert ctx.resolve("scratch/path/to/results/rmsve.npy") == "scratch/path/to/results/rmsve.npy"
    assert ctx.resolve("../experiment.json") == "scratch/path/to/experiment.json"
    assert FileSystemContext("path/to/results").resolve("test.txt") == "path/to/results/test.txt"
    ctx = FileSystemContext("path/to/results", ".tmp/test_remove")
    ctx.ensureExists()
    with open(ctx.resolve("test.txt"), "w") as f:
        f.write("hey there")
    assert ctx.exists("test.txt")
    ctx.remove()
    assert not os.path.exists(".tmp/test_remove/path/to/results")


def test_errors_where_pyexputils_crashed():
    with pytest.raises(SpaceError, match="an empty list has no value to sweep"):
        ExperimentDescription({"metaParameters": {"a": []}}).numPermutations()
    with pytest.raises(SpaceError, match="has no 'metaParameters' section"):
        ExperimentDescription({"other": {}}).getPermutation(0)
    with pytest.raises(SpaceError, match="non-negative integer"):
        ExperimentDescription(README).getPermutation(-1)


def test_a_description_is_a_sweep_space():
    sweep = Sweep(lambda metaParameters: None, ExperimentDescription(README), seeds=[0, 1])
    variants = sweep.plan().variants
    assert len(variants) == 16 and variants[1].name == "alpha-0.5_lambda-1.0"
    assert variants[1].params == ExperimentDescription(README).getPermutation(1)
