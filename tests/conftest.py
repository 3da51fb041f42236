"""Shared test setup: child processes import this checkout's orchestra, never another copy."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
)
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
