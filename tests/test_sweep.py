"""Sweep: validation of its settings, seeds from the space, and the plan of runs."""

from __future__ import annotations

import pytest

from orchestra import Config, Description, ExperimentGrid, Grid, Sample, Sweep
from orchestra.errors import SpaceError, UserError
from orchestra.sweep import Plan, Resources, check_snapshot_settings
from orchestra.units import format_bytes, format_duration, parse_bytes, parse_duration


def train(config):
    return None


def space():
    return Config({"lr": Grid([0.1, 0.2])})


def test_defaults():
    sweep = Sweep(train, space())
    assert sweep.seeds == (0,)
    assert sweep.resources == Resources(cpus=1, gpus=0, gpu_mem=None, max_gpu_util=None)
    assert (sweep.snapshot_mode, sweep.snapshot_gap, sweep.max_retries, sweep.timeout) == ("last", 1, 0, None)
    assert sweep.settings()["resources"] == {"cpus": 1, "gpus": 0, "gpu_mem": None, "max_gpu_util": None}
    assert sweep.run_options() == {"snapshot_mode": "last", "snapshot_gap": 1, "step": None}
    assert (sweep.step, sweep.objective, sweep.mode) == (None, None, None)


def test_plan_numbers_runs_variant_major():
    plan = Sweep(train, space(), seeds=[5, 7, 9]).plan()
    assert [(r.index, r.variant.index, r.seed) for r in plan.runs] == [
        (0, 0, 5), (1, 0, 7), (2, 0, 9), (3, 1, 5), (4, 1, 7), (5, 1, 9),
    ]  # fmt: skip
    assert plan.runs[4].id == f"{plan.variants[1].name}/7"


def test_plan_draws_samples_once_per_plan():
    draws = iter(range(100))
    sweep = Sweep(train, Config({"lr": Sample(lambda: next(draws))}, num_sample=2))
    assert [v.params["lr"] for v in sweep.plan().variants] == [0, 1]
    assert [v.params["lr"] for v in sweep.plan().variants] == [2, 3]


def test_spaces_given_as_dicts_and_lists():
    assert len(Sweep(train, {"lr": Grid([1, 2, 3])}).plan().variants) == 3
    assert [v.params for v in Sweep(train, [{"a": 1}, {"a": 2}]).plan().variants] == [{"a": 1}, {"a": 2}]
    assert len(Sweep(train, Description({"metaParameters": {"a": [1, 2]}})).plan().variants) == 2


def test_experiment_grid_seed_key_becomes_the_seeds():
    eg = ExperimentGrid("g")
    eg.add("seed", [3, 1, 2])
    eg.add("lr", [0.1, 0.2])
    sweep = Sweep(train, eg)
    assert sweep.seeds == (3, 1, 2)
    plan = sweep.plan()
    assert [v.params for v in plan.variants] == [{"lr": 0.1}, {"lr": 0.2}]
    assert len(plan.runs) == 6


def test_seeds_given_twice_are_refused():
    eg = ExperimentGrid()
    eg.add("seed", [0])
    with pytest.raises(UserError, match="seeds are given twice"):
        Sweep(train, eg, seeds=[1])


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ([], "seeds is empty"),
        ([0, 0], "seed 0 is listed twice"),
        ([-1], "non-negative integers, got -1"),
        ([1.5], "non-negative integers, got 1.5"),
        ([True], "non-negative integers, got True"),
        (["1"], "non-negative integers, got '1'"),
        (3.0, "must be a list of integers, got float"),
        ([2**64], "does not fit in 64 bits"),
    ],
)
def test_bad_seeds(seeds, message):
    with pytest.raises(UserError, match=message):
        Sweep(train, space(), seeds=seeds)


def test_one_int_seed_is_a_list_of_one():
    assert Sweep(train, space(), seeds=4).seeds == (4,)  # type: ignore[arg-type]


def test_bad_seed_values_in_an_experiment_grid_are_refused():
    eg = ExperimentGrid()
    eg.add("seed", [0, "one"])
    with pytest.raises(UserError, match="got 'one'"):
        Sweep(train, eg)


