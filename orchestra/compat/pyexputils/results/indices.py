"""PyExpUtils' ``PyExpUtils.results.indices``: ``listIndices`` and ``listMissingResults`` (of indices)."""

from orchestra.compat.pyexputils.results.results import listIndices, listMissingResults

__all__ = ["listIndices", "listMissingResults"]
