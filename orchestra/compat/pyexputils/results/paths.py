"""PyExpUtils' ``PyExpUtils.results.paths``: ``listResultsPaths`` and ``listMissingResults`` (of paths)."""

from orchestra.compat.pyexputils.results.results import listMissingResultPaths as listMissingResults
from orchestra.compat.pyexputils.results.results import listResultsPaths

__all__ = ["listMissingResults", "listResultsPaths"]
