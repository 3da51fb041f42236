"""PyExpUtils' ``PyExpUtils.results``: ``loadResults``, ``getBest``, ``splitOverParameter``, ... (see
:mod:`.results`), ``paths.listResultsPaths`` and ``indices.listIndices`` / ``listMissingResults``."""

from orchestra.compat.pyexputils.results.results import (
    Result,
    ResultView,
    SweepResult,
    find,
    getBest,
    listIndices,
    listMissingResults,
    listResultsPaths,
    loadResults,
    sliceOverParameter,
    splitOverParameter,
    whereParameterEquals,
    whereParameterGreaterEq,
    whereParametersEqual,
)

__all__ = [
    "Result",
    "ResultView",
    "SweepResult",
    "find",
    "getBest",
    "listIndices",
    "listMissingResults",
    "listResultsPaths",
    "loadResults",
    "sliceOverParameter",
    "splitOverParameter",
    "whereParameterEquals",
    "whereParameterGreaterEq",
    "whereParametersEqual",
]
