"""``orchestra results`` and ``orchestra plot`` as a user runs them: real subprocesses, real files."""

from __future__ import annotations

import csv
import io
import os
import pty
import subprocess
import sys

import orjson
import pytest

from tests.helpers import orchestra, wait_for
from tests.results.sweepdirs import live_orchestrator, write_run, write_sweep

CONFIGS = [{"lr": lr, "batch_size": bs, "momentum": 0.5} for lr in (0.01, 0.1) for bs in (8, 32)]


def main_with(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI's main in ``python -c`` after ``code`` (to take a module away, say)."""
    cmd = [
        sys.executable,
        "-c",
        f"{code}\nimport sys\nfrom orchestra.cli import main\nsys.exit(main(sys.argv[1:]))",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def loss_curve(v: int, seed: int) -> list[float]:
    return [(1.0 + 0.1 * seed) / (1 + (v + 1) * i) for i in range(8)]


@pytest.fixture
def sweep_dir(tmp_path):
    """Four variants x two seeds, all completed; variant 3 (lr=0.1, batch_size=32) has the lowest loss."""
    sd, vs = write_sweep(tmp_path, CONFIGS, seeds=(0, 1), name="quick")
    for vi, v in enumerate(vs):
        for seed in (0, 1):
            write_run(sd, v, seed, curves={"iteration": list(range(8)), "loss": loss_curve(vi, seed)})
    return sd.path


def test_results_ranks_variants_and_prints_the_best_config(sweep_dir):
    out = orchestra("results", str(sweep_dir))
    assert out.returncode == 0 and out.stderr == ""
    lines = out.stdout.splitlines()
    assert lines[0] == f"sweep quick ({sweep_dir}): 8 runs, 8 completed"
    assert lines[1] == (
        "metric loss (the first metric logged that is not a step or counter; --metric to choose); min is best "
        "(guessed from the name; --mode to choose); scored over the whole curve"
    )
    assert lines[2].split() == ["#", "lr", "batch_size", "loss", "(mean", "±", "se)", "runs"]
    rows = [line.split() for line in lines[3:7]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("1", "0.1", "32"),
        ("2", "0.1", "8"),
        ("3", "0.01", "32"),
        ("4", "0.01", "8"),
    ]
    assert all(r[4] == "±" and r[-1] == "2/2" for r in rows)
    best = out.stdout[out.stdout.index("best: ") :]
    assert best.startswith("best: lr=0.1_batch_size=32: loss ")
    assert orjson.loads(best[best.index("{") :]) == {"lr": 0.1, "batch_size": 32, "momentum": 0.5}


def test_results_as_json_and_csv(sweep_dir):
    doc = orjson.loads(orchestra("results", str(sweep_dir), "--json", "--mode", "max", "--last", "2").stdout)
    assert doc["metric"] == "loss" and doc["mode"] == "max" and doc["window"] == {"last": 2, "last_pct": None}
    assert [r["params"]["lr"] for r in doc["ranking"]] == [0.01, 0.01, 0.1, 0.1]
    assert doc["best"]["rank"] == 1 and doc["best"]["n"] == 2 and len(doc["best"]["scores"]) == 2
    assert doc["states"] == {"completed": 8}
    rows = list(
        csv.DictReader(io.StringIO(orchestra("results", str(sweep_dir), "--csv", "--group-by", "lr").stdout))
    )
    assert [(r["rank"], r["label"], r["lr"], r["n"], r["runs"]) for r in rows] == [
        ("1", "lr=0.1", "0.1", "4", "4"),
        ("2", "lr=0.01", "0.01", "4", "4"),
    ]
    assert float(rows[0]["mean"]) < float(rows[1]["mean"])


def test_results_on_a_running_sweep_marks_unfinished_runs(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS[:2], seeds=(0, 1), name="live")
    write_run(sd, vs[0], 0, curves={"ret": [1.0, 2.0]})
    write_run(sd, vs[0], 1, curves={"ret": [1.0]}, state="running")
    write_run(sd, vs[1], 0, curves={"ret": [0.5]}, state="running")
    with live_orchestrator(sd):
        out = orchestra("results", str(sd.path))
    assert out.returncode == 0, out.stderr
    assert "1 completed, 2 running, 1 queued" in out.stdout
    assert "max is best (guessed from the name" in out.stdout
    assert "2/2 (1 running)" in out.stdout and "1/2 (1 running, 1 queued)" in out.stdout
    assert "not finished: 2 running, 1 queued; scores use what those runs logged so far" in out.stdout
    lost = orchestra("results", str(sd.path))  # the orchestrator is gone now
    assert "not finished: 2 lost, 1 queued" in lost.stdout and "`orchestra up` resumes them" in lost.stdout


def test_a_truncated_line_and_a_run_without_metrics_are_warnings_not_failures(sweep_dir, tmp_path):
    run = sweep_dir / "runs" / "lr=0.01_batch_size=8" / "0"
    with open(run / "metrics.jsonl", "ab") as f:
        f.write(b'{"step": 8, "time": 17637')
    (sweep_dir / "runs" / "lr=0.1_batch_size=8" / "1" / "metrics.jsonl").unlink()
    out = orchestra("results", str(sweep_dir), "--metric", "loss")
    assert out.returncode == 0
    assert out.stderr.splitlines() == [
        f"orchestra: warning: {run / 'metrics.jsonl'}: skipped a truncated last line (a write cut short)",
        "orchestra: warning: run lr=0.1_batch_size=8/1 is completed but has no metrics.jsonl and returned no numbers",
    ]
    assert "1/2" in out.stdout  # the run without metrics is left out of its variant


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "acc"], "no run logged a metric 'acc'; logged metrics: iteration, loss"),
        (["--last", "0"], "the last N steps needs a whole number N >= 1, got 0"),
        (["--last", "3", "--last-pct", "10"], "argument --last-pct: not allowed with argument --last"),
        (["--mode", "best"], "argument --mode: 'best' is not one of"),
    ],
)
def test_results_mistakes_are_one_line_and_exit_2(sweep_dir, args, message):
    out = orchestra("results", str(sweep_dir), *args)
    assert out.returncode == 2
    error = [
        line
        for line in out.stderr.splitlines()
        if line.startswith(("orchestra: error:", "orchestra results: error:"))
    ]
    assert len(error) == 1 and message in error[0]
    assert "Traceback" not in out.stderr


