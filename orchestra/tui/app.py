"""The live dashboard of a sweep: a Textual app over a :class:`~orchestra.tui.source.SweepSource`.

The source is the scheduler itself (``orchestra up --foreground``, in the same event loop), a
sweep's service over its control socket (``orchestra up`` on a terminal, ``orchestra attach``), or
a sweep's files when no service runs. The app pulls from it on timers and never per change: the
table when its version moved (4 times a second), the selected run's log (15 times a second, only
that file), plots, GPUs and the clock once a second. Commands (cancel, kill, retry, pause, quit)
are :class:`~orchestra.scheduler.commands.Command` data sent to the source; the replies become
notifications.

Quitting an attached dashboard asks: detach (the runs go on; the default), stop the sweep (the
runs are interrupted and resume on the next ``up``), or stay. In the foreground the dashboard owns
the scheduler: quitting stops the runs or stays (:func:`run_foreground`).
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import anyio
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input

from orchestra.present import reply_text
from orchestra.rundir import OUTPUT_LOG, State
from orchestra.scheduler.commands import Command, Op, Reply
from orchestra.scheduler.core import Scheduler, Summary
from orchestra.scheduler.table import RunRow, Snapshot
from orchestra.tui.keys import KEYS, binding
from orchestra.tui.screens.confirm import ConfirmScreen
from orchestra.tui.screens.detail import DetailScreen
from orchestra.tui.screens.help import HelpScreen
from orchestra.tui.screens.quit import QuitScreen
from orchestra.tui.search import OBJECTIVE_PLOT, SearchInfo, best_text, objective_series
from orchestra.tui.series import Histories, default_metric, variant_metrics, variant_series
from orchestra.tui.source import SweepSource
from orchestra.tui.widgets.footer import DashboardFooter
from orchestra.tui.widgets.gpu_panel import GpuPanel
from orchestra.tui.widgets.header import SweepHeader, header_text
from orchestra.tui.widgets.log_view import LogView
from orchestra.tui.widgets.plot import MetricPlot
from orchestra.tui.widgets.run_table import RunTable

ACTIVE = (State.RUNNING, State.QUEUED)
# Actions of the main screen: other screens (the run detail, dialogs) neither show nor take them.
MAIN_ACTIONS = frozenset(
    {"cancel", "kill", "retry", "pause", "resume", "follow", "metric", "clear", "help", "filter", "search"}
)


class Dashboard(App[str | None]):
    """The dashboard of one sweep over ``source``; ``attached``: quitting may detach (see the module).

    The app's return value says how it ended: ``"detach"``, ``"stop"`` or None (quit).
    """

    CSS_PATH = "app.tcss"
    TITLE = "orchestra"

    BINDINGS: ClassVar[list[BindingType]] = [
        binding("cancel", "cancel"),
        binding("kill", "kill"),
        binding("retry", "retry"),
        binding("pause", "pause"),
        Binding(KEYS["pause"].keys, "resume", "resume", id="pause"),
        binding("follow", "follow"),
        binding("metric", "metric"),
        binding("clear", "clear"),
        binding("help", "help"),
        binding("quit", "quit"),
        Binding("ctrl+c", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        source: SweepSource,
        *,
        name: str,
        workers: int,
        attached: bool = False,
        keymap: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        table_interval: float = 0.25,
        log_interval: float = 1 / 15,
        slow_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.source = source
        self.sweep_name = name
        self.slots = workers
        self.attached = attached
        self.keymap = dict(keymap or {})
        self.clock = clock
        self.table_interval = table_interval
        self.log_interval = log_interval
        self.slow_interval = slow_interval
        self.histories = Histories()
        self.search = SearchInfo(self.histories)
        self.snap: Snapshot = source.snapshot()
        self.metric: str | None = None  # the metric the plot shows (None: the run's first)
        self.prompt_mode: str | None = None  # "filter" or "search" while the prompt is open
        self.quitting = False  # asked to quit: exit when the scheduler is done
        self.stopping = False  # the runs were told to stop (a second quit kills them)
        self._seen_version = -1
        self._bindings_key: tuple[Any, ...] = ()
        self._plotted: tuple[Any, ...] = ()
        self._selected_at: tuple[str | None, float] = (None, 0.0)
        self._variants: dict[str, list[str]] = {}
        self._filter_before = ""
        # The panes, made once: timers may still fire while the app is being torn down.
        self.header = SweepHeader(id="header")
        self.table = RunTable(clock=self.clock, id="table")
        self.log_view = LogView(id="log")
        self.plot = MetricPlot(id="plot")
        self.gpu_panel = GpuPanel(id="gpus")
        self.prompt = Input(id="prompt")

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield self.header
        with Vertical(id="main"):
            yield self.table
            with Horizontal(id="bottom"):
                yield self.log_view
                with Vertical(id="side"):
                    yield self.plot
                    yield self.gpu_panel
        yield self.prompt
        yield DashboardFooter()

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        self.gpu_panel.border_title = "GPUs"
        self.plot.border_title = "metrics"
        self._tick_table()
        self._tick_slow()
        self._tick_log()
        self.table.focus()
        self.set_interval(self.table_interval, self._tick_table)
        self.set_interval(self.log_interval, self._tick_log)
        self.set_interval(self.slow_interval, self._tick_slow)

    # ------------------------------------------------------------------ timers

    def _tick_table(self) -> None:
        source = self.source
        if (self.quitting or self.attached) and source.done:
            # An attached dashboard has nothing left to show once the service has ended.
            self.exit("stop" if self.stopping else None)
            return
        if source.version != self._seen_version:
            self._seen_version = source.version
            self.snap = source.snapshot()
            if len(self.snap.rows) != sum(map(len, self._variants.values())):  # the plan grew
                self._variants = {}
                for row in self.snap.rows:
                    self._variants.setdefault(row.variant, []).append(row.id)
            if self.snap.rows and self.table.step_key is None:
                self.table.step_key = self.histories.settings(self.snap.rows[0]).get("step")
            self.table.update_rows(self.snap.rows)
            self._update_header()
        self._update_table_title()
        self._refresh_bindings_if_changed()

    def _tick_log(self) -> None:
        row = self.table.current
        log = self.log_view
        if row is None:
            log.watch_run(None, None)
        elif row.id != log.run_id:
            log.watch_run(row.id, row.dir / OUTPUT_LOG)
        log.poll()
        # A new selection gets its plot as soon as it has been still for a moment.
        selected = row.id if row else None
        if selected != self._selected_at[0]:
            self._selected_at = (selected, time.monotonic())
        elif self._plotted[:1] != (selected,) and time.monotonic() - self._selected_at[1] > 0.15:
            self._update_plot()

    def _tick_slow(self) -> None:
        self.table.tick()
        self._update_header()
        self._update_plot()
        views = self.source.gpu_views()
        panel = self.gpu_panel
        panel.display = bool(views)
        if views:
            panel.show(views)

    # ------------------------------------------------------------------ panes

    def _status(self) -> str:
        if self.stopping:
            running = self.snap.counts[State.RUNNING]
            return f"stopping {running} runs · q again kills them now" if running else "stopping"
        if self.source.done:
            return "sweep ended · q to quit"
        if not getattr(self.source, "live", True):
            return "no service runs this sweep · r retries a run in a new one"
        if self.snap.alerts:
            return self.snap.alerts[0]
        if self.snap.paused:
            return "launching paused · p to resume"
        if not (self.snap.counts[State.RUNNING] or self.snap.counts[State.QUEUED]):
            return "all runs finished · q to quit"
        return ""

    def _update_header(self) -> None:
        views = self.source.gpu_views()
        gpus = None
        if views:
            in_use = {g.get("index") for r in self.snap.rows if r.state is State.RUNNING for g in r.gpus}
            gpus = (len(in_use), len(views))
        objective = self.search.objective(self.snap.rows)
        text = header_text(
            self.sweep_name,
            self.snap,
            self.clock(),
            workers=self.slots,
            gpus=gpus,
            status=self._status(),
            best=best_text(self.search.scores(self.snap.rows), objective) if objective else None,
        )
        self.header.show(text)

    def _update_table_title(self) -> None:
        table = self.table
        parts = [f"runs {len(table.view)}" + (f" of {len(table.rows)}" if table.run_filter else "")]
        if table.run_filter:
            parts.append(f"filter: {table.run_filter.text}")
        if table.sort_column != "#" or table.sort_reverse:
            parts.append(f"sorted by {table.sort_column}{' ▼' if table.sort_reverse else ' ▲'}")
        if table.marked:
            parts.append(f"{len(table.marked)} marked")
        if table.hidden_metrics:
            parts.append(f"{table.hidden_metrics} metric columns hidden (widen the terminal)")
        title = " · ".join(parts)
        if table.border_title != title:
            table.border_title = title

    def _update_plot(self) -> None:
        row = self.table.current
        plot = self.plot
        if row is None:
            plot.show([], title="metrics")
            self._plotted = (None,)
            return
        siblings = self._siblings(row)
        metrics = self._metrics(row)
        metric = self.metric if self.metric in metrics else default_metric(self.histories, siblings)
        self._plotted = (row.id, metric)
        objective = self.search.objective(self.snap.rows)
        if metric == OBJECTIVE_PLOT and objective is not None:
            scores = self.search.scores(self.snap.rows)
            best = best_text(scores, objective)
            title = f"{objective.name} by trial" + (f" · {best}" if best else "")
            plot.show(objective_series(scores, objective), title=title, empty="no candidate told yet")
            return
        if metric is None:
            plot.show([], title=f"metrics · {row.variant}", empty="no metrics logged yet")
            return
        series = variant_series(self.histories, siblings, row.id, metric)
        seeds = f" · {len(siblings)} seeds" if len(siblings) > 1 else ""
        plot.show(series, title=f"{metric} · {row.variant}{seeds}")

    def _metrics(self, row: RunRow) -> list[str]:
        """What the plot can show for ``row``: its variant's metrics, and a search's objective by trial."""
        metrics = variant_metrics(self.histories, self._siblings(row))
        if self.search.objective(self.snap.rows) is not None:
            metrics.append(OBJECTIVE_PLOT)
        return metrics

    def _siblings(self, row: RunRow) -> list[RunRow]:
        """The runs of ``row``'s variant (its seeds)."""
        rows = [self.table.row(i) for i in self._variants.get(row.variant, ())]
        return [r for r in rows if r is not None] or [row]

    # ------------------------------------------------------------------ key availability

    def _bindings_state(self) -> tuple[Any, ...]:
        targets = self.table.targets()
        return (
            frozenset(r.state for r in targets),
            self.snap.paused,
            self.source.done,
            self.stopping,
            bool(self.table.run_filter or self.table.marked or self.log_view.search),
            self.log_view.follow,
            self.log_view.run_id is not None,
            self.prompt_mode,
        )

    def _refresh_bindings_if_changed(self) -> None:
        key = self._bindings_state()
        if key != self._bindings_key:
            self._bindings_key = key
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that do not apply now are hidden from the footer (and do nothing)."""
        if action not in MAIN_ACTIONS:
            return True
        if self.screen is not self.screen_stack[0]:
            return False
        live = not self.source.done and not self.stopping
        states = {r.state for r in self.table.targets()}
        if action == "cancel":
            return live and bool(states & {State.RUNNING, State.QUEUED})
        if action == "kill":
            return live and State.RUNNING in states
        if action == "retry":
            return live and any(s.retryable for s in states)
        if action == "pause":
            return live and not self.snap.paused
        if action == "resume":
            return live and self.snap.paused
        if action == "follow":
            return self.log_view.run_id is not None and not self.log_view.follow
        if action == "metric":
            return self.table.current is not None
        if action == "clear":
            return bool(
                self.prompt_mode or self.table.run_filter or self.table.marked or self.log_view.search
            )
        return True

    # ------------------------------------------------------------------ run commands

    async def _act(self, verb: str, op: Op, rows: Iterable[RunRow] = ()) -> list[Reply]:
        """Send a command; its replies become one notification (errors one in red, never a crash)."""
        ids = tuple(r.id for r in rows)
        try:
            replies = await self.source.send(Command(op, ids))
        except Exception as exc:  # the service went away, a write failed: say so, keep the dashboard
            self.notify(f"{type(exc).__name__}: {exc}", title=verb, severity="error")
            return []
        if op.per_run:
            failed = [r for r in replies if not r.ok]
            if len(replies) == 1:
                self.notify(
                    reply_text(replies[0]), title=verb, severity="warning" if failed else "information"
                )
            elif replies:
                extra = f"; {len(failed)} unchanged" if failed else ""
                self.notify(f"{len(replies) - len(failed)} runs{extra}", title=verb)
        self._after_command()
        return replies

    def _after_command(self) -> None:
        self._tick_table()
        self._update_header()

    def _confirm(self, verb: str, rows: list[RunRow], op: Op, yes: str) -> None:
        if not rows:
            return
        what = f"{len(rows)} runs" if len(rows) > 1 else rows[0].id
        items = [f"{r.id}  ({r.state.value})" for r in rows]

        async def done(answer: bool | None) -> None:
            if answer:
                if self.table.marked:
                    self.table.clear_marks()
                await self._act(verb, op, rows)

        self.push_screen(ConfirmScreen(f"{verb} {what}?", items, yes=yes), done)

    def action_cancel(self) -> None:
        rows = [r for r in self.table.targets() if r.state in ACTIVE]
        self._confirm("Cancel", rows, Op.CANCEL, "Cancel them" if len(rows) > 1 else "Cancel it")

    def action_kill(self) -> None:
        rows = [r for r in self.table.targets() if r.state is State.RUNNING]
        self._confirm("Kill", rows, Op.KILL, "Kill now (SIGKILL)")

    async def action_retry(self) -> None:
        rows = [r for r in self.table.targets() if r.state.retryable]
        if self.table.marked:
            self.table.clear_marks()
        await self._act("Retry", Op.RETRY, rows)

    async def action_pause(self) -> None:
        if await self._act("Pause", Op.PAUSE):
            self.notify("no new runs start until p; running runs go on", title="Launching paused")

    async def action_resume(self) -> None:
        if await self._act("Resume", Op.RESUME):
            self.notify("queued runs start again", title="Launching resumed")

    async def retry_all_failed(self) -> None:
        rows = [r for r in self.table.rows if r.state is State.FAILED]
        if not rows:
            self.notify("no failed runs", title="Retry all failed")
            return
        await self._act("Retry", Op.RETRY, rows)

    # ------------------------------------------------------------------ panes and prompt

    def action_follow(self) -> None:
        self.log_view.set_follow(True)
        self._refresh_bindings_if_changed()

    def action_metric(self) -> None:
        row = self.table.current
        if row is None:
            return
        metrics = self._metrics(row)
        if not metrics:
            self.notify("this run has logged no metrics yet", title="Metrics")
            return
        current = self._plotted[1] if len(self._plotted) > 1 else None
        i = metrics.index(current) if current in metrics else -1
        self.plot_metric(metrics[(i + 1) % len(metrics)])

    def plot_metric(self, metric: str) -> None:
        self.metric = metric
        self._update_plot()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.keymap))

    def action_filter(self) -> None:
        self._filter_before = self.table.run_filter.text
        self._open_prompt("filter", self.table.run_filter.text, "filter: text  state:failed  gpu:1  lr=3e-4")

    def action_search(self) -> None:
        self._open_prompt("search", self.log_view.search, "search the log")

    def _open_prompt(self, mode: str, value: str, placeholder: str) -> None:
        prompt = self.prompt
        self.prompt_mode = mode
        prompt.placeholder = placeholder
        prompt.value = value
        prompt.display = True
        prompt.focus()
        self._refresh_bindings_if_changed()

    def _close_prompt(self) -> None:
        prompt = self.prompt
        mode, self.prompt_mode = self.prompt_mode, None
        prompt.display = False
        (self.log_view if mode == "search" else self.table).focus()
        self._refresh_bindings_if_changed()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.prompt_mode == "filter":
            self.table.set_query(event.value)
            self._update_table_title()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        mode = self.prompt_mode
        self._close_prompt()
        if mode == "search" and not self.log_view.find(event.value) and event.value:
            self.notify(f"no match for {event.value!r}", severity="warning", title="Search")

    def action_clear(self) -> None:
        if self.prompt_mode == "filter":
            self.table.set_query(self._filter_before)
            self._close_prompt()
        elif self.prompt_mode == "search":
            self._close_prompt()
        elif self.log_view.search and self.focused is self.log_view:
            self.log_view.find("")
        elif self.table.run_filter:
            self.table.set_query("")
        elif self.table.marked:
            self.table.clear_marks()
        elif self.log_view.search:
            self.log_view.find("")
        self._update_table_title()
        self._refresh_bindings_if_changed()

    def on_run_table_opened(self, event: RunTable.Opened) -> None:
        self.push_screen(DetailScreen(event.run_id, lambda: self.table.rows, self.histories, self.clock))

    # ------------------------------------------------------------------ quitting

    async def action_quit(self) -> None:
        """Quit; with runs still active, ask first (detach, stop them, stay); a second stop kills them."""
        if self.stopping:
            await self._act("Quit", Op.KILL_ALL)
            self.notify("killing the runs now (SIGKILL)", title="Quit")
            return
        if self.source.done or not getattr(self.source, "live", True):
            self.exit()  # the sweep ended, or no service runs it (its files are shown): nothing to stop
            return
        counts = self.source.snapshot().counts
        if not (counts[State.RUNNING] or counts[State.QUEUED]):
            if self.attached:
                self.exit("detach")  # the service ends by itself once no dashboard holds it
                return
            self.quitting = True
            await self._act("Quit", Op.STOP)
            return

        async def answer(choice: str | None) -> None:
            if choice == "stop":
                await self.stop_runs()
            elif choice == "detach":
                self.exit("detach")

        self.push_screen(
            QuitScreen(counts[State.RUNNING], counts[State.QUEUED], attached=self.attached), answer
        )

    async def stop_runs(self) -> None:
        """Stop the sweep as Ctrl-C does headless: runs get SIGTERM and resume on the next up; then quit."""
        self.quitting = True
        if self.stopping:
            await self._act("Quit", Op.KILL_ALL)
            return
        self.stopping = True
        await self._act("Stop", Op.STOP_NOW)

    # ------------------------------------------------------------------ command palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen is not self.screen_stack[0]:
            return
        table = self.table
        yield SystemCommand("Retry all failed", "queue every failed run again", self.retry_all_failed)
        if table.marked:
            yield SystemCommand(
                "Cancel marked", f"cancel the {len(table.marked)} marked runs", self.action_cancel
            )
            yield SystemCommand(
                "Kill marked", f"SIGKILL the {len(table.marked)} marked runs", self.action_kill
            )
            yield SystemCommand(
                "Retry marked", f"retry the {len(table.marked)} marked runs", self.action_retry
            )
            yield SystemCommand("Clear marks", "unmark every run", table.clear_marks)
        yield SystemCommand("Mark all shown", "mark every run the filter shows", self._mark_shown)
        if self.snap.paused:
            yield SystemCommand("Resume launching", "start queued runs again", self.action_resume)
        else:
            yield SystemCommand("Pause launching", "start no new runs; running runs go on", self.action_pause)
        yield SystemCommand(
            "Show failed runs", "filter the table to state:failed", lambda: self._filter("state:failed")
        )
        yield SystemCommand(
            "Show running runs", "filter the table to state:running", lambda: self._filter("state:running")
        )
        yield SystemCommand("Clear filter", "show every run", lambda: self._filter(""))
        for name in table.column_names():
            yield SystemCommand(
                f"Sort by {name}", f"sort the table by {name}", lambda n=name: table.sort_by(n, False)
            )
        row = table.current
        if row is not None:
            for metric in self._metrics(row):
                yield SystemCommand(
                    f"Plot {metric}", f"plot {metric} of {row.variant}", lambda m=metric: self.plot_metric(m)
                )
        yield SystemCommand(
            "Stop runs and quit", "SIGTERM the running runs; they resume on the next up", self.stop_runs
        )

    def _mark_shown(self) -> None:
        self.table.mark(r.id for r in self.table.view)

    def _filter(self, text: str) -> None:
        self.table.set_query(text)
        self._update_table_title()


async def run_foreground(
    scheduler: Scheduler, *, workers: int, keymap: Mapping[str, str] | None = None
) -> Summary:
    """Run ``scheduler`` with the dashboard on this terminal, in this process, until the user quits.

    Whatever way the app ends, the scheduler is stopped and its runs with it; SIGTERM or SIGHUP
    (the terminal went away) stop the runs as Ctrl-C does headless.
    """
    app = Dashboard(scheduler, name=scheduler.name, workers=workers, keymap=keymap)
    summary: list[Summary] = []
    finished = anyio.Event()

    async def drive() -> None:
        try:
            summary.append(await scheduler.run())
        finally:
            finished.set()

    async def on_signals() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP, signal.SIGINT) as signals:
            async for _ in signals:
                await app.stop_runs()

    async with anyio.create_task_group() as tg:
        tg.start_soon(drive)
        tg.start_soon(on_signals)
        await app.run_async()
        if not scheduler.done:  # the app ended without stopping the runs (it crashed): stop them now
            running = scheduler.snapshot().counts[State.RUNNING]
            if running:
                print(f"orchestra: stopping {running} runs", file=sys.stderr, flush=True)
            scheduler.interrupt()
        await finished.wait()
        tg.cancel_scope.cancel()
    return summary[0]