@pytest.mark.parametrize(
    ("mode", "gap", "message"),
    [
        ("sometimes", 1, "snapshot_mode 'sometimes' is not one of all, last, gap"),
        ("gap", 0, "snapshot_gap must be a positive integer, got 0"),
        ("gap", True, "snapshot_gap must be a positive integer"),
        ("gap", 2.0, "snapshot_gap must be a positive integer"),
        ("last", 5, "snapshot_gap must be 1 \\(got 5\\)"),
        ("gap_overwrite", 1, "gap_overwrite' needs snapshot_gap > 1"),
    ],
)
def test_bad_snapshot_settings(mode, gap, message):
    with pytest.raises(UserError, match=message):
        check_snapshot_settings(mode, gap)
    with pytest.raises(UserError, match=message):
        Sweep(train, space(), snapshot_mode=mode, snapshot_gap=gap)


@pytest.mark.parametrize(
    ("mode", "gap"), [("all", 1), ("gap", 10), ("gap_and_last", 3), ("gap_overwrite", 2), ("none", 7)]
)
def test_good_snapshot_settings(mode, gap):
    check_snapshot_settings(mode, gap)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cpus": 0}, "cpus must be an integer >= 1"),
        ({"gpus": -1}, "gpus must be an integer >= 0"),
        ({"gpus": 1.0}, "gpus must be an integer"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
        ({"max_failures": 0}, "max_failures must be an integer >= 1"),
        ({"max_gpu_util": 0}, "max_gpu_util must be a percentage"),
        ({"max_gpu_util": 101}, "max_gpu_util must be a percentage"),
        ({"order": "random"}, "order 'random' is not one of sweep, round_robin"),
        ({"gpu_mem": "lots"}, "Sweep gpu_mem: 'lots' is not a size"),
        ({"timeout": "soon"}, "Sweep timeout: 'soon' is not a duration"),
        ({"timeout": 0}, "Sweep timeout: must be a positive number of seconds"),
        ({"name": "../up"}, "sweep name '../up'"),
        ({"name": "a/b"}, "sweep name 'a/b'"),
        ({"name": "a\0b"}, "sweep name"),
        ({"name": ".."}, "must not be '.' or '..'"),
    ],
)
def test_bad_settings_name_what_is_wrong(kwargs, message):
    with pytest.raises(UserError, match=message):
        Sweep(train, space(), **kwargs)


def test_entry_and_space_must_be_usable():
    with pytest.raises(UserError, match="the entry must be a function, got int"):
        Sweep(3, space())  # type: ignore[arg-type]
    with pytest.raises(SpaceError, match="got int"):
        Sweep(train, 3)  # type: ignore[arg-type]


def test_settings_are_parsed():
    sweep = Sweep(train, space(), gpu_mem="2GiB", timeout="1.5h", max_gpu_util=80, env={"A": 1}, name="s1")
    assert sweep.resources.gpu_mem == 2 * 2**30
    assert sweep.timeout == 5400.0
    assert sweep.resources.max_gpu_util == 80.0
    assert sweep.env == {"A": "1"} and sweep.name == "s1"
    assert Resources.from_json(sweep.resources.to_json()) == sweep.resources


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        ("90", 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("1.5d", 129600.0),
        ("250ms", 0.25),
        (" 2 H ", 7200.0),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("6GiB", 6 * 2**30),
        ("6GB", 6 * 10**9),
        ("512MiB", 512 * 2**20),
        ("1.5g", 1_500_000_000),
        (1024, 1024),
        ("10 kb", 10_000),
    ],
)
def test_parse_bytes(text, n):
    assert parse_bytes(text) == n


@pytest.mark.parametrize("bad", [True, "-1s", "1 week", "", "abc"])
def test_bad_durations(bad):
    with pytest.raises(UserError):
        parse_duration(bad, "timeout")


@pytest.mark.parametrize("bad", [False, "-1GiB", "6PB", "", 0])
def test_bad_sizes(bad):
    with pytest.raises(UserError):
        parse_bytes(bad, "gpu_mem")


def test_format_units():
    assert format_bytes(6 * 2**30) == "6.0GiB" and format_bytes(512) == "512B"
    assert (
        format_duration(3725) == "1h02m" and format_duration(75) == "1m15s" and format_duration(9.5) == "9.5s"
    )
    assert format_duration(None) == "-" and format_duration(90000) == "1d01h"


def test_plan_is_a_tuple_of_variants():
    plan = Sweep(train, space(), seeds=[0]).plan()
    assert isinstance(plan, Plan) and isinstance(plan.variants, tuple) and plan.seeds == (0,)
