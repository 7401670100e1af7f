"""Progress of a stage while it runs: a live progress artifact on the flow run, and a bar on the command line.

A stage flow makes one `StageProgress(stage, total, unit)` and advances it as shards finish; the
flow-run page in the UI shows "n of total records" live. The CLI wraps a command in
`console_bars()`, and every `StageProgress` made meanwhile also draws a rich progress bar on stderr
(stdout stays for the summary table or `--json`). Prefect's console log lines are printed above the
bars instead of through them.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator, Sequence

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture, as_completed
from prefect.logging.handlers import PrefectConsoleHandler
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

_bars: list[Progress] = []  # the CLI's live display while a command runs (empty: no bars)


class StageProgress:
    """Done of total for one stage, published to the flow run (progress artifact) and the CLI bar."""

    def __init__(self, stage: str, total: int, unit: str = "records"):
        self.stage, self.total, self.unit, self.done = stage, total, unit, 0
        self._artifact = None
        if FlowRunContext.get() is not None:
            self._artifact = create_progress_artifact(self.percent, key=f"{stage}-progress",
                                                      description=self.describe())
        self._bar = _bars[-1].add_task(stage, total=total) if _bars else None

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else round(100.0 * self.done / self.total, 2)

    def describe(self) -> str:
        return f"{self.stage}: {self.done} of {self.total} {self.unit} done"

    def grow(self, n: int) -> None:
        """More work found (a stage that discovers its pending records source by source)."""
        self.total += n
        self._publish()

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._publish()

    def _publish(self) -> None:
        if self._artifact is not None:
            update_progress_artifact(self._artifact, self.percent, description=self.describe())
        if self._bar is not None:
            _bars[-1].update(self._bar, completed=self.done, total=self.total)


def collect(futures: Sequence[PrefectFuture], sizes: Sequence[int], progress: StageProgress) -> list:
    """Results of submitted shard tasks in submission order, advancing `progress` as each one finishes."""
    size_of = {id(f): n for f, n in zip(futures, sizes)}
    for future in as_completed(list(futures)):
        future.wait()
        progress.advance(size_of[id(future)])
    return [f.result() for f in futures]


def _console_handlers() -> list[PrefectConsoleHandler]:
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    found = {id(h): h for lg in loggers for h in getattr(lg, "handlers", []) if isinstance(h, PrefectConsoleHandler)}
    return list(found.values())


@contextmanager
def console_bars(enabled: bool = True) -> Iterator[None]:
    """Draw a bar per stage on stderr while the block runs; Prefect's log lines go above the bars."""
    if not enabled:
        yield
        return
    bars = Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=Console(stderr=True), redirect_stdout=False)
    handlers = _console_handlers()
    saved = [h.console for h in handlers]
    with bars:
        for h in handlers:  # PrefectConsoleHandler prints through its rich console: use the live one
            h.console = bars.console
        _bars.append(bars)
        try:
            yield
        finally:
            _bars.remove(bars)
            for h, console in zip(handlers, saved):
                h.console = console
