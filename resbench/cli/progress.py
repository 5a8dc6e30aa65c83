"""The progress bar of long commands (compare, scale), on stderr and transient.

Its label names the solver that is running now (set before each run), and its
ETA is rich's time-based estimate (the measured rate of the last 30 s), shown
only once a few runs have finished: before that, any estimate is a guess.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

#: finished runs before an ETA is shown
ETA_AFTER = 3


class EtaColumn(ProgressColumn):
    """``ETA h:mm:ss`` from rich's measured rate, after ``ETA_AFTER`` finished runs."""

    def __init__(self, after: int = ETA_AFTER) -> None:
        super().__init__()
        self.after = after
        self._remaining = TimeRemainingColumn()

    def render(self, task: Task) -> Text:
        if task.total is None or task.completed < self.after or task.speed is None:
            return Text("ETA –", style="progress.remaining")
        return Text("ETA ", style="progress.remaining") + self._remaining.render(task)


def progress_bar(console: Console) -> Progress:
    """A transient progress bar: label, bar, runs done / planned, elapsed, ETA."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        EtaColumn(),
        console=console,
        transient=True,
    )
