"""The keymap file: where it is, what it may say, and the one-line errors for mistakes in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra.errors import UserError
from orchestra.tui.keys import KEYS, effective_keys, keymap_path, load_keymap
from tests.helpers import on_a_terminal, write_sweep


def write_keymap(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "config" / "orchestra" / "keys.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def test_the_file_lives_in_the_xdg_config_directory(tmp_path: Path):
    assert keymap_path() == tmp_path / "config" / "orchestra" / "keys.json"


def test_no_file_means_the_defaults():
    assert load_keymap() == {}
    keys = effective_keys({})
    assert keys["cancel"] == ("c",) and keys["down"] == ("j", "down") and keys["help"] == ("question_mark",)


def test_overrides_are_read_and_single_characters_named_as_textual_names_them(tmp_path: Path):
    write_keymap(tmp_path, json.dumps({"cancel": "x", "help": "?,h", "filter": "/"}))
    keymap = load_keymap()
    assert keymap == {"cancel": "x", "help": "question_mark,h", "filter": "slash"}
    assert effective_keys(keymap)["cancel"] == ("x",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"cancle": "x"}', "unknown action 'cancle'; actions are down, up"),
        ('{"cancel": 3}', "'cancel' needs keys as a string"),
        ('{"cancel": " , "}', "'cancel' needs keys as a string"),
        ('["cancel"]', "write a JSON object from action to keys"),
        ("{nope", "not valid JSON"),
        ('{"cancel": "j"}', "key 'j' is bound to both 'down' and 'cancel'"),
        ('{"retry": "s"}', "key 's' is bound to both 'retry' and 'follow'"),
    ],
)
def test_mistakes_are_one_line_errors_naming_the_file(tmp_path: Path, content: str, message: str):
    path = write_keymap(tmp_path, content)
    with pytest.raises(UserError) as err:
        load_keymap()
    assert str(path) in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_the_same_key_may_serve_the_table_and_the_log(tmp_path: Path):
    write_keymap(tmp_path, json.dumps({"filter": "f", "search": "f"}))
    assert load_keymap() == {"filter": "f", "search": "f"}


def test_every_action_has_a_help_line():
    assert all(key.help and key.description for key in KEYS.values())


def test_a_broken_keymap_stops_up_on_a_terminal_before_anything_starts(tmp_path: Path):
    write_keymap(tmp_path, json.dumps({"cancle": "x"}))
    sweep = write_sweep(
        tmp_path, "from orchestra import Sweep\ndef train(config): pass\nsweep = Sweep(train, [{}])\n"
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    code, out = on_a_terminal(["up", str(sweep), "--root", str(tmp_path / "sweeps")], cwd=tmp_path, env=env)
    assert code == 2, out
    assert "unknown action 'cancle'" in out
    assert not (tmp_path / "sweeps").exists(), "nothing written, no service started"
