"""orchestra.runtime.joincgroup in this process, with cgroups that do not exist (nothing is moved):
the thread a cold run begins with and the move a forked run makes at once report the same way.
A real move, on both paths: tests/hardening/test_run_cgroups.py."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from orchestra.runtime import joincgroup


@pytest.fixture(autouse=True)
def nothing_begun():
    joincgroup._begun.clear()
    yield
    joincgroup._begun.clear()


def test_nothing_to_join_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(joincgroup.ENV, raising=False)
    joincgroup.begin()
    assert joincgroup._begun == []
    assert joincgroup.finish() is None


@pytest.mark.parametrize("begun", [True, False], ids=["on-its-thread", "at-once"])
def test_a_move_that_fails_is_reported_with_its_cgroup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, begun: bool
) -> None:
    missing = str(tmp_path / "no-such-cgroup")
    monkeypatch.setenv(joincgroup.ENV, missing)
    if begun:
        joincgroup.begin()
        joincgroup.begin()  # once only
        assert len(joincgroup._begun) == 1
    failed = joincgroup.finish()
    assert failed is not None
    group, error = failed
    assert group == missing and error.errno == errno.ENOENT
    assert joincgroup._begun == []  # waited for once; a second finish() tries again at once
    assert joincgroup.finish() is not None
