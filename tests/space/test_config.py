"""Native lagom-style Config: enumeration, Samples, Conditions, Zip, and errors that name the key."""

from __future__ import annotations

import itertools
import random

import pytest

from orchestra.errors import ConfigValueError, SpaceError
from orchestra.space import Condition, Config, Grid, Sample, Zip


def test_last_grid_key_varies_fastest_and_ids_count_up():
    configs = Config({"a": Grid([1, 2]), "fixed": "x", "b": Grid(["p", "q", "r"])}).make_configs()
    assert [(c["a"], c["b"]) for c in configs] == list(itertools.product([1, 2], ["p", "q", "r"]))
    assert [c["ID"] for c in configs] == list(range(6))
    assert all(c["fixed"] == "x" for c in configs)


def test_key_order_is_id_fixed_grid_sample_unless_kept():
    items = {"s": Sample(lambda: 1), "g": Grid([1]), "f": 0, "c": Condition(lambda c: 2)}
    assert list(Config(items).make_configs()[0]) == ["ID", "f", "c", "g", "s"]
    assert list(Config(items, keep_dict_order=True).make_configs()[0]) == ["ID", "s", "g", "f", "c"]


def test_num_sample_repeats_the_whole_grid_with_fresh_draws():
    draws = iter(range(100))
    config = Config({"g": Grid(["a", "b"]), "s": Sample(lambda: next(draws))}, num_sample=3)
    configs = config.make_configs()
    assert [c["g"] for c in configs] == ["a", "b"] * 3
    assert [c["s"] for c in configs] == list(range(6))


def test_num_sample_is_one_without_a_sample():
    config = Config({"g": Grid([1, 2])}, num_sample=5)
    assert config.num_sample == 1
    assert len(config.make_configs()) == 2


def test_all_fixed_gives_one_config():
    assert Config({"a": 1, "b": [64, 64]}, num_sample=4).make_configs() == [{"ID": 0, "a": 1, "b": [64, 64]}]


def test_a_plain_list_is_one_fixed_value():
    variants = Config({"hidden": [64, 64], "lr": Grid([0.1, 0.2])}).variants()
    assert [v.params["hidden"] for v in variants] == [[64, 64], [64, 64]]


def test_condition_sees_the_finished_config():
    configs = Config(
        {"double": Condition(lambda c: 2 * c["x"]), "x": Grid([1, 2]), "s": Sample(lambda: 7)}
    ).make_configs()
    assert [c["double"] for c in configs] == [2, 4]


def test_sample_draws_once_per_variant():
    rng = random.Random(0)
    variants = Config({"lr": Sample(lambda: rng.random()), "g": Grid([1, 2])}, num_sample=5).variants()
    draws = [v.params["lr"] for v in variants]
    assert len(set(draws)) == 10
    assert all(v.sampled == ("lr",) for v in variants)


def test_zip_varies_keys_together():
    config = Config({("lr", "bs"): Zip([1e-3, 3e-4], [32, 64]), "env": Grid(["a", "b"])})
    got = [(v.params["lr"], v.params["bs"], v.params["env"]) for v in config.variants()]
    assert got == [(1e-3, 32, "a"), (1e-3, 32, "b"), (3e-4, 64, "a"), (3e-4, 64, "b")]


def test_zip_by_name_matches_the_tuple_key_in_any_order():
    config = Config({("bs", "lr"): Zip(lr=[0.1, 0.2], bs=[8, 16])})
    assert [(c["bs"], c["lr"]) for c in config.make_configs()] == [(8, 0.1), (16, 0.2)]


def test_zip_keep_dict_order_flattens_the_tuple_key():
    config = Config({"a": 1, ("x", "y"): Zip([1], [2]), "b": 3}, keep_dict_order=True)
    assert list(config.make_configs()[0]) == ["ID", "a", "x", "y", "b"]


def test_zip_lists_of_different_lengths_are_refused():
    with pytest.raises(SpaceError, match=r"equal lengths, got \[2, 3\]"):
        Zip([1, 2], [1, 2, 3])


def test_zip_names_that_differ_from_the_key_are_refused():
    with pytest.raises(SpaceError, match=r"config key \(lr, bs\): Zip names \['lr', 'batch'\]"):
        Config({("lr", "bs"): Zip(lr=[1], batch=[2])}).variants()


def test_zip_with_the_wrong_number_of_lists_is_refused():
    with pytest.raises(SpaceError, match=r"config key \(a, b, c\): 3 names but Zip has 2 lists"):
        Config({("a", "b", "c"): Zip([1], [2])}).variants()


