r"""spinningup's ``spinup.utils.run_utils``: ``ExperimentGrid``, ``call_experiment``, ``setup_logger_kwargs``,
``all_bools``, ``valid_str``; the grid is orchestra's native one.

``name()``, ``add()``, ``variants()`` (spinningup's nested dicts, ``seed`` included),
``variant_name()``, ``print()`` and ``run()`` behave as in spinningup; ``call_experiment`` is here too. Given to ``orchestra.Sweep``, the grid
becomes its native space: variants without the seed, and the ``seed`` values as the sweep's seeds.

Differences from spinningup, each an error where spinningup silently did something surprising:
a key added twice is refused (spinningup let the later one override the earlier in every
variant), ``a`` and ``a:b`` together are refused when the second is added (spinningup failed later,
in ``variants()``), an empty list of values is refused, and a dict-valued key's ``a:b`` sub-keys are
merged into a copy of the dict rather than into the user's object. These refusals are
``AssertionError``\ s, as spinningup's own checks in ``add`` are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from orchestra.compat.spinup import user_config
from orchestra.compat.spinup_run import call_experiment, setup_logger_kwargs
from orchestra.errors import CompatAssertionError, SpaceError
from orchestra.space import grid as _grid
from orchestra.space.grid import valid_str


def all_bools(vals: list[Any]) -> bool:
    """Whether every value is a bool (such a key shows in names as a bare shorthand when True)."""
    return all(isinstance(v, bool) for v in vals)


class ExperimentGrid(_grid.ExperimentGrid):
    """spinningup's ``ExperimentGrid(name='')``.

    >>> eg = ExperimentGrid("ppo"); eg.add("seed", [0, 1]); eg.add("pi_lr", [3e-4, 1e-3])
    >>> [eg.variant_name(v) for v in eg.variants()]
    ['ppo_pi0-0003', 'ppo_pi0-001', 'ppo_pi0-0003', 'ppo_pi0-001']
    """

    def name(self, _name: str) -> None:
        if not isinstance(_name, str):
            raise CompatAssertionError(f"Name has to be a string; ExperimentGrid got {type(_name).__name__}")
        super().name(_name)

    def add(self, key: str, vals: Any, shorthand: str | None = None, in_name: bool = False) -> None:
        """Add a parameter: ``vals`` is a list of values (anything else, a tuple too, is one value)."""
        if not isinstance(key, str):
            raise CompatAssertionError(f"Key must be a string; ExperimentGrid.add got {type(key).__name__}")
        if shorthand is not None and not isinstance(shorthand, str):
            raise CompatAssertionError(
                f"Shorthand must be a string; ExperimentGrid.add({key!r}) got {shorthand!r}"
            )
        if shorthand is None and not user_config.DEFAULT_SHORTHAND:
            shorthand = key  # spinningup then names the key by itself
        try:
            super().add(key, vals, shorthand, in_name)
        except SpaceError as exc:
            raise CompatAssertionError(str(exc)) from None

    def _default_shorthand(self, key: str) -> str:
        """spinningup's shorthand: the first three characters of each ``:`` part, alphanumerics kept."""
        return _grid.default_shorthand(key)

    def variants(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """spinningup's variants: nested dicts from ``a:b`` keys, ``seed`` included, last key fastest."""
        return self.nested_variants()

    def __orchestra_space__(self) -> _grid.ExperimentGrid:
        """The native grid with the same parameters, for ``orchestra.Sweep``."""
        native = _grid.ExperimentGrid(self._name)
        native.keys, native.vals = list(self.keys), list(self.vals)
        native.shs, native.in_names = list(self.shs), list(self.in_names)
        return native

    def run(
        self,
        thunk: Callable[..., Any] | str,
        num_cpu: int | str = 1,
        data_dir: str | None = None,
        datestamp: bool = False,
    ) -> None:
        """Run every variant in turn through :func:`call_experiment`, as spinningup does.

        Each variant runs in a fresh interpreter and writes ``data_dir/<name>/<name>_s<seed>``; a
        failing variant raises and stops the grid. ``thunk`` may be the name of a key whose values
        are the functions to call. After listing the variants it waits
        ``user_config.WAIT_BEFORE_LAUNCH`` seconds (a countdown, where spinningup drew a progress
        bar). For parallel runs, retries and a dashboard give the grid to ``orchestra.Sweep`` instead.
        """
        variants = self.variants()
        names = sorted({self.variant_name(v) for v in variants})
        line = "=" * 80
        print(f"{line}\nRunning {len(variants)} variants of ExperimentGrid [{self._name}]:\n")
        print("\n".join(names))
        print(line)
        _countdown(user_config.WAIT_BEFORE_LAUNCH)
        for var in variants:
            exp_name = self.variant_name(var)
            fn = var.pop(thunk) if isinstance(thunk, str) else thunk
            call_experiment(exp_name, fn, num_cpu=num_cpu, data_dir=data_dir, datestamp=datestamp, **var)


def _countdown(seconds: float) -> None:
    """Wait ``seconds`` before launching, saying so, so that a wrong grid can be stopped with Ctrl-C."""
    if seconds <= 0:
        return
    print(f"Launching in {seconds:g} seconds; Ctrl-C to stop.", flush=True)
    time.sleep(seconds)


__all__ = ["ExperimentGrid", "all_bools", "call_experiment", "setup_logger_kwargs", "valid_str"]
