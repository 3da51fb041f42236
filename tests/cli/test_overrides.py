"""Hydra-style overrides: parsing, applying them to every kind of space, and --only."""

from __future__ import annotations

import math
import random

import pytest

from orchestra import Config, Description, ExperimentGrid, Grid, Sample, Sweep, Zip
from orchestra.plan.overrides import OverrideError, apply, equal, parse, parse_all


def values(text: str):  # type: ignore[no-untyped-def]
    o = parse(text)
    return list(o.values), o.sweep


def test_values_parse_as_hydras():
    assert values("x=1") == ([1], False)
    assert values("x=0.1,1e-3,-2.5") == ([0.1, 0.001, -2.5], True)
    assert values("x=true,False,null") == ([True, False, None], True)
    assert values("x=adam") == (["adam"], False)
    assert values("x='a,b'") == (["a,b"], False)
    assert values('x="x y",plain words') == (["x y", "plain words"], True)
    assert values("x=[64,64]") == ([[64, 64]], False)
    assert values("x=[64,64],[128]") == ([[64, 64], [128]], True)
    assert values("x={a: 1, b: [true]}") == ([{"a": 1, "b": [True]}], False)
    assert values("x=") == ([""], False)
    assert values("x=choice(1,2)") == ([1, 2], True)
    assert values("x=range(2,8,3)") == ([2, 5], True)
    assert values("x=1_000") == ([1000], False)
    o = parse("+note=hi")
    assert (o.key, o.add, o.values) == ("note", True, ("hi",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr", "write KEY=VALUE"),
        ("=1", "write KEY=VALUE"),
        ("lr=[1,2", "expected ',' or ']' at column 5"),
        ("lr='open", "never closed"),
        ("lr=interval(0,1)", "interval() is not supported"),
        ("lr=range(1.5)", "range takes 1 to 3 integers"),
        ("lr=inf", "cannot be written as JSON"),
        ("~lr=1", "not supported"),
        ("lr=1,", "a value is missing"),
    ],
)
def test_bad_overrides_say_what_is_wrong(text: str, message: str):
    with pytest.raises(OverrideError, match=r"^override .*: ") as err:
        parse(text)
    assert message in str(err.value)


def test_a_key_given_twice_is_refused():
    with pytest.raises(OverrideError, match="set 'lr' twice"):
        parse_all(["lr=1", "lr=2"])


def test_equal_overrides_compare_by_meaning_not_spelling():
    assert equal(parse_all(["lr=0.1,1e-2", "bs=32"]), parse_all(["bs=32", "lr=1e-1,0.01"]))
    assert not equal(parse_all(["lr=0.1"]), parse_all(["lr=0.1,0.2"]))


def params(space, *overrides: str) -> list[dict]:  # type: ignore[no-untyped-def]
    space, _ = apply(space, (0,), parse_all(overrides))
    return [dict(v.params) for v in space.variants()]


def test_config_grids_narrow_and_keep_names_and_fixed_keys_can_be_swept():
    space = Config({"lr": Grid([0.1, 0.01, 0.001]), "bs": 32, "act": "relu"})
    full = {v.params["lr"]: v.name for v in space.variants()}
    narrowed, _ = apply(space, (0,), parse_all(["lr=0.1,0.001"]))
    assert [(v.params["lr"], v.name) for v in narrowed.variants()] == [(0.1, full[0.1]), (0.001, full[0.001])]
    one, _ = apply(space, (0,), parse_all(["lr=1e-2"]))
    assert [v.name for v in one.variants()] == [full[0.01]], "a Grid narrowed to one value keeps its name"
    assert params(space, "bs=16,64", "lr=0.5") == [
        {"lr": 0.5, "bs": 16, "act": "relu"},
        {"lr": 0.5, "bs": 64, "act": "relu"},
    ]
    assert params(space, "+wd=0.1") == [
        {"lr": lr, "bs": 32, "act": "relu", "wd": 0.1} for lr in (0.1, 0.01, 0.001)
    ]
    assert space.items["lr"] == [0.1, 0.01, 0.001], "the sweep's own space is not changed"


def test_a_value_equal_to_the_spaces_takes_its_type():
    space = Config({"x": Grid([1.0, 2.0])})
    assert [type(p["x"]) for p in params(space, "x=1")] == [float]


