"""Mistyped command lines: the usage of the command they were given to, one error line, a suggestion."""

from __future__ import annotations

from tests.helpers import orchestra


def error_line(out) -> str:  # type: ignore[no-untyped-def]
    assert out.returncode == 2, (out.stdout, out.stderr)
    return out.stderr.splitlines()[-1]


def test_a_mistyped_command_gets_a_suggestion():
    out = orchestra("stauts", "sweeps/x")
    assert error_line(out) == "orchestra: error: unknown command 'stauts'; did you mean 'status'?"
    assert out.stderr.startswith("usage: orchestra [-h]")


def test_a_mistyped_option_of_up_shows_ups_usage_and_a_suggestion():
    for argv in (["up", "--wokers", "3", "sweep.py"], ["up", "--wokers"], ["up", "sweep.py", "--wokers=3"]):
        out = orchestra(*argv)
        assert (
            error_line(out)
            == "orchestra up: error: unrecognized option '--wokers'; did you mean '--workers'?"
        )
        assert out.stderr.startswith("usage: orchestra up "), "the subcommand's usage, not the top level's"


def test_errors_carry_one_prefix():
    out = orchestra("logs")
    assert error_line(out) == "orchestra logs: error: the following arguments are required: DIR, RUN"
    out = orchestra("up", "no-such-file.py")
    assert error_line(out).startswith("orchestra: error: no-such-file.py: no such file")
    assert "error: orchestra" not in out.stderr


def test_overrides_may_follow_options():
    out = orchestra("up", "no-such-file.py", "--headless", "lr=0.1")
    assert "unrecognized" not in out.stderr, "lr=0.1 is an override, wherever it stands"
    assert error_line(out).startswith("orchestra: error: no-such-file.py: no such file")
