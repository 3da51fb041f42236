"""What can go wrong when reading results: missing extras, unknown metrics, damaged files."""

from __future__ import annotations

import importlib
from types import ModuleType

from orchestra.errors import UserError

INSTALL_HINT = "pip install 'orchestra-sweeps[analysis]'"


class MissingExtraError(UserError, ImportError):
    """An optional dependency of the analysis extra (numpy, pandas, matplotlib) is not installed."""


class MetricError(UserError):
    """A metric that no run logged, or that cannot be scored (strings, not numbers)."""


class ParamError(UserError):
    """A parameter key that no run has (``--group-by``, ``where``)."""


class ResultsWarning(UserWarning):
    """A run whose files could only be read in part (truncated line, no metrics): it is skipped or cut."""


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` or raise MissingExtraError naming ``feature`` and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(f"{feature} needs {module}, which is not installed; {INSTALL_HINT}") from exc


class ScoreError(UserError, ValueError):
    """A scoring request that cannot be met: an unknown mode, a window of no steps."""
