"""orchestra.compat.spinup.ExperimentGrid behaves as spinningup's (SEEDS §A2.1-A2.4)."""

from __future__ import annotations

import itertools

import pytest

from orchestra import Sweep
from orchestra.compat.spinup import ExperimentGrid
from orchestra.errors import SpaceError, UserError


def slc_grid():
    eg = ExperimentGrid()
    eg.add("test:a", [1, 2, 3], "ta", True)
    eg.add("test:b", [1, 2, 3])
    eg.add("some", [4, 5])
    eg.add("why", [True, False])
    eg.add("huh", 5)
    eg.add("no", 6, in_name=True)
    return eg


def test_slc_test_eg_variants():
    expected = [
        {"test": {"a": a, "b": b}, "some": s, "why": w, "huh": 5, "no": 6}
        for a, b, s, w in itertools.product([1, 2, 3], [1, 2, 3], [4, 5], [True, False])
    ]
    got = slc_grid().variants()
    assert got == expected
    assert [list(v) for v in got] == [["test", "some", "why", "huh", "no"]] * 36
    assert list(got[0]["test"]) == ["a", "b"]


def test_slc_test_eg_names():
    eg = slc_grid()
    names = [eg.variant_name(v) for v in eg.variants()]
    assert names[:3] == ["ta1_tes-b1_som4_why_no6", "ta1_tes-b1_som4_no6", "ta1_tes-b1_som5_why_no6"]
    assert names[-1] == "ta3_tes-b3_som5_no6"


def test_name_add_and_shorthands():
    eg = ExperimentGrid()
    eg.name("ppo")
    eg.add("steps_per_epoch", [4000, 8000])
    eg.add("pi_lr", [3e-4])
    eg.add("_foo", [1, 2], None)
    eg.add("learning", [1, 2], "")
    eg.add("x.y", 1, in_name=True)
    assert eg.shs == ["ste", "pi", "fo", "", "xy"]
    assert eg.variant_name(eg.variants()[0]) == "ppo_ste4000_fo1_1_xy1"


def test_non_lists_are_one_value_and_tuples_too():
    eg = ExperimentGrid("g")
    eg.add("hid", (32,), in_name=True)
    eg.add("env_name", "Hopper-v2", in_name=True)
    eg.add("lr", [0.001, 1e-05, -1.5])
    assert eg.vals[:2] == [[(32,)], ["Hopper-v2"]]
    assert [eg.variant_name(v) for v in eg.variants()] == [
        "g_hid32_envhopper-v2_lr0-001",
        "g_hid32_envhopper-v2_lr1e-05",
        "g_hid32_envhopper-v2_lr-1-5",
    ]


def test_value_text_of_lists_bools_none_and_classes():
    class ReLU:
        pass

    eg = ExperimentGrid()
    eg.add("ac_kwargs:hidden_sizes", [[64, 64]], in_name=True)
    eg.add("ac_kwargs:activation", [ReLU, None])
    eg.add("flag", [True, None])
    assert [eg.variant_name(v) for v in eg.variants()] == [
        "ac-hid64-64_ac-actrelu_flatrue",
        "ac-hid64-64_ac-actrelu_flanone",
        "ac-hid64-64_ac-actnone_flatrue",
        "ac-hid64-64_ac-actnone_flanone",
    ]


def test_seed_is_in_the_variants_but_never_in_the_name():
    eg = ExperimentGrid("exp")
    eg.add("seed", [0, 10, 20], in_name=True)
    eg.add("lr", [0.1, 0.2])
    variants = eg.variants()
    assert [(v["seed"], v["lr"]) for v in variants] == list(itertools.product([0, 10, 20], [0.1, 0.2]))
    assert sorted({eg.variant_name(v) for v in variants}) == ["exp_lr0-1", "exp_lr0-2"]


def test_a_grid_of_seeds_only_has_the_empty_name():
    eg = ExperimentGrid()
    eg.add("seed", [0, 1])
    assert [eg.variant_name(v) for v in eg.variants()] == ["", ""]


def test_bool_only_parameter_absent_when_false():
    eg = ExperimentGrid("g")
    eg.add("use_gpu", [False, True])
    assert [eg.variant_name(v) for v in eg.variants()] == ["g", "g_use"]


