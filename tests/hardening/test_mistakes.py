"""A user's mistake is one line that names the file, key or run and says what to do; exit 2; nothing
launched, nothing written (issue 11, item 9, and what else a careful operator tried)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import orchestra

OK = """
    from orchestra import Sweep, Config, Grid
    def train(ctx, lr):
        print("one"); print("two"); print("three")
        ctx.logger("loss", lr); ctx.logger.dump()
    sweep = Sweep(train, Config({"lr": Grid([0.1, 0.2])}))
"""


@dataclass(frozen=True)
class Mistake:
    args: tuple[str, ...]  # after `orchestra`; SWEEP is the sweep directory of a finished run of OK
    line: str  # the one line on stderr; ROOT and SWEEP are replaced by their paths
    sweep_file: str = OK
    files: dict[str, str] = field(default_factory=dict)
    before: str = ""  # done to the finished sweep first: "status [1]" writes that into a status.json


MISTAKES = {
    "entry needs a parameter no config key gives": Mistake(
        ("up", "sweep.py"),
        "orchestra: error: sweep.py: entry function train(config, lr, momentum) needs 'momentum', which is "
        "neither a config key (the config has: lr) nor one of config, seed, device, logdir, ctx, ctxt; add it "
        "to the config or give it a default",
        sweep_file="""
            from orchestra import Sweep, Config, Grid
            def train(config, lr, momentum):
                pass
            sweep = Sweep(train, Config({"lr": Grid([0.1, 0.2])}))
        """,
    ),
    "entry needs a parameter some variants lack": Mistake(
        ("up", "sweep.py", "--dry-run"),
        "orchestra: error: sweep.py: entry function train(*, lr) needs 'lr', which is neither a config key "
        "(the config has: x) nor one of config, seed, device, logdir, ctx, ctxt; add it to the config or give "
        "it a default (variant 'x=2' of 2)",
        sweep_file="""
            from orchestra import Sweep
            def train(*, lr):
                pass
            sweep = Sweep(train, [{"lr": 1}, {"x": 2}])
        """,
    ),
    "sys.exit at the top of the sweep file": Mistake(
        ("up", "sweep.py"),
        "orchestra: error: sweep.py:2: the sweep file called sys.exit(1) while it was loaded; orchestra "
        "imports it to find its Sweep, so put the code that runs it as a script under "
        "`if __name__ == '__main__':`",
        sweep_file="""
            import sys
            sys.exit(1)
        """,
    ),
    "--grace -1": Mistake(
        ("up", "sweep.py", "--grace", "-1"),
        "orchestra: error: --grace must be a number of seconds >= 0, got -1.0",
    ),
    "--grace nan": Mistake(
        ("up", "sweep.py", "--grace", "nan"),
        "orchestra: error: --grace must be a number of seconds >= 0, got nan",
    ),
    "--name ''": Mistake(("up", "sweep.py", "--name", ""), "orchestra: error: --name must not be empty"),
    "metaParameters is a string": Mistake(
        ("up", "sweep.py"),
        "orchestra: error: sweep.py:4: experiment description section 'metaParameters' must be an object of "
        "parameters such as {\"alpha\": [0.1, 0.01]}, got str 'alpha'",
        sweep_file="""
            from orchestra import Sweep
            from orchestra.compat.pyexputils import ExperimentDescription
            def train(config): pass
            sweep = Sweep(train, ExperimentDescription({"metaParameters": "alpha"}))
        """,
    ),
    "metaParameters is a string in a JSON file": Mistake(
        ("up", "sweep.py"),
        "orchestra: error: sweep.py:4: exp.json: experiment description section 'metaParameters' must be an "
        "object of parameters such as {\"alpha\": [0.1, 0.01]}, got str 'alpha'",
        sweep_file="""
            from orchestra import Sweep
            from orchestra.space import Description
            def train(config): pass
            sweep = Sweep(train, Description.load("exp.json"))
        """,
        files={"exp.json": '{"metaParameters": "alpha"}'},
    ),
    "logs -n -3": Mistake(
        ("logs", "SWEEP", "lr=0.1/0", "-n", "-3"),
        "orchestra: error: -n -3: give a number of lines >= 1 (leave -n out for the whole log, or follow only "
        "what is new with -f -n 0)",
    ),
    "logs -n 0": Mistake(
        ("logs", "SWEEP", "lr=0.1/0", "-n", "0"),
        "orchestra: error: -n 0: give a number of lines >= 1 (leave -n out for the whole log, or follow only "
        "what is new with -f -n 0)",
    ),
    "results --group-by nosuch": Mistake(
        ("results", "SWEEP", "--metric", "loss", "--group-by", "nosuch"),
        "orchestra: error: no run has a parameter 'nosuch' to group by; parameters: lr",
    ),
    "status.json that is not an object": Mistake(
        ("status", "SWEEP"),
        "orchestra: error: SWEEP/runs/lr=0.1/0/status.json: unreadable (status record is malformed (a JSON "
        "list, not an object)); delete it to run lr=0.1/0 again from its newest snapshot, or restore it",
        before="status [1]",
    ),
    "status.json that is not JSON": Mistake(
        ("up", "sweep.py"),
        "orchestra: error: SWEEP/runs/lr=0.1/0/status.json: unreadable (not valid JSON: unexpected character, "
        "expected a string key: line 1 column 2 (char 1)); delete it to run lr=0.1/0 again from its newest snapshot, or restore it",
        before="status {garbage",
    ),
    "sweep.json with a variant that is not one": Mistake(
        ("status", "SWEEP"),
        "orchestra: error: SWEEP/sweep.json: one of its variants has no index and name, so orchestra did not "
        "write it: restore it, or plan the sweep anew under another --name",
        before='sweep {"format": 1, "name": "sweep", "seeds": [0], "variants": [{"lr": 0.1}]}',
    ),
    "a timeout that is not a number": Mistake(
        ("up", "sweep.py"),
        "orchestra: error: sweep.py:3: Sweep timeout: must be a positive number of seconds, got nan",
        sweep_file="""
            from orchestra import Sweep
            def train(config): pass
            sweep = Sweep(train, [{}], timeout=float("nan"))
        """,
    ),
    "a GPU memory that is not a number": Mistake(
        ("up", "sweep.py"),
        "orchestra: error: sweep.py:3: Sweep gpu_mem: must be a positive number of bytes, got nan",
        sweep_file="""
            from orchestra import Sweep
            def train(config): pass
            sweep = Sweep(train, [{}], gpu_mem=float("nan"))
        """,
    ),
}


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    if not root.exists():
        return {}
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep of OK that ran to the end: what the commands that read sweeps are given."""
    where = tmp_path_factory.mktemp("finished")
    (where / "sweep.py").write_text(textwrap.dedent(OK))
    done = orchestra("up", "sweep.py", "--root", where / "sweeps", cwd=where)
    assert done.returncode == 0, done.stdout + done.stderr
    return where / "sweeps" / "sweep"


@pytest.mark.parametrize("case", list(MISTAKES))
def test_a_mistake_is_one_line_exit_2_and_nothing_written(tmp_path: Path, finished: Path, case: str):
    m = MISTAKES[case]
    (tmp_path / "sweep.py").write_text(textwrap.dedent(m.sweep_file).lstrip("\n"))
    for name, text in m.files.items():
        (tmp_path / name).write_text(text)
    root = tmp_path / "sweeps"
    sweep = root / "sweep"
    if any("SWEEP" in a for a in m.args) or m.before:
        import shutil

        shutil.copytree(finished, sweep)
    what, _, text = m.before.partition(" ")
    if what == "status":
        (sweep / "runs" / "lr=0.1" / "0" / "status.json").write_text(text)
    elif what == "sweep":
        (sweep / "sweep.json").write_text(text)
    before = _snapshot(root)
    args = [a.replace("SWEEP", str(sweep)) for a in m.args]
    if args[0] == "up":
        args += ["--root", str(root)]
    out = orchestra(*args, cwd=tmp_path)
    expected = m.line.replace("SWEEP", str(sweep))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.splitlines() == [expected], out.stderr
    assert "Traceback" not in out.stdout
    assert _snapshot(root) == before, "something was written"
