"""Call the entry function with what it names.

A parameter named ``config``, ``seed``, ``device``, ``logdir``, ``ctx`` or ``ctxt`` gets that fact of
the run; any other parameter gets the top-level config key of its name; ``**kwargs`` gets every
config key not bound by name. A parameter that is none of these and has no default is an error
before the run starts. Config keys nobody asks for are fine. A config key that shares a name
with one of the run's facts (e.g. ``seed``) stays in ``config`` and ``**kwargs``; the parameter of
that name gets the fact.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from orchestra.errors import UserError

FACTS = ("config", "seed", "device", "logdir", "ctx", "ctxt")


class EntryArgumentError(UserError):
    """The entry function asks for something the run cannot give it."""


class Call:
    """A function with the arguments it will be called with (a plain class: a dataclass costs
    every run's start-up the compiling of its generated methods)."""

    __slots__ = ("args", "fn", "kwargs")

    def __init__(
        self, fn: Callable[..., Any], args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs if kwargs is not None else {}

    def __call__(self) -> Any:
        return self.fn(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"Call({self.fn!r}, {self.args!r}, {self.kwargs!r})"


def bind(fn: Callable[..., Any], config: Mapping[str, Any], facts: Mapping[str, Callable[[], Any]]) -> Call:
    """Match ``fn``'s parameters to ``facts`` (made only when asked for) and ``config`` keys."""
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise EntryArgumentError(f"entry function {name!r}: cannot read its parameters ({exc})") from None
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    missing: list[str] = []
    var_keyword = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.VAR_KEYWORD:
            var_keyword = True
            continue
        if p.name in facts:
            value = facts[p.name]()
        elif p.name in config:
            value = config[p.name]
        elif p.default is not p.empty:
            if p.kind is p.POSITIONAL_ONLY:
                args.append(p.default)  # a later positional-only parameter may still need its place
            continue
        else:
            missing.append(p.name)
            continue
        if p.kind is p.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[p.name] = value
    if missing:
        have = ", ".join(config) or "none"
        raise EntryArgumentError(
            f"entry function {name}{sig} needs {', '.join(map(repr, missing))}, which is neither a config key "
            f"(the config has: {have}) nor one of {', '.join(FACTS)}; add it to the config or give it a default"
        )
    if var_keyword:
        for key, value in config.items():
            if key not in kwargs and key not in sig.parameters:
                kwargs[key] = value
    return Call(fn, tuple(args), kwargs)
