"""A yes/no dialog that lists what it is about (the runs a cancel or kill applies to)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

SHOWN = 12  # lines of the list before "... and N more"


class ConfirmScreen(ModalScreen[bool]):
    """``title``, the ``items`` (the first dozen), and two buttons; y says yes, n or escape no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "yes", priority=True),
        Binding("n,escape", "answer(False)", "no", priority=True),
    ]

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: auto; min-width: 50; max-width: 90%; height: auto; max-height: 80%;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmScreen #title { text-style: bold; margin-bottom: 1; }
    ConfirmScreen #items { margin-bottom: 1; }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """

    def __init__(self, title: str, items: Sequence[str], yes: str, no: str = "Keep them") -> None:
        super().__init__()
        self.title_text = title
        self.items = list(items)
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        shown = self.items[:SHOWN]
        more = len(self.items) - len(shown)
        lines = "\n".join(shown) + (f"\n… and {more} more" if more else "")
        with Vertical():
            yield Label(self.title_text, id="title")
            yield Static(lines, id="items", markup=False)
            with Horizontal():
                yield Button(f"{self.no} [n]", id="no")
                yield Button(f"{self.yes} [y]", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
