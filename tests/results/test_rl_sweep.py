"""Issue 15 end to end, on sweeps run by ``orchestra up``: the step, retries, objective, returns, plots.

The RL-style sweep logs ``episode``, ``env_steps`` and ``return``, declares ``step="env_steps"``
and its objective, and one run's first attempt dies at episode 13 after its snapshot at episode
10: its retry resumes at 11 and logs episodes 11..13 again (the snapshot is older than the last
logged step). Two seeds per variant: the band of every curve is their min-max.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import orjson
import pytest

from orchestra.results import load_sweep
from orchestra.results.objective import Window, score_group, score_run
from orchestra.rundir import read_jsonl
from orchestra.tui.series import MetricHistory
from tests.helpers import orchestra
from tests.helpers import write_sweep as write_sweep_file

RL = """
    import math, os, random
    from orchestra import Config, Grid, Sweep

    def train(ctx, lr, seed):
        start, state = ctx.resume() or (0, {"env_steps": 0})
        for episode in range(start, 20):
            state["env_steps"] += 100
            ret = 100 * (1 - math.exp(-lr * episode / 8)) + random.Random(seed * 100 + episode).gauss(0, 2)
            ctx.logger("episode", episode)
            ctx.logger("env_steps", state["env_steps"])
            ctx.logger("return", ret)
            ctx.logger("attempt", ctx.attempt)
            ctx.logger.dump()
            ctx.snapshot(episode, state)
            if episode == 13 and ctx.attempt == 1 and lr == 0.5 and seed == 0:
                os._exit(1)  # dies after logging episodes 11..13 past its snapshot at 10
        return {"final_return": ret}

    sweep = Sweep(train, Config({"lr": Grid([0.5, 2.0])}), seeds=[0, 1], max_retries=1,
                  snapshot_mode="gap", snapshot_gap=5, step="env_steps", objective="return", mode="max")
"""

RETURNS_ONLY = """
    from orchestra import Config, Grid, Sweep

    def train(lr, seed):
        print(f"Epoch 10 | AverageEpRet {100 * lr + seed:.1f}")  # spinningup/garage style: printed, not logged
        return {"accuracy": 0.5 + lr / 4 + seed / 100, "epochs": 10, "model": {"params": 1000 * seed}}

    sweep = Sweep(train, Config({"lr": Grid([0.1, 1.0])}), seeds=[0, 1])
"""

COUNTERS = """
    from orchestra import Config, Grid, Sweep

    def train(ctx, lr):
        for i in range(6):
            ctx.logger("updates", 10 * i)     # a counter no list knows: integers that only grow
            ctx.logger("episode", i)          # a recognised step name
            ctx.logger("score", lr * i)
            ctx.logger.dump()

    sweep = Sweep(train, Config({"lr": Grid([1.0, 3.0])}), seeds=[0])