def test_zip_needs_lists():
    with pytest.raises(SpaceError, match="at least one list"):
        Zip()
    with pytest.raises(SpaceError, match="either lists by position or keyword lists"):
        Zip([1], b=[2])


def test_zip_under_a_plain_key_or_a_tuple_without_zip_is_refused():
    with pytest.raises(SpaceError, match="config key 'lr': a Zip goes under a tuple"):
        Config({"lr": Zip([1])})
    with pytest.raises(SpaceError, match=r"config key \('a', 'b'\): a tuple of keys needs a Zip value"):
        Config({("a", "b"): Grid([1])})


def test_key_in_a_zip_and_on_its_own_is_refused():
    with pytest.raises(SpaceError, match="config key 'lr' is set twice"):
        Config({"lr": 0.1, ("lr", "bs"): Zip([1], [2])})


def test_empty_grid_lists_nothing_but_has_no_variants():
    config = Config({"a": Grid([]), "b": Grid([1, 2])})
    assert config.make_configs() == []
    with pytest.raises(SpaceError, match="config key 'a': Grid is empty"):
        config.variants()


def test_condition_that_raises_names_its_key():
    config = Config({"x": Grid([1]), "bad": Condition(lambda c: c["missing"])})
    with pytest.raises(SpaceError, match=r"config key 'bad': Condition raised KeyError: 'missing'"):
        config.variants()


def test_sample_that_raises_names_its_key():
    with pytest.raises(SpaceError, match=r"config key 'lr': Sample raised ZeroDivisionError"):
        Config({"lr": Sample(lambda: 1 / 0)}).variants()


def test_condition_reading_a_later_condition_gets_the_unresolved_object():
    later = Condition(lambda c: 1)
    config = Config({"a": Condition(lambda c: c["b"]), "b": later})
    (made,) = config.make_configs()
    assert made["a"] is later and made["b"] == 1
    with pytest.raises(ConfigValueError, match=r"config key 'a': .*Condition"):
        config.variants()


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({1: Grid([1])}, "config key 1: keys must be strings, got int"),
        ({"": 1}, "keys must be non-empty"),
        ({"a\0b": 1}, "free of NUL"),
        ({"ID": 3}, "config key 'ID' is reserved"),
        ({("a", 2): Zip([1], [2])}, "config key 2: keys must be strings"),
    ],
)
def test_bad_keys_are_refused(items, message):
    with pytest.raises(SpaceError, match=message):
        Config(items)


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_num_sample_must_be_a_positive_integer(n):
    with pytest.raises(SpaceError, match="num_sample must be a positive integer"):
        Config({"a": Sample(lambda: 1)}, num_sample=n)


def test_items_must_be_a_mapping():
    with pytest.raises(SpaceError, match="Config needs a dict of config keys, got list"):
        Config([1, 2, 3])  # type: ignore[arg-type]


def test_sample_and_condition_need_functions():
    with pytest.raises(SpaceError, match="Sample needs a function"):
        Sample(3)  # type: ignore[arg-type]
    with pytest.raises(SpaceError, match="Condition needs a function"):
        Condition("x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (len, r"config key 'f': len \(builtin_function_or_method\) cannot be written as JSON"),
        (float("nan"), "config key 'f': nan cannot be written as JSON"),
        (object(), r"config key 'f': object \(object\) cannot be written as JSON"),
        ({"inner": {2: "x"}}, r"config key 'f.inner.2': dict keys must be strings"),
        ([1, {"deep": float("inf")}], r"config key 'f\[1\].deep': inf cannot be written as JSON"),
        (2**70, "does not fit in 64 bits"),
    ],
)
def test_values_that_cannot_be_json_name_the_key(value, message):
    with pytest.raises(ConfigValueError, match=message):
        Config({"f": value, "g": Grid([1, 2])}).variants()


def test_variant_names_show_the_swept_keys():
    variants = Config({"lr": Grid([0.001, 0.0003]), "fixed": 1, "bs": Grid([32])}).variants()
    assert [v.name for v in variants] == ["lr=0.001_bs=32", "lr=0.0003_bs=32"]


def test_tuples_become_lists_in_params():
    (v,) = Config({"shape": (32, 32)}).variants()
    assert v.params == {"shape": [32, 32]}


def test_conditions_inside_grids_and_zips_are_resolved():
    half = Condition(lambda c: c["x"] / 2)
    configs = Config({"x": Grid([2, 4]), "y": Grid([half, 0]), ("z", "w"): Zip([half], [1])}).make_configs()
    assert [(c["y"], c["z"]) for c in configs] == [(1.0, 1.0), (0, 1.0), (2.0, 2.0), (0, 2.0)]
