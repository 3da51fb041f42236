"""The run table's filter language."""

from __future__ import annotations

from pathlib import Path

from orchestra.rundir import State
from orchestra.scheduler.table import RunRow
from orchestra.tui.query import RunQuery


def row(index: int, variant: str, seed: int, state: State, params: dict, gpus=()) -> RunRow:  # type: ignore[no-untyped-def]
    return RunRow(index, f"{variant}/{seed}", variant, seed, params, Path("/x"), state, gpus=tuple(gpus))


ROWS = [
    row(0, "lr=0.0003_net=mlp", 0, State.RUNNING, {"lr": 0.0003, "net": "MLP"}, [{"index": 1}]),
    row(1, "lr=0.0003_net=mlp", 1, State.FAILED, {"lr": 0.0003, "net": "MLP"}),
    row(
        2,
        "lr=0.01_net=cnn",
        0,
        State.CANCELLED,
        {"lr": 0.01, "net": "cnn", "opt": {"beta": 0.9}},
        [{"index": 0}],
    ),
    row(3, "lr=0.01_net=cnn", 1, State.COMPLETED, {"lr": 0.01, "net": "cnn", "flag": True}),
]


def ids(text: str) -> list[str]:
    query = RunQuery.parse(text)
    return [r.id for r in ROWS if query.matches(r)]


def test_an_empty_filter_matches_everything_and_is_false():
    assert not RunQuery.parse("  ")
    assert len(ids("")) == 4


def test_text_matches_part_of_the_id_in_any_case():
    assert ids("CNN") == ["lr=0.01_net=cnn/0", "lr=0.01_net=cnn/1"]
    assert ids("cnn/1") == ["lr=0.01_net=cnn/1"]


def test_state_by_name_prefix_and_several_with_commas():
    assert ids("state:failed") == ["lr=0.0003_net=mlp/1"]
    assert ids("state:c") == ["lr=0.01_net=cnn/0", "lr=0.01_net=cnn/1"]
    assert ids("state:running,failed") == ["lr=0.0003_net=mlp/0", "lr=0.0003_net=mlp/1"]
    assert ids("state:bogus") == []


def test_gpu_and_seed():
    assert ids("gpu:1") == ["lr=0.0003_net=mlp/0"]
    assert ids("gpu:0,1") == ["lr=0.0003_net=mlp/0", "lr=0.01_net=cnn/0"]
    assert ids("gpu:none") == ["lr=0.0003_net=mlp/1", "lr=0.01_net=cnn/1"]
    assert ids("seed:1") == ["lr=0.0003_net=mlp/1", "lr=0.01_net=cnn/1"]


def test_a_parameter_equals_numbers_as_numbers_and_text_in_any_case():
    assert ids("lr=3e-4") == ["lr=0.0003_net=mlp/0", "lr=0.0003_net=mlp/1"]
    assert ids("lr=0.0003") == ids("lr=3e-4")
    assert ids("net=mlp") == ["lr=0.0003_net=mlp/0", "lr=0.0003_net=mlp/1"]
    assert ids("flag=true") == ["lr=0.01_net=cnn/1"]
    assert ids("opt:beta=0.9") == ["lr=0.01_net=cnn/0"], "nested parameters by a:b"
    assert ids("missing=1") == []


def test_all_words_must_match():
    assert ids("lr=0.01 state:completed") == ["lr=0.01_net=cnn/1"]
    assert ids("mlp gpu:1 seed:0") == ["lr=0.0003_net=mlp/0"]
    assert ids("mlp seed:0 state:failed") == []
