"""Native PyExpUtils-style Description: flattening, permutation order, wrapping, names, save paths."""

from __future__ import annotations

import json
import os

import pytest

from orchestra.errors import ConfigValueError, SpaceError
from orchestra.space import Description
from orchestra.space.description import flatten, hyphenated_stringify, join_path, up_path

README = {
    "algorithm": "SARSA",
    "environment": "MountainCar",
    "metaParameters": {"alpha": [1.0, 0.5, 0.25, 0.125], "lambda": [1.0, 0.99, 0.98, 0.96]},
}


def meta(desc: Description, idx: int) -> dict:
    return desc.permutation(idx)["metaParameters"]


def test_alphabetically_first_key_varies_fastest():
    desc = Description(README)
    assert desc.num_permutations == 16
    assert meta(desc, 0) == {"alpha": 1.0, "lambda": 1.0}
    assert meta(desc, 1) == {"alpha": 0.5, "lambda": 1.0}  # the README says lambda 0.99: the code wins
    assert meta(desc, 4) == {"alpha": 1.0, "lambda": 0.99}
    assert meta(desc, 15) == {"alpha": 0.125, "lambda": 0.96}


def test_indices_wrap_and_count_runs():
    desc = Description(README)
    assert meta(desc, 16) == meta(desc, 0)
    assert meta(desc, 16 * 3 + 5) == meta(desc, 5)
    assert [desc.run(i) for i in (0, 12, 15, 16, 31, 32)] == [0, 0, 0, 1, 1, 2]


def test_permutation_keeps_the_rest_of_the_description():
    got = Description(README).permutation(0)
    assert got == {**README, "metaParameters": {"alpha": 1.0, "lambda": 1.0}}
    assert list(got) == ["metaParameters", "algorithm", "environment"]


def test_fixed_values_and_single_valued_lists():
    desc = Description({"metaParameters": {"alpha": [0.01, 0.02, 0.04], "epsilon": 0.05, "gamma": [0.9]}})
    assert desc.num_permutations == 3
    assert meta(desc, 0) == {"alpha": 0.01, "epsilon": 0.05, "gamma": 0.9}


def test_nested_dicts_are_swept_by_dotted_path():
    desc = Description(
        {"metaParameters": {"alpha": [1.0, 0.5], "optimizer": {"type": ["SGD", "SuperGood"], "beta": 0.1}}}
    )
    assert meta(desc, 0) == {"alpha": 1.0, "optimizer": {"type": "SGD", "beta": 0.1}}
    assert meta(desc, 2) == {"alpha": 1.0, "optimizer": {"type": "SuperGood", "beta": 0.1}}


def test_lists_of_dicts_are_walked_element_by_element():
    desc = Description(
        {
            "metaParameters": {
                "alpha": [1.0, 0.5],
                "layers": [{"type": "Linear", "units": [2, 4, 8]}, {"type": "Tanh", "units": [2, 3, 4]}],
            }
        }
    )
    assert desc.num_permutations == 18
    assert meta(desc, 2)["layers"] == [{"type": "Linear", "units": 4}, {"type": "Tanh", "units": 2}]
    assert [p.text for p in desc.parameters] == [
        "metaParameters.alpha",
        "metaParameters.layers.[0].type",
        "metaParameters.layers.[0].units",
        "metaParameters.layers.[1].type",
        "metaParameters.layers.[1].units",
    ]


def test_wrapping_a_list_fixes_it():
    desc = Description({"metaParameters": {"hidden": [[64, 64]], "sizes": [[32], [64, 64]]}})
    assert desc.num_permutations == 2
    assert meta(desc, 1) == {"hidden": [64, 64], "sizes": [64, 64]}


