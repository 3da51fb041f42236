"""spinningup's ``ExperimentGrid`` (``spinup.utils.run_utils``), over orchestra's native grid.

``name()``, ``add()``, ``variants()`` (spinningup's nested dicts, ``seed`` included),
``variant_name()``, ``print()`` and ``run()`` behave as in spinningup; ``call_experiment`` is here too. Given to ``orchestra.Sweep``, the grid
becomes its native space: variants without the seed, and the ``seed`` values as the sweep's seeds.

Differences from spinningup, each an error where spinningup silently did something surprising:
a key added twice is refused (spinningup let the later one override the earlier in every
variant), ``a`` and ``a:b`` together are refused when the second is added (spinningup failed later,
in ``variants()``), an empty list of values is refused, and a dict-valued key's ``a:b`` sub-keys are
merged into a copy of the dict rather than into the user's object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestra.compat.spinup_run import call_experiment
from orchestra.errors import CompatAssertionError
from orchestra.space import grid as _grid


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
        super().add(key, vals, shorthand, in_name)

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
        are the functions to call. Unlike spinningup there is no 5-second pause before launching;
        for parallel runs, retries and a dashboard give the grid to ``orchestra.Sweep`` instead.
        """
        variants = self.variants()
        names = sorted({self.variant_name(v) for v in variants})
        line = "=" * 80
        print(f"{line}\nRunning {len(variants)} variants of ExperimentGrid [{self._name}]:\n")
        print("\n".join(names))
        print(line)
        for var in variants:
            exp_name = self.variant_name(var)
            fn = var.pop(thunk) if isinstance(thunk, str) else thunk
            call_experiment(exp_name, fn, num_cpu=num_cpu, data_dir=data_dir, datestamp=datestamp, **var)


__all__ = ["ExperimentGrid", "call_experiment"]
