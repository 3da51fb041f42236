"""orchestra: run ML experiment sweeps as isolated processes and watch them live.

>>> from orchestra import Sweep, Config, Grid
>>> sweep = Sweep(train, Config({"lr": Grid([1e-3, 1e-4])}), seeds=[0, 1, 2])

This module stays light: it is imported by every run's process.
"""

from typing import TYPE_CHECKING, Any

from orchestra.space import Condition, Config, Description, ExperimentGrid, Grid, Sample, Zip
from orchestra.sweep import Sweep

if TYPE_CHECKING:
    from orchestra.slurm import Slurm

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Slurm":  # on demand: every run's process imports this package, and few use Slurm's options
        from orchestra.slurm import Slurm

        return Slurm
    raise AttributeError(f"module 'orchestra' has no attribute {name!r}")


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
