"""The entry function's parameters against the planned configs, before anything is written.

A run binds its entry's parameters with :func:`orchestra.runtime.arguments.bind`: the run's facts
(``config``, ``seed``, ``device``, ``logdir``, ``ctx``, ``ctxt``), then the config's top-level keys,
then defaults, and ``**kwargs`` takes the rest. A parameter none of these gives fails every run in
setup. :func:`check_entry` applies the same function to each planned config at plan time (once per
distinct set of keys: a sweep of 100,000 runs has a handful), so that the mistake is one line before
anything starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from orchestra.errors import PlanError
from orchestra.runtime.arguments import FACTS, EntryArgumentError, bind
from orchestra.space.variant import Variant


def check_entry(entry: Callable[..., Any], variants: Sequence[Variant], where: str) -> None:
    """Raise a PlanError (``where: ...``) if some variant's config leaves a parameter of ``entry`` unbound."""
    facts = {name: _nothing for name in FACTS}
    errors: dict[frozenset[str], EntryArgumentError | None] = {}
    failing: list[Variant] = []
    for v in variants:
        keys = frozenset(v.params)
        if keys not in errors:
            try:
                bind(entry, v.params, facts)
                errors[keys] = None
            except EntryArgumentError as exc:
                errors[keys] = exc
        if errors[keys] is not None:
            failing.append(v)
    if not failing:
        return
    error = errors[frozenset(failing[0].params)]
    which = ""
    if len(failing) < len(variants):
        more = f" and {len(failing) - 1} more" if len(failing) > 1 else ""
        which = f" (variant {failing[0].name!r}{more} of {len(variants)})"
    raise PlanError(f"{where}: {error}{which}")


def _nothing() -> None:
    return None
