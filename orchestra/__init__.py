"""orchestra: run ML experiment sweeps as isolated processes and watch them live.

>>> from orchestra import Sweep, Config, Grid
>>> sweep = Sweep(train, Config({"lr": Grid([1e-3, 1e-4])}), seeds=[0, 1, 2])

This module stays light: every run's process imports it (``python -m orchestra.runtime``), and a
run that never touches a sweep space must not pay for one. The names below are imported on first
use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestra.slurm import Slurm
    from orchestra.space import Condition, Config, Description, ExperimentGrid, Grid, Sample, Zip
    from orchestra.sweep import Sweep

__version__ = "0.1.0"

_LAZY = {
    "Condition": "orchestra.space",
    "Config": "orchestra.space",
    "Description": "orchestra.space",
    "ExperimentGrid": "orchestra.space",
    "Grid": "orchestra.space",
    "Sample": "orchestra.space",
    "Zip": "orchestra.space",
    "Slurm": "orchestra.slurm",
    "Sweep": "orchestra.sweep",
}

__all__ = [
    "Condition",
    "Config",
    "Description",
    "ExperimentGrid",
    "Grid",
    "Sample",
    "Slurm",
    "Sweep",
    "Zip",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestra' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
