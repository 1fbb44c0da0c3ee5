"""The Tune callback that records each retry of a crashed trial (see study.recovery).

Tune retries a trial that raised, or whose worker process died, from its latest checkpoint, up to the
spec's `study.max_failures`; only the driver sees the failure, so the record is written here. It is
pickled with the experiment (Tuner.restore brings it back), so it keeps only the study's URI, which
`study.launch.resume` sets to where the study is now (it may have been moved).
"""

from __future__ import annotations

from pathlib import Path

from ray.tune import Callback

from study import recovery


def last_error(error_file: str | None) -> str:
    """The last line of the latest failure in Tune's error.txt (a traceback's exception line)."""
    if not error_file or not Path(error_file).is_file():
        return ""
    latest = Path(error_file).read_text(errors="replace").rsplit("Failure # ", 1)[-1]
    lines = [line.strip() for line in latest.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


class RetryRecorder(Callback):
    def __init__(self, study_uri: str):
        self.study_uri = study_uri  # `relocate` points it at a resumed study's folder, wherever it now is

    def relocate(self, study_uri: str) -> None:
        self.study_uri = study_uri

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        latest = trial.latest_checkpoint_result
        milestone = latest.metrics.get("intermediate_steps") if latest is not None else None
        recovery.append_retry(
            self.study_uri, trial.trial_id, attempt=int(trial.num_failures),
            restarted_from=None if milestone is None else int(milestone), error=last_error(trial.error_file),
        )
