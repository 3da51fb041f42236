"""A run's traceback points at the sweep file: its path, the line number and the line as launched.

cloudpickle 3.1 renames every by-value code object's file to ``<dynamic-code>``; the payload carries
the sweep file's source, and the run restores both. CI runs this module with the oldest cloudpickle
the project allows too (tox env ``cloudpickle-oldest``).
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.version import Version

from orchestra.rundir import EXIT_ERROR
from tests.runtime.harness import prepare_sweep, run, write_run_config

SOURCE = """\
from orchestra import Sweep, Config


class Diverged(Exception):
    pass


def check(loss):
    if loss != loss:
        raise Diverged(f"loss is nan")   # line 10


class Model:
    def step(self, lr):
        return check(float("nan") * lr)   # line 15


def train(lr):
    helper = lambda: Model().step(lr)   # line 19
    return helper()


sweep = Sweep(train, Config({"lr": 0.5}))
"""


def test_traceback_names_the_sweep_file_lines_and_source_even_after_an_edit(tmp_path: Path) -> None:
    sweep = prepare_sweep(tmp_path, SOURCE)
    run_dir = write_run_config(sweep)
    # The file is edited after launch: the run must still show the lines it was launched with.
    sweep.file.write_text("# edited\n" * 40)
    fin = run(run_dir)
    assert fin.code == EXIT_ERROR, fin.log
    tb = fin.result["error"]["traceback"]
    path = str(sweep.file)
    assert "<dynamic-code>" not in tb and "<dynamic-code>" not in fin.log
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)\n +(.+)', tb)
    mine = [(int(line), func, text.strip()) for file, line, func, text in frames if file == path]
    assert [(line, func) for line, func, _ in mine] == [
        (20, "train"),
        (19, "<lambda>"),
        (15, "step"),
        (10, "check"),
    ], tb
    assert mine[-1][2] == 'raise Diverged(f"loss is nan")   # line 10'
    assert mine[0][2] == "return helper()"


def test_pdb_and_linecache_in_the_run_see_the_launch_time_source(tmp_path: Path) -> None:
    source = """\
        import inspect, linecache
        from orchestra import Sweep, Config


        def train(lr):
            code = train.__code__
            return {"file": code.co_filename, "line": linecache.getline(code.co_filename, code.co_firstlineno + 1),
                    "source": inspect.getsource(train).splitlines()[0]}


        sweep = Sweep(train, Config({"lr": 0.5}))
        """
    sweep = prepare_sweep(tmp_path, source)
    run_dir = write_run_config(sweep)
    sweep.file.write_text("")
    fin = run(run_dir)
    assert fin.code == 0, fin.log
    value = fin.result["return"]
    assert value["file"] == str(sweep.file)
    assert value["line"].strip() == "code = train.__code__"
    assert value["source"] == "def train(lr):"


def test_ci_runs_these_tests_with_the_oldest_cloudpickle_pyproject_allows() -> None:
    root = Path(__file__).resolve().parents[2]
    floor = re.search(r'"cloudpickle>=([\d.]+)"', (root / "pyproject.toml").read_text())
    tox = (root / "tox.ini").read_text()
    pinned = re.search(r"cloudpickle==([\d.]+)", tox)
    assert floor and pinned, "pyproject.toml needs a cloudpickle floor and tox.ini a pin of it"
    assert Version(floor.group(1)) == Version(pinned.group(1))
    assert "tests/runtime/test_tracebacks.py" in tox
