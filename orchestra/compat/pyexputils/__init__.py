"""PyExpUtils' names over orchestra: results over sweep directories, Slurm helpers."""

from orchestra.compat.pyexputils.results import (
    Result,
    ResultView,
    find,
    getBest,
    listIndices,
    listMissingResults,
    loadResults,
    sliceOverParameter,
    splitOverParameter,
    whereParameterEquals,
    whereParameterGreaterEq,
)
from orchestra.compat.pyexputils.slurm import Options, gigs, hours

__all__ = [
    "Options",
    "Result",
    "ResultView",
    "find",
    "getBest",
    "gigs",
    "hours",
    "listIndices",
    "listMissingResults",
    "loadResults",
    "sliceOverParameter",
    "splitOverParameter",
    "whereParameterEquals",
    "whereParameterGreaterEq",
]