"""


def up(tmp, body, name):
    out = orchestra(
        "up", write_sweep_file(tmp, body, f"{name}.py"), "--headless", "--root", tmp / "sweeps", cwd=tmp
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return tmp / "sweeps" / name


@pytest.fixture(scope="module")
def rl(tmp_path_factory):
    return up(tmp_path_factory.mktemp("rl"), RL, "rl")


@pytest.fixture(scope="module")
def returns_only(tmp_path_factory):
    return up(tmp_path_factory.mktemp("ret"), RETURNS_ONLY, "ret")


@pytest.fixture(scope="module")
def counters(tmp_path_factory):
    return up(tmp_path_factory.mktemp("cnt"), COUNTERS, "cnt")


def retried(sweep):
    return next(r for r in sweep if r.params["lr"] == 0.5 and r.seed == 0)


# -- the step, and the newest attempt --------------------------------------------------------------


def test_the_declared_step_is_every_records_step(rl):
    records = read_jsonl(retried(load_sweep(rl)).dir.metrics).records
    assert all(r["step"] == r["values"]["env_steps"] for r in records)
    assert [r["values"]["episode"] for r in records].count(12) == 2  # logged by both attempts


def test_a_retried_run_keeps_the_newest_attempt_of_each_step_in_results_plots_and_the_dashboard(rl):
    sweep = load_sweep(rl)
    run = retried(sweep)
    assert run.status.attempt == 2 and run.completed
    m = run.metrics()
    assert m.step.tolist() == [100 * (e + 1) for e in range(20)]  # no saw-tooth, no repeats
    assert m["episode"].tolist() == list(range(20))
    assert m["attempt"].tolist() == [1] * 11 + [2] * 9  # episodes 11..19 from the retry
    curve = sweep.where(lr=0.5).curves("return", x="episode")[0]
    assert curve.x.tolist() == list(range(20)) and curve.n.tolist() == [2] * 20
    history = MetricHistory(run.dir.metrics)
    history.poll()
    assert history.points("attempt") == list(zip(m.step.tolist(), m["attempt"].astype(float).tolist()))
    assert history.points("return") == list(zip(m.step.tolist(), m["return"].tolist()))


# -- the objective and the default metric ------------------------------------------------------------


def test_results_ranks_by_the_declared_objective(rl):
    out = orchestra("results", rl, "--last-pct", "25")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == (
        "metric return (the sweep's objective); max is best (the sweep's objective); "
        "scored over the last 25 % of steps"
    )
    assert "best: lr=2: return" in out.stdout
    doc = orjson.loads(orchestra("results", rl, "--json").stdout)
    assert (doc["metric"], doc["mode"], doc["best"]["params"]) == ("return", "max", {"lr": 2.0})
    assert load_sweep(rl).best().params == {"lr": 2.0}  # the Python API takes the objective too


def test_without_an_objective_the_default_is_never_the_step_or_a_counter(counters):
    out = orchestra("results", counters)
    assert out.returncode == 0, out.stderr
    assert "metric score (the first metric logged that is not a step or counter" in out.stdout
    assert "best: lr=3" in out.stdout
    plot = orchestra("plot", counters, "-o", counters.parent / "c.png")
    assert (
        plot.returncode == 0 and "score (the first metric" in plot.stdout and "against episode" in plot.stdout
    )


def test_a_run_that_only_returns_is_ranked_by_what_it_returned(returns_only):
    out = orchestra("results", returns_only, "--json")
    assert out.returncode == 0, out.stderr
    doc = orjson.loads(out.stdout)
    assert doc["metric"] == "accuracy" and doc["mode"] == "max"
    assert doc["best"]["params"] == {"lr": 1.0} and doc["best"]["mean"] == pytest.approx(0.755)
    sweep = load_sweep(returns_only)
    assert sweep.metric_names() == ["accuracy", "epochs", "model.params"]
    assert sweep[3].final("model.params") == 1000 and sweep[3].final("epochs") == 10
    frame = sweep.to_dataframe()
    assert frame["accuracy"].tolist() == pytest.approx([0.525, 0.535, 0.75, 0.76])


def test_returned_scalars_are_the_final_values_of_a_logged_run(rl):
    run = retried(load_sweep(rl))
    steps, values = run.curve("final_return")
    assert steps.tolist() == [2000] and values[0] == pytest.approx(run.metrics()["return"][-1])


# -- mistakes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("results", ["--metric", "retrun"], "no run logged a metric 'retrun'; logged metrics: episode, env_steps, return, attempt, final_return"),
        ("results", ["--group-by", "lrr"], "no run has a parameter 'lrr' to group by; parameters: lr"),
        ("plot", ["--group-by", "lr,seeed"], "no run has a parameter 'seeed' to group by; parameters: lr"),
        ("plot", ["--x", "episodes"], "no run logged a numeric 'episodes' to plot against; the x axis can be: step, time, episode, env_steps, return, attempt, final_return"),
        ("plot", ["--size", "6"], "--size '6': give the width and height in inches, e.g. --size 6,4"),
        ("plot", ["-o", "x.jpg"], "x.jpg: the plot is written as PNG, SVG or PDF; give a file name ending in .png, .svg or .pdf"),
        ("export", [], "orchestra export: say what to write: --csv FILE, --parquet FILE and/or --tensorboard OUTDIR"),
    ],
)  # fmt: skip
def test_unknown_names_are_one_line_naming_the_known_ones_and_exit_2(rl, tmp_path, command, args, message):
    out = orchestra(command, rl, *args, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [f"orchestra: error: {message}"]
    assert list(tmp_path.iterdir()) == []  # nothing half-written


# -- plots -----------------------------------------------------------------------------------------


def test_two_seeds_give_a_min_max_band_and_the_legend_says_so(rl):
    from orchestra.results.plot import band_note

    curves = load_sweep(rl).curves("return")
    for c in curves:
        assert c.minmax.all() and (c.n == 2).all()
        runs = np.array([r.curve("return")[1] for r in c.runs])
        assert c.low.tolist() == runs.min(axis=0).tolist() and c.high.tolist() == runs.max(axis=0).tolist()
    assert band_note(curves) == "mean; band: min–max of 2 seeds (fewer than 3)"


def test_a_pdf_opens_with_the_declared_title_labels_and_size(rl, tmp_path):
    from pypdf import PdfReader

    pdf = tmp_path / "fig" / "curves.pdf"
    out = orchestra("plot", rl, "-o", pdf, "--title", "Synthetic control", "--xlabel", "environment steps",
                    "--ylabel", "episode return", "--size", "5,3.5", "--smooth", "3")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"wrote {pdf}: return (the sweep's objective) against env_steps, 2 curve(s)"
    reader = PdfReader(pdf)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == (360.0, 252.0)  # 5 x 3.5 inches in points
    text = reader.pages[0].extract_text()
    for label in ("Synthetic control", "environment steps", "episode return", "lr=0.5", "lr=2",
                  "smoothed over 3 points"):  # fmt: skip
        assert label in text, (label, text)
    fonts = {f["/Subtype"] for f in _fonts(reader)}
    assert "/Type3" not in fonts  # TrueType text, as publishers ask


def _fonts(reader):
    resources = reader.pages[0]["/Resources"]["/Font"]
    return [resources[k].get_object() for k in resources]


def test_png_and_svg_carry_the_default_labels(rl, tmp_path):
    out = orchestra("plot", rl, "-o", tmp_path / "c.svg", "--logy")
    assert out.returncode == 0, out.stderr
    svg = (tmp_path / "c.svg").read_text()
    for label in ("env_steps", "return", "rl: return", "geometric mean; band: min–max of 2 seeds"):
        assert label in svg
    png = orchestra("plot", rl, "-o", tmp_path / "c.png")
    assert png.returncode == 0 and (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


LEGEND_CHECK = """
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from orchestra.results import load_sweep
from orchestra.results.plot import figure

