"""A trial that raises, or whose worker process is killed, is retried from its last checkpoint, and the retry
is recorded; with max_failures=0 the trial errors out, visibly, and the others finish.

Faults are injected by the trial's own test hook, XSTUDY_FAULT_INJECT (study.recovery): right after a
milestone's rows are written and before it is reported, the moment a retry is most likely to lose or
repeat a milestone. Ray's workers inherit the variable from the driver that starts Ray.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from study import launch, recovery, results, status
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
def studies(tmp_path_factory):
    """Both studies on one Ray whose workers carry the faults: retried (max_failures=2), and not (0)."""
    import ray

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(recovery.FAULT_ENV, FAULTS)
        launch.init_ray(None, num_cpus=2)
        try:
            retried = failing_spec(tmp_path_factory.mktemp("retried"), "retried", ["builtin_nli", "builtin_swag"],
                                   [0, 10, 20, 30], max_failures=2)
            retried_grid, _ = launch.run(retried)
            fatal = failing_spec(tmp_path_factory.mktemp("fatal"), "fatal", ["builtin_nli"], [0, 10, 20],
                                 max_failures=0)
            fatal_grid, _ = launch.run(fatal)
        finally:
            ray.shutdown()
    return (Path(launch.study_uri(retried)), retried_grid), (Path(launch.study_uri(fatal)), fatal_grid)


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
    assert status.status_command(str(study), as_json=False) == 0
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
    _, (study, grid) = studies
    assert len(grid) == 2 and grid.num_errors == 1
    [failed] = [r for r in grid if r.error is not None]
    assert "InjectedFault" in repr(failed.error)
    df = results.collect(str(study))
    assert set(df[df.intermediate_task == "none"].intermediate_steps) == {0}, "the baseline finished"
    s = status.gather(str(study))
    errored = [t for t in s["trials"] if t["state"] == status.ERRORED]
    assert len(errored) == 1 and "InjectedFault" in errored[0]["error"]
    assert s["trials_by_state"][status.FINISHED] == 1
    assert s["retries"] == {}
