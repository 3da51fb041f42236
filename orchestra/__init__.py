"""orchestra: run ML experiment sweeps as isolated processes and watch them live.

>>> from orchestra import Sweep, Config, Grid
>>> sweep = Sweep(train, Config({"lr": Grid([1e-3, 1e-4])}), seeds=[0, 1, 2])

This module stays light: it is imported by every run's process.
"""

from orchestra.slurm import Slurm
from orchestra.space import Condition, Config, Description, ExperimentGrid, Grid, Sample, Zip
from orchestra.sweep import Sweep

__version__ = "0.1.0"

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
