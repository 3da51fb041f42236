"""Variants: JSON checks, content hashes, safe unique names, and what a Sweep accepts as a space."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from orchestra.errors import ConfigValueError, SpaceError
from orchestra.space import Config, Description, Draft, ExperimentGrid, Grid, Variant, as_space, finalize
from orchestra.space.naming import MAX_NAME, bound, check_path_component, format_value, sanitize, unique_names
from orchestra.space.values import content_hash, to_json_value
from orchestra.space.variant import VariantList, varying_keys


def test_content_hash_ignores_key_order():
    assert content_hash({"a": 1, "b": {"x": 1, "y": [1, 2]}}) == content_hash(
        {"b": {"y": [1, 2], "x": 1}, "a": 1}
    )
    assert content_hash({"a": 1}) != content_hash({"a": 1.0})
    assert content_hash({"a": [1, 2]}) != content_hash({"a": [2, 1]})


def test_content_hash_is_the_same_in_another_process():
    params = {
        "lr": 0.001,
        "env": "Hopper-v2",
        "net": {"hidden": [64, 64], "act": "relu"},
        "flag": True,
        "n": None,
    }
    code = (
        "import json, sys; from orchestra.space.values import content_hash; "
        "print(content_hash(json.loads(sys.argv[1])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(params)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin", **_pythonpath()},
    )
    assert out.stdout.strip() == content_hash(params)
    assert len(content_hash(params)) == 16


def _pythonpath() -> dict[str, str]:
    import os

    return {"PYTHONPATH": os.environ["PYTHONPATH"]}


def test_variant_keys_are_content_hashes_of_params():
    variants = Config({"lr": Grid([0.1, 0.2]), "fixed": {"b": 1, "a": 2}}).variants()
    assert [v.key for v in variants] == [content_hash(v.params) for v in variants]
    again = Config({"fixed": {"a": 2, "b": 1}, "lr": Grid([0.1, 0.2])}).variants()
    assert [v.key for v in again] == [v.key for v in variants]


def test_to_json_value_converts_tuples_and_numpy_scalars():
    got = to_json_value({"t": (1, 2), "f": np.float32(0.5), "i": np.int64(3), "b": np.bool_(True)})
    assert got == {"t": [1, 2], "f": 0.5, "i": 3, "b": True}
    assert type(got["i"]) is int and type(got["b"]) is bool


def test_to_json_value_refuses_arrays_and_objects_by_key():
    with pytest.raises(
        ConfigValueError, match=r"config key 'w': ndarray \(ndarray\) cannot be written as JSON"
    ):
        to_json_value({"w": np.zeros(3)})
    with pytest.raises(ConfigValueError, match=r"config key 'a.b\[0\]': .*<lambda> \(function\)"):
        to_json_value({"a": {"b": [lambda: 1]}})


def test_variant_round_trips_through_json():
    (v,) = Config({"a": 1}).variants()
    back = Variant.from_json(json.loads(json.dumps(v.to_json())))
    assert back == v and back.params == v.params and hash(back) == hash(v)


def test_finalize_refuses_an_empty_space():
    with pytest.raises(SpaceError, match="has no variants"):
        finalize([])


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("lr=0.001_bs=32", "lr=0.001_bs=32"),
        ("a/b", "a-b"),
        ("../../etc/passwd", "_..-..-etc-passwd"),
        ("..", "_.."),
        (".", "_."),
        (".hidden", "_.hidden"),
        ("a\0b", "a-b"),
        ("env=Hopper v2 (x)", "env=Hopper-v2-x"),
        ("///", ""),
        ("ünïcode", "n-code"),
    ],
)
def test_sanitize(text, safe):
    assert sanitize(text) == safe


def test_bound_cuts_long_names_with_a_digest():
    name = bound("x" * 200, "0123456789abcdef")
    assert len(name) == MAX_NAME and name.endswith("~01234567")
    assert bound("short", "0123456789abcdef") == "short"


def test_unique_names_are_safe_bounded_and_unique():
    proposals = ["a/b", "a-b", "", "..", "x" * 300, "x" * 300, "same", "same"]
    digests = [f"{i:016x}" for i in range(len(proposals))]
    digests[-1] = digests[-2]  # identical content
    names = unique_names(proposals, digests, default="../evil")
    assert len(set(names)) == len(names)
    for n in names:
        assert len(n) <= MAX_NAME
        check_path_component(n, "name")
    assert names[2] == "_..-evil"


def test_unique_names_with_an_unusable_default_falls_back():
    assert unique_names(["///"], ["0" * 16], default="/") == ["default"]


def test_names_that_collide_after_cleaning_get_distinct_suffixes():
    variants = ExperimentGrid("g")
    variants.add("v", [0.1, "0-1"])
    names = [v.name for v in variants.variants()]
    assert len(set(names)) == 2 and all(n.startswith("g_v0-1~") for n in names)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0003, "0.0003"),
        (1 / 3, "0.3333"),
        (True, "true"),
        (None, "none"),
        ([64, 64], "64-64"),
        ({"a": 1}, "a.1"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\0b", "x" * 201])
def test_check_path_component_refuses_escapes(name):
    with pytest.raises(SpaceError):
        check_path_component(name, "sweep name")


def test_as_space_accepts_spaces_dicts_lists_and_adapters():
    assert isinstance(as_space(Config({"a": 1})), Config)
    assert isinstance(as_space({"a": Grid([1, 2])}), Config)
    assert isinstance(as_space([{"a": 1}, {"a": 2}]), VariantList)
    desc = Description({"metaParameters": {}})

    class Adapter:
        def __orchestra_space__(self):
            return desc

    assert as_space(Adapter()) is desc
    with pytest.raises(SpaceError, match="got int"):
        as_space(3)


def test_variant_list_names_by_the_keys_that_differ():
    variants = VariantList([{"lr": 0.1, "env": "a"}, {"lr": 0.2, "env": "a"}]).variants()
    assert [v.name for v in variants] == ["lr=0.1", "lr=0.2"]
    assert varying_keys([{"a": 1}, {"a": 1, "b": 2}]) == ["b"]
    with pytest.raises(SpaceError, match="config #1 of the sweep list is a int"):
        VariantList([{"a": 1}, 3])  # type: ignore[list-item]


def test_drafts_keep_sampled_keys():
    (v,) = finalize([Draft({"a": 1}, "a", ("a",))])
    assert v.sampled == ("a",) and v.to_json()["sampled"] == ["a"]


def test_numpy_grids_and_int_enums_become_plain_json():
    import enum

    class Level(enum.IntEnum):
        LOW = 1

    variants = Config({"lr": Grid(np.linspace(0.0, 1.0, 3)), "level": Level.LOW, "n": np.int64(4)}).variants()
    assert [v.params for v in variants] == [
        {"level": 1, "n": 4, "lr": 0.0},
        {"level": 1, "n": 4, "lr": 0.5},
        {"level": 1, "n": 4, "lr": 1.0},
    ]
    assert all(type(v.params["lr"]) is float and type(v.params["level"]) is int for v in variants)
    assert [v.name for v in variants] == ["lr=0", "lr=0.5", "lr=1"]