def test_several_sections_sort_by_full_path():
    d = {
        "metaParameters": {"alpha": [0.01, 0.02, 0.04], "epsilon": 0.05, "gamma": [0.9]},
        "envParameters": {"size": 30, "noise": [0.01, 0.02]},
    }
    desc = Description(d, keys=["metaParameters", "envParameters"])
    assert desc.num_permutations == 6
    # envParameters.noise sorts before metaParameters.alpha, so it varies fastest
    first = desc.permutation(1)
    assert first["envParameters"] == {"noise": 0.02, "size": 30}
    assert first["metaParameters"]["alpha"] == 0.01
    assert Description(d, keys="envParameters").num_permutations == 2


def test_permutations_are_fresh_copies():
    desc = Description({"metaParameters": {"hidden": [[64, 64]], "alpha": [1, 2]}, "other": {"x": [1]}})
    got = desc.permutation(0)
    got["metaParameters"]["hidden"].append(1)
    got["other"]["x"].append(2)
    got["metaParameters"]["new"] = 1
    assert desc.permutation(0) == {"metaParameters": {"alpha": 1, "hidden": [64, 64]}, "other": {"x": [1]}}


def test_later_changes_to_the_callers_dict_are_not_seen():
    d = {"metaParameters": {"alpha": [1, 2]}, "name": "a"}
    desc = Description(d)
    d["metaParameters"]["alpha"].append(3)
    d["name"] = "b"
    assert desc.num_permutations == 2
    assert desc.experiment_name() == "a"


def test_empty_dict_is_kept_as_a_fixed_value():
    desc = Description({"metaParameters": {"opt": {}, "alpha": [1, 2]}})
    assert meta(desc, 1) == {"alpha": 2, "opt": {}}


def test_more_than_ten_dicts_keep_their_positions():
    layers = [{"units": [i, i + 100]} for i in range(12)]
    desc = Description({"metaParameters": {"layers": layers}})
    got = meta(desc, 0)["layers"]
    assert [layer["units"] for layer in got] == list(range(12))
    # the permutation order still follows the string sort: [10] and [11] come before [1]
    assert [p.text.split(".")[2] for p in desc.parameters][:4] == ["[0]", "[10]", "[11]", "[1]"]
    assert meta(desc, 2)["layers"][10]["units"] == 110


def test_keys_with_dots_are_kept_whole():
    desc = Description({"metaParameters": {"env.id": ["a", "b"], "env": {"x": 1}}})
    assert meta(desc, 1) == {"env": {"x": 1}, "env.id": "b"}


def test_a_dotted_key_colliding_with_a_nested_path_is_refused():
    with pytest.raises(SpaceError, match=r"two keys flatten to 'metaParameters\.a\.b'"):
        Description({"metaParameters": {"a.b": [1, 2], "a": {"b": 3}}})


def test_empty_list_is_a_clear_error():
    with pytest.raises(
        SpaceError, match=r"key 'metaParameters.opt.lrs': an empty list has no value to sweep; write \[\[\]\]"
    ):
        Description({"metaParameters": {"opt": {"lrs": []}}})
    assert meta(Description({"metaParameters": {"x": [[]]}}), 0) == {"x": []}


def test_list_of_dicts_holding_something_else_is_refused():
    with pytest.raises(SpaceError, match=r"key 'metaParameters.layers.\[1\]': a list of dicts holds a int"):
        Description({"metaParameters": {"layers": [{"a": 1}, 2]}})


def test_missing_section_and_bad_keys_are_refused():
    with pytest.raises(SpaceError, match="has no 'metaParameters' section to permute"):
        Description({"params": {}})
    with pytest.raises(SpaceError, match="keys must be a section name or a list"):
        Description({"a": {}}, keys=[])
    with pytest.raises(SpaceError, match="keys must be a section name or a list"):
        Description({"a": {}}, keys=3)  # type: ignore[arg-type]
    with pytest.raises(SpaceError, match="must be a dict"):
        Description([1, 2])  # type: ignore[arg-type]


def test_non_string_keys_are_refused():
    with pytest.raises(SpaceError, match=r"key 'metaParameters.opt.1': keys must be strings"):
        Description({"metaParameters": {"opt": {1: [2, 3]}}})