def test_assertions_of_spinningup_are_assertion_errors_and_user_errors():
    with pytest.raises(AssertionError, match="Name has to be a string"):
        ExperimentGrid(3)  # type: ignore[arg-type]
    eg = ExperimentGrid()
    with pytest.raises(AssertionError, match="Key must be a string"):
        eg.add(3, [1])  # type: ignore[arg-type]
    with pytest.raises(UserError, match="Shorthand must be a string"):
        eg.add("k", [1], 3)  # type: ignore[arg-type]


def test_documented_deviations_are_clear_errors():
    eg = ExperimentGrid()
    eg.add("lr", [0.1, 0.2])
    with pytest.raises(SpaceError, match="'lr' is added twice"):
        eg.add("lr", [0.3])
    eg.add("a", [1])
    with pytest.raises(SpaceError, match="You can't assign multiple values to the same key"):
        eg.add("a:b", [2])


def test_dict_valued_parent_merges_into_a_copy():
    user = {"x": 1}
    eg = ExperimentGrid()
    eg.add("a", user)
    eg.add("a:y", [2])
    assert eg.variants() == [{"a": {"x": 1, "y": 2}}]
    assert user == {"x": 1}


def test_an_empty_grid_has_one_empty_variant():
    assert ExperimentGrid().variants() == [{}]


def test_print(capsys):
    eg = ExperimentGrid("ppo")
    eg.add("seed", [0, 1, 2])
    eg.add("pi_lr", [3e-4, 1e-3], "pi")
    eg.print()
    out = capsys.readouterr().out
    assert " pi_lr                                    [pi] \n\n\t0.0003\n\t0.001\n\n" in out
    assert " Variants, counting seeds:               6\n" in out
    assert " Variants, not counting seeds:           2\n" in out


def test_the_grid_is_a_sweep_space_with_its_seeds():
    eg = ExperimentGrid("ppo")
    eg.add("seed", [0, 10])
    eg.add("pi_lr", [3e-4, 1e-3])
    eg.add("ac_kwargs:hidden_sizes", [(32,), (64, 64)])
    sweep = Sweep(lambda **kw: None, eg)
    assert sweep.seeds == (0, 10)
    variants = sweep.plan().variants
    assert [v.name for v in variants] == [
        "ppo_pi0-0003_ac-hid32",
        "ppo_pi0-0003_ac-hid64-64",
        "ppo_pi0-001_ac-hid32",
        "ppo_pi0-001_ac-hid64-64",
    ]
    assert variants[1].params == {"pi_lr": 0.0003, "ac_kwargs": {"hidden_sizes": [64, 64]}}
    eg.add("later", [1, 2])  # the sweep took a snapshot of the grid
    assert len(sweep.plan().variants) == 4


def test_seed_key_and_seeds_argument_together_are_refused():
    eg = ExperimentGrid()
    eg.add("seed", [0, 1])
    with pytest.raises(UserError, match="seeds are given twice"):
        Sweep(lambda: None, eg, seeds=[3])


def test_spinups_helpers_import_from_its_module_paths():
    from orchestra.compat.spinup import all_bools, setup_logger_kwargs, valid_str
    from orchestra.compat.spinup.utils import run_utils

    assert run_utils.setup_logger_kwargs is setup_logger_kwargs and run_utils.valid_str is valid_str
    assert ExperimentGrid()._default_shorthand("ac_kwargs:hidden_sizes") == "ac-hid"
    assert ExperimentGrid()._default_shorthand("_foo") == "fo"
    assert all_bools([True, False]) and not all_bools([True, 1]) and all_bools([])
    assert valid_str(0.001) == "0-001" and valid_str([64, 64]) == "64-64" and valid_str(print) == "print"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("lr", [0.1]), ("lr", [0.2])),
        (("a", [1]), ("a:b", [2])),
        (("a:b", [1]), ("a", [2])),
        (("x", [1]), ("y", [])),
    ],
)
def test_refusals_are_assertion_errors_as_spinups_own_checks(first, second):
    eg = ExperimentGrid("g")
    eg.add(*first)
    with pytest.raises(AssertionError):
        eg.add(*second)
