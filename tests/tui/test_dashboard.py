"""Every key and pane of the dashboard, driven with Textual's pilot against a real scheduler and real runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.rundir import Reason, State
from orchestra.tui.screens.confirm import ConfirmScreen
from orchestra.tui.screens.detail import DetailScreen
from orchestra.tui.screens.help import HelpScreen
from orchestra.tui.screens.quit import QuitScreen
from tests.tui.conftest import dashboard

pytestmark = pytest.mark.anyio

# Runs that log and print until the file "release" appears in the sweep's directory (or a minute
# passed); half of them fail at the end.
HELD = """
import os, time
from orchestra import Sweep, Config, Grid
def train(ctx, lr, fail):
    for i in range(600):
        ctx.logger("iteration", i); ctx.logger("loss", lr / (i + 1)); ctx.logger("acc", i / 600)
        ctx.logger.dump()
        print(f"line {i} of lr={lr}", flush=True)
        if os.path.exists("release"):
            break
        time.sleep(0.1)
    if fail:
        raise ValueError("boom")
sweep = Sweep(train, Config({"lr": Grid([0.1, 0.01]), "fail": Grid([False, True])}), seeds=[0, 1])
"""

QUICK = """
from orchestra import Sweep, Config, Grid
def train(ctx, x):
    for i in range(3):
        ctx.logger("iteration", i); ctx.logger("score", x * 10 + i); ctx.logger.dump()
    if x == 3:
        raise ValueError("x=3 is bad")
