"""A trial's live position, for people watching a long run: `<study>/progress/<trial id>.json`.

A real milestone takes hours on a GPU, and Ray Tune hears from a trial only at milestones. So each trial
also rewrites a small JSON file, atomically, at every phase change and at most every `period_s` seconds
in between: which milestone it is working towards, its phase (`intermediate`, `cooldown`, `fine-tune`
of a target task, `evaluation` of a target task in one language), the step within the phase and its
total, examples per second, and the estimated seconds to the milestone. It is never reported to Tune, so
ASHA sees only milestones; `xstudy status` and `xstudy run` read it.

The estimate to the milestone adds the time left in the current phase and in every phase still to come
at that milestone, each at the rate (seconds per step, or per evaluated split) that this trial measured
for phases of its kind. Cloud storage is written to at most every `PERIOD_S` seconds per trial; set
`XSTUDY_PROGRESS_PERIOD_S` to change that. Before a kind has run once, a training phase is estimated at the rate of the
training measured so far, and an evaluation is left out (`eta_partial` says so).

`XSTUDY_TEST_STEP_DELAY_S` slows every training step by that many seconds: a test hook, so that a test can
watch a tiny study move through its phases. Unset, it does nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from study import storage

PERIOD_S = 5.0  # seconds between two writes within a phase, unless XSTUDY_PROGRESS_PERIOD_S says otherwise
PERIOD_ENV = "XSTUDY_PROGRESS_PERIOD_S"
STEP_DELAY_ENV = "XSTUDY_TEST_STEP_DELAY_S"
TRAINING_KINDS = ("intermediate", "cooldown", "fine-tune")
EVALUATION = "evaluation"


def progress_uri(study_uri: str, trial_id: str) -> str:
    return storage.join(study_uri, "progress", f"{trial_id}.json")


def step_delay() -> float:
    """Seconds to sleep after every training step (the test hook above); 0 when unset."""
    return float(os.environ.get(STEP_DELAY_ENV) or 0.0)


@dataclass
class PlannedPhase:
    """One phase of a milestone's work: its kind, what it is of, and its length in steps (or splits)."""

    kind: str
    units: int
    task: str | None = None
    language: str | None = None


class Progress:
    """What one trial is doing now; writes `progress/<trial>.json` when `enabled` (rank 0 only)."""

    def __init__(self, study_uri: str, trial_id: str, enabled: bool = True, period_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.uri = progress_uri(study_uri, trial_id)
        self.trial_id = trial_id
        self.enabled = enabled
        self.period_s = float(os.environ.get(PERIOD_ENV) or PERIOD_S) if period_s is None else period_s
        self.clock = clock
        self.seconds_per_unit: dict[str, float] = {}
        self.milestone: int | None = None
        self.plan: list[PlannedPhase] = []  # the phases still to come at this milestone
        self.current: PlannedPhase | None = None
        self.done = 0  # units of the current phase done
        self.examples = 0
        self._phase_start = self._last_write = clock()

    # ------------------------------------------------------------------------------------ what happens
    def start_milestone(self, milestone: int, plan: list[PlannedPhase]) -> None:
        """The trial works towards `milestone`; `plan` lists its phases in order (more may be added)."""
        self.milestone = milestone
        self.plan = list(plan)
        self.current = None

    def start(self, kind: str, units: int, task: str | None = None, language: str | None = None) -> None:
        """A phase begins: the planned one of this kind (and task, language) is taken off the plan."""
        self._finish_current()
        for i, planned in enumerate(self.plan):
            if (planned.kind, planned.task, planned.language) == (kind, task, language):
                del self.plan[: i + 1]
                break
        self.current = PlannedPhase(kind, units, task, language)
        self.done, self.examples = 0, 0
        self._phase_start = self.clock()
        self.write(force=True)

    def advance(self, units: int = 1, examples: int = 0) -> None:
        self.done += units
        self.examples += examples
        self.write()

    def finish(self, state: str = "reported") -> None:
        """The milestone is done (its rows written, reported): the file says so until the next one starts."""
        self._finish_current()
        self.current = None
        self.plan = []
        self.write(force=True, state=state)

    def _finish_current(self) -> None:
        if self.current is not None and self.done > 0:
            self.seconds_per_unit[self.current.kind] = (self.clock() - self._phase_start) / self.done

    # --------------------------------------------------------------------------------------- estimates
    def _rate(self, kind: str) -> float | None:
        if kind in self.seconds_per_unit:
            return self.seconds_per_unit[kind]
        if kind in TRAINING_KINDS:
            known = [self.seconds_per_unit[k] for k in TRAINING_KINDS if k in self.seconds_per_unit]
            if self.current is not None and self.current.kind in TRAINING_KINDS and self.done > 0:
                known.append(self._current_rate())
            return max(known) if known else None
        return None

    def _current_rate(self) -> float:
        return (self.clock() - self._phase_start) / max(1, self.done)

    def estimate(self) -> tuple[float | None, bool]:
        """(seconds to the milestone, whether some phase could not be estimated and is left out)."""
        seconds, partial = 0.0, False
        if self.current is not None:
            left = max(0, self.current.units - self.done)
            rate = self._current_rate() if self.done > 0 else self._rate(self.current.kind)
            if rate is None:
                partial = partial or left > 0
            else:
                seconds += left * rate
        for planned in self.plan:
            rate = self._rate(planned.kind)
            if rate is None:
                partial = True
            else:
                seconds += planned.units * rate
        if self.current is None and not self.plan:
            return None, False
        return seconds, partial

    def snapshot(self, state: str = "running") -> dict[str, Any]:
        elapsed = self.clock() - self._phase_start
        eta, partial = self.estimate()
        phase = self.current
        return {
            "trial_id": self.trial_id,
            "state": state,
            "milestone": self.milestone,
            "phase": phase.kind if phase else None,
            "task": phase.task if phase else None,
            "language": phase.language if phase else None,
            "step": self.done if phase else None,
            "total": phase.units if phase else None,
            "examples_per_s": (self.examples / elapsed) if phase and elapsed > 0 and self.examples else None,
            "eta_milestone_s": eta,
            "eta_partial": partial,
            "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }

    def write(self, force: bool = False, state: str = "running") -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self._last_write < self.period_s:
            return
        self._last_write = now
        try:
            storage.write_text_atomic(self.uri, json.dumps(self.snapshot(state)))
        except OSError:
            pass  # a progress file is for people watching; it must never fail the trial


def read_all(study_uri: str) -> dict[str, dict[str, Any]]:
    """Trial id -> its last progress record; a file being replaced as we read is skipped."""
    import pyarrow.fs as pafs

    fs, root = storage.filesystem(storage.join(study_uri, "progress"))
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return {}
    out = {}
    for info in fs.get_file_info(pafs.FileSelector(root)):
        if not info.base_name.endswith(".json") or info.base_name.startswith(".tmp-"):
            continue
        try:
            with fs.open_input_stream(info.path) as f:
                record = json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("trial_id"), str):
            out[record["trial_id"]] = record
    return out
