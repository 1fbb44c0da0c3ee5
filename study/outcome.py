"""How a run or a resume ended, and the exit code a cluster scheduler reads from it.

- Every trial finished (or was stopped by ASHA): 0.
- Interrupted (SIGINT, or SIGTERM as schedulers send it): 128 + the signal, so 130 or 143, as a shell
  reports a process killed by it. Ray Tune stops its trials and saves its state, and `fit()` returns
  normally; a trial still pending or running afterwards tells an interruption from an ending. What is
  unfinished continues with `xstudy resume PATH`.
- Trials that errored (after their retries, `study.max_failures`): 1, with each trial and its error.
  The other trials' results are kept and the table is written either way.
"""

from __future__ import annotations

import re
import shlex
import signal
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

ERRORS_EXIT_CODE = 1
_TRIAL_FOLDER_ID = re.compile(r"_([0-9a-f]{5}_\d{5})(?:_|$)")


@dataclass
class Outcome:
    study: str  # the study's folder or URI
    table: str  # results.parquet's URI
    trials: int
    finished: int  # ended normally (ASHA's stops included)
    errors: dict[str, str] = field(default_factory=dict)  # trial id -> the last line of its error
    signal_received: int | None = None  # the signal that interrupted the driver, where it was seen
    grid: Any = None  # Ray Tune's ResultGrid

    @property
    def unfinished(self) -> int:
        return max(0, self.trials - self.finished - len(self.errors))

    @property
    def interrupted(self) -> bool:
        return self.signal_received is not None or self.unfinished > 0

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 128 + int(self.signal_received or signal.SIGINT)
        return ERRORS_EXIT_CODE if self.errors else 0

    def lines(self) -> list[str]:
        """What the command says about it, after the results table's location."""
        out = []
        if self.errors:
            out.append(f"{len(self.errors)} trial(s) errored:")
            out += [f"  {trial}: {error}" for trial, error in sorted(self.errors.items())]
        if self.interrupted:
            name = signal.Signals(self.signal_received or signal.SIGINT).name
            out.append(f"interrupted ({name}): {self.unfinished} of {self.trials} trial(s) unfinished")
            out.append(f"continue with: xstudy resume {shlex.quote(self.study)}")
        else:
            out.append(f"next: xstudy export {shlex.quote(self.study)}")  # quoted: a URI's query has '&'
        return out


def of_grid(grid: Any, study: str, table: str, signal_received: int | None,
            failed: dict[str, str] | None = None) -> Outcome:
    """The outcome of Ray Tune's ResultGrid (its trials' end states and errors). `failed` holds the trials
    that a data error ended (`<study>/failed/`): Tune saw them end normally, so they count as errors here."""
    errors = dict(failed or {})
    for result in grid:
        if result.error is None:
            continue
        trial = (result.metrics or {}).get("trial_id") or trial_id_of_folder(str(result.path)) or str(result.path)
        text = str(result.error).strip().splitlines()
        errors[str(trial)] = (text[-1] if text else type(result.error).__name__)[:300]
    return Outcome(study=study, table=table, trials=len(grid), finished=grid.num_terminated - len(failed or {}),
                   errors=errors, signal_received=signal_received, grid=grid)


def trial_id_of_folder(path: str) -> str | None:
    """A Ray trial folder's trial id: `<trainable>_<id>_<index>_<config>_<date>` holds `<5 hex>_<5 digits>`."""
    match = _TRIAL_FOLDER_ID.search(PurePosixPath(path.rstrip("/")).name)
    return match.group(1) if match else None