def test_unknown_keys_name_what_exists_and_the_closest():
    space = Config({"lr": Grid([0.1, 0.01]), "batch_size": 32})
    with pytest.raises(OverrideError) as err:
        apply(space, (0,), parse_all(["batch=64"]))
    assert str(err.value) == (
        "override 'batch=64': the sweep has no key 'batch'; did you mean 'batch_size'? "
        "(keys: lr, batch_size, seed; +batch=... adds one)"
    )
    with pytest.raises(OverrideError, match="has 'lr' already"):
        apply(space, (0,), parse_all(["+lr=1"]))


def test_seed_overrides_the_sweeps_seeds():
    _, seeds = apply(Config({"lr": 1}), (0, 1, 2), parse_all(["seed=1,2"]))
    assert seeds == (1, 2)
    with pytest.raises(OverrideError, match="non-negative integers"):
        apply(Config({"lr": 1}), (0,), parse_all(["seed=a"]))


def test_a_zipped_key_narrows_the_zipped_rows():
    space = Config({("lr", "bs"): Zip([0.1, 0.01, 0.001], [8, 16, 32]), "env": Grid(["a", "b"])})
    got = params(space, "bs=16,32", "env=a")
    assert got == [{"lr": 0.01, "bs": 16, "env": "a"}, {"lr": 0.001, "bs": 32, "env": "a"}]
    with pytest.raises(
        OverrideError,
        match=r"'bs' is zipped with lr, so it can only be narrowed to values it has \(8, 16, 32\)",
    ):
        params(space, "bs=64")


def test_samples_are_fixed_by_an_override_and_keep_their_draw_elsewhere():
    space = Config({"lr": Grid([0.1, 0.01]), "wd": Sample(lambda: random.random())})
    sweep = Sweep(print, space)
    full = {v.params["lr"]: v.params["wd"] for v in sweep.plan("s").variants}
    narrowed, _ = apply(space, (0,), parse_all(["lr=0.01"]))
    (only,) = sweep.plan("s", space=narrowed).variants
    assert only.params["wd"] == full[0.01], "narrowing a Grid keeps the surviving variant's draw"
    assert params(space, "wd=0.5") == [{"lr": 0.1, "wd": 0.5}, {"lr": 0.01, "wd": 0.5}]


def test_experiment_grid_keys_as_added():
    eg = ExperimentGrid("ppo")
    eg.add("pi:hidden", [[64], [64, 64]], "hid")
    eg.add("lr", [0.1, 0.01])
    names = [v.name for v in eg.variants()]
    narrowed, _ = apply(eg, (0,), parse_all(["lr=0.01", "pi:hidden=[64, 64]"]))
    assert [v.name for v in narrowed.variants()] == [names[3]], "a narrowed key stays in the names"
    assert [dict(v.params) for v in narrowed.variants()] == [{"pi": {"hidden": [64, 64]}, "lr": 0.01}]
    added, _ = apply(eg, (0,), parse_all(["+epochs=5"]))
    assert all(v.params["epochs"] == 5 for v in added.variants())
    assert len(eg.variants()) == 4, "the grid itself is not changed"


def test_description_parameters_by_dotted_or_short_name():
    desc = Description({"algorithm": "sarsa", "metaParameters": {"alpha": [1.0, 0.5], "opt": {"b": [1, 2]}}})
    names = {
        (v.params["metaParameters"]["alpha"], v.params["metaParameters"]["opt"]["b"]): v.name
        for v in desc.variants()
    }
    narrowed, _ = apply(desc, (0,), parse_all(["alpha=0.5", "metaParameters.opt.b=2"]))
    (only,) = narrowed.variants()
    assert only.name == names[(0.5, 2)]
    assert only.params == {"metaParameters": {"alpha": 0.5, "opt": {"b": 2}}, "algorithm": "sarsa"}
    assert desc.num_permutations == 4
    with pytest.raises(OverrideError, match="come from its file"):
        apply(desc, (0,), parse_all(["+gamma=1"]))


def test_a_list_of_configs_can_only_be_narrowed():
    space = [{"lr": 0.1, "bs": 8}, {"lr": 0.01, "bs": 8}]
    sweep = Sweep(print, space)
    narrowed, _ = apply(sweep.space, (0,), parse_all(["lr=0.01"]))
    assert [dict(v.params) for v in narrowed.variants()] == [{"lr": 0.01, "bs": 8}]
    with pytest.raises(OverrideError, match=r"can only be narrowed to values it has \(lr: 0.1, 0.01\)"):
        apply(sweep.space, (0,), parse_all(["lr=0.5"]))


def test_nan_is_not_json():
    with pytest.raises(OverrideError):
        parse("lr=nan")
    assert math.isnan(float("nan"))