def clear(legend, ax):
    box = legend.get_window_extent()
    return not box.overlaps(ax.get_window_extent()) and not box.overlaps(ax.xaxis.label.get_window_extent())

sweep = load_sweep(sys.argv[1])
fig = figure(sweep.curves("return"), metric="return", title="t", step_name="env_steps")
fig.draw_without_rendering()  # lays it out
out = {"file": clear(fig.legends[0], fig.axes[0])}
grid, (left, right) = plt.subplots(1, 2, figsize=(9, 4), layout="constrained")
out["returns ax"] = sweep.plot(ax=left, title="left") is left
sweep.plot("return", x="episode", ax=right, legend="right")
grid.draw_without_rendering()
out["below"], out["right"] = clear(left.get_legend(), left), clear(right.get_legend(), right)
out["labels"] = [left.get_xlabel(), left.get_ylabel(), right.get_xlabel()]
print(json.dumps(out))
"""


def in_fresh_python(code: str, *args: object):
    """Run ``code`` in a new interpreter and return the JSON it prints (heavy imports stay out of pytest)."""
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_legend_covers_no_curve(rl):
    assert in_fresh_python(LEGEND_CHECK, rl) == {
        "file": True,
        "returns ax": True,
        "below": True,
        "right": True,
        "labels": ["env_steps", "return", "episode"],
    }


# -- the objective as a search sees it ------------------------------------------------------------------


def test_score_run_and_score_group_are_what_results_ranks_by(rl):
    sweep = load_sweep(rl)
    window = Window(last_pct=25)
    for score in sweep.rank(last_pct=25):
        dirs = [r.path for r in score.runs]
        group = score_group(dirs, "return", window)
        assert group.scores == score.scores and group.mean == score.mean and group.n == 2
        assert score_run(dirs[0], "return", window) == score.scores[0]
    assert score_run(retried(sweep).path, "nope") is None
    assert math.isnan(score_group([], "return").mean)


def test_the_objective_function_imports_without_pandas_or_matplotlib():
    code = (
        "import sys, orchestra.results.objective\n"
        "assert not {'pandas', 'matplotlib', 'pyarrow', 'tensorboardX'} & set(sys.modules), sorted(sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


# -- exports ---------------------------------------------------------------------------------------


TENSORBOARD_READ = """
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

