"""The live dashboard of a sweep (Textual). Nothing outside this package imports Textual."""

from orchestra.tui.app import Dashboard, run_foreground

__all__ = ["Dashboard", "run_foreground"]
