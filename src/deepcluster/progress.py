"""Progress bars for the long stages: count and rate (e.g. images/s) in a terminal, nothing elsewhere.

A bar shows only on an interactive terminal outside CI (the ``CI`` environment
variable unset, empty, ``0`` or ``false``); otherwise the stage gets a function
that does nothing. Bars use rich's global console, the one Kedro's
``RichHandler`` logs to, so log lines print above the bar instead of through it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich import get_console
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

REFRESH_SECONDS = 0.1


def shows_progress(console: Console) -> bool:
    """Whether bars are drawn on ``console``: an interactive terminal, and not in CI."""
    return console.is_interactive and os.environ.get("CI", "").lower() in ("", "0", "false")


class CountAndRateColumn(ProgressColumn):
    """'12,288/50,000 images  1,234 images/s' (no total when it is unknown)."""

    def render(self, task: Task) -> Text:
        unit = task.fields["unit"]
        done = f"{task.completed:,.0f}" if task.total is None else f"{task.completed:,.0f}/{task.total:,.0f}"
        rate = task.finished_speed or task.speed
        shown_rate = "" if rate is None else f"  {rate:,.{0 if rate >= 10 else 1}f} {unit}/s"
        return Text(f"{done} {unit}{shown_rate}", style="progress.download")


def _advance_nothing(count: float) -> None:
    """What a stage calls when no bar is shown."""


@contextmanager
def progress_bar(
    description: str, total: int | None, unit: str = "images", console: Console | None = None
) -> Iterator[Callable[[float], None]]:
    """A bar for one stage while the block runs; call the yielded function with each step's count.

    Pass counts known on the host (a batch's shape), never values read from the
    device, so the bar adds no synchronisation. The bar is removed when the block ends.
    """
    console = console or get_console()
    if not shows_progress(console):
        yield _advance_nothing
        return
    # redrawn from the calling thread rather than rich's timer thread: DataLoader
    # workers forked while that thread holds the console's lock would hang on their first log line
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        CountAndRateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        auto_refresh=False,
        transient=True,
    )
    task = bar.add_task(description, total=total, unit=unit)
    with bar:
        next_refresh = time.monotonic() + REFRESH_SECONDS

        def advance(count: float) -> None:
            nonlocal next_refresh
            bar.advance(task, count)
            if time.monotonic() >= next_refresh:
                bar.refresh()
                next_refresh = time.monotonic() + REFRESH_SECONDS

        yield advance
