"""What `xstudy run` and `xstudy resume` show while a study runs, instead of Ray Tune's trial table.

Every `interval` seconds it reads the study's status (study.status: the same files `xstudy status` reads)
and shows one summary line (milestones done out of planned, trials by state, the estimated time to finish)
and one line per running trial (its phase, step, rate and time to its next milestone). On a terminal the
lines are redrawn in place (rich's Live); elsewhere (a log file, a CI job) the summary is printed each time
it changes, so a log grows by a line per milestone, not per refresh. `--verbose` shows Ray's own table
instead.
"""

from __future__ import annotations

import threading
from typing import Any

from study.status_view import eta_text, phase_text, rate_text, step_text

INTERVAL_S = 2.0  # seconds between two reads of the study's files


def summary(status: dict[str, Any]) -> str:
    done = planned = 0
    for per_size in status["milestones_done"].values():
        for cell in per_size.values():
            done += cell["done"]
            planned += cell["planned"] or 0
    counts = ", ".join(f"{n} {state}" for state, n in status["trials_by_state"].items() if n) or "no trial yet"
    text = f"{status['study']}: milestones {done}/{planned or '-'} done; trials: {counts}"
    estimate = status.get("eta")
    if estimate and estimate.get("complete"):
        text += f"; about {eta_text(estimate['wall_seconds'])} to go"
    return text


def trial_lines(status: dict[str, Any]) -> list[str]:
    trials = {t["trial_id"]: t for t in status["trials"]}
    lines = []
    for trial_id, record in sorted(status.get("live", {}).items()):
        t = trials.get(trial_id, {})
        lines.append(
            f"  {trial_id} {t.get('model')} {t.get('intermediate_task')} seed {t.get('seed')} -> "
            f"{record.get('milestone')}: {phase_text(record)} {step_text(record)}, "
            f"{rate_text(record.get('examples_per_s'))} examples/s, "
            f"milestone in {eta_text(record.get('eta_milestone_s'), record.get('eta_partial'))}"
        )
    return lines


class RunView:
    """A context manager that shows the study at `uri` while the block runs (a thread reads its files)."""

    def __init__(self, uri: str, console, interval: float = INTERVAL_S):
        self.uri = uri
        self.console = console
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="xstudy-run-view", daemon=True)
        self._live = None
        self._last_summary: str | None = None

    def __enter__(self) -> RunView:
        if self.console.is_terminal:
            from rich.live import Live

            self._live = Live("starting ...", console=self.console, refresh_per_second=4, transient=True)
            self._live.start()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self._stop.set()
        self._thread.join(timeout=30)
        if self._live is not None:
            self._live.stop()
        self.show(final=True)
        return False

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.show()

    def show(self, final: bool = False) -> None:
        from study.status import gather

        try:
            status = gather(self.uri)
        except Exception:  # noqa: BLE001 - nothing written yet, or a file being replaced: try again later
            return
        line = summary(status)
        if self._live is not None and not final:
            from rich.text import Text

            self._live.update(Text("\n".join([line, *trial_lines(status)])))
        elif line != self._last_summary or final:
            self.console.print(line, highlight=False)
        self._last_summary = line
