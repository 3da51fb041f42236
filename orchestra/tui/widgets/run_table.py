"""The run table, on Textual's line API: only rows that changed and are on screen are re-rendered.

Textual's DataTable repaints the whole table when any cell changes; with thousands of runs, a
few dozen of them logging metrics several times a second, that costs a frame every update. This
table keeps one rendered :class:`Strip` per row in an LRU keyed by the row object (rows are
frozen and replaced when they change), compares each new snapshot with the last by identity,
and refreshes only the visible lines whose row changed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from orchestra.present import state_style
from orchestra.rundir import State
from orchestra.rundir.steps import is_step_key
from orchestra.scheduler.table import RunRow
from orchestra.tui.keys import binding
from orchestra.tui.query import RunQuery
from orchestra.tui.search import trial_key, trial_text
from orchestra.units import format_duration

STATE_ORDER = {
    State.RUNNING: 0,
    State.QUEUED: 1,
    State.FAILED: 2,
    State.INTERRUPTED: 3,
    State.CANCELLED: 4,
    State.STOPPED: 5,
    State.COMPLETED: 6,
}
MARK = "●"


def format_value(value: Any) -> str:
    """A metric value in a table cell: ``0.0123``, ``1.235e+05``, ``True``, ``text``."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def gpu_text(row: RunRow) -> str:
    return ",".join(str(g.get("index", "?")) for g in row.gpus) if row.gpus else "-"


@dataclass(frozen=True)
class Column:
    """One column: its title, width, alignment and how a row fills and sorts it."""

    name: str
    width: int
    cell: Callable[[RunRow, float], str]
    key: Callable[[RunRow, float], Any]
    right: bool = False


def _missing_last(value: Any) -> tuple[int, Any]:
    """A sort key that orders numbers, then text, then missing values."""
    if value is None:
        return (2, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value if not (isinstance(value, float) and math.isnan(value)) else math.inf)
    return (1, str(value))


def _metric_column(name: str) -> Column:
    return Column(
        name,
        max(len(name), 9),
        lambda r, now: format_value(r.metrics[name]) if name in r.metrics else "",
        lambda r, now: _missing_last(r.metrics.get(name)),
        right=True,
    )


TRIAL = Column("trial", 8, lambda r, now: trial_text(r), lambda r, now: trial_key(r), right=True)


def base_columns(
    variant_width: int, seed_width: int, index_width: int, step_width: int = 6, trials: bool = False
) -> list[Column]:
    """The columns every sweep has, before its metrics (and a search's trial after the seed)."""
    return [
        Column("#", index_width, lambda r, now: str(r.index), lambda r, now: r.index, right=True),
        Column("variant", variant_width, lambda r, now: r.variant, lambda r, now: r.variant),
        Column(
            "seed", seed_width, lambda r, now: str(r.seed), lambda r, now: _missing_last(r.seed), right=True
        ),
        *([TRIAL] if trials else []),
        Column("state", 9, lambda r, now: r.state.value, lambda r, now: STATE_ORDER[r.state]),
        Column(
            "try", 3, lambda r, now: str(r.attempt) if r.attempt else "", lambda r, now: r.attempt, right=True
        ),
        Column("gpu", 3, lambda r, now: gpu_text(r), lambda r, now: gpu_text(r)),
        Column(
            "elapsed",
            7,
            lambda r, now: format_duration(r.elapsed(now)) if r.started_at else "",
            lambda r, now: _missing_last(r.elapsed(now)),
            right=True,
        ),
        Column(
            "step",
            step_width,
            lambda r, now: "" if r.step is None else str(r.step),
            lambda r, now: _missing_last(r.step),
            right=True,
        ),
    ]


def _why(row: RunRow) -> str:
    if row.note:
        return row.note
    if row.exit is not None and row.state.finished and row.state is not State.COMPLETED:
        return row.exit.describe()
    if not row.state.finished:
        return row.where  # the backend's name for it: "pid 4242", "job 1234_7 on node3"
    return ""


WHY = Column("why", 0, lambda r, now: _why(r), lambda r, now: _why(r))


