"""Progress bars: shown on a terminal once the work takes more than a moment, never in a log."""

from __future__ import annotations

from rich.console import Console

from study.console_progress import Bar


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(console: Console, seconds_per_item: float) -> Bar:
    clock = Clock()
    progress = Bar("preparing", 10, console, delay_s=0.5, clock=clock)
    for i in range(10):
        clock.now += seconds_per_item
        progress.advance(1, f"data item {i}")
    progress.close()
    return progress


def test_a_long_task_on_a_terminal_shows_a_bar():
    console = Console(record=True, force_terminal=True, width=120)
    progress = _run(console, seconds_per_item=0.2)
    assert progress.shown and progress.done == 10


def test_a_quick_task_or_a_log_file_shows_nothing():
    terminal = Console(record=True, force_terminal=True, width=120)
    assert not _run(terminal, seconds_per_item=0.01).shown
    log = Console(record=True, force_terminal=False, width=120)
    assert not _run(log, seconds_per_item=1.0).shown and log.export_text() == ""
