"""PyExpUtils' ``PyExpUtils.utils.cmdline``: ``flagString``, shared by its Slurm and GNU parallel helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def flagString(pairs: Sequence[tuple[str, Any]], joiner: str = "=") -> str:
    """``--key=value`` for each pair whose value is not None, space-separated (PyExpUtils' cmdline).

    As in PyExpUtils, the separating space is added for every pair after the first, so a None
    first pair leaves a leading space.
    """
    s = ""
    for i, (key, value) in enumerate(pairs):
        if value is not None:
            if i > 0:
                s += " "
            s += f"{key}{joiner}{value}"
    return s