sweep = Sweep(train, Config({"x": Grid([1, 2, 3])}), seeds=[0])
"""


def release(tmp_path: Path) -> None:
    (tmp_path / "release").touch()


def state_of(h, run_id: str) -> State:  # type: ignore[no-untyped-def]
    return h.row(run_id).state


async def test_table_shows_every_run_with_state_and_metrics_and_header_counts(tmp_path: Path):
    async with dashboard(tmp_path, QUICK) as h:
        await h.until(lambda: all(r.state.finished for r in h.sched.snapshot().rows))
        await h.until_text("2 completed")
        text = await h.until_text("1 failed")
        assert "3 runs" in text
        for run_id in ("x=1/0", "x=2/0", "x=3/0"):
            assert run_id.split("/")[0] in text
        assert "score" in text, "a column for the metric the runs logged"
        assert "32" in text, "x=3 logged score 32 last"
        assert "ValueError: x=3 is bad" in text, "why the failed run failed"


async def test_navigation_keys_move_the_selection_and_the_log_follows_it(tmp_path: Path):
    async with dashboard(tmp_path, HELD) as h:
        await h.until(lambda: h.row("lr=0.1_fail=false/1").state is State.RUNNING)
        assert h.table.current.id == "lr=0.1_fail=false/0"
        await h.press("j")
        assert h.table.current.id == "lr=0.1_fail=false/1"
        text = await h.until_text("lr=0.1_fail=false/1 · output.log")
        assert "of lr=0.1" in text, "the selected run's output"
        await h.press("k")
        assert h.table.current.index == 0
        await h.press("down", "down")
        assert h.table.current.index == 2
        await h.press("up")
        assert h.table.current.index == 1
        await h.press("G")
        assert h.table.current.index == 7
        await h.press("g")
        assert h.table.current.index == 0
        await h.press("end")
        assert h.table.current.index == 7
        await h.press("home", "pagedown")
        assert h.table.current.index == 7, "a page is more than 8 rows"
        await h.press("pageup")
        assert h.table.current.index == 0
        release(tmp_path)


async def test_cancel_asks_listing_the_run_then_cancels_it(tmp_path: Path):
    async with dashboard(tmp_path, HELD) as h:
        run = "lr=0.1_fail=false/1"
        await h.until(lambda: state_of(h, run) is State.RUNNING)
        await h.select(run)
        await h.press("c")
        assert isinstance(h.app.screen, ConfirmScreen)
        text = await h.until_text(f"Cancel {run}?")
        assert "(running)" in text
        await h.press("n")
        assert not isinstance(h.app.screen, ConfirmScreen)
        assert state_of(h, run) is State.RUNNING, "no: nothing happens"
        await h.press("c", "y")
        await h.until(lambda: state_of(h, run) is State.CANCELLED)
        assert h.row(run).exit.reason is Reason.CANCELLED
        await h.until(lambda: "cancelled" in h.text())
        release(tmp_path)


async def test_a_queued_run_can_be_cancelled_before_it_starts(tmp_path: Path):
    async with dashboard(tmp_path, HELD, workers=1) as h:
        await h.until(lambda: h.table.rows)
        run = "lr=0.01_fail=true/1"
        await h.select(run)
        await h.press("c", "y")
        await h.until(lambda: state_of(h, run) is State.CANCELLED)
        assert h.row(run).attempt == 0, "it never started"
        release(tmp_path)


async def test_kill_asks_then_kills_at_once(tmp_path: Path):
    async with dashboard(tmp_path, HELD) as h:
        run = "lr=0.1_fail=false/0"
        await h.until(lambda: state_of(h, run) is State.RUNNING)
        await h.press("K")
        assert isinstance(h.app.screen, ConfirmScreen)
        await h.until_text("Kill now")
        await h.press("y")
        await h.until(lambda: state_of(h, run) is State.CANCELLED)
        assert h.row(run).exit.reason is Reason.KILLED
        assert h.row(run).exit.signal == "SIGKILL"
        release(tmp_path)


async def test_retry_queues_a_cancelled_run_again(tmp_path: Path):
    async with dashboard(tmp_path, HELD) as h:
        run = "lr=0.1_fail=false/0"
        await h.until(lambda: state_of(h, run) is State.RUNNING)
        await h.press("c", "y")
        await h.until(lambda: state_of(h, run) is State.CANCELLED)
        await h.until(lambda: "retry" in h.text().splitlines()[-1], what="r shows in the footer")
        await h.press("r")
        await h.until(
            lambda: h.row(run).state is State.QUEUED, what="queued again, behind the two running runs"
        )
        release(tmp_path)  # the running runs end, so the retried one gets a slot
        await h.until(lambda: h.row(run).attempt == 2 and h.row(run).state is State.COMPLETED)


async def test_space_marks_runs_and_a_bulk_cancel_lists_and_cancels_them_all(tmp_path: Path):
    async with dashboard(tmp_path, HELD, workers=2) as h:
        await h.until(lambda: state_of(h, "lr=0.1_fail=false/1") is State.RUNNING)
        await h.press("space", "space")  # marks runs 0 and 1, moving down each time
        await h.press("j", "space")  # skips 2, marks 3 (queued)
        assert h.table.marked == {"lr=0.1_fail=false/0", "lr=0.1_fail=false/1", "lr=0.1_fail=true/1"}
        await h.until_text("3 marked")
        await h.press("c")
        text = await h.until_text("Cancel 3 runs?")
        for run in h.table.marked:
            assert run in text
        await h.press("y")
        await h.until(
            lambda: all(
                state_of(h, r) is State.CANCELLED
                for r in ("lr=0.1_fail=false/0", "lr=0.1_fail=false/1", "lr=0.1_fail=true/1")
            )
        )
        assert not h.table.marked, "marks are cleared after the bulk action"
        release(tmp_path)


async def test_pause_stops_launching_and_p_again_resumes(tmp_path: Path):
    async with dashboard(tmp_path, HELD, workers=1) as h:
        await h.until(lambda: state_of(h, "lr=0.1_fail=false/0") is State.RUNNING)
        await h.press("p")
        assert h.sched.paused
        await h.until_text("launching paused")
        assert "resume" in h.text().splitlines()[-1]
        await h.press("c", "y")  # the running run ends; nothing may start while paused
        await h.until(lambda: state_of(h, "lr=0.1_fail=false/0") is State.CANCELLED)
        await h.pilot.pause(0.5)
        assert h.sched.snapshot().counts[State.RUNNING] == 0
        await h.press("p")
        assert not h.sched.paused
        await h.until(lambda: state_of(h, "lr=0.1_fail=false/1") is State.RUNNING)
        release(tmp_path)


async def test_filter_by_text_state_param_seed_and_escape_clears_it(tmp_path: Path):
    async with dashboard(tmp_path, QUICK) as h:
        await h.until(lambda: all(r.state.finished for r in h.sched.snapshot().rows))
        await h.press("slash", *"state:failed", "enter")
        assert [r.id for r in h.table.view] == ["x=3/0"]
        text = await h.until_text("runs 1 of 3")
        assert "filter: state:failed" in text
        assert "x=1" not in text
        await h.press("escape")
        assert len(h.table.view) == 3
        await h.press("slash", *"x=2", "enter")
        assert [r.id for r in h.table.view] == ["x=2/0"]
        await h.press("slash")
        await h.press(*["backspace"] * 3, *"seed:0 gpu:none", "enter")
        assert len(h.table.view) == 3
        await h.press("slash", *"nothing-matches")
        assert h.table.view == []
        await h.press("escape")
        assert len(h.table.view) == 3, "escape in the prompt restores the filter it had"


async def test_sort_by_columns_with_o_and_reverse_with_O(tmp_path: Path):
    async with dashboard(tmp_path, QUICK) as h:
        await h.until(lambda: all(r.state.finished for r in h.sched.snapshot().rows))
        await h.until(lambda: "score" in h.table.column_names())
        h.table.sort_by("score", reverse=False)
        await h.press("O")
        assert [r.id for r in h.table.view] == ["x=3/0", "x=2/0", "x=1/0"]
        await h.until_text("sorted by score ▼")
        await h.press("o")
        assert h.table.sort_column != "score"


async def test_log_pane_collapses_progress_bars_renders_colours_and_pauses_when_scrolled_up(tmp_path: Path):
    body = """
    import os, sys, time
    from orchestra import Sweep
    def train(config):
        for i in range(11):
            sys.stdout.write(f"\\rtraining {i * 10}%"); sys.stdout.flush()
        print()
        print("\\x1b[31mred alert\\x1b[0m \\x1b]0;window title\\x07done \\x1b[2Kclean")
        while not os.path.exists("ticks"):  # the test reads the lines above before any tick can push them away
            time.sleep(0.02)
        i = 0
        while not os.path.exists("release"):
            print(f"tick {i}", flush=True); i += 1
            time.sleep(0.02)
    sweep = Sweep(train, [{}])
    """
    async with dashboard(tmp_path, body) as h:
        text = await h.until_text("red alert done clean")
        assert "training 100%" in text and "training 90%" not in text, "a \\r bar shows its last state"
        assert "\x1b" not in text and "[31m" not in text and "window title" not in text
        assert "following" in text
        (tmp_path / "ticks").touch()
        await h.until_text("tick 3")
        await h.press("tab")
        assert h.app.focused is h.app.log_view
        await h.press("k", "k", "k")
        assert not h.app.log_view.follow
        text = await h.until_text("new lines · s to follow")
        shown = h.app.log_view.scroll_y
        await h.pilot.pause(0.3)
        assert h.app.log_view.scroll_y == shown, "the pane stays where the user put it"
        await h.press("s")
        assert h.app.log_view.follow
        await h.until_text("following")
        await h.press("k", "G")
        assert h.app.log_view.follow, "G goes back to the end and follows"
        release(tmp_path)


async def test_log_search_finds_and_steps_through_matches(tmp_path: Path):
    body = """
    import os, time
    from orchestra import Sweep
    def train(config):
        for i in range(300):
            print(f"line {i}" + (" needle" if i % 100 == 7 else ""), flush=True)
        while not os.path.exists("release"):
            time.sleep(0.05)
    sweep = Sweep(train, [{}])
    """
    async with dashboard(tmp_path, body) as h:
        await h.until_text("line 299")
        await h.press("tab", "slash", *"needle", "enter")
        log = h.app.log_view
        assert log.match is not None and log.tail.line(log.match) == "line 207 needle"
        assert "line 207 needle" in h.text()
        assert not log.follow, "a search stops following"
        await h.press("N")
        assert log.tail.line(log.match) == "line 107 needle"
        await h.press("N")
        assert log.tail.line(log.match) == "line 7 needle"
        await h.press("n")
        assert log.tail.line(log.match) == "line 107 needle"
        await h.press("escape")
        assert log.search == ""
        release(tmp_path)


async def test_plot_shows_a_metric_of_the_variant_and_m_switches_metric(tmp_path: Path):
    async with dashboard(tmp_path, HELD) as h:
        await h.until(lambda: h.row("lr=0.1_fail=false/0").records > 3)
        await h.until_text("loss · lr=0.1_fail=false · 2 seeds")
        assert "⠀" in h.text() or any("\u2800" < c <= "\u28ff" for c in h.text()), "braille dots"
        await h.press("m")
        await h.until_text("acc · lr=0.1_fail=false")
        await h.press("m")
        await h.until_text("loss · lr=0.1_fail=false")
        release(tmp_path)


async def test_enter_opens_the_run_detail_with_config_history_result_log_and_plots(tmp_path: Path):
    async with dashboard(tmp_path, QUICK) as h:
        await h.until(lambda: all(r.state.finished for r in h.sched.snapshot().rows))
        await h.select("x=3/0")
        await h.press("enter")
        assert isinstance(h.app.screen, DetailScreen)
        text = await h.until_text("history")
        assert "x=3/0" in text and "failed" in text
        assert '"x": 3' in text, "the config"
        assert "ValueError" in text, "the result's error"
        await h.press("2")
        await h.until_text("Traceback")
        await h.press("3")
        await h.until_text("score · x=3")
        await h.press("escape")
        assert not isinstance(h.app.screen, DetailScreen)


async def test_help_lists_the_keys_and_a_user_keymap_rebinds_them(tmp_path: Path):
    async with dashboard(tmp_path, HELD, keymap={"cancel": "x"}) as h:
        run = "lr=0.1_fail=false/0"
        await h.until(lambda: state_of(h, run) is State.RUNNING)
        await h.press("question_mark")
        assert isinstance(h.app.screen, HelpScreen)
        text = await h.until_text("Rebind keys in")
        assert "state:failed" in text
        cancel_line = next(line for line in text.splitlines() if " cancel " in line)
        assert " x " in cancel_line
        await h.press("escape")
        await h.press("c")
        assert not isinstance(h.app.screen, ConfirmScreen), "c is no longer cancel"
        await h.press("x")
        assert isinstance(h.app.screen, ConfirmScreen)
        await h.press("n")
        release(tmp_path)


async def test_keys_that_do_not_apply_are_hidden_from_the_footer(tmp_path: Path):
    async with dashboard(tmp_path, QUICK) as h:
        await h.until(lambda: all(r.state.finished for r in h.sched.snapshot().rows))
        await h.select("x=1/0")
        await h.until(lambda: "retry" not in h.text().splitlines()[-1])
        footer = h.text().splitlines()[-1]
        assert "cancel" not in footer and "kill" not in footer and "quit" in footer
        await h.select("x=3/0")
        await h.until(lambda: "retry" in h.text().splitlines()[-1])
        await h.press("c")
        assert not isinstance(h.app.screen, ConfirmScreen), "c does nothing on a finished run"


async def test_command_palette_retries_all_failed_runs(tmp_path: Path):
    async with dashboard(tmp_path, QUICK) as h:
        await h.until(lambda: state_of(h, "x=3/0") is State.FAILED)
        await h.press("ctrl+p")
        await h.press(*"retry all failed")
        await h.until_text("Retry all failed")
        await h.press("enter")
        await h.until(lambda: h.row("x=3/0").attempt == 2)


async def test_quit_with_active_runs_asks_and_stop_interrupts_them(tmp_path: Path):
    async with dashboard(tmp_path, HELD) as h:
        run = "lr=0.1_fail=false/0"
        await h.until(lambda: state_of(h, run) is State.RUNNING)
        await h.press("q")
        assert isinstance(h.app.screen, QuitScreen)
        await h.until_text("2 running and 6 queued")
        await h.press("n")
        assert not isinstance(h.app.screen, QuitScreen) and not h.sched.done
        await h.press("q", "y")
        await h.until(lambda: h.sched.done)
        assert h.row(run).exit.reason is Reason.INTERRUPTED
        await h.until(lambda: h.app.return_code is not None or not h.app.is_running)


async def test_quit_when_every_run_finished_exits_without_asking(tmp_path: Path):
    async with dashboard(tmp_path, QUICK) as h:
        await h.until(lambda: all(r.state.finished for r in h.sched.snapshot().rows))
        await h.press("q")
        assert not isinstance(h.app.screen, QuitScreen)
        await h.until(lambda: h.sched.done)
        await h.until(lambda: not h.app.is_running)


async def test_gpu_panel_header_and_gpu_filter_with_the_ledger_over_fake_gpus(tmp_path: Path):
    from orchestra.scheduler.gpu import GpuLedger
    from orchestra.scheduler.probe import FakeProbe

    probe = FakeProbe("2x24GiB")
    probe.set_process(1, pid=4242, used=6 << 30)  # someone else uses 6GiB on GPU 1
    body = HELD.replace("seeds=[0, 1])", 'seeds=[0, 1], gpu_mem="14GiB")')
    async with dashboard(tmp_path, body, workers=4, gpus=GpuLedger(probe)) as h:
        await h.until(lambda: h.sched.snapshot().counts[State.RUNNING] == 2)
        text = await h.until_text("GPUs 2/2")
        panel = [line for line in text.splitlines() if "24.0GiB" in line]
        assert len(panel) == 2, "one line per device"
        assert "6.0GiB/24.0GiB" in panel[1], "what others use on GPU 1"
        assert "1 run" in panel[0] and "1 run" in panel[1], "14GiB runs: one fits on each device"
        assert "reserved" in text and "others" in text, "the legend"
        on_one = [r.id for r in h.sched.snapshot().rows if any(g["index"] == 1 for g in r.gpus)]
        await h.press("slash", *"gpu:1", "enter")
        assert [r.id for r in h.table.view] == on_one
        release(tmp_path)


async def test_a_finished_sweep_says_so_and_its_clock_stops(tmp_path: Path):
    async with dashboard(tmp_path, QUICK) as h:
        text = await h.until_text("all runs finished · q to quit")
        elapsed = text.split("elapsed ")[1].split()[0]
        await h.pilot.pause(1.5)
        assert h.text().split("elapsed ")[1].split()[0] == elapsed
