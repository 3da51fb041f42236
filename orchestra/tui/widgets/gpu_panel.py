"""The GPU panel: each device's memory (orchestra's runs, others, reserved, free) and utilisation."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from orchestra.tui.source import GpuView
from orchestra.units import format_bytes

BAR_STYLES = {"orchestra": "green", "others": "magenta", "reserved": "yellow", "free": "bright_black"}


def device_line(view: GpuView, bar_width: int) -> Text:
    """``0 A100  [███▒▒░░░░░] 12.0GiB/40.0GiB  87%  2 runs``."""
    line = Text(f"{view.index} ", style="bold")
    line.append(f"{view.name[:14]:<14} ", style="dim")
    if not view.ok:
        line.append(view.error or "unreadable", style="red")
        return line
    total = max(1, view.total)
    parts = [("orchestra", view.orchestra), ("others", view.others), ("reserved", view.reserved)]
    cells = [round(bar_width * max(0, n) / total) for _, n in parts]
    while sum(cells) > bar_width:
        cells[cells.index(max(cells))] -= 1
    for (name, _), n in zip(parts, cells):
        line.append(("▒" if name == "reserved" else "█") * n, style=BAR_STYLES[name])
    line.append("░" * (bar_width - sum(cells)), style=BAR_STYLES["free"])
    used = view.orchestra + view.others
    line.append(f" {format_bytes(used)}/{format_bytes(view.total)}")
    if view.util is not None:
        line.append(f" {view.util:3.0f}%")
    if view.runs:
        line.append(f" {len(view.runs)} run{'s' if len(view.runs) != 1 else ''}", style="dim")
    return line


def legend() -> Text:
    text = Text()
    for name, label in (("orchestra", "orchestra"), ("others", "others"), ("reserved", "reserved")):
        text.append("▒" if name == "reserved" else "█", style=BAR_STYLES[name])
        text.append(f" {label}  ", style="dim")
    return text


class GpuPanel(Widget):
    """One line per device, and a legend; the app hides it when the sweep has no GPUs."""

    DEFAULT_CSS = """
    GpuPanel { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.views: Sequence[GpuView] = ()

    def show(self, views: Sequence[GpuView]) -> None:
        self.views = tuple(views)
        self.refresh(layout=True)

    def render(self) -> RenderableType:
        width = self.content_size.width
        bar = max(6, width - 17 - 30)  # name before the bar; bytes, utilisation and runs after it
        return Group(*(device_line(v, bar) for v in self.views), legend())