@pytest.mark.parametrize("idx", [-1, 1.0, True, "0"])
def test_index_must_be_a_non_negative_integer(idx):
    with pytest.raises(SpaceError, match="permutation index must be a non-negative integer"):
        Description(README).permutation(idx)


# -- names and save paths -------------------------------------------------------------------------


def test_experiment_name_without_a_path():
    assert Description({"metaParameters": {}, "name": "test"}).experiment_name() == "test"
    assert Description({"metaParameters": {}}).experiment_name() == "unnamed"
    assert Description({"metaParameters": {}, "name": 3}).experiment_name() == "3"


@pytest.mark.parametrize(
    "path",
    [
        "experiments/overfit/best/ann.json",
        "./experiments/overfit/best/ann.json",
        "{cwd}/experiments/overfit/best/ann.json",
    ],
)
def test_experiment_name_from_a_path_ignores_the_name_key(path):
    desc = Description({"metaParameters": {}, "name": "ignored"}, path=path.format(cwd=os.getcwd()))
    assert desc.experiment_name() == "overfit/best"


def test_experiment_name_with_another_experiment_directory():
    desc = Description({"metaParameters": {}}, path="exps/a/b.json")
    assert desc.experiment_name("exps") == "a"
    assert desc.experiment_name() == "exps/a"
    assert Description({"metaParameters": {}}, path="b.json").experiment_name() == ""


def test_save_path_fields():
    d = {"name": "test", "algorithm": "q", "metaParameters": {"alpha": [0.01, 0.02], "epsilon": 0.05}}
    desc = Description(d, save_key="{name}/{params}/{run}")
    assert desc.save_path(0) == "test/alpha-0.01_epsilon-0.05/0"
    assert desc.save_path(3) == "test/alpha-0.02_epsilon-0.05/1"
    assert desc.save_path(0, "{params}") == "alpha-0.01_epsilon-0.05"
    assert desc.save_path(0, "{name}/{algorithm}", attributes={"algorithm": "q"}) == "test/q"
    assert desc.save_path(0, "{save_key}") == "{name}/{params}/{run}"
    assert desc.save_path(0, "{name}", experiment_name=lambda: "other") == "other"


def test_save_path_nested_params():
    desc = Description(
        {"metaParameters": {"optimizer": {"alpha": [0.1, 0.2], "beta": [0.99, 0.999]}, "epsilon": 0.05}}
    )
    assert desc.save_path(0, "{params}") == "epsilon-0.05_optimizer.alpha-0.1_optimizer.beta-0.99"


def test_save_path_with_several_sections_prefixes_every_key():
    desc = Description({"a": {"x": [1, 2]}, "b": {"y": 3}}, keys=["a", "b"])
    assert desc.save_path(1, "{params}") == "a.x-2_b.y-3"


def test_save_path_unknown_field_is_a_clear_error():
    desc = Description({"metaParameters": {"a": 1}})
    with pytest.raises(
        SpaceError,
        match=r"save path 'r/\{agent\}': unknown field \{agent\}; known fields: name, params, run, ",
    ):
        desc.save_path(0, "r/{agent}")


def test_save_path_needs_a_template():
    with pytest.raises(SpaceError, match="no template"):
        Description({"metaParameters": {}}).save_path(0)


def test_params_of_a_non_dict_section_cannot_be_stringified():
    desc = Description({"metaParameters": [1, 2]})
    assert desc.params(1) == 2
    with pytest.raises(
        SpaceError, match=r"\{params\} needs the permuted section 'metaParameters' to be a dict"
    ):
        desc.save_path(0, "{params}")


