"""Metric plots drawn in braille dots (2x4 per cell), or sparklines when there is no room."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from orchestra.tui.series import Series
from orchestra.tui.widgets.run_table import format_value

# Braille dot bits by (column, row) within a cell.
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_BLOCKS = " ▁▂▃▄▅▆▇█"
Y_LABELS = 9  # cells of the y-axis labels (and their gap)


def _limits(series: Sequence[Series]) -> tuple[float, float, float, float] | None:
    xs = [x for s in series for x, y in s.points if math.isfinite(y)]
    ys = [y for s in series for x, y in s.points if math.isfinite(y)]
    if not xs:
        return None
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    return x0, x1, y0, y1


def braille(series: Sequence[Series], width: int, height: int) -> list[Text]:
    """``height`` lines of ``width`` cells: the y range on the left, the step range below.

    Series are drawn in order, so the last one (the selected run) is on top.
    """
    limits = _limits(series)
    plot_w = width - Y_LABELS
    plot_h = height - 1
    if limits is None or plot_w < 4 or plot_h < 1:
        return [Text("no numeric values yet", style="dim")]
    x0, x1, y0, y1 = limits
    px_w, px_h = plot_w * 2, plot_h * 4
    bits = [[0] * plot_w for _ in range(plot_h)]
    owner: list[list[int]] = [[-1] * plot_w for _ in range(plot_h)]

    def dot(px: int, py: int, k: int) -> None:
        cx, cy = px // 2, py // 4
        bits[cy][cx] |= _DOTS[px % 2][py % 4]
        owner[cy][cx] = k

    for k, s in enumerate(series):
        prev: tuple[int, int] | None = None
        for x, y in s.points:
            if not math.isfinite(y):
                prev = None
                continue
            px = round((x - x0) / (x1 - x0) * (px_w - 1))
            py = round((y1 - y) / (y1 - y0) * (px_h - 1))
            if prev is None:
                dot(px, py, k)
            else:
                steps = max(abs(px - prev[0]), abs(py - prev[1]), 1)
                for i in range(1, steps + 1):
                    dot(prev[0] + (px - prev[0]) * i // steps, prev[1] + (py - prev[1]) * i // steps, k)
            prev = (px, py)

    lines = []
    for cy in range(plot_h):
        label = _num(y1) if cy == 0 else _num(y0) if cy == plot_h - 1 else ""
        line = Text(f"{label:>{Y_LABELS - 2}} │", style="dim")
        for cx in range(plot_w):
            b = bits[cy][cx]
            k = owner[cy][cx]
            line.append(chr(0x2800 + b) if b else " ", style=series[k].style if b else "")
        lines.append(line)
    left, right = _num(x0), _num(x1)
    gap = max(1, plot_w - len(left) - len(right))
    lines.append(Text(" " * Y_LABELS + left + " " * gap + right, style="dim"))
    return lines


def sparkline(values: Sequence[float], width: int) -> str:
    """The last ``width`` values as block characters scaled between their min and max."""
    values = [v for v in values if math.isfinite(v)][-width:]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    return "".join(_BLOCKS[1 + round((v - lo) / span * (len(_BLOCKS) - 2))] for v in values)


def sparklines(series: Sequence[Series], width: int, height: int) -> list[Text]:
    """One line per series (the last ones when they do not all fit): label, sparkline, last value."""
    lines = []
    label_w = min(12, max((len(s.label) for s in series), default=0))
    for s in list(series)[-height:]:
        last = format_value(s.points[-1][1]) if s.points else ""
        room = max(0, width - label_w - len(last) - 2)
        line = Text(f"{s.label[:label_w]:<{label_w}} ", style="dim")
        line.append(sparkline([y for _, y in s.points], room), style=s.style)
        line.append(f" {last}")
        lines.append(line)
    return lines


def _num(v: float) -> str:
    return f"{v:.3g}" if isinstance(v, float) and not v.is_integer() else f"{v:.4g}"


class MetricPlot(Widget):
    """A metric over steps for a few series; sparklines when shorter than ``min_plot_height``."""

    DEFAULT_CSS = """
    MetricPlot { height: 1fr; }
    """

    def __init__(
        self, *, min_plot_height: int = 5, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.min_plot_height = min_plot_height
        self.series: tuple[Series, ...] = ()
        self.empty = "no metrics yet"

    def show(self, series: Sequence[Series], *, title: str = "", empty: str = "no metrics yet") -> None:
        """Draw ``series`` (the last one on top) under ``title``."""
        series = tuple(series)
        if series == self.series and title == self.border_title and empty == self.empty:
            return
        self.series = series
        self.empty = empty
        self.border_title = title
        self.refresh()

    def render(self) -> RenderableType:
        width, height = self.content_size.width, self.content_size.height
        if not any(s.points for s in self.series):
            return Text(self.empty, style="dim")
        if height < self.min_plot_height:
            return Group(*sparklines(self.series, width, height))
        return Group(*braille(self.series, width, height))
