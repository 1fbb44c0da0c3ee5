"""What lets a study lose nothing and repeat nothing when a trial crashes or its driver is killed.

- **A milestone is final once its rows are written.** Before a trial writes a milestone's rows it writes
  the metrics it is about to report to Tune, `<study>/metrics/<trial>/<milestone>.json`; the rows file
  (written atomically after it) is the commit point. Tune may restore a trial from an older checkpoint
  than its rows: a trial that crashed between writing rows and reporting, or a driver killed before its
  experiment snapshot took the report in. The trial then replays its trunk steps to that milestone and
  reports the recorded metrics, without evaluating the milestone again: its rows file is never rewritten.
  The replay reaches the same state because the trunk is deterministic and evaluation draws from a fork of
  the RNG (study.trial), so the trunk's dropout and data do not depend on whether a milestone was evaluated.
- **Retries are recorded.** `study.recovery_callback.RetryRecorder` appends each retry of a crashed trial
  to `<study>/retries/<trial>.json` (a JSON list, rewritten atomically): the attempt, the milestone the
  retry restarts from and the error. `xstudy status` counts them.
- **Fault injection, a test hook.** `XSTUDY_FAULT_INJECT="raise@20,kill@10:builtin_nli"` makes a trial
  raise (`raise`) or SIGKILL its own worker process (`kill`) right after writing a milestone's rows and
  before reporting it, the moment where a crash is hardest to recover from; `:TASK` limits it to trials of
  that intermediate task. Each fault fires once per trial (a marker under `<study>/faults/` remembers it),
  so the retry goes through. The trials get it from the driver (study.environment). Unset, it does nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from typing import Any

from study import results, storage

FAULT_ENV = "XSTUDY_FAULT_INJECT"
FAULT_ACTIONS = ("raise", "kill")


class InjectedFault(RuntimeError):
    """Raised by the `raise` fault of XSTUDY_FAULT_INJECT."""


# ------------------------------------------------------------------------------------- milestone records
def metrics_uri(study_uri: str, trial_id: str, milestone: int) -> str:
    return storage.join(study_uri, "metrics", trial_id, f"{milestone:012d}.json")


def record_metrics(study_uri: str, trial_id: str, milestone: int, metrics: dict[str, Any]) -> None:
    """Write what a milestone reports; call before its rows, which commit it."""
    text = json.dumps(metrics, default=float)  # numpy scalars as floats
    storage.write_text_atomic(metrics_uri(study_uri, trial_id, milestone), text)


def recorded_metrics(study_uri: str, trial_id: str, milestone: int) -> dict[str, Any] | None:
    """The metrics of a milestone whose rows are written (None if it has to be evaluated).

    Rows without a metrics record (written before records existed) are evaluated again, as they always were.
    """
    if not storage.exists(results.milestone_uri(study_uri, trial_id, milestone)):
        return None
    uri = metrics_uri(study_uri, trial_id, milestone)
    return json.loads(storage.read_text(uri)) if storage.exists(uri) else None


# ----------------------------------------------------------------------------------------------- retries
def retries_uri(study_uri: str, trial_id: str) -> str:
    return storage.join(study_uri, "retries", f"{trial_id}.json")


def trial_retries(study_uri: str, trial_id: str) -> list[dict[str, Any]]:
    uri = retries_uri(study_uri, trial_id)
    return json.loads(storage.read_text(uri)) if storage.exists(uri) else []


def append_retry(study_uri: str, trial_id: str, attempt: int, restarted_from: int | None, error: str) -> dict[str, Any]:
    """Add one retry to the trial's record. Only the driver writes it, one event at a time."""
    record = {"trial_id": trial_id, "attempt": attempt, "restarted_from": restarted_from, "error": error,
              "recorded_at": dt.datetime.now(dt.UTC).isoformat()}
    text = json.dumps([*trial_retries(study_uri, trial_id), record], indent=1)
    storage.write_text_atomic(retries_uri(study_uri, trial_id), text)
    return record


def retry_counts(study_uri: str) -> dict[str, int]:
    """Trial id -> how many times it was retried after a crash (trials never retried are absent)."""
    import pyarrow.fs as pafs

    fs, root = storage.filesystem(storage.join(study_uri, "retries"))
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return {}
    counts = {}
    for info in fs.get_file_info(pafs.FileSelector(root)):
        if info.type == pafs.FileType.File and info.base_name.endswith(".json"):  # not the .tmp- files being written
            trial_id = info.base_name.removesuffix(".json")
            counts[trial_id] = len(trial_retries(study_uri, trial_id))
    return counts


# ------------------------------------------------------------------------------------ fault injection
def parse_faults(text: str) -> list[tuple[str, int, str | None]]:
    """'raise@20,kill@10:builtin_nli' -> [('raise', 20, None), ('kill', 10, 'builtin_nli')]."""
    faults = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        action, _, rest = item.partition("@")
        milestone, _, task = rest.partition(":")
        if action not in FAULT_ACTIONS or not milestone.isdigit():
            raise ValueError(f"{FAULT_ENV}: {item!r} is not ACTION@MILESTONE[:TASK] with ACTION in {FAULT_ACTIONS}")
        faults.append((action, int(milestone), task or None))
    return faults


def inject_fault(study_uri: str, trial_id: str, task: str, milestone: int) -> None:
    """The test hook: crash here if XSTUDY_FAULT_INJECT asks for it and it has not fired for this trial."""
    for action, at, only_task in parse_faults(os.environ.get(FAULT_ENV, "")):
        if at != milestone or only_task not in (None, task):
            continue
        marker = storage.join(study_uri, "faults", trial_id, f"{action}@{milestone}")
        if storage.exists(marker):
            continue
        storage.write_text_atomic(marker, dt.datetime.now(dt.UTC).isoformat())
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies as if the OOM killer took it
        raise InjectedFault(f"{FAULT_ENV}: {action}@{milestone} in trial {trial_id}")
