"""PyExpUtils names added for issue 14: whereParametersEqual, runner.parallel.build, results.paths,
package-level flagString, loadResults(base=...), and errors that are PyExpUtils' built-ins."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from orchestra.compat import pyexputils
from orchestra.compat.pyexputils import ExperimentDescription, getConfig, loadExperiment, loadResults
from orchestra.compat.pyexputils.results import Result, paths, whereParametersEqual
from orchestra.compat.pyexputils.results.indices import listIndices
from orchestra.compat.pyexputils.runner import parallel


def results_with(*params):
    return [SimpleNamespace(params=p, idx=i) for i, p in enumerate(params)]


def test_whereParametersEqual_ignores_keys_a_result_lacks_and_recurses_into_dicts():
    rs = results_with(
        {"alpha": 0.25, "lambda": 1.0},
        {"alpha": 0.5, "lambda": 1.0},
        {"lambda": 1.0},  # TD without a second step size
        {"alpha": 0.25, "opt": {"name": "adam", "beta": 0.9}},
        {"alpha": 0.25, "opt": {"name": "sgd"}},
    )
    assert [r.idx for r in whereParametersEqual(rs, {"alpha": 0.25})] == [0, 2, 3, 4]
    assert [r.idx for r in whereParametersEqual(rs, {"alpha": 0.25, "opt": {"name": "adam"}})] == [0, 2, 3]
    assert pyexputils.whereParametersEqual is whereParametersEqual


def test_parallel_build_as_pyexputils():
    d = {"executable": "python run.py", "cores": 4, "tasks": [0, 1, 2]}
    assert parallel.build(d) == "parallel -j 4 python run.py ::: 0 1 2"
    full = {**d, "delay": 0.5, "sshloginfile": "nodes.txt", "batch": 2, "tasks": "0 1"}
    assert (
        parallel.build(full)
        == "parallel -j 4 --delay 0.5 --sshloginfile nodes.txt -n 2 python run.py ::: 0 1"
    )
    assert parallel.build({**d, "tasks": []}) is None
    with pytest.raises(KeyError):
        parallel.build({"cores": 2, "tasks": [0]})
    assert pyexputils.parallel is parallel


def test_flagString_is_at_package_level():
    assert pyexputils.flagString([("--a", 1), ("--b", None), ("--c", "x")]) == "--a=1 --c=x"
    assert pyexputils.flagString([("-j", 2)], joiner=" ") == "-j 2"


def description(tmp_path):
    return ExperimentDescription({"metaParameters": {"alpha": [1.0, 0.5]}}, save_key="results/{params}/{run}")


def test_listResultsPaths_yields_every_save_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = description(tmp_path)
    assert list(paths.listResultsPaths(exp)) == ["results/alpha-1.0/0", "results/alpha-0.5/0"]
    assert list(paths.listResultsPaths(exp, runs=2))[2:] == ["results/alpha-1.0/1", "results/alpha-0.5/1"]
    assert list(paths.listResultsPaths(exp, key="{name}/{params}")) == [
        "unnamed/alpha-1.0",
        "unnamed/alpha-0.5",
    ]
    os.makedirs("results/alpha-0.5/0")
    assert list(paths.listMissingResults(exp)) == ["results/alpha-1.0/0"]
    assert list(listIndices(exp, 2)) == [0, 1, 2, 3]
    assert pyexputils.listResultsPaths is paths.listResultsPaths


def test_loadResults_below_a_base_directory(tmp_path):
    exp = description(tmp_path)
    os.makedirs(tmp_path / "results" / "alpha-1.0" / "0")
    np.save(tmp_path / "results/alpha-1.0/0/returns.npy", np.array([[1.0, 2.0], [0.1, 0.1], [3, 3]]))
    first, second = loadResults(exp, "returns.npy", base=str(tmp_path))
    assert first.path == f"{tmp_path}/results/alpha-1.0/0/returns.npy"
    assert first.mean().tolist() == [1.0, 2.0] and first.params == {"alpha": 1.0}
    assert second.path == f"{tmp_path}/results/alpha-0.5/0/returns.npy"
    assert [r.path for r in loadResults(exp, "returns.npy", str(tmp_path))] == [first.path, second.path]

    class Mine(Result):
        pass

    assert all(isinstance(r, Mine) for r in loadResults(exp, "returns.npy", Mine))  # the older third argument


def test_a_missing_save_path_field_is_a_key_error(tmp_path):
    exp = ExperimentDescription({"metaParameters": {"alpha": [1.0]}}, save_key="results/{agent}/{params}")
    with pytest.raises(KeyError, match=r"unknown field \{agent\}") as info:
        exp.interpolateSavePath(0)
    assert str(info.value).startswith("save path 'results/{agent}/{params}': unknown field {agent}")


def test_a_missing_section_config_key_or_file_is_pyexputils_builtin(tmp_path, monkeypatch):
    with pytest.raises(KeyError, match="no 'metaParameters' section"):
        ExperimentDescription({"other": {}}).numPermutations()
    monkeypatch.chdir(tmp_path)
    getConfig.cache_clear()
    with pytest.raises(FileNotFoundError, match=r"config\.json: no such file"):
        getConfig()
    (tmp_path / "config.json").write_text(json.dumps({"log_path": "x"}))
    getConfig.cache_clear()
    with pytest.raises(KeyError, match="'save_path' is required"):
        getConfig()
    getConfig.cache_clear()
    with pytest.raises(FileNotFoundError, match="no such experiment description file"):
        loadExperiment(str(tmp_path / "missing.json"))
