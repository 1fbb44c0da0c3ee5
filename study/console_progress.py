"""Progress bars for the commands that can take a while (`prepare`, `export`, `score`).

A bar appears only on a terminal, and only once the work has taken more than `DELAY_S`: a command that
finishes in a moment prints nothing extra, and a log file or a pipe never gets the bar's control codes.
It goes to stderr and disappears when the work is done, so what the command prints on stdout (JSON
included) is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

DELAY_S = 0.5  # seconds of work before a bar is shown


class Bar:
    """`advance()` after each unit of work; the bar starts once `delay_s` has passed."""

    def __init__(self, description: str, total: int | None, console, delay_s: float = DELAY_S,
                 clock: Callable[[], float] = time.monotonic):
        self.description = description
        self.total = total
        self.console = console
        self.delay_s = delay_s
        self.clock = clock
        self.start = clock()
        self.done = 0
        self._progress = None
        self._task = None

    def advance(self, n: int = 1, description: str | None = None) -> None:
        self.done += n
        if description is not None:
            self.description = description
        if self._progress is None and self.console.is_terminal and self.clock() - self.start >= self.delay_s:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total)
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, description=self.description)

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextmanager
def bar(description: str, total: int | None, console=None, delay_s: float = DELAY_S) -> Iterator[Bar]:
    """A `Bar` on stderr (or `console`), closed when the block ends."""
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    progress = Bar(description, total, console, delay_s)
    try:
        yield progress
    finally:
        progress.close()
