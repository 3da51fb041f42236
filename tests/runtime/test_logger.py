"""lagom's Logger: its exact printed output, save/clear/repr, and the metrics it streams for a run."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from orchestra.compat.lagom import Logger as CompatLogger
from orchestra.rundir import read_jsonl
from orchestra.runtime import logger as logger_module
from orchestra.runtime.logger import Logger, MetricsWriter, RunLogger, use_run_metrics


def lagom_example() -> Logger:
    logger = Logger()
    for itr, loss in [(1, 0.12), (2, 0.11), (3, 0.09)]:
        logger("iteration", itr)
        logger("train_loss", loss)
    return logger


def test_repr_is_the_ordered_dict_of_lists() -> None:
    assert (
        repr(lagom_example()) == "OrderedDict([('iteration', [1, 2, 3]), ('train_loss', [0.12, 0.11, 0.09])])"
    )
    assert repr(Logger()) == "OrderedDict()"


@pytest.mark.parametrize(
    ("kwargs", "printed"),
    [
        ({}, "\nIteration: [1, 2, 3]\nTrain Loss: [0.12, 0.11, 0.09]\n\n"),
        ({"indent": 1}, "\n\tIteration: [1, 2, 3]\n\tTrain Loss: [0.12, 0.11, 0.09]\n\n"),
        ({"keys": ["iteration"]}, "\nIteration: [1, 2, 3]\n\n"),
        ({"index": 0}, "\nIteration: 1\nTrain Loss: 0.12\n\n"),
        ({"index": -1}, "\nIteration: 3\nTrain Loss: 0.09\n\n"),
        ({"index": [0, 2]}, "\nIteration: [1, 3]\nTrain Loss: [0.12, 0.09]\n\n"),
        ({"index": [1]}, "\nIteration: [2]\nTrain Loss: [0.11]\n\n"),  # lagom's itemgetter crashed here
        ({"border": "-" * 5}, "-----\nIteration: [1, 2, 3]\nTrain Loss: [0.12, 0.11, 0.09]\n-----\n"),
    ],
)
def test_dump_prints_like_lagom(capsys: pytest.CaptureFixture[str], kwargs: dict, printed: str) -> None:
    lagom_example().dump(**kwargs)
    assert capsys.readouterr().out == printed


def test_titles_are_lagoms_title_case(capsys: pytest.CaptureFixture[str]) -> None:
    logger = Logger()
    for key in ["NNet_lr", "loss_2nd", " padded_key "]:
        logger(key, 1)
    logger.dump()
    assert capsys.readouterr().out == "\nNnet Lr: [1]\nLoss 2Nd: [1]\nPadded Key: [1]\n\n"


def test_dump_rejects_keys_that_are_not_a_list_and_unknown_keys() -> None:
    with pytest.raises(TypeError, match="expected list"):
        lagom_example().dump(keys="iteration")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        lagom_example().dump(keys=["nope"])


def test_save_always_appends_pkl_and_clear_empties(tmp_path: Path) -> None:
    logger = lagom_example()
    logger.save(tmp_path / "logger_file")
    logger.save(str(tmp_path / "x.pkl"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logger_file.pkl", "x.pkl.pkl"]
    with open(tmp_path / "logger_file.pkl", "rb") as f:
        assert pickle.load(f) == logger.logs
    logger.clear()
    assert logger.logs == {} and repr(logger) == "OrderedDict()"


def test_values_are_stored_by_reference() -> None:
    logger = Logger()
    values = [1]
    logger("v", values)
    values.append(2)
    assert logger.logs["v"] == [[1, 2]]


def test_outside_a_run_a_logger_writes_no_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    logger = CompatLogger()
    logger("iteration", 1)
    logger.dump()
    assert list(tmp_path.iterdir()) == []


def test_inside_a_run_every_logger_streams_its_dumps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setattr(logger_module, "_RUN_METRICS", [])
    use_run_metrics(MetricsWriter(path, attempt=1))
    for itr in range(3):  # lagom's habit: a fresh Logger per iteration
        logger = CompatLogger()
        logger("iteration", itr)
        logger("loss", 1 / (itr + 1))
        logger.dump()
    assert [r["values"]["iteration"] for r in read_jsonl(path).records] == [0, 1, 2]
    assert "Iteration: [2]" in capsys.readouterr().out, "lagom's printing is unchanged"


def test_the_run_logger_prints_only_what_is_new_since_the_last_dump(tmp_path: Path, capsys) -> None:
    logger = RunLogger(metrics=MetricsWriter(tmp_path / "metrics.jsonl", attempt=1))
    for itr in range(1000):
        logger("iteration", itr)
        logger("loss", 0.5)
        logger.dump()
    out = capsys.readouterr().out
    assert out.endswith("\nIteration: 999\nLoss: 0.5\n\n")
    assert len(out) < 40_000, "no ever-growing lists: printing stays linear in the number of dumps"
    logger("iteration", 1000)
    logger("iteration", 1001)
    logger.dump()
    assert capsys.readouterr().out == "\nIteration: [1000, 1001]\n\n", "keys with nothing new are left out"
    logger.dump(index=0)
    assert "Iteration: 0" in capsys.readouterr().out, "index still picks from the whole history"
    assert len(logger.logs["iteration"]) == 1002


def test_each_dump_appends_one_record_per_row_since_the_last_dump(tmp_path: Path, capsys) -> None:
    path = tmp_path / "metrics.jsonl"
    logger = Logger(metrics=MetricsWriter(path, attempt=2))
    logger("iteration", 0)
    logger("loss", np.float32(0.5))
    logger.dump(index=-1)
    assert [r["values"] for r in read_jsonl(path).records] == [{"iteration": 0, "loss": 0.5}]
    for itr in (1, 2):
        logger("iteration", itr)
        logger("loss", np.float64(1 / (itr + 1)))
        logger("acc", np.array([itr * 10]))
    logger.dump(keys=["iteration"])  # what is printed does not change what is recorded
    records = read_jsonl(path).records
    assert [r["step"] for r in records] == [0, 1, 2]
    assert records[1]["values"] == {"iteration": 1, "loss": 0.5, "acc": 10}
    assert records[2]["values"] == {"iteration": 2, "loss": 1 / 3, "acc": 20}
    assert {r["attempt"] for r in records} == {2}
    assert all(isinstance(r["time"], float) for r in records)
    logger.dump()
    assert len(read_jsonl(path).records) == 3  # nothing new since the last dump


def test_rows_of_keys_logged_unequally_often(tmp_path: Path, capsys) -> None:
    path = tmp_path / "metrics.jsonl"
    logger = Logger(metrics=MetricsWriter(path, attempt=1))
    logger("epoch", 5)
    for batch_loss in (0.3, 0.2, 0.1):
        logger("batch_loss", batch_loss)
    logger.dump()
    records = read_jsonl(path).records
    assert [r["values"] for r in records] == [
        {"epoch": 5, "batch_loss": 0.3},
        {"batch_loss": 0.2},
        {"batch_loss": 0.1},
    ]
    assert [r["step"] for r in records] == [5, 5, 5]  # rows without a step are at the last step logged


def test_step_comes_from_the_best_ranked_step_name_logged_as_an_integer(tmp_path: Path, capsys) -> None:
    path = tmp_path / "metrics.jsonl"
    logger = Logger(metrics=MetricsWriter(path, attempt=1))
    logger("episode", 3)
    logger("itr", np.int64(7))
    logger("step", 2.5)  # not an integer: skipped
    logger.dump()
    assert read_jsonl(path).records[0]["step"] == 7  # itr ranks before episode (rundir.steps.STEP_KEYS)


def test_implicit_steps_continue_from_the_records_already_in_the_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "metrics.jsonl"
    first = Logger(metrics=MetricsWriter(path, attempt=1))
    for i in range(3):
        first("loss", i)
        first.dump()
    second = Logger(metrics=MetricsWriter(path, attempt=2))
    second("loss", 9)
    second.dump()
    assert [(r["attempt"], r["step"]) for r in read_jsonl(path).records] == [(1, 0), (1, 1), (1, 2), (2, 3)]


def test_values_json_cannot_hold_are_written_readably(tmp_path: Path, capsys) -> None:
    path = tmp_path / "metrics.jsonl"
    logger = Logger(metrics=MetricsWriter(path, attempt=1))
    logger("nan", float("nan"))
    logger("inf", np.float32("inf"))
    logger("flag", np.bool_(True))
    logger("returns", [1.0, 2.0])
    logger("name", "run-a")
    logger("nothing", None)
    logger.dump()
    values = read_jsonl(path).records[0]["values"]
    assert values == {
        "nan": "nan",
        "inf": "inf",
        "flag": True,
        "returns": "[1.0, 2.0]",
        "name": "run-a",
        "nothing": None,
    }
    assert float(values["nan"]) != float(values["nan"]) and float(values["inf"]) == float("inf")


def test_clear_starts_the_rows_afresh(tmp_path: Path, capsys) -> None:
    path = tmp_path / "metrics.jsonl"
    logger = Logger(metrics=MetricsWriter(path, attempt=1))
    logger("loss", 1)
    logger.dump()
    logger.clear()
    logger("loss", 2)
    logger.dump()
    assert [r["values"]["loss"] for r in read_jsonl(path).records] == [1, 2]


def test_a_line_cut_by_a_dead_writer_is_ended_before_new_records(tmp_path: Path, capsys) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 0, "time": 1.0, "attempt": 1, "values": {"loss": 1}}\n{"step": 1, "ti')
    logger = Logger(metrics=MetricsWriter(path, attempt=2))
    logger("loss", 2)
    logger.dump()
    read = read_jsonl(path)
    assert [(r["attempt"], r["step"]) for r in read.records] == [(1, 0), (2, 1)]
    assert read.bad_lines == 1 and not read.truncated_tail
