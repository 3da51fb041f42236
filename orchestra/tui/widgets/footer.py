"""The dashboard's footer: Textual's, with help, quit and the palette kept at the right edge.

Textual's footer lays its keys out from the left and cuts what does not fit, so on a narrow
terminal the last keys (``?`` help and ``q`` quit, the ones a lost user needs) went first. Here
they sit in a group docked at the right; the other keys flow from the left into what is left.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PINNED = ("help", "quit")  # actions whose keys stay visible however narrow the terminal


class PinnedKeys(HorizontalGroup):
    """The keys at the right edge of the footer."""


class DashboardFooter(Footer):
    """Keys flow from the left as in Textual's footer; the ``PINNED`` ones and the palette sit at the right."""

    DEFAULT_CSS = """
    DashboardFooter PinnedKeys {
        dock: right;
        width: auto;
        height: 1;
    }
    DashboardFooter PinnedKeys FooterKey {
        margin-left: 1;
    }
    """

    def compose(self) -> ComposeResult:
        pinned: list[FooterKey] = []
        palette: list[FooterKey] = []
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.has_class("-command-palette"):
                widget.remove_class("-command-palette")  # its own right dock would sit on ours
                palette.append(widget)
            elif isinstance(widget, FooterKey) and widget.action in PINNED:
                pinned.append(widget)
            else:
                yield widget
        yield PinnedKeys(*pinned, *palette)
