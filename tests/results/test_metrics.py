"""metrics.jsonl into columns: types, repeated steps, retries, damaged lines."""

from __future__ import annotations

import math

import numpy as np
import orjson

from orchestra.results import read_metrics
from orchestra.rundir import JsonlWriter
from tests.results.sweepdirs import record


def write(path, records, tail: bytes = b""):
    with JsonlWriter(path) as w:
        for r in records:
            w.write(r)
    if tail:
        with open(path, "ab") as f:
            f.write(tail)
    return path


def test_columns_are_step_time_and_each_metric(tmp_path):
    p = write(tmp_path / "m.jsonl", [record(i, iteration=i, loss=1.0 / (i + 1)) for i in range(5)])
    m = read_metrics(p)
    assert m.names == ("iteration", "loss")
    assert m.step.tolist() == [0, 1, 2, 3, 4]
    assert m.step.dtype == np.int64 and m.time.dtype == np.float64
    assert m["iteration"].dtype == np.int64  # integers stay integers
    assert m["loss"].tolist() == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert m["time"] is m.time and len(m) == 5
    assert m.final("loss") == 0.2 and isinstance(m.final("iteration"), int)
    assert m.final("nope") is None
    assert m.problems == () and m.exists


def test_a_retried_step_keeps_the_newest_attempts_record(tmp_path):
    recs = [
        record(0, loss=9.0),
        record(1, loss=9.1),
        record(1, attempt=2, loss=1.1),
        record(2, attempt=2, loss=2.0),
    ]
    m = read_metrics(write(tmp_path / "m.jsonl", recs))
    assert m.step.tolist() == [0, 1, 2]
    assert m["loss"].tolist() == [9.0, 1.1, 2.0]


def test_within_one_attempt_records_at_one_step_are_joined_when_disjoint_and_kept_otherwise(tmp_path):
    recs = [
        record(0, loss=3.0),
        record(0, eval=30.0),  # an evaluation dump of the same iteration: joined
        record(1, batch_loss=0.3),
        record(1, batch_loss=0.2),  # the same metric twice at one step: both kept
        record(2, loss=1.0),
    ]
    m = read_metrics(write(tmp_path / "m.jsonl", recs))
    assert m.step.tolist() == [0, 1, 1, 2]
    assert m.curve("eval")[0].tolist() == [0] and m.curve("loss")[1].tolist() == [3.0, 1.0]
    assert m.curve("batch_loss")[1].tolist() == [0.3, 0.2]


def test_a_retry_resumed_from_an_older_snapshot_replaces_what_the_failed_attempt_logged_past_it(tmp_path):
    first = [record(i, attempt=1, loss=100.0 + i) for i in range(16)]  # died after step 15
    second = [record(i, attempt=2, loss=float(i)) for i in range(10, 13)]  # resumed at 10, now at 12
    m = read_metrics(write(tmp_path / "m.jsonl", first + second))
    assert m.step.tolist() == list(range(13))  # not the stale 13..15 of attempt 1
    assert m["loss"].tolist() == [100.0 + i for i in range(10)] + [10.0, 11.0, 12.0]


def test_a_truncated_last_line_is_skipped_and_reported(tmp_path):
    tail = orjson.dumps(record(3, loss=3.0))[:-7]
    m = read_metrics(write(tmp_path / "m.jsonl", [record(i, loss=float(i)) for i in range(3)], tail))
    assert m.step.tolist() == [0, 1, 2]
    assert len(m.problems) == 1 and "truncated last line" in m.problems[0]


def test_a_complete_last_line_without_newline_is_kept(tmp_path):
    tail = orjson.dumps(record(3, loss=3.0))
    m = read_metrics(write(tmp_path / "m.jsonl", [record(i, loss=float(i)) for i in range(3)], tail))
    assert m.step.tolist() == [0, 1, 2, 3] and m.problems == ()


