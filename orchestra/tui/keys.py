"""The dashboard's keys: one table of actions with their default keys, and the user's overrides.

Every key the dashboard answers to has an action name here. A user rebinds keys in
``$XDG_CONFIG_HOME/orchestra/keys.json`` (``~/.config/orchestra/keys.json`` by default), a JSON
object from action name to keys, comma-separated when several::

    {"cancel": "x", "kill": "ctrl+k", "down": "j,down,ctrl+n", "filter": "f"}

Keys are written the way Textual names them (``ctrl+k``, ``pagedown``, ``escape``); single
characters may be written as themselves (``?``, ``/``). A mistake in the file (an unknown action,
a key bound twice where both apply) stops ``orchestra up`` with one line naming it, before any run
starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding
from textual.keys import _character_to_key

from orchestra.errors import RunDirError, UserError
from orchestra.rundir import read_json


@dataclass(frozen=True)
class Key:
    """An action the user can bind: where it applies, its default keys, what it does."""

    keys: str
    scope: str  # "app" (everywhere on the main screen), "table" or "log" (when that pane has focus)
    description: str  # short, for the footer
    help: str  # one line, for the help screen


KEYS: dict[str, Key] = {
    "down": Key("j,down", "table,log", "down", "next run / scroll the log down"),
    "up": Key("k,up", "table,log", "up", "previous run / scroll the log up"),
    "top": Key("g,home", "table,log", "top", "first run / start of the log"),
    "bottom": Key("G,end", "table,log", "bottom", "last run / end of the log (follows it again)"),
    "page_down": Key("pagedown", "table,log", "page down", "a page down"),
    "page_up": Key("pageup", "table,log", "page up", "a page up"),
    "filter": Key("slash", "table", "filter", "filter runs: text, state:failed, gpu:1, lr=3e-4"),
    "detail": Key("enter", "table", "detail", "the run's detail: config, history, metadata, log, plots"),
    "mark": Key("space", "table", "mark", "mark the run for a bulk action (again to unmark)"),
    "sort": Key("o", "table", "sort", "sort by the next column"),
    "sort_reverse": Key("O", "table", "reverse", "reverse the sort order"),
    "search": Key("slash", "log", "search", "search the log"),
    "next_match": Key("n", "log", "next", "next search match (towards the end)"),
    "previous_match": Key("N", "log", "previous", "previous search match (towards the start)"),
    "cancel": Key("c", "app", "cancel", "cancel the marked runs, or the selected one (asks first)"),
    "kill": Key("K", "app", "kill", "kill the marked runs, or the selected one, now: SIGKILL (asks first)"),
    "retry": Key("r", "app", "retry", "queue the marked runs, or the selected one, again"),
    "pause": Key("p", "app", "pause", "pause / resume launching new runs (running runs go on)"),
    "follow": Key("s", "app", "follow log", "follow the log to its end again"),
    "metric": Key("m", "app", "metric", "plot the next metric"),
    "clear": Key("escape", "app", "clear", "clear the search, the filter, then the marks"),
    "help": Key("question_mark", "app", "help", "this help"),
    "quit": Key("q", "app", "quit", "quit (asks whether to stop active runs)"),
}


def binding(name: str, action: str, *, show: bool = True, priority: bool = False) -> Binding:
    """The Textual binding of action ``name`` (its id is the name, so the keymap can rebind it)."""
    key = KEYS[name]
    return Binding(key.keys, action, key.description, show=show, priority=priority, id=name)


def keymap_path() -> Path:
    """Where the user's key overrides live."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "orchestra" / "keys.json"


def normalise(keys: str) -> tuple[str, ...]:
    """``"?,ctrl+k"`` -> ``("question_mark", "ctrl+k")``: the names Textual dispatches on."""
    out = []
    for part in keys.split(","):
        part = part.strip()
        if part:
            out.append(_character_to_key(part) if len(part) == 1 else part)
    return tuple(out)


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """The user's overrides (action -> keys), checked; ``{}`` when there is no file."""
    path = path or keymap_path()
    if not path.exists():
        return {}
    try:
        data = read_json(path)
    except RunDirError as exc:
        raise UserError(str(exc)) from None
    if not isinstance(data, dict):
        raise UserError(f'{path}: write a JSON object from action to keys, e.g. {{"cancel": "x"}}')
    keymap: dict[str, str] = {}
    for name, keys in data.items():
        if name not in KEYS:
            raise UserError(f"{path}: unknown action {name!r}; actions are {', '.join(KEYS)}")
        if not isinstance(keys, str) or not normalise(keys):
            raise UserError(f'{path}: {name!r} needs keys as a string, e.g. "x" or "x,ctrl+x"')
        keymap[name] = ",".join(normalise(keys))
    _check_clashes(path, keymap)
    return keymap


def effective_keys(keymap: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Action -> the keys it answers to under ``keymap``."""
    return {name: normalise(keymap.get(name, key.keys)) for name, key in KEYS.items()}


def _check_clashes(path: Path, keymap: Mapping[str, str]) -> None:
    keys = effective_keys(keymap)
    for pane in ("table", "log"):
        owner: dict[str, str] = {}
        for name, key in KEYS.items():
            scopes = key.scope.split(",")
            if "app" not in scopes and pane not in scopes:
                continue
            for k in keys[name]:
                if k in owner:
                    raise UserError(
                        f"{path}: key {k!r} is bound to both {owner[k]!r} and {name!r}; give one of them another key"
                    )
                owner[k] = name
