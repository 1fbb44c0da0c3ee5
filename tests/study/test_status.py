"""`xstudy status`: a study's progress from the files a running study leaves, read without Ray."""

from __future__ import annotations

import json

import pytest

from study import status, status_view
from written_study import trial_id, write_study
from study_fixtures import T0, trial_dir


def test_trials_by_state_and_size(live_study):
    s = status.gather(str(live_study))
    assert s["trials_by_size"]["small"] == {"pending": 0, "running": 1, "finished": 4, "stopped": 1, "errored": 0}
    assert s["trials_by_size"]["large"] == {"pending": 1, "running": 0, "finished": 3, "stopped": 0, "errored": 1}
    assert s["trials_by_state"] == {"pending": 1, "running": 1, "finished": 7, "stopped": 1, "errored": 1}
    assert s["planned_trials"] == {"total": 12, "by_size": {"small": 6, "large": 6},
                                   "baselines_by_size": {"small": 3, "large": 3}}
    assert s["running"] is True
    trials = {t["trial_id"]: t for t in s["trials"]}
    assert trials[trial_id("large", "nli", 0)]["error"] == "RuntimeError: CUDA out of memory"
    # the cut-off last line of result.json is skipped: the running trial's last complete report is at 100 steps
    running = trials[trial_id("small", "nli", 2)]
    assert (running["state"], running["milestones_done"], running["seconds"]) == ("running", [100], 60.0)


def test_milestones_best_and_time(live_study):
    s = status.gather(str(live_study))
    assert s["milestones_done"]["small"] == {"0": {"done": 3, "planned": 3}, "100": {"done": 3, "planned": 3},
                                             "1000": {"done": 1, "planned": 3}}
    assert s["milestones_done"]["large"]["100"] == {"done": 0, "planned": 3}
    best = s["best_so_far"]
    # English dev is test + 20 in English; the best small point is seed 2 at 100 steps (level 50 + 2 + 2)
    assert best["small"]["trial_id"] == trial_id("small", "nli", 2)
    assert best["small"]["intermediate_steps"] == 100
    assert best["small"]["dev"] == pytest.approx((54 + 10 + 20 + 54 + 5 + 20) / 2)
    assert json.loads(best["small"]["hyperparameters"]) == {"intermediate_lr": 1e-4, "target_lr": 3e-5}
    assert best["large"]["intermediate_task"] == "none" and best["large"]["seed"] == 2
    assert s["time"]["elapsed_seconds"] == pytest.approx(600.0)
    assert s["time"]["trial_seconds"] == pytest.approx(6 * 10.0 + 200 + 55 + 60)
    assert s["time"]["trial_seconds_by_size"]["small"] == pytest.approx(3 * 10.0 + 200 + 55 + 60)


def test_status_command_prints_tables_or_the_same_as_json(live_study, capsys):
    assert status_view.status_command(str(live_study), as_json=True) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["trials_by_state"]["stopped"] == 1 and printed["study"] == "syn"
    assert status_view.status_command(str(live_study), as_json=False) == 0
    out = capsys.readouterr().out
    for text in ("trials by state and size", "milestones done", "best so far", "in progress", "1000: 1/3"):
        assert text in out


def test_a_study_with_rows_only_and_a_folder_without_a_study(tmp_path, capsys):
    write_study(str(tmp_path / "rows-only"))
    s = status.gather(str(tmp_path / "rows-only"))
    # without Ray's files, trials whose last milestone is written count as finished
    assert s["trials_by_state"]["finished"] == 12 and s["running"] is False
    assert status_view.status_command(str(tmp_path / "nothing"), as_json=False) == 2
    assert "no study here" in " ".join(capsys.readouterr().err.split())


def test_ray_files_alone_tell_finished_from_stopped(tmp_path):
    """Rows may live elsewhere (or not be visible yet): what a trial reported to Ray Tune also counts."""
    from written_study import spec_json

    root = tmp_path / "ray-only"
    root.mkdir()
    (root / "spec.json").write_text(spec_json())
    config = {"model": "small", "intermediate_task": "nli", "intermediate_lr": 1e-4, "target_lr": 3e-5}
    trial_dir(root, "abcde_00000", {**config, "seed": 0},
               [{"intermediate_steps": 100, "time_total_s": 5.0, "timestamp": T0, "done": False},
                {"intermediate_steps": 1000, "time_total_s": 9.0, "timestamp": T0 + 9, "done": True}])
    trial_dir(root, "abcde_00001", {**config, "seed": 1},
               [{"intermediate_steps": 100, "time_total_s": 5.0, "timestamp": T0 + 5, "done": True}])
    trials = {t["trial_id"]: t for t in status.gather(str(root))["trials"]}
    assert trials["abcde_00000"]["state"] == "finished" and trials["abcde_00000"]["milestones_reported"] == [100, 1000]
    assert trials["abcde_00001"]["state"] == "stopped"  # done before its size's last milestone (1000)


def test_status_is_a_cli_command(live_study):
    from typer.testing import CliRunner

    from study.cli import app

    result = CliRunner().invoke(app, ["status", str(live_study), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)


def test_the_newest_session_snapshot_wins_whatever_its_modification_time(live_study):
    """A resumed study has one experiment state per session; syncing to cloud storage re-uploads the older
    ones too, so an older session's file can carry a later modification time than the newest one."""
    import os

    newest = live_study / "experiment_state-2026-01-01_00-00-00.json"
    state = json.loads(newest.read_text())
    stale = dict(state, trial_data=[[entry[0].replace('"TERMINATED"', '"RUNNING"'), entry[1]]
                                    for entry in state["trial_data"]])
    older = live_study / "experiment_state-2025-12-31_23-59-59.json"  # a session started a second earlier
    older.write_text(json.dumps(stale))
    os.utime(newest, (T0, T0))
    os.utime(older, (T0 + 60, T0 + 60))  # re-uploaded after the newest snapshot
    s = status.gather(str(live_study))
    assert s["trials_by_state"] == {"pending": 1, "running": 1, "finished": 7, "stopped": 1, "errored": 1}


def test_status_names_the_benchmark_and_the_score_convention(tmp_path):
    from pathlib import Path

    from study.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[2] / "search_spaces" / "xlmr_scale.yaml")
    spec = spec.model_copy(update={"qa_score": "f1"})
    (tmp_path / "xlmr").mkdir()
    (tmp_path / "xlmr" / "spec.json").write_text(spec.model_dump_json())
    gathered = status.gather(str(tmp_path / "xlmr"))
    assert gathered["benchmark"] == "XTREME"
    assert "XTREME overall" in gathered["overall_score"] and "F1 only" in gathered["overall_score"]
    assert any("benchmark XTREME" in str(line) for line in status_view.render(gathered))
