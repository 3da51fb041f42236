"""The help screen: every key as bound now (the user's keymap applied), the filter syntax, the palette."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from orchestra.tui.keys import KEYS, effective_keys, keymap_path

FILTERS = (
    ("text", "part of the run's id (variant/seed), any case"),
    ("state:failed", "runs in that state; a prefix is enough, commas for several"),
    ("gpu:1", "runs on GPU 1 (gpu:none: CPU-only runs)"),
    ("seed:0", "runs with that seed"),
    ("lr=3e-4", "runs whose parameter equals the value (numbers compare as numbers)"),
)


def help_renderable(keymap: Mapping[str, str]) -> Group:
    keys = effective_keys(keymap)
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("keys", style="bold cyan", no_wrap=True)
    table.add_column("action", style="dim", no_wrap=True)
    table.add_column("what it does")
    for name, key in KEYS.items():
        table.add_row(" ".join(_display(k) for k in keys[name]), name, key.help)
    table.add_row("tab", "", "move between the run table and the log")
    table.add_row("ctrl+p", "palette", "command palette: retry all failed, cancel marked, sort, plot, ...")
    filters = Table(box=None, show_header=False, pad_edge=False)
    filters.add_column(style="bold cyan", no_wrap=True)
    filters.add_column()
    for example, what in FILTERS:
        filters.add_row(example, what)
    return Group(
        Text("Keys", style="bold underline"),
        table,
        Text(""),
        Text("Filter (/): words that must all match", style="bold underline"),
        filters,
        Text(""),
        Text.assemble(
            ("Rebind keys in ", "dim"),
            (str(keymap_path()), "bold"),
            (', e.g. {"cancel": "x", "down": "j,down"} (action names above).', "dim"),
        ),
    )


def _display(key: str) -> str:
    return {"question_mark": "?", "slash": "/", "escape": "esc", "space": "space"}.get(key, key)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "close", priority=True),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 95%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    """

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_renderable(self.keymap))