class RunTable(ScrollView, can_focus=True):
    """Every run of the sweep, one line each, with a fixed header line; see the module docstring."""

    BINDINGS: ClassVar[list[BindingType]] = [
        binding("down", "cursor_down", show=False),
        binding("up", "cursor_up", show=False),
        binding("top", "cursor_top", show=False),
        binding("bottom", "cursor_bottom", show=False),
        binding("page_down", "page_down", show=False),
        binding("page_up", "page_up", show=False),
        binding("detail", "detail"),
        binding("mark", "mark"),
        binding("filter", "app.filter"),
        binding("sort", "sort"),
        binding("sort_reverse", "sort_reverse", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "run-table--header",
        "run-table--sorted",
        "run-table--cursor",
        "run-table--marked",
    }

    DEFAULT_CSS = """
    RunTable {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        & > .run-table--header { text-style: bold; color: $text-accent; }
        & > .run-table--sorted { text-style: bold underline; color: $text-accent; }
        & > .run-table--cursor { background: $block-cursor-blurred-background; }
        &:focus > .run-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
        & > .run-table--marked { color: $text-warning; }
    }
    """

    class Opened(Message):
        """The user asked for the detail of a run (enter or a double click)."""

        def __init__(self, run_id: str) -> None:
            self.run_id = run_id
            super().__init__()

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.step_key: str | None = None  # the sweep's declared step (Sweep(step=)): not a metric column
        self.clock = clock
        self.rows: tuple[RunRow, ...] = ()
        self.view: list[RunRow] = []  # the rows shown, filtered and sorted
        self.cursor = 0
        self.cursor_id: str | None = None
        self.marked: set[str] = set()
        self.run_filter = RunQuery.parse("")
        self.sort_column = "#"
        self.sort_reverse = False
        self.metric_names: list[str] = []
        self._metric_set: set[str] = set()
        self._variant_width = 7
        self._seed_width = 4
        self._index_width = 1
        self._trials = False  # a search labels its runs with their trial
        self._step_width = 6  # grows with the steps seen: 5000000 is never cut to "50000…"
        self._columns: list[Column] = []
        self._layout_key: tuple[Any, ...] = ()
        self._hidden_metrics = 0
        self._positions: dict[str, int] = {}
        self._by_id: tuple[tuple[RunRow, ...], dict[str, RunRow]] = ((), {})
        self._strips: LRUCache[str, tuple[RunRow, tuple[Any, ...], Strip]] = LRUCache(2048)
        self._header: tuple[tuple[Any, ...], Strip] | None = None
        self._styles: dict[str, Style] = {}
        self._now = clock()

    # ------------------------------------------------------------------ data in

    def update_rows(self, rows: tuple[RunRow, ...]) -> None:
        """Take a new snapshot's rows; refresh only what changed on screen."""
        old_rows, old_view = self.rows, self.view
        first = not old_rows
        if len(rows) != len(old_rows):
            changed = list(rows)
        else:
            changed = [new for old, new in zip(old_rows, rows) if old is not new]
        if not changed:
            return
        self.rows = rows
        self._now = self.clock()
        if first or len(rows) != len(old_rows):  # the plan grew (a search proposed): new names
            self._measure(rows)
        for row in changed:
            self._trials = self._trials or "trial" in row.labels
            if row.step is not None and len(str(row.step)) > self._step_width:
                self._step_width = len(str(row.step))
            for key in row.metrics:
                if key not in self._metric_set:
                    self._metric_set.add(key)
                    if not is_step_key(key, self.step_key):
                        self.metric_names.append(key)
        reorder = first or bool(self.run_filter) or self.sort_column != "#" or len(rows) != len(old_rows)
        if reorder:
            self._rebuild_view()
            self.refresh()
            return
        self.view = list(rows)
        self._relayout()
        top = round(self.scroll_y)
        for y in range(self.size.height - 1):
            i = top + y
            if i >= len(self.view):
                break
            if i >= len(old_view) or old_view[i] is not self.view[i]:
                self.refresh_line(y + 1 + top)

    def tick(self) -> None:
        """The clock moved: re-render visible running rows (their elapsed time)."""
        self._now = self.clock()
        top = round(self.scroll_y)
        for y, row in enumerate(self.view[top : top + max(0, self.size.height - 1)]):
            if row.state is State.RUNNING:
                self.refresh_line(top + y + 1)

    def set_query(self, text: str) -> None:
        self.run_filter = RunQuery.parse(text)
        self._rebuild_view()
        self.refresh()

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        self._rebuild_view()
        self.refresh()

    def column_names(self) -> list[str]:
        return [c.name for c in self._all_columns()]

    # ------------------------------------------------------------------ selection

    @property
    def current(self) -> RunRow | None:
        return self.view[self.cursor] if 0 <= self.cursor < len(self.view) else None

    def targets(self) -> list[RunRow]:
        """What a bulk action applies to: the marked runs (in table order), else the current one."""
        if self.marked:
            rows = (self.row(i) for i in self.marked)
            return sorted((r for r in rows if r is not None), key=lambda r: r.index)
        return [self.current] if self.current else []

    def row(self, run_id: str) -> RunRow | None:
        """The run's row in the latest snapshot."""
        if self._by_id[0] is not self.rows:
            self._by_id = (self.rows, {r.id: r for r in self.rows})
        return self._by_id[1].get(run_id)

    def move_to(self, index: int) -> None:
        if not self.view:
            return
        index = max(0, min(len(self.view) - 1, index))
        old = self.cursor
        self.cursor = index
        self.cursor_id = self.view[index].id
        self._scroll_cursor_into_view()
        self.refresh_line(old + 1)
        self.refresh_line(index + 1)

    def select(self, run_id: str) -> None:
        if run_id in self._positions:
            self.move_to(self._positions[run_id])

    def mark_toggle(self) -> None:
        row = self.current
        if row is None:
            return
        self.marked ^= {row.id}
        self.refresh_line(self.cursor + 1)

    def mark(self, ids: Iterable[str]) -> None:
        self.marked |= set(ids)
        self.refresh()

    def clear_marks(self) -> None:
        self.marked.clear()
        self.refresh()

    def _scroll_cursor_into_view(self) -> None:
        visible = max(1, self.size.height - 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, force=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, force=True)

    # ------------------------------------------------------------------ actions

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_cursor_top(self) -> None:
        self.move_to(0)

    def action_cursor_bottom(self) -> None:
        self.move_to(len(self.view) - 1)

    def action_page_down(self) -> None:
        self.move_to(self.cursor + max(1, self.size.height - 2))

    def action_page_up(self) -> None:
        self.move_to(self.cursor - max(1, self.size.height - 2))

    def action_mark(self) -> None:
        self.mark_toggle()
        self.move_to(self.cursor + 1)

    def action_detail(self) -> None:
        if self.current is not None:
            self.post_message(self.Opened(self.current.id))

    def action_sort(self) -> None:
        names = self.column_names()
        i = names.index(self.sort_column) if self.sort_column in names else -1
        self.sort_by(names[(i + 1) % len(names)], reverse=False)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.sort_column, reverse=not self.sort_reverse)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("detail", "mark"):
            return self.current is not None
        return True

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = 2  # the mark column
            for col in self._columns:
                if x <= offset.x < x + col.width + 1:
                    self.sort_by(col.name)
                    return
                x += col.width + 1
            return
        self.move_to(round(self.scroll_y) + offset.y - 1)
        if event.chain == 2:
            self.action_detail()

    # ------------------------------------------------------------------ layout

    def _measure(self, rows: Sequence[RunRow]) -> None:
        self._variant_width = min(40, max([7, *(len(r.variant) for r in rows)]))
        self._seed_width = max([4, *(len(str(r.seed)) for r in rows)])
        self._index_width = max(1, len(str(max((r.index for r in rows), default=0))))

    def _base_columns(self) -> list[Column]:
        return base_columns(
            self._variant_width, self._seed_width, self._index_width, self._step_width, self._trials
        )

    def _all_columns(self) -> list[Column]:
        return [
            *self._base_columns(),
            *(_metric_column(m) for m in self.metric_names),
            WHY,
        ]

    def _relayout(self) -> None:
        width = self.scrollable_content_region.width
        key = (
            width,
            tuple(self.metric_names),
            self._variant_width,
            self._step_width,
            self._index_width,
            self._trials,
        )
        if key == self._layout_key:
            return
        self._layout_key = key
        cols = self._base_columns()
        used = 2 + sum(c.width + 1 for c in cols)
        hidden = 0
        for name in self.metric_names:
            col = _metric_column(name)
            if used + col.width + 1 <= width:
                cols.append(col)
                used += col.width + 1
            else:
                hidden += 1
        if width - used >= 8:
            cols.append(Column(WHY.name, width - used - 1, WHY.cell, WHY.key))
        self._columns = cols
        self._hidden_metrics = hidden
        self._strips.clear()
        self._header = None
        self.refresh()

    def _rebuild_view(self) -> None:
        rows = [r for r in self.rows if self.run_filter.matches(r)] if self.run_filter else list(self.rows)
        if self.sort_column != "#" or self.sort_reverse:
            col = next((c for c in self._all_columns() if c.name == self.sort_column), None)
            if col is not None:
                now = self.clock()
                rows.sort(key=lambda r: (col.key(r, now), r.index), reverse=self.sort_reverse)
        self.view = rows
        self._positions = {r.id: i for i, r in enumerate(rows)}
        if self.cursor_id in self._positions:
            self.cursor = self._positions[self.cursor_id]
        else:
            self.cursor = max(0, min(self.cursor, len(rows) - 1))
            self.cursor_id = rows[self.cursor].id if rows else None
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        self._relayout()
        self._scroll_cursor_into_view()

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self.view) + 1)
        self._relayout()
        self._scroll_cursor_into_view()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()
        self._header = None

    @property
    def hidden_metrics(self) -> int:
        """How many metric columns did not fit the width."""
        return self._hidden_metrics

    # ------------------------------------------------------------------ rendering

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            return self._render_header(width)
        i = round(self.scroll_y) + y - 1
        if i >= len(self.view):
            return Strip.blank(width, self.rich_style)
        return self._render_row(self.view[i], i == self.cursor, width)

    def _render_header(self, width: int) -> Strip:
        key = (width, self._layout_key, self.sort_column, self.sort_reverse)
        if self._header is not None and self._header[0] == key:
            return self._header[1]
        base = self.rich_style + self._style("run-table--header")
        sorted_style = self.rich_style + self._style("run-table--sorted")
        segments = [Segment("  ", base)]
        for col in self._columns:
            title = col.name
            if col.name == self.sort_column:
                title += "▼" if self.sort_reverse else "▲"
            text = _fit(title, col.width, col.right)
            segments.append(Segment(text, sorted_style if col.name == self.sort_column else base))
            segments.append(Segment(" ", base))
        strip = Strip(segments).adjust_cell_length(width, base)
        self._header = (key, strip)
        return strip

    def _render_row(self, row: RunRow, is_cursor: bool, width: int) -> Strip:
        now = self._now
        marked = row.id in self.marked
        elapsed = format_duration(row.elapsed(now)) if row.state is State.RUNNING else ""
        key = (width, self._layout_key, is_cursor, marked, elapsed)
        cached = self._strips.get(row.id)
        if cached is not None and cached[0] is row and cached[1] == key:
            return cached[2]
        base = self.rich_style
        if marked:
            base += self._style("run-table--marked")
        if is_cursor:
            base += self._style("run-table--cursor")
        segments = [Segment(f"{MARK if marked else ' '} ", base)]
        for col in self._columns:
            text = _fit(col.cell(row, now), col.width, col.right)
            style = base
            if col.name == "state":
                style = base + Style.parse(state_style(row.state))
                if is_cursor:
                    style = base + Style(bold=True)
            segments.append(Segment(text, style))
            segments.append(Segment(" ", base))
        strip = Strip(segments).adjust_cell_length(width, base)
        self._strips.discard(row.id)  # LRUCache.set keeps an existing entry
        self._strips[row.id] = (row, key, strip)
        return strip


def _fit(text: str, width: int, right: bool) -> str:
    """``text`` in exactly ``width`` cells: padded, or cut with an ellipsis."""
    n = cell_len(text)
    if n > width:
        return set_cell_size(text[: width * 2], width - 1) + "…" if width > 1 else text[:width]
    pad = " " * (width - n)
    return pad + text if right else text + pad
