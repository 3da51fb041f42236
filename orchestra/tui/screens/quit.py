"""Quitting while runs are active: detach (they go on), stop them (they resume on the next up), or stay."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class QuitScreen(ModalScreen[str]):
    """Dismisses with ``"detach"`` (attached dashboards only; the default), ``"stop"`` or ``"stay"``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "answer('detach')", "detach", priority=True),
        Binding("y,s", "answer('stop')", "stop the sweep", priority=True),
        Binding("n,escape", "answer('stay')", "stay", priority=True),
    ]

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical {
        width: 76; max-width: 100%; height: auto; border: thick $error; background: $surface; padding: 1 2;
    }
    QuitScreen #title { text-style: bold; margin-bottom: 1; }
    QuitScreen Static { margin-bottom: 1; }
    QuitScreen Horizontal { height: auto; align-horizontal: right; }
    QuitScreen Button { margin-left: 2; width: auto; }
    """

    def __init__(self, running: int, queued: int, *, attached: bool = False) -> None:
        super().__init__()
        self.running = running
        self.queued = queued
        self.attached = attached

    def compose(self) -> ComposeResult:
        parts = []
        if self.running:
            parts.append(f"{self.running} running")
        if self.queued:
            parts.append(f"{self.queued} queued")
        with Vertical():
            yield Label(f"Quit? {' and '.join(parts)} runs are not finished.", id="title")
            if self.attached:
                yield Static(
                    "Detach: the sweep goes on without this dashboard; `orchestra attach` opens it again.",
                    markup=False,
                )
            yield Static(
                "Stop the sweep: running runs get SIGTERM (SIGKILL after the grace period) and "
                "resume from their newest snapshot on the next `orchestra up`.",
                markup=False,
            )
            with Horizontal():
                yield Button("Stay (n)", id="stay")
                yield Button(
                    "Stop sweep (s)" if self.attached else "Stop and quit (y)",
                    id="stop",
                    variant="error",
                )
                if self.attached:
                    yield Button("Detach (d)", id="detach", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#detach" if self.attached else "#stay", Button).focus()

    def action_answer(self, choice: str) -> None:
        if choice == "detach" and not self.attached:
            return
        self.dismiss(choice)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(event.button.id))
