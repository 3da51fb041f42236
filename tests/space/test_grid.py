"""Native spinningup-style ExperimentGrid: shorthands, value text, names, nesting, seeds, errors."""

from __future__ import annotations

import pytest

from orchestra.errors import SpaceError
from orchestra.space import ExperimentGrid
from orchestra.space.grid import default_shorthand, unflatten, valid_str


@pytest.mark.parametrize(
    ("key", "shorthand"),
    [
        ("steps_per_epoch", "ste"),
        ("pi_lr", "pi"),
        ("_foo", "fo"),
        ("ac_kwargs:hidden_sizes", "ac-hid"),
        ("ac_kwargs:activation", "ac-act"),
        ("a:b:c", "a-b-c"),
        ("x.y", "xy"),
        ("seed", "see"),
        ("env_name", "env"),
        ("ab", "ab"),
    ],
)
def test_default_shorthand(key, shorthand):
    assert default_shorthand(key) == shorthand


class ReLU:
    pass


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.001, "0-001"),
        (1e-05, "1e-05"),
        (-1.5, "-1-5"),
        ([64, 64], "64-64"),
        ((32,), "32"),
        ("Hopper-v2", "hopper-v2"),
        (True, "true"),
        (None, "none"),
        (ReLU, "relu"),
        (valid_str, "valid_str"),
        ("a b/c", "a-b-c"),
    ],
)
def test_valid_str(value, text):
    assert valid_str(value) == text


def grid(*adds, name="ppo"):
    eg = ExperimentGrid(name)
    for args in adds:
        eg.add(*args)
    return eg


