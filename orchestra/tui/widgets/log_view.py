"""The log pane: one run's ``output.log``, followed live on the line API.

The app calls :meth:`LogView.poll` on a timer (10-20 times a second), never per line; a poll
reads what the run appended since the last one (:class:`~orchestra.tui.logtail.LogTail`), and only
the lines on screen are decoded and rendered, each once (an LRU of strips keyed by line number).
Scrolling up pauses following and the border shows how many lines arrived since; scrolling back
to the end (or ``s``) follows again.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from orchestra.tui.keys import binding
from orchestra.tui.logtail import LogTail, plain_text


class LogView(ScrollView, can_focus=True):
    """See the module docstring. ``max_lines`` bounds what is kept (the newest lines)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        binding("down", "line_down", show=False),
        binding("up", "line_up", show=False),
        binding("top", "top", show=False),
        binding("bottom", "bottom", show=False),
        binding("page_down", "page_down", show=False),
        binding("page_up", "page_up", show=False),
        binding("search", "app.search"),
        binding("next_match", "next_match"),
        binding("previous_match", "previous_match"),
        Binding("right", "pan(8)", show=False),
        Binding("left", "pan(-8)", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"log-view--match", "log-view--current-match", "log-view--hint"}

    DEFAULT_CSS = """
    LogView {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        & > .log-view--match { background: $warning 40%; }
        & > .log-view--current-match { background: $warning; color: $background; }
        & > .log-view--hint { color: $text-muted; text-style: italic; }
    }
    """

    def __init__(self, *, max_lines: int = 5000, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self.tail: LogTail | None = None
        self.run_id: str | None = None
        self.follow = True
        self.new_lines = 0  # lines that arrived while not following
        self.pan = 0
        self.search = ""
        self.match: int | None = None  # the line number of the current match
        self._top = 0  # the line number at the top when not following
        self._strips: LRUCache[tuple[int, int, str, int, bool], Strip] = LRUCache(512)
        self._styles: dict[str, Style] = {}

    # ------------------------------------------------------------------ data in

    def watch_run(self, run_id: str | None, path: Path | None) -> None:
        """Show another run's log (from its newest lines, following)."""
        if run_id == self.run_id:
            return
        self.run_id = run_id
        self.tail = LogTail(path, max_lines=self.max_lines) if path is not None else None
        self.follow = True
        self.new_lines = 0
        self.pan = 0
        self.match = None
        self._strips.clear()
        self.poll()
        self._titles()
        self.refresh()

    def poll(self) -> bool:
        """Read what the run appended; returns whether anything changed."""
        tail = self.tail
        if tail is None:
            return False
        first_before, count_before = tail.first, tail.count
        got = tail.poll()
        if got == 0:
            return False
        height = self.scrollable_content_region.height
        self.virtual_size = Size(self.size.width, tail.count)
        if self.follow:
            self.scroll_to(y=max(0, tail.count - height), animate=False, force=True)
            self.refresh()
        else:
            if got > 0:
                self.new_lines += got
            # keep the same lines on screen while old ones fall off the front
            self.scroll_to(y=max(0, self._top - tail.first), animate=False, force=True)
            top = round(self.scroll_y)
            if tail.first != first_before or count_before - top <= height:
                self.refresh()
        self._titles()
        return True

    def _titles(self) -> None:
        tail = self.tail
        if tail is None or self.run_id is None:
            self.border_title = "log"
            self.border_subtitle = ""
            return
        self.border_title = f"{self.run_id} · output.log"
        if self.follow:
            skipped = f"skipped {tail.skipped >> 10} KiB · " if tail.skipped else ""
            self.border_subtitle = f"{skipped}following"
        elif self.new_lines:
            self.border_subtitle = f"+{self.new_lines} new lines · s to follow"
        else:
            self.border_subtitle = "paused · s to follow"

    # ------------------------------------------------------------------ following and scrolling

    def set_follow(self, follow: bool) -> None:
        self.follow = follow
        if follow:
            self.new_lines = 0
            if self.tail is not None:
                self.scroll_to(
                    y=max(0, self.tail.count - self.scrollable_content_region.height),
                    animate=False,
                    force=True,
                )
        else:
            self._top = (self.tail.first if self.tail else 0) + round(self.scroll_y)
        self._titles()
        self.refresh()

    def _scroll_by(self, lines: int) -> None:
        if self.tail is None:
            return
        height = self.scrollable_content_region.height
        bottom = max(0, self.tail.count - height)
        y = max(0, min(bottom, round(self.scroll_y) + lines))
        self._jump(y)

    def _jump(self, y: int) -> None:
        """Scroll to line ``y`` of what is kept; at the end this follows again, above it pauses."""
        assert self.tail is not None
        bottom = max(0, self.tail.count - self.scrollable_content_region.height)
        self.scroll_to(y=y, animate=False, force=True)
        if y >= bottom:
            self.set_follow(True)
        else:
            self.follow = False
            self._top = self.tail.first + y
            self._titles()

    def action_line_down(self) -> None:
        self._scroll_by(1)

    def action_line_up(self) -> None:
        self._scroll_by(-1)

    def action_page_down(self) -> None:
        self._scroll_by(max(1, self.scrollable_content_region.height - 1))

    def action_page_up(self) -> None:
        self._scroll_by(-max(1, self.scrollable_content_region.height - 1))

    def action_top(self) -> None:
        if self.tail is not None:
            self._jump(0)

    def action_bottom(self) -> None:
        self.set_follow(True)

    def action_pan(self, cells: int) -> None:
        self.pan = max(0, self.pan + cells)
        self.refresh()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.prevent_default()
        event.stop()
        self._scroll_by(-3)

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.prevent_default()
        event.stop()
        self._scroll_by(3)

    # ------------------------------------------------------------------ search

    def find(self, text: str) -> bool:
        """Search for ``text`` (any case): the last match above the bottom of the screen."""
        self.search = text
        self.match = None
        self._strips.clear()
        if not text or self.tail is None:
            self.refresh()
            return False
        bottom = self.tail.first + round(self.scroll_y) + self.scrollable_content_region.height - 1
        return self._goto_match(bottom, -1, inclusive=True)

    def action_next_match(self) -> None:
        if self.search and self.tail is not None:
            start = self.match if self.match is not None else self.tail.first + round(self.scroll_y)
            if not self._goto_match(start, +1, inclusive=False):
                self.notify(f"no match for {self.search!r} below", severity="warning")

    def action_previous_match(self) -> None:
        if self.search and self.tail is not None:
            start = self.match if self.match is not None else self.tail.first + round(self.scroll_y)
            if not self._goto_match(start, -1, inclusive=False):
                self.notify(f"no match for {self.search!r} above", severity="warning")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_match", "previous_match"):
            return bool(self.search)
        return True

    def _goto_match(self, start: int, step: int, *, inclusive: bool) -> bool:
        tail = self.tail
        assert tail is not None
        needle = self.search.lower()
        first, end = tail.first, tail.first + tail.count
        n = start if inclusive else start + step
        n = max(first, min(end - 1, n))
        while first <= n < end:
            if needle in plain_text(tail.line(n)).lower():
                self.match = n
                height = self.scrollable_content_region.height
                self._jump(max(0, min(n - first - height // 2, tail.count - height)))
                self.refresh()
                return True
            n += step
        self.refresh()
        return False

    # ------------------------------------------------------------------ rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        tail = self.tail
        if tail is None or tail.count == 0:
            if y == 0 and self.run_id is not None:
                text = Text("no output yet", style=self._style("log-view--hint"))
                return Strip(text.render(self.app.console)).adjust_cell_length(width, self.rich_style)
            return Strip.blank(width, self.rich_style)
        i = round(self.scroll_y) + y
        if i >= tail.count:
            return Strip.blank(width, self.rich_style)
        number = tail.first + i
        partial = i == len(tail.lines)
        key = (number, width, self.search, self.pan, number == self.match)
        strip = None if partial else self._strips.get(key)
        if strip is None:
            strip = self._render_text(tail.line(number), number == self.match, width)
            if not partial:
                self._strips[key] = strip
        return strip

    def _render_text(self, line: str, current: bool, width: int) -> Strip:
        text = Text.from_ansi(line) if "\x1b" in line else Text(line)
        text.no_wrap = True
        if self.search:
            style = self._style("log-view--current-match" if current else "log-view--match")
            text.highlight_regex(re.compile(re.escape(self.search), re.IGNORECASE), style)
        strip = Strip(text.render(self.app.console), text.cell_len)
        return strip.crop_extend(self.pan, self.pan + width, self.rich_style).apply_style(self.rich_style)
