"""PyExpUtils' results API and Slurm helpers over orchestra sweeps and PyExpUtils' own .npy layout."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from orchestra.compat.pyexputils import (
    ExperimentDescription,
    Options,
    find,
    getBest,
    gigs,
    hours,
    listIndices,
    listMissingResults,
    loadResults,
    sliceOverParameter,
    splitOverParameter,
    whereParameterEquals,
    whereParameterGreaterEq,
)
from orchestra.compat.pyexputils.slurm import flagString
from orchestra.errors import UserError
from orchestra.rundir import JsonlWriter
from tests.helpers import orchestra
from tests.helpers import write_sweep as write_sweep_file
from tests.results.sweepdirs import record, write_run, write_status, write_sweep

# PyExpUtils' own test grid (tests/results/test_results.py), in its permutation order
GRID = [
    {"alpha": a, "model": {"name": m}, "ratio": r}
    for r in (1.0, 2.0, 4.0, 8.0)
    for m in ("PR", "ESARSA")
    for a in (1.0, 0.5, 0.25)
]


@pytest.fixture
def grid_sweep(tmp_path):
    sd, _ = write_sweep(tmp_path, GRID, seeds=(0,))
    return sd.path


@pytest.fixture
def seeded(tmp_path):
    """Three variants x three seeds with known curves; variant 2 never ran."""
    sd, vs = write_sweep(tmp_path, [{"alpha": a} for a in (0.1, 0.2, 0.3)], seeds=(0, 1, 2))
    for seed in range(3):
        write_run(sd, vs[0], seed, curves={"ret": [1.0 + seed, 2.0 + seed, 3.0 + seed]})
        write_run(sd, vs[1], seed, curves={"ret": [5.0, 5.0, 5.0 + seed]})
    return sd.path


def test_loadResults_gives_a_result_per_variant_with_mean_stderr_and_runs_over_seeds(seeded):
    results = list(loadResults(str(seeded), "ret"))
    assert [r.params for r in results] == [{"alpha": 0.1}, {"alpha": 0.2}, {"alpha": 0.3}]
    assert [r.idx for r in results] == [0, 1, 2]
    assert results[0].path == str(seeded / "runs" / "alpha=0.1" / "ret")
    mean, stderr, runs = results[0].load()
    assert mean.tolist() == [2.0, 3.0, 4.0] and runs == 3
    assert stderr == pytest.approx([1 / math.sqrt(3)] * 3)
    assert results[1].mean().tolist() == [5.0, 5.0, 6.0] and results[1].stderr()[0] == 0.0


def test_loadResults_reads_nothing_until_a_result_is_loaded(tmp_path):
    sd, vs = write_sweep(tmp_path, [{"alpha": 0.1}], seeds=(0,))
    run = write_run(sd, vs[0], 0, curves={"ret": [1.0]}, state="running")
    results = loadResults(sd.path, "ret")
    result = next(results)
    with JsonlWriter(run.metrics) as w:
        w.write(record(1, ret=3.0))
    assert result.mean().tolist() == [1.0, 3.0]


def test_a_missing_result_prints_and_gives_nan_without_caching(tmp_path, capsys):
    sd, vs = write_sweep(tmp_path, [{"alpha": 0.1}], seeds=(0,))
    result = next(loadResults(sd.path, "ret"))
    data = result.load()
    assert math.isnan(data[0]) and math.isnan(data[1]) and data[2] == 0
    assert math.isnan(result.mean())
    assert capsys.readouterr().out == f"Result not found :: {sd.path}/runs/{vs[0].name}/ret\n" * 2


def test_reducer_views_share_the_result_cache(seeded):
    result = next(loadResults(seeded, "ret"))
    last = result.reducer(lambda curve: curve[-1])
    first = result.reducer(lambda curve: curve[0])
    assert last.mean() == 4.0 and first.mean() == 2.0
    assert last.params is result.params and last.idx == 0
    assert result._data is not None and last.load() == 3  # the reducer applies to load() too


def test_splitOverParameter_as_pyexputils_tests_it(grid_sweep):
    split = splitOverParameter(loadResults(grid_sweep, "ret"), "alpha")
    assert list(split) == [1.0, 0.5, 0.25]
    assert len(split[1.0]) == 8 and all(r.params["alpha"] == k for k, rs in split.items() for r in rs)
    by_model = splitOverParameter(loadResults(grid_sweep, "ret"), "model.name")
    assert list(by_model) == ["PR", "ESARSA"] and len(by_model["PR"]) == 12
    assert list(splitOverParameter(loadResults(grid_sweep, "ret"), "nope")) == [None]


def test_sliceOverParameter_gives_one_result_per_value(grid_sweep):
    results = list(loadResults(grid_sweep, "ret"))
    slicer = results[10]  # alpha 0.5, ESARSA, ratio 2.0
    sl = sliceOverParameter(results, slicer, "ratio")
    assert list(sl) == [1.0, 2.0, 4.0, 8.0]
    assert [r.params["ratio"] for r in sl.values()] == [1.0, 2.0, 4.0, 8.0]
    assert all(r.params["alpha"] == 0.5 and r.params["model"] == {"name": "ESARSA"} for r in sl.values())
    assert sl[2.0] is slicer


def test_find_compares_top_level_parameters_except_ignored(grid_sweep):
    results = list(loadResults(grid_sweep, "ret"))
    assert find(results, results[5]) is results[5]
    assert find(results, results[5], ignore=["alpha"]) is results[3]
    assert find(results[:3], results[5]) is None


def test_where_filters_let_results_without_the_parameter_through(tmp_path):
    sd, _ = write_sweep(
        tmp_path, [{"alpha": 0.1}, {"alpha": 0.5}, {"beta": 1.0}, {"alpha": None}], seeds=(0,)
    )
    results = list(loadResults(sd.path, "ret"))
    assert [r.idx for r in whereParameterEquals(results, "alpha", 0.5)] == [1, 2, 3]
    assert [r.idx for r in whereParameterGreaterEq(results, "alpha", 0.2)] == [1, 2, 3]
    assert [r.idx for r in whereParameterGreaterEq(iter(results), "alpha", 0.05)] == [0, 1, 2, 3]


def curves_sweep(tmp_path, curves):
    sd, vs = write_sweep(tmp_path, [{"i": i} for i in range(len(curves))], seeds=(0,))
    for v, c in zip(vs, curves):
        if c is not None:
            write_run(sd, v, 0, curves={"ret": c})
    return sd.path


def test_getBest_defaults_to_the_smallest_mean_over_the_whole_curve(tmp_path):
    path = curves_sweep(tmp_path, [[3.0, 3.0], [1.0, 4.0], [2.0, 2.0]])
    assert getBest(loadResults(path, "ret")).params == {"i": 2}  # 2.0 < 2.5 < 3.0
    assert getBest(list(loadResults(path, "ret")), comparator=lambda a, b: a > b).params == {"i": 0}
    assert getBest(loadResults(path, "ret"), steps=1).params == {"i": 2}
    assert getBest(loadResults(path, "ret"), steps=1, comparator=lambda a, b: a > b).params == {"i": 1}


def test_getBest_keeps_the_earlier_of_equal_results(tmp_path):
    path = curves_sweep(tmp_path, [[2.0], [1.0], [1.0]])
    assert getBest(loadResults(path, "ret")).idx == 1


def test_getBest_replaces_a_nan_best_and_never_picks_a_nan_after_a_number(tmp_path, capsys):
    path = curves_sweep(tmp_path, [None, [5.0, 5.0], [None, 1.0], [4.0, 4.0]])
    assert getBest(loadResults(path, "ret")).idx == 3  # missing first -> replaced; NaN inside -> never best
    assert "Result not found ::" in capsys.readouterr().out


def test_getBest_percent_truncating_to_zero_scores_the_whole_curve(tmp_path):
    path = curves_sweep(tmp_path, [[0.0, 0.0, 9.0], [3.0, 3.0, 3.0]])
    assert getBest(loadResults(path, "ret"), percent=0.34).params == {"i": 1}  # int(1.02) = 1: last step
    assert getBest(loadResults(path, "ret"), percent=0.3).params == {"i": 0}  # int(0.9) = 0: whole curve


def test_listIndices_and_listMissingResults_of_a_sweep_go_by_status(tmp_path):
    sd, vs = write_sweep(tmp_path, [{"a": 1}, {"a": 2}], seeds=(0, 1))
    write_run(sd, vs[0], 0)
    write_run(sd, vs[0], 1, state="failed")
    write_run(sd, vs[1], 0)
    write_status(sd.run(vs[1].name, 0), "running")
    assert list(listIndices(sd.path)) == [0, 1, 2, 3]
    assert list(listMissingResults(sd.path)) == [1, 2, 3]
    with pytest.raises(UserError, match="seeds"):
        list(listMissingResults(sd.path, runs=2))


def test_listMissingResults_of_a_description_checks_save_paths_as_pyexputils(tmp_path):
    exp = ExperimentDescription(
        {"metaParameters": {"alpha": [0.01, 0.02], "lambda": [1.0, 0.99]}},
        save_key=str(tmp_path / "gridworld/{params}/{run}"),
    )
    for path in [
        "alpha-0.01_lambda-1.0/0",
        "alpha-0.01_lambda-1.0/1",
        "alpha-0.01_lambda-0.99/0",
        "alpha-0.02_lambda-1.0/0",
    ]:
        os.makedirs(tmp_path / "gridworld" / path)
    assert list(listIndices(exp, runs=2)) == list(range(8))
    assert list(listMissingResults(exp, 2)) == [3, 5, 6, 7]


def test_loadResults_reads_pyexputils_npy_files(tmp_path, capsys):
    exp = ExperimentDescription(
        {"metaParameters": {"alpha": [1.0, 0.5]}}, save_key=str(tmp_path / "results/{params}")
    )
    os.makedirs(exp.interpolateSavePath(0))
    data = np.empty(3, dtype=object)
    data[0], data[1], data[2] = np.array([1.0, 2.0]), np.array([0.1, 0.1]), 10
    np.save(exp.interpolateSavePath(0) + "/returns.npy", data, allow_pickle=True)
    results = list(loadResults(exp, "returns.npy"))
    assert [r.params for r in results] == [{"alpha": 1.0}, {"alpha": 0.5}]
    assert results[0].mean().tolist() == [1.0, 2.0] and results[0].runs() == 10
    assert getBest(results).idx == 0  # the missing one is NaN
    assert f"Result not found :: {tmp_path}/results/alpha-0.5/returns.npy" in capsys.readouterr().out
    os.makedirs(exp.interpolateSavePath(1))
    np.save(exp.interpolateSavePath(1) + "/returns.npy", data, allow_pickle=True)
    assert results[1].runs() == 10  # a failed load is not cached: the file written since is read
    with pytest.raises(UserError, match=r"only \.npy"):
        next(loadResults(exp, "returns.csv"))


def test_slurm_hours_and_gigs():
    assert hours(3) == "2:59:59" and hours(1) == "0:59:59"
    assert gigs(4) == "4G"


def test_slurm_options_as_pyexputils_tests_them():
    opts = Options(
        {"account": "def-whitem", "time": "2:59:59", "cores": 1, "memPerCpu": "4G", "sequential": 30}
    )
    assert (
        opts.cmdArgs()
        == "--account=def-whitem --time=2:59:59 --ntasks=1 --mem-per-cpu=4G --output=$SCRATCH/job_output_%j.txt"
    )
    opts = Options({"account": "def-whitem", "time": "2:59:59", "nodes": 1, "coresPerNode": 40})
    assert (
        opts.cmdArgs()
        == "--account=def-whitem --time=2:59:59 --nodes=1 --ntasks-per-node=40 --output=$SCRATCH/job_output_%j.txt"
    )


def test_slurm_options_email_output_and_casts(capsys):
    opts = Options(
        {
            "account": "a",
            "time": hours(2),
            "cores": "8",
            "output": "out_%j.txt",
            "emailType": "END",
            "email": "me@x",
        }
    )
    assert opts.cores == 8 and opts.sequential is None
    assert (
        opts.cmdArgs()
        == "--account=a --time=1:59:59 --ntasks=8 --output=out_%j.txt --mail-type=END --mail-user=me@x"
    )
    assert capsys.readouterr().out == ""
    Options({"account": "a", "time": "1:00:00", "emailType": "SOMETIMES"})
    assert capsys.readouterr().out.startswith("WARN: <emailType> is not one of the known supported types:")
    with pytest.raises(KeyError):
        Options({"time": "1:00:00"})


def test_flag_string_leaves_a_leading_space_after_a_missing_first_flag():
    assert flagString([("--a", None), ("--b", 2)]) == " --b=2"
    assert flagString([("--a", 1), ("--b", None), ("--c", 3)]) == "--a=1 --c=3"


def test_a_sweep_planned_from_an_experiment_description_reads_like_pyexputils(tmp_path):
    body = """
        from orchestra import Sweep
        from orchestra.compat.pyexputils import ExperimentDescription

        exp = ExperimentDescription({"agent": "td", "metaParameters": {"alpha": [0.1, 0.5], "lambda": [1.0, 0.9]}})


        def train(ctx, metaParameters, agent):
            for step in range(3):
                ctx.logger("step", step)
                ctx.logger("ret", metaParameters["alpha"] * metaParameters["lambda"] * (step + 1))
                ctx.logger.dump()


        sweep = Sweep(train, exp, seeds=[0, 1])
    """
    out = orchestra(
        "up", write_sweep_file(tmp_path, body), "--headless", "--root", tmp_path / "sweeps", cwd=tmp_path
    )
    assert out.returncode == 0, out.stdout + out.stderr
    exp = ExperimentDescription(
        {"agent": "td", "metaParameters": {"alpha": [0.1, 0.5], "lambda": [1.0, 0.9]}}
    )
    results = list(loadResults(tmp_path / "sweeps" / "sweep", "ret"))
    assert [r.params for r in results] == [exp.getPermutation(i)["metaParameters"] for i in listIndices(exp)]
    assert results[3].mean().tolist() == pytest.approx([0.45, 0.9, 1.35]) and results[3].runs() == 2
    assert list(splitOverParameter(results, "lambda")) == [1.0, 0.9]
    assert getBest(results, comparator=lambda a, b: a > b).params == {"alpha": 0.5, "lambda": 1.0}
