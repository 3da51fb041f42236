"""Sweep spaces: one model of "a set of variants", written three ways.

- lagom's way: :class:`Config` with :class:`Grid`, :class:`Sample`, :class:`Condition` (and :class:`Zip`);
- spinningup's way: :class:`ExperimentGrid`;
- PyExpUtils' way: a JSON :class:`Description` with ``metaParameters``.

Pure code: nothing here reads or writes files.
"""

from orchestra.space.config import Config
from orchestra.space.description import Description
from orchestra.space.grid import ExperimentGrid
from orchestra.space.params import Condition, Grid, Sample, Zip
from orchestra.space.variant import Draft, Space, Variant, as_space, finalize

__all__ = [
    "Condition",
    "Config",
    "Description",
    "Draft",
    "ExperimentGrid",
    "Grid",
    "Sample",
    "Space",
    "Variant",
    "Zip",
    "as_space",
    "finalize",
]
