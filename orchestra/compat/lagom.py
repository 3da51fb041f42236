"""lagom's ``Config``, ``Grid``, ``Sample`` and ``Condition`` (``lagom.experiment``), and ``Logger``.

``Grid``, ``Sample`` and ``Condition`` are orchestra's own classes; ``Config`` is orchestra's with
lagom's check that ``items`` is a dict. ``make_configs()`` gives lagom's list of dicts: ``'ID'``
first, the last Grid key varying fastest, the whole grid repeated ``num_sample`` times with fresh
draws (``num_sample`` becomes 1 without a Sample), Conditions resolved last in key order.

Differences from lagom: a Sample or Condition that raises is reported as one error naming its key;
``Sample`` and ``Condition`` refuse a non-callable at once.
"""

from __future__ import annotations

from typing import Any

from orchestra.errors import CompatAssertionError
from orchestra.runtime.logger import Logger as Logger
from orchestra.space.config import Config as _Config
from orchestra.space.params import Condition as Condition
from orchestra.space.params import Grid as Grid
from orchestra.space.params import Sample as Sample


class Config(_Config):
    """lagom's ``Config(items, num_sample=1, keep_dict_order=False)``; ``items`` must be a dict.

    >>> Config({"lr": Grid([0.1, 0.01]), "env": Grid(["a", "b"])}).make_configs()[1]
    {'ID': 1, 'lr': 0.1, 'env': 'b'}
    """

    def __init__(self, items: dict[Any, Any], num_sample: int = 1, keep_dict_order: bool = False) -> None:
        if not isinstance(items, dict):
            raise CompatAssertionError(f"Config needs a dict of config items, got {type(items).__name__}")
        super().__init__(items, num_sample=num_sample, keep_dict_order=keep_dict_order)