def test_an_unreadable_line_in_the_middle_costs_only_that_line(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_bytes(
        orjson.dumps(record(0, loss=0.0))
        + b"\n"
        + b'{"step": 1, "ti\n'
        + b"\n"
        + orjson.dumps(record(2, loss=2.0))
        + b"\n"
    )
    m = read_metrics(p)
    assert m.step.tolist() == [0, 2]
    assert m.problems == ("skipped 1 unreadable line(s)",)


def test_records_without_a_step_time_or_values_are_skipped(tmp_path):
    bad = [
        {"step": "x", "time": 1.0, "values": {}},
        {"step": 5, "values": {"loss": 1.0}},
        [1, 2],
        {"step": True},
    ]
    m = read_metrics(write(tmp_path / "m.jsonl", [record(0, loss=0.5), *bad, record(1, loss=0.25)]))
    assert m.step.tolist() == [0, 1] and m["loss"].tolist() == [0.5, 0.25]
    assert "skipped 4 record(s)" in m.problems[0]


def test_a_metric_logged_on_some_steps_only_is_absent_elsewhere_not_nan(tmp_path):
    recs = [record(i, loss=float(i)) if i % 2 else record(i, loss=float(i), eval=10.0 * i) for i in range(6)]
    m = read_metrics(write(tmp_path / "m.jsonl", recs))
    assert m.names == ("loss", "eval")
    assert "eval" in m.present and "loss" not in m.present
    steps, values = m.curve("eval")
    assert steps.tolist() == [0, 2, 4] and values.tolist() == [0.0, 20.0, 40.0]
    assert math.isnan(m["eval"][1])  # the full column has NaN where the metric was not logged
    assert m.final("eval") == 40.0


def test_a_logged_null_is_nan_and_counts_as_logged(tmp_path):
    recs = [record(0, loss=1.0), record(1, loss=None), record(2, loss=0.5)]
    m = read_metrics(write(tmp_path / "m.jsonl", recs))
    steps, values = m.curve("loss")
    assert steps.tolist() == [0, 1, 2]
    assert values[0] == 1.0 and math.isnan(values[1])
    assert m.final("loss") == 0.5


def test_text_metrics_are_kept_as_logged(tmp_path):
    recs = [record(0, phase="warmup", flag=True), record(1, phase="train", flag=False)]
    m = read_metrics(write(tmp_path / "m.jsonl", recs))
    assert m["phase"].dtype == object and m["phase"].tolist() == ["warmup", "train"]
    assert m["flag"].tolist() == [1.0, 0.0]
    assert m.final("phase") == "train"


def test_a_missing_file_is_empty_and_says_so(tmp_path):
    m = read_metrics(tmp_path / "nope.jsonl")
    assert len(m) == 0 and not m.exists and m.names == ()
    assert m.curve("loss")[1].tolist() == []


def test_an_empty_file_has_no_records(tmp_path):
    (tmp_path / "m.jsonl").write_bytes(b"")
    m = read_metrics(tmp_path / "m.jsonl")
    assert len(m) == 0 and m.exists and m.problems == ()


def test_a_metric_logged_only_on_superseded_records_is_gone(tmp_path):
    recs = [record(0, loss=1.0), record(1, loss=0.9, note="old"), record(1, attempt=2, loss=0.8)]
    m = read_metrics(write(tmp_path / "m.jsonl", recs))
    assert m.names == ("loss",) and m["loss"].tolist() == [1.0, 0.8]


def test_a_metric_logged_as_lists_stays_lists(tmp_path):
    recs = [record(0, hist=[1, 2]), record(1, hist=[3]), record(2, hist=[4, 5])]
    m = read_metrics(write(tmp_path / "m.jsonl", recs))
    assert m["hist"].dtype == object and m["hist"].tolist() == [[1, 2], [3], [4, 5]]


def test_non_finite_floats_written_as_strings_read_back_as_floats(tmp_path):
    recs = [
        record(0, loss=1.0, ret="-inf"),
        record(1, loss="nan", ret="-inf"),
        record(2, loss="inf", ret="-inf"),
    ]
    m = read_metrics(write(tmp_path / "m.jsonl", recs))
    assert m["loss"].dtype == np.float64 and m["loss"][0] == 1.0
    assert math.isnan(m["loss"][1]) and m["loss"][2] == math.inf
    assert m["ret"].dtype == np.float64 and (m["ret"] == -math.inf).all()