events = EventAccumulator(sys.argv[1])
events.Reload()
returns = events.Scalars("return")
start = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
hparams = plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info.hparams
print(json.dumps({"tags": sorted(events.Tags()["scalars"]), "steps": [e.step for e in returns],
                  "values": [e.value for e in returns], "lr": hparams["lr"].number_value,
                  "seed": hparams["seed"].number_value}))
"""


def test_export_writes_csv_parquet_and_tensorboard_with_params_and_every_metric(rl, tmp_path):
    import pandas as pd

    out = orchestra("export", rl, "--csv", tmp_path / "all.csv", "--parquet", tmp_path / "all.parquet",
                    "--tensorboard", tmp_path / "tb")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"wrote {tmp_path / 'all.csv'}: 80 rows (one per run and step)",
        f"wrote {tmp_path / 'all.parquet'}: 80 rows (one per run and step)",
        f"wrote {tmp_path / 'tb'}: 4 run(s); tensorboard --logdir {tmp_path / 'tb'}",
    ]
    columns = ["run", "variant", "seed", "state", "lr", "step", "time", "episode", "env_steps", "return",
               "attempt", "final_return"]  # fmt: skip
    for frame in (pd.read_csv(tmp_path / "all.csv"), pd.read_parquet(tmp_path / "all.parquet")):
        assert list(frame.columns) == columns
        one = frame[frame["run"] == "lr=0.5/0"]
        assert one["episode"].tolist() == list(range(20))
        assert one["step"].tolist() == one["env_steps"].tolist()
        assert one["final_return"].notna().sum() == 1
    board = in_fresh_python(TENSORBOARD_READ, tmp_path / "tb" / "lr=0.5" / "0")  # TensorBoard's own reader
    assert board["tags"] == ["attempt", "env_steps", "episode", "final_return", "return"]
    m = retried(load_sweep(rl)).metrics()
    assert board["steps"] == m.step.tolist()
    assert board["values"] == pytest.approx(m["return"].tolist(), rel=1e-6)  # TensorBoard keeps float32
    assert (board["lr"], board["seed"]) == (0.5, 0.0)


def test_export_refuses_a_tensorboard_directory_in_use_and_leaves_it_alone(rl, tmp_path):
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "events.out.tfevents.old").write_bytes(b"old")
    out = orchestra("export", rl, "--tensorboard", tmp_path / "tb")
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == f"orchestra: error: {tmp_path / 'tb'}: already exists and is not empty; remove it or choose another directory"
    )
    assert (
        sorted(p.name for p in tmp_path.iterdir()) == ["tb"] and len(list((tmp_path / "tb").iterdir())) == 1
    )
