"""study.recovery_callback: the last line of the latest failure in Tune's error file, and one retry record per
recovered trial, written where the study now is."""

from __future__ import annotations

from types import SimpleNamespace

from study import recovery
from study.recovery_callback import RetryRecorder, last_error


def test_last_error_is_the_exception_line_of_the_latest_failure(tmp_path):
    error_file = tmp_path / "error.txt"
    error_file.write_text("Failure # 1 (occurred at x)\nTraceback:\n  ...\nValueError: first\n\n"
                          "Failure # 2 (occurred at y)\nTraceback:\n  ...\nRuntimeError: second\n  \n")
    assert last_error(str(error_file)) == "RuntimeError: second"
    error_file.write_text("Failure # 1\n" + "x" * 900 + "\n")
    assert last_error(str(error_file)) == "x" * 500
    assert last_error(None) == "" and last_error(str(tmp_path / "absent.txt")) == ""


def trial(trial_id: str, failures: int, milestone: int | None, error_file: str | None):
    latest = None if milestone is None else SimpleNamespace(metrics={"intermediate_steps": milestone})
    return SimpleNamespace(trial_id=trial_id, num_failures=failures, latest_checkpoint_result=latest,
                           error_file=error_file)


def test_each_recovery_appends_a_record_in_the_relocated_study(tmp_path):
    error_file = tmp_path / "error.txt"
    error_file.write_text("Failure # 1\nOSError: disk\n")
    recorder = RetryRecorder(str(tmp_path / "old"))
    recorder.relocate(str(tmp_path / "new"))
    recorder.on_trial_recover(0, [], trial("t1", 1, None, None))
    recorder.on_trial_recover(5, [], trial("t1", 2, 20, str(error_file)))
    records = recovery.trial_retries(str(tmp_path / "new"), "t1")
    assert [(r["attempt"], r["restarted_from"], r["error"]) for r in records] == [(1, None, ""), (2, 20, "OSError: disk")]
    assert not (tmp_path / "old").exists()
    assert recovery.retry_counts(str(tmp_path / "new")) == {"t1": 2}