def test_first_added_key_varies_slowest():
    eg = grid(("a", [1, 2]), ("b", ["x", "y", "z"]))
    assert [(v["a"], v["b"]) for v in eg.flat_variants()] == [
        (1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z"),
    ]  # fmt: skip
    assert len(eg) == 6


def test_colon_keys_nest_at_the_first_colon_in_add_order():
    eg = grid(("base:param:a", 1), ("top", 0), ("base:param:b", 2))
    (v,) = eg.nested_variants()
    assert v == {"base": {"param": {"a": 1, "b": 2}}, "top": 0}
    assert list(v) == ["base", "top"]


def test_non_list_values_are_one_value_and_tuples_are_not_lists():
    eg = grid(("hid", (64, 64)), ("lr", 0.1))
    assert eg.vals == [[(64, 64)], [0.1]]
    assert len(eg) == 1


def test_variant_name_has_shorthand_then_value_for_multi_valued_keys():
    eg = grid(("pi_lr", [0.001, 0.01]), ("steps_per_epoch", 4000), ("hid", [[64, 64]], "h", True))
    names = [eg.variant_name(v) for v in eg.nested_variants()]
    assert names == ["ppo_pi0-001_h64-64", "ppo_pi0-01_h64-64"]


def test_user_shorthand_and_empty_shorthand():
    eg = grid(("learning_rate", [0.1, 0.2], "lr"), ("batch", [1, 2], ""))
    assert eg.shs == ["lr", ""]
    assert eg.variant_name(eg.nested_variants()[1]) == "ppo_lr0-1_2"


def test_bool_only_parameters_appear_bare_when_true():
    eg = grid(("why", [True, False]), ("lr", [1, 2]))
    assert [eg.variant_name(v) for v in eg.nested_variants()] == [
        "ppo_why_lr1",
        "ppo_why_lr2",
        "ppo_lr1",
        "ppo_lr2",
    ]


def test_seed_is_never_in_the_name():
    eg = grid(("seed", [0, 1], None, True), ("lr", [1, 2]))
    assert {eg.variant_name(v) for v in eg.nested_variants()} == {"ppo_lr1", "ppo_lr2"}


def test_single_valued_keys_appear_only_with_in_name():
    eg = grid(("a", 1), ("b", 2, None, True), ("c", [3, 4]))
    assert eg.variant_name(eg.nested_variants()[0]) == "ppo_b2_c3"


def test_name_is_lstripped_of_underscores_and_seed_only_grid_has_empty_name():
    eg = grid(("seed", [0, 1, 2]), name="")
    assert [eg.variant_name(v) for v in eg.nested_variants()] == ["", "", ""]
    eg = grid(("lr", [1, 2]), name="")
    assert eg.variant_name(eg.nested_variants()[0]) == "lr1"


def test_nested_values_are_found_by_colon_path():
    eg = grid(("ac_kwargs:hidden_sizes", [[32], [64, 64]]))
    assert [eg.variant_name(v) for v in eg.nested_variants()] == ["ppo_ac-hid32", "ppo_ac-hid64-64"]


def test_native_variants_drop_the_seed_and_keep_its_values_as_seeds():
    eg = grid(("lr", [0.1, 0.2]), ("seed", [10, 20, 30]), ("bs", [8, 16]))
    variants = eg.variants()
    assert [v.params for v in variants] == [
        {"lr": 0.1, "bs": 8}, {"lr": 0.1, "bs": 16}, {"lr": 0.2, "bs": 8}, {"lr": 0.2, "bs": 16},
    ]  # fmt: skip
    assert [v.name for v in variants] == [
        "ppo_lr0-1_bs8",
        "ppo_lr0-1_bs16",
        "ppo_lr0-2_bs8",
        "ppo_lr0-2_bs16",
    ]
    assert eg.seeds == [10, 20, 30]
    assert grid(("lr", [1])).seeds is None


def test_only_seed_varying_gives_one_variant_named_for_the_grid():
    (v,) = grid(("seed", [0, 1]), ("lr", 0.1)).variants()
    assert v.name == "ppo"
    (v,) = grid(("seed", [0, 1]), name="").variants()
    assert v.name == "default"


def test_duplicate_values_stay_separate_variants_with_unique_names():
    variants = grid(("lr", [0.1, 0.1])).variants()
    assert len(variants) == 2
    assert variants[0].key == variants[1].key
    assert len({v.name for v in variants}) == 2


def test_key_added_twice_is_refused():
    eg = grid(("lr", [0.1, 0.2]))
    with pytest.raises(SpaceError, match="ExperimentGrid key 'lr' is added twice"):
        eg.add("lr", [0.3])


@pytest.mark.parametrize("order", [("a", "a:b"), ("a:b", "a"), ("a:b", "a:b:c")])
def test_a_value_and_a_parent_of_the_same_key_collide(order):
    eg = ExperimentGrid()
    eg.add(order[0], [1])
    with pytest.raises(SpaceError, match=f"ExperimentGrid keys '{order[0]}' and '{order[1]}' collide"):
        eg.add(order[1], [2])


def test_a_dict_valued_parent_takes_sub_keys_into_a_copy():
    user = {"x": 1}
    eg = grid(("a", [user]), ("a:y", [2, 3]))
    assert [v["a"] for v in eg.nested_variants()] == [{"x": 1, "y": 2}, {"x": 1, "y": 3}]
    assert user == {"x": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, [1]), "key must be a non-empty string, got 1"),
        (("", [1]), "key must be a non-empty string"),
        (("lr", [1], 3), r"ExperimentGrid.add\('lr'\): shorthand must be a string or None"),
        (("lr", []), "ExperimentGrid key 'lr': the list of values is empty"),
    ],
)
def test_bad_add_is_refused(args, message):
    with pytest.raises(SpaceError, match=message):
        ExperimentGrid().add(*args)


def test_name_must_be_a_string():
    with pytest.raises(SpaceError, match="ExperimentGrid name must be a string, got int"):
        ExperimentGrid(3)  # type: ignore[arg-type]


def test_unflatten_splits_at_the_first_colon():
    assert unflatten({"a:b:c": 1, "a:b:d": 2, "e": 3}) == {"a": {"b": {"c": 1, "d": 2}}, "e": 3}


def test_print_reports_keys_values_and_counts(capsys):
    grid(("seed", [0, 1]), ("pi_lr", [0.1, 0.2]), ("fn", len), name="ppo").print()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "=" * 80
    assert out[1] == "ExperimentGrid [ppo] runs over parameters:"
    assert " " + "pi_lr".ljust(40) + " [pi] " in out
    assert "\t0.1" in out and "\tlen" in out
    assert " Variants, counting seeds:               4" in out
    assert " Variants, not counting seeds:           2" in out
    assert out[-1] == "=" * 80


def test_print_breaks_a_long_name_onto_two_lines(capsys):
    ExperimentGrid("x" * 70).print()
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"ExperimentGrid [{'x' * 70}]"
    assert out[2] == " runs over parameters:"
