"""Quitting while runs are active: stop them (they resume on the next ``orchestra up``) or stay."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class QuitScreen(ModalScreen[bool]):
    """Dismisses with True to stop the runs and quit, False to stay."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,s", "answer(True)", "stop and quit", priority=True),
        Binding("n,escape", "answer(False)", "stay", priority=True),
    ]

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical {
        width: 64; height: auto; border: thick $error; background: $surface; padding: 1 2;
    }
    QuitScreen #title { text-style: bold; margin-bottom: 1; }
    QuitScreen Static { margin-bottom: 1; }
    QuitScreen Horizontal { height: auto; align-horizontal: right; }
    QuitScreen Button { margin-left: 2; }
    """

    def __init__(self, running: int, queued: int) -> None:
        super().__init__()
        self.running = running
        self.queued = queued

    def compose(self) -> ComposeResult:
        parts = []
        if self.running:
            parts.append(f"{self.running} running")
        if self.queued:
            parts.append(f"{self.queued} queued")
        with Vertical():
            yield Label(f"Quit? {' and '.join(parts)} runs are not finished.", id="title")
            yield Static(
                "Stop them and quit: running runs get SIGTERM (SIGKILL after the grace period) and "
                "resume from their newest snapshot on the next `orchestra up`.",
                markup=False,
            )
            with Horizontal():
                yield Button("Stay [n]", id="stay")
                yield Button("Stop them and quit [y]", id="stop", variant="error")

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()

    def action_answer(self, stop: bool) -> None:
        self.dismiss(stop)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "stop")
