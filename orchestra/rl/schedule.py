"""``LinearSchedule(initial, final, N, start=0)``: a value that moves linearly from ``initial`` to ``final``.

>>> s = LinearSchedule(1.0, 0.1, N=3)
>>> [s(x) for x in range(5)]
[1.0, 0.7, 0.4, 0.1, 0.1]

``initial`` until ``start``, ``final`` from ``start + N`` on, linear in between (lagom's
``lagom.transform.LinearSchedule``). Bad arguments raise an ``AssertionError`` (as in lagom) that is
also an orchestra ``UserError``.
"""

from __future__ import annotations

from typing import Any

from orchestra.errors import CompatAssertionError


class LinearSchedule:
    def __init__(self, initial: float, final: float, N: int, start: int = 0) -> None:
        if not N > 0:
            raise CompatAssertionError(
                f"LinearSchedule: N (steps from initial to final) must be > 0, got {N!r}"
            )
        if not start >= 0:
            raise CompatAssertionError(f"LinearSchedule: start must be >= 0, got {start!r}")
        self.initial = initial
        self.final = final
        self.N = N
        self.start = start
        self.x: int | None = None
        self.value: Any = None

    def __call__(self, x: int) -> Any:
        """The value at step ``x`` (a non-negative ``int``); remembered for :meth:`get_current`."""
        if isinstance(x, bool) or not isinstance(x, int) or x < 0:
            raise CompatAssertionError(f"LinearSchedule: the step must be an int >= 0, got {x!r}")
        self.x = x
        if x == 0 or x < self.start:
            self.value = self.initial
        elif x >= self.start + self.N:
            self.value = self.final
        else:
            self.value = self.initial + (x - self.start) / self.N * (self.final - self.initial)
        return self.value

    def get_current(self) -> Any:
        """The value of the last call (None before the first)."""
        return self.value
