"""Checking what a ``Sweep`` says about its search, budget and stopper, before anything is written."""

from __future__ import annotations

from typing import Any

from orchestra.search.base import Search, SearchError, popsize_of
from orchestra.search.box import Box


def check_search(
    space: Any, search: Any, budget: Any, stopper: Any, objective: str | None, mode: str | None
) -> tuple[Any, int | None, Any]:
    """The search, budget and stopper of a Sweep, checked; a mistake is one line (SearchError)."""
    if search is None:
        if isinstance(space, Box):
            raise SearchError(
                "Sweep: a Box is searched, so give search= (e.g. CMAES(), OptunaSearch(), RandomSearch()) "
                "with objective=, mode= and budget="
            )
        if budget is not None:
            raise SearchError(
                "Sweep budget= counts the candidates a search proposes; give search= too, or drop it"
            )
        return None, None, _check_stopper(stopper, objective, mode)
    if not isinstance(search, Search):
        raise SearchError(
            f"Sweep search= needs an object with ask(n), tell(configs, values), state() and restore(state); "
            f"got {type(search).__name__}"
        )
    if not isinstance(space, Box):
        raise SearchError(
            f"Sweep: a search explores a Box, e.g. Box({{'lr': (1e-4, 1e-1, 'log')}}); the space is a {type(space).__name__}"
        )
    if objective is None:
        raise SearchError(
            "Sweep: a search needs objective= (the metric it optimises, e.g. 'return') and mode='max' or 'min'"
        )
    check = getattr(search, "check", None)
    if callable(check):
        check(space)
    budget = _check_budget(budget, search)
    return search, budget, _check_stopper(stopper, objective, mode)


def _check_budget(budget: Any, search: Any) -> int:
    if budget is None:
        raise SearchError(
            "Sweep: a search needs budget=, the number of candidates to propose (each run once per seed)"
        )
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise SearchError(f"Sweep budget must be a number of candidates >= 1, got {budget!r}")
    popsize = popsize_of(search)
    if popsize is not None and budget % popsize:
        below = budget - budget % popsize
        above = below + popsize
        hint = f"{below} or {above}" if below else f"{above}"
        raise SearchError(
            f"Sweep budget={budget} is not a whole number of generations of {type(search).__name__}"
            f"(popsize={popsize}); use {hint}"
        )
    return budget


def _check_stopper(stopper: Any, objective: str | None, mode: str | None) -> Any:
    if stopper is None:
        return None
    if not callable(getattr(stopper, "on_result", None)) or not hasattr(stopper, "metric"):
        raise SearchError(
            f"Sweep stopper= needs a stopper such as ASHA(...) or MedianStopping(...), got {type(stopper).__name__}"
        )
    bind = getattr(stopper, "bind", None)
    if callable(bind):
        bind(objective, mode)
    return stopper
