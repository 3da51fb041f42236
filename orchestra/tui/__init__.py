"""The live dashboard of ``orchestra up`` (Textual). Nothing outside this package imports Textual."""

from orchestra.tui.app import Dashboard, run_dashboard

__all__ = ["Dashboard", "run_dashboard"]
