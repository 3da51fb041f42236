"""The ``orchestra`` command in a process of its own collects nothing while it imports and freezes
its heap once the command is loaded; ``main`` called inside someone else's process (a test, a
notebook) leaves the collector alone."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc, sys
from orchestra import cli
import orchestra.cli.ls as ls

def run(args):
    print("frozen while running:", gc.get_freeze_count() > 0, "collecting:", gc.isenabled())
    return 3

ls.run = run
sys.argv = ["orchestra", "ls"]
code = cli.{call}
print("frozen after:", gc.get_freeze_count() > 0, "code:", code)
"""


def probe(call: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(call=call)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_the_command_freezes_its_heap_and_main_alone_does_not():
    assert probe("console()") == [
        "frozen while running: True collecting: True",  # no collection during start-up's imports only
        "frozen after: True code: 3",
    ]
    assert probe("main(['ls'])") == [
        "frozen while running: False collecting: True",
        "frozen after: False code: 3",
    ]
