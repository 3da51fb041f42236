"""Metric plots: braille lines with their ranges, sparklines when there is no room, the history behind them."""

from __future__ import annotations

import json
from pathlib import Path

from orchestra.tui.series import MetricHistory, Series
from orchestra.tui.widgets.plot import Y_LABELS, braille, sparkline, sparklines


def test_braille_draws_a_falling_line_with_its_y_and_step_ranges():
    series = [Series("seed 0", [(s, 10.0 - s) for s in range(11)], "cyan")]
    lines = [line.plain for line in braille(series, 40, 6)]
    assert len(lines) == 6
    assert lines[0].lstrip().startswith("10") and lines[4].lstrip().startswith("0"), "y max on top, min below"
    assert lines[5].split() == ["0", "10"], "the step range"
    plot = [line[Y_LABELS:] for line in lines[:5]]
    assert plot[0][0] != " " and plot[4][-1] != " ", "starts top left, ends bottom right"
    assert all(" " <= c <= "\u28ff" for row in plot for c in row)


def test_the_selected_series_is_drawn_last_on_top():
    flat = [(s, 1.0) for s in range(10)]
    lines = braille([Series("a", flat, "red"), Series("b", flat, "cyan")], 30, 4)
    styles = {span.style for line in lines[:3] for span in line.spans}
    assert "cyan" in styles and "red" not in styles


def test_no_points_no_plot():
    assert braille([Series("a", [], "red")], 30, 5)[0].plain == "no numeric values yet"


def test_sparkline_scales_between_min_and_max_and_keeps_the_last_values():
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8) == "▁▂▃▄▅▆▇█"
    assert sparkline([5.0] * 3, 10) == "▁▁▁"
    assert sparkline(list(range(100)), 4) == "▁▃▆█"
    lines = sparklines([Series("seed 0", [(0, 1.0), (1, 2.0)], "red")], 30, 2)
    assert lines[0].plain.startswith("seed 0 ") and lines[0].plain.endswith(" 2")


def test_history_keeps_the_last_value_of_a_repeated_step_and_stays_bounded(tmp_path: Path):
    path = tmp_path / "metrics.jsonl"
    with open(path, "w") as f:
        for step in range(100):
            f.write(json.dumps({"step": step, "values": {"iteration": step, "loss": 1.0, "tag": "x"}}) + "\n")
        f.write(json.dumps({"step": 50, "values": {"loss": 0.5}}) + "\n")  # a retry resumed at step 50
        f.write('{"step": 101, "values": {"loss": 0.1')  # a writer killed mid-line
    history = MetricHistory(path)
    assert history.poll()
    assert history.metrics() == ["loss"], "step counters and text are not plotted"
    points = dict(history.points("loss"))
    assert len(points) == 100 and points[50] == 0.5 and points[49] == 1.0
    assert not history.poll(), "nothing new; the cut line waits for its end"
    small = MetricHistory(path, max_points=30)
    small.poll()
    steps = [s for s, _ in small.points("loss")]
    assert len(steps) <= 60 and steps[0] == 0 and steps[-1] >= 90, "thinned, still the whole course"
