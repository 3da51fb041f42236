"""A run's detail (enter): its status and history, config, metadata and result, its full log, its plots."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.json import JSON
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from orchestra.present import state_style
from orchestra.rundir import RunDir, dumps, read_json_or_none
from orchestra.scheduler.table import RunRow
from orchestra.tui.series import Histories, variant_metrics, variant_series
from orchestra.tui.widgets.log_view import LogView
from orchestra.tui.widgets.plot import MetricPlot
from orchestra.tui.widgets.run_table import gpu_text
from orchestra.units import format_duration

DETAIL_LOG_LINES = 100_000  # the full log, up to this many newest lines (`orchestra logs` prints all)


def _when(at: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if isinstance(at, (int, float)) else "-"


def overview(row: RunRow, files: Mapping[str, Any], now: float) -> RenderableType:
    """The overview tab: state and exit, times, history, config, metadata, result."""
    head = Text()
    head.append(row.id, style="bold")
    head.append("  ")
    head.append(row.state.value, style=state_style(row.state))
    if row.note:
        head.append(f" ({row.note})", style="dim")
    facts = [
        ("attempt", str(row.attempt)),
        ("exit", row.exit.describe() if row.exit else "-"),
        ("pid", str(row.pid) if row.pid else "-"),
        ("where", row.where or "-"),
        ("gpu", gpu_text(row)),
        ("queued", _when(row.queued_at)),
        ("started", _when(row.started_at)),
        ("ended", _when(row.ended_at)),
        ("elapsed", format_duration(row.elapsed(now))),
        ("step", "-" if row.step is None else str(row.step)),
        ("directory", str(row.dir)),
    ]
    parts: list[RenderableType] = [head]
    for label, value in facts:
        parts.append(Text.assemble((f"{label:>10}  ", "dim"), value))
    status = files.get("status") or {}
    history = status.get("history") or []
    if history:
        parts.append(Text("\nhistory", style="bold underline"))
        for event in history:
            line = Text.assemble(
                (f"{_when(event.get('at'))}  ", "dim"),
                (f"{event.get('state', '?'):<9}", _state_style(event.get("state"))),
                f"  attempt {event.get('attempt', '?')}",
            )
            if event.get("exit"):
                line.append(f"  {event['exit']}", style="dim")
            parts.append(line)
    for section in ("config", "result", "metadata"):
        parts.append(Text(f"\n{section}", style="bold underline"))
        data = files.get(section)
        parts.append(JSON(dumps(data).decode()) if data is not None else Text("(none yet)", style="dim"))
    return Group(*parts)


def _state_style(value: Any) -> str:
    try:
        return state_style(value)
    except ValueError:
        return ""


class DetailScreen(Screen[None]):
    """One run, in tabs: overview, log, metrics; refreshed once a second while open."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "back"),
        Binding("1", "tab('overview')", "overview"),
        Binding("2", "tab('log')", "log"),
        Binding("3", "tab('metrics')", "metrics"),
    ]

    DEFAULT_CSS = """
    DetailScreen #overview-scroll { padding: 0 1; }
    DetailScreen #detail-log { height: 1fr; border: round $primary 50%; }
    DetailScreen .detail-plot { height: 14; border: round $primary 50%; }
    """

    def __init__(
        self,
        run_id: str,
        rows: Callable[[], Sequence[RunRow]],
        histories: Histories,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.rows = rows
        self.histories = histories
        self.clock = clock
        self._plots: dict[str, MetricPlot] = {}
        self._shown: Any = None

    def row(self) -> RunRow:
        return next(r for r in self.rows() if r.id == self.run_id)

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="overview"):
            with TabPane("Overview", id="overview"), VerticalScroll(id="overview-scroll"):
                yield Static(id="overview-text")
            with TabPane("Log", id="log"):
                yield LogView(max_lines=DETAIL_LOG_LINES, id="detail-log")
            with TabPane("Metrics", id="metrics"):
                yield VerticalScroll(id="plots")
        yield Footer()

    def on_mount(self) -> None:
        row = self.row()
        self.query_one("#detail-log", LogView).watch_run(row.id, RunDir(row.dir).output_log)
        self.refresh_detail()
        self.set_interval(1.0, self.refresh_detail)
        self.set_interval(1 / 15, self.query_one("#detail-log", LogView).poll)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def refresh_detail(self) -> None:
        row = self.row()
        run = RunDir(row.dir)
        files = {
            "status": read_json_or_none(run.status),
            "config": read_json_or_none(run.config),
            "metadata": read_json_or_none(run.metadata),
            "result": read_json_or_none(run.result),
        }
        key = (row, dumps(files))
        if key != self._shown:
            self._shown = key
            self.query_one("#overview-text", Static).update(overview(row, files, self.clock()))
        self._refresh_plots(row)

    def _refresh_plots(self, row: RunRow) -> None:
        siblings = [r for r in self.rows() if r.variant == row.variant]
        container = self.query_one("#plots", VerticalScroll)
        for metric in variant_metrics(self.histories, siblings):
            plot = self._plots.get(metric)
            if plot is None:
                plot = self._plots[metric] = MetricPlot(classes="detail-plot")
                container.mount(plot)
            plot.show(
                variant_series(self.histories, siblings, row.id, metric), title=f"{metric} · {row.variant}"
            )
