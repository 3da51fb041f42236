"""The dashboard's metric histories: the newest attempt wins, and the plot opens on the objective."""

from __future__ import annotations

import json
from pathlib import Path

from orchestra.rundir import State, write_json
from orchestra.scheduler.table import RunRow
from orchestra.tui.series import Histories, MetricHistory, default_metric


def write(path: Path, records) -> None:
    with open(path, "a") as f:
        for step, attempt, values in records:
            f.write(json.dumps({"step": step, "time": 1.0, "attempt": attempt, "values": values}) + "\n")


def test_a_later_attempt_replaces_what_earlier_ones_logged_from_its_first_step(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write(path, [(s, 1, {"episode": s, "return": 100.0 + s}) for s in range(8)])  # died after step 7
    history = MetricHistory(path)
    history.poll()
    write(path, [(5, 2, {"episode": 5, "return": 5.0})])  # the retry resumed from its snapshot at 4
    history.poll()
    assert history.points("return") == [(0, 100.0), (1, 101.0), (2, 102.0), (3, 103.0), (4, 104.0), (5, 5.0)]
    assert history.metrics() == ["return"] and history.counters() == {"episode"}


def rows(sweep: Path, settings, runs) -> list[RunRow]:
    """A sweep directory with these settings and one run per list of records, as the dashboard's rows."""
    sweep.mkdir()
    write_json(sweep / "sweep.json", {"settings": settings})
    out = []
    for i, records in enumerate(runs):
        d = sweep / "runs" / "v" / str(i)
        d.mkdir(parents=True)
        write(d / "metrics.jsonl", records)
        out.append(RunRow(i, f"v/{i}", "v", i, {}, d, State.RUNNING))
    return out


def test_the_plot_opens_on_the_objective_else_on_the_first_metric_that_is_not_a_counter(tmp_path):
    records = [(s, 1, {"updates": 10 * s, "score": 0.5 * s, "loss": 1.0 / (s + 1)}) for s in range(4)]
    with_objective = rows(tmp_path / "a", {"objective": "loss", "mode": "min"}, [records, records])
    assert default_metric(Histories(), with_objective) == "loss"
    without = rows(tmp_path / "b", {}, [records])
    assert default_metric(Histories(), without) == "score"  # updates only grows: a counter
    declared = rows(tmp_path / "c", {"step": "updates"}, [records])
    assert Histories().get(declared[0]).metrics("updates") == ["score", "loss"]