def test_a_directory_that_is_not_a_sweep(tmp_path):
    for cmd in ("results", "plot"):
        out = orchestra(cmd, str(tmp_path))
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert (
            out.stderr.strip()
            == f"orchestra: error: {tmp_path}: not a sweep directory (no sweep.json); give the directory `orchestra up` made"
        )


def test_a_sweep_with_no_metrics_yet(tmp_path):
    sd, _ = write_sweep(tmp_path, CONFIGS, seeds=(0,))
    out = orchestra("results", str(sd.path))
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == "orchestra: error: no run has logged any metric yet (4 queued); nothing to compare"
    )


def test_results_on_a_terminal_is_a_rich_table(sweep_dir):
    main, child = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestra", "results", str(sweep_dir)], stdout=child, stderr=child, env=env
    )
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert proc.wait(timeout=120) == 0
    text = b"".join(chunks).decode()
    assert "┃" in text and "lr=0.1_batch_size=32" in text  # box drawing: rich, not the plain layout


def test_plot_writes_a_png_and_an_svg(sweep_dir, tmp_path):
    out = orchestra("plot", str(sweep_dir), "--metric", "loss", "-o", str(tmp_path / "curves.png"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"wrote {tmp_path / 'curves.png'}: loss against iteration, 4 curve(s)"
    png = (tmp_path / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    out = orchestra(
        "plot", str(sweep_dir), "--group-by", "lr", "--x", "time", "-o", str(tmp_path / "by_lr.svg")
    )
    assert out.returncode == 0, out.stderr
    svg = (tmp_path / "by_lr.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert (
        "(the first metric logged that is not a step or counter; --metric to choose)" in out.stdout
        and "2 curve(s)" in out.stdout
    )


def test_plot_defaults_to_a_file_named_after_the_sweep_and_metric(sweep_dir, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = orchestra("plot", sweep_dir, "--metric", "loss", cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert [p.name for p in cwd.iterdir()] == ["quick-loss.png"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "acc"], "no run logged a metric 'acc'; logged metrics: iteration, loss"),
        (
            ["-o", "curves.jpg"],
            "curves.jpg: the plot is written as PNG, SVG or PDF; give a file name ending in .png, .svg or .pdf",
        ),
        (
            ["--x", "frames"],
            "no run logged a numeric 'frames' to plot against; the x axis can be: step, time, iteration, loss",
        ),
    ],
)
def test_plot_mistakes_are_one_line_and_exit_2(sweep_dir, tmp_path, args, message):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = orchestra("plot", sweep_dir, *args, cwd=cwd)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == f"orchestra: error: {message}"
    assert list(cwd.iterdir()) == []  # nothing written


@pytest.mark.parametrize(("command", "module"), [("plot", "matplotlib"), ("results", "numpy")])
def test_without_the_analysis_extra_the_error_says_what_to_install(sweep_dir, command, module):
    out = main_with(f"import sys; sys.modules[{module!r}] = None", command, str(sweep_dir))
    assert out.returncode == 2
    assert out.stderr.strip().startswith("orchestra: error: ")
    assert f"needs {module}, which is not installed; pip install 'orchestra-sweeps[analysis]'" in out.stderr


def test_results_reads_a_sweep_while_a_run_appends_to_it(tmp_path):
    """A run logging while `orchestra results` reads: never a traceback, whatever the timing."""
    sd, vs = write_sweep(tmp_path, CONFIGS[:1], seeds=(0,), name="racing")
    run = write_run(sd, vs[0], 0, curves={"ret": [0.0]}, state="running")
    writer_code = (
        "import sys, time\n"
        "from orchestra.rundir import JsonlWriter\n"
        "w = JsonlWriter(sys.argv[1])\n"
        "for i in range(1, 100000):\n"
        "    w.write({'step': i, 'time': time.time(), 'attempt': 1, 'values': {'ret': float(i)}})\n"
    )
    with live_orchestrator(sd):
        writer = subprocess.Popen([sys.executable, "-c", writer_code, str(run.metrics)])
        try:
            wait_for(lambda: run.metrics.stat().st_size > 10_000, what="the run to log")
            for _ in range(3):
                out = orchestra("results", str(sd.path), "--json")
                assert out.returncode == 0, out.stderr
                assert orjson.loads(out.stdout)["best"]["n"] == 1
        finally:
            writer.kill()
            writer.wait(timeout=60)


def test_orchestra_help_lists_results_and_plot():
    out = orchestra("--help")
    assert out.returncode == 0, out.stderr
    assert "results" in out.stdout and "plot" in out.stdout
    for command in ("results", "plot"):
        assert orchestra(command, "--help").returncode == 0
