"""A trial that raises, or whose worker process is killed, is retried from its last checkpoint, and the retry
is recorded; with max_failures=0 the trial errors out, visibly, and the others finish.

Faults are injected by the trial's own test hook, XSTUDY_FAULT_INJECT (study.recovery): right after a
milestone's rows are written and before it is reported, the moment a retry is most likely to lose or
repeat a milestone. The trials get the variable from the driver (study.environment), as on a cluster.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import yaml
from typer.testing import CliRunner

from study import launch, recovery, results, status, status_view
from study.cli import app
from helpers import small_spec

pytestmark = pytest.mark.slow

FAULTS = "raise@20:builtin_nli,kill@20:builtin_swag"


def failing_spec(storage: Path, name: str, tasks: list[str], steps: list[int], max_failures: int):
    return small_spec(
        str(storage), name=name,
        study={"name": name, "storage": str(storage), "max_failures": max_failures},
        models=[{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16, "max_length": 48,
                 "steps": steps}],
        intermediate_tasks=["none", *tasks],
        target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}],
        asha={"enabled": False},  # every trial must reach its faults
    )


def reported(study: Path) -> dict[str, list[int]]:
    """Trial id -> the milestones Tune recorded as reported, in order (its result.json lines)."""
    out = {}
    for f in study.glob("xstudy_trial_*/result.json"):
        lines = [json.loads(line) for line in f.read_text().splitlines() if line]
        if lines:
            out[lines[0]["trial_id"]] = [r["intermediate_steps"] for r in lines]
    return out


@pytest.fixture(scope="module")
def studies(local_ray, tmp_path_factory):
    """Both studies with the faults set on the driver, on the session's Ray, which was started without them:
    the trials carry them only if the study forwards them. Retried (max_failures=2), and not (0)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(recovery.FAULT_ENV, FAULTS)
        retried = failing_spec(tmp_path_factory.mktemp("retried"), "retried", ["builtin_nli", "builtin_swag"],
                               [0, 10, 20, 30], max_failures=2)
        retried_grid = launch.run(retried).grid
        # Through the command line, as a user (or a cluster scheduler reading the exit code) runs it.
        fatal = failing_spec(tmp_path_factory.mktemp("fatal"), "fatal", ["builtin_nli"], [0, 10, 20],
                             max_failures=0)
        spec_file = Path(fatal.study.storage) / "fatal.yaml"
        spec_file.write_text(yaml.safe_dump(fatal.model_dump(mode="json")))
        fatal_run = CliRunner().invoke(app, ["run", str(spec_file)], env={"COLUMNS": "2000"})
    return (Path(retried.uri), retried_grid), (Path(fatal.uri), fatal_run)


def test_raised_and_killed_trials_are_retried_from_their_last_checkpoint(studies, capsys):
    (study, grid), _ = studies
    assert grid.num_errors == 0 and len(grid) == 3
    df = results.collect(str(study))
    task_of = df.groupby("trial_id").intermediate_task.first().to_dict()
    milestones = df.groupby("trial_id").intermediate_steps.apply(lambda s: sorted(set(s))).to_dict()
    assert {task_of[t]: m for t, m in milestones.items()} == {
        "none": [0], "builtin_nli": [10, 20, 30], "builtin_swag": [10, 20, 30]}, "every milestone's rows"
    keys = ["trial_id", "intermediate_steps", "target_task", "language", "split", "metric"]
    assert not df.duplicated(keys).any()

    retries = {t: recovery.trial_retries(str(study), t) for t in task_of}
    by_task = {task_of[t]: r for t, r in retries.items()}
    assert by_task["none"] == []
    for task, error in (("builtin_nli", "InjectedFault"), ("builtin_swag", "worker process has died")):
        [retry] = by_task[task]
        assert retry["attempt"] == 1 and retry["restarted_from"] == 10, retry
        assert error in retry["error"]
    assert status.gather(str(study))["retries"] == {t: 1 for t, task in task_of.items() if task != "none"}
    assert status_view.status_command(str(study), as_json=False) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "retries after a crash" in shown and all(f"{t} x1" in shown for t, task in task_of.items() if task != "none")

    for trial_id, task in task_of.items():
        # Reported to Tune once each: the retry reports milestone 20 from what was recorded with its rows.
        # (Tune's result.json may lose the line of the report just before a crash, so 10 is not required.)
        seen = reported(study)[trial_id]
        assert seen == sorted(set(seen)), f"a milestone reported twice: {seen}"
        assert (seen == [0]) if task == "none" else (seen[-2:] == [20, 30]), seen
        if task != "none":
            # The fault struck after milestone 20's rows were written: the retry kept them, it did not rerun them.
            written = pd.Timestamp(df[(df.trial_id == trial_id) & (df.intermediate_steps == 20)].recorded_at.max())
            assert written < pd.Timestamp(retries[trial_id][0]["recorded_at"])


def test_without_retries_the_trial_errors_visibly_and_the_others_finish(studies):
    _, (study, run) = studies
    df = results.collect(str(study))
    [errored_id] = sorted(set(df.trial_id) - set(df[df.intermediate_task == "none"].trial_id))
    # exit code 1, each errored trial listed with its error; the table is written all the same
    assert run.exit_code == 1, run.output[-3000:]
    out = " ".join(run.output.split())
    assert "1 trial(s) errored:" in out and f"{errored_id}: " in out and "InjectedFault" in out
    assert "results table:" in out and (study / "results.parquet").is_file()
    assert set(df[df.intermediate_task == "none"].intermediate_steps) == {0}, "the baseline finished"
    s = status.gather(str(study))
    errored = [t for t in s["trials"] if t["state"] == status.ERRORED]
    assert len(errored) == 1 and "InjectedFault" in errored[0]["error"]
    assert s["trials_by_state"][status.FINISHED] == 1
    assert s["retries"] == {}