@pytest.mark.parametrize(
    ("d", "text"),
    [
        (
            {"alpha": 0.1, "beta": 0.99, "gamma": 1, "optimizer": "SuperFast"},
            "alpha-0.1_beta-0.99_gamma-1_optimizer-SuperFast",
        ),
        ({"beta": 0.95, "alpha": -0.5}, "alpha--0.5_beta-0.95"),
        (
            {"epsilon": 0.1, "optimizer": {"alpha": 0.9, "beta": 0.99}},
            "epsilon-0.1_optimizer.alpha-0.9_optimizer.beta-0.99",
        ),
        ({"hidden": [64, 64]}, "hidden.[0]-64_hidden.[1]-64"),
        ({"b": 1e-05, "a": True, "B": None}, "B-None_a-True_b-1e-05"),
        ({"layers": [{"u": 1}, {"u": 2}]}, "layers.[0].u-1_layers.[1].u-2"),
        ({"m": [[1, 2], [3]]}, "m.[0]-[1, 2]_m.[1]-[3]"),
        ({"e": [], "f": {}}, "e-[]_f-{}"),
    ],
)
def test_hyphenated_stringify(d, text):
    assert hyphenated_stringify(d) == text


def test_hyphenated_stringify_needs_a_dict():
    with pytest.raises(SpaceError, match="needs a dict, got list"):
        hyphenated_stringify([1])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("parts", "path"),
    [
        (("", "results/x"), "results/x"),
        (("/scratch", "results//x/"), "/scratch/results/x"),
        (("a/", "/b", "", "c"), "a/b/c"),
        ((), ""),
    ],
)
def test_join_path(parts, path):
    assert join_path(*parts) == path


def test_up_path():
    assert up_path("overfit/best/ann.json") == "overfit/best"
    assert up_path("/abs/x/y.json") == "/abs/x"
    assert up_path("ann.json") == ""


# -- variants ---------------------------------------------------------------------------------------


def test_one_variant_per_permutation_named_by_the_varying_parameters():
    variants = Description(README).variants()
    assert len(variants) == 16
    assert [v.index for v in variants] == list(range(16))
    assert variants[1].name == "alpha-0.5_lambda-1.0"
    assert variants[1].params == Description(README).permutation(1)


def test_variant_names_leave_out_fixed_parameters_and_expand_lists():
    d = {"metaParameters": {"alpha": [0.1, 0.2], "eps": 0.05, "hidden": [[64, 64], [32]]}}
    names = [v.name for v in Description(d).variants()]
    assert names[0] == "alpha-0.1_hidden.-0--64_hidden.-1--64"
    assert names[2] == "alpha-0.1_hidden.-0--32"


def test_variants_of_several_sections_carry_the_section_prefix():
    d = {"a": {"x": [1, 2]}, "b": {"y": [3, 4]}}
    assert Description(d, keys=["a", "b"]).variants()[3].name == "a.x-2_b.y-4"


def test_a_description_without_sweeps_is_one_variant_named_for_the_experiment():
    (v,) = Description({"metaParameters": {"a": 1}, "name": "mc/sarsa"}).variants()
    assert v.name == "mc-sarsa"


def test_values_that_cannot_be_json_name_the_key():
    with pytest.raises(ConfigValueError, match=r"config key 'metaParameters.f': nan cannot be written"):
        Description({"metaParameters": {"f": [float("nan"), 1.0]}}).variants()


def test_load_reads_json_and_reports_bad_files(tmp_path):
    path = tmp_path / "experiments" / "mc" / "sarsa.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(README))
    desc = Description.load(path)
    assert desc.num_permutations == 16 and desc.path == str(path)
    with pytest.raises(SpaceError, match="no such experiment description file"):
        Description.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"metaParameters":\n  {"a": [1,}\n}')
    with pytest.raises(SpaceError, match=r"bad.json:2: not valid JSON"):
        Description.load(bad)
    with pytest.raises(SpaceError, match="is a directory"):
        Description.load(tmp_path)


def test_flatten_sorts_by_text():
    params = flatten({"s": {"b": [1, 2], "a": {"z": 1, "B": [3]}}})
    assert [(p.text, p.values) for p in params] == [("s.a.B", (3,)), ("s.a.z", (1,)), ("s.b", (1, 2))]
