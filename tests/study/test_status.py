"""`xstudy status`: a study's progress from the files a running study leaves, read without Ray."""

from __future__ import annotations

import json

import pytest

from study import status
from synthetic import trial_id, write_study

T0 = 1_700_000_000.0  # Unix seconds: when the fake experiment started


def _trial_dir(root, tid, config, lines, partial_line=False, error=None):
    folder = root / f"xstudy_trial_{tid}_0_model={config['model']}_2026-01-01_00-00-00"
    folder.mkdir()
    text = "".join(json.dumps({"trial_id": tid, "config": config, **line}) + "\n" for line in lines)
    if partial_line:
        text += '{"trial_id": "' + tid + '", "intermediate_steps": 10'  # a line being written as we read
    (folder / "result.json").write_text(text)
    (folder / "params.json").write_text(json.dumps(config))
    if error:
        (folder / "error.txt").write_text(f"Traceback (most recent call last):\n  ...\n{error}\n")


@pytest.fixture
def live_study(tmp_path):
    """A study caught mid-run: every state a trial can be in, Ray's files as Ray Tune writes them."""
    root = tmp_path / "syn"
    skip = {("small", "nli", 1, 1000), ("small", "nli", 2, 1000), ("large", "nli", 1, 100), ("large", "nli", 1, 1000),
            ("large", "nli", 2, 100), ("large", "nli", 2, 1000), ("large", "nli", 0, 100), ("large", "nli", 0, 1000)}
    write_study(str(root), skip=skip)

    def config(model, task, seed):
        return {"model": model, "intermediate_task": task, "seed": seed, "intermediate_lr": 1e-4, "target_lr": 3e-5}

    ray_state = {}
    for model in ("small", "large"):
        for seed in range(3):
            tid = trial_id(model, "none", seed)
            _trial_dir(root, tid, config(model, "none", seed),
                       [{"intermediate_steps": 0, "time_total_s": 10.0, "timestamp": T0 + 60, "done": True}])
            ray_state[tid] = "TERMINATED"
    small = [trial_id("small", "nli", s) for s in range(3)]
    _trial_dir(root, small[0], config("small", "nli", 0),
               [{"intermediate_steps": 100, "time_total_s": 50.0, "timestamp": T0 + 300, "done": False},
                {"intermediate_steps": 1000, "time_total_s": 200.0, "timestamp": T0 + 600, "done": True}])
    _trial_dir(root, small[1], config("small", "nli", 1),
               [{"intermediate_steps": 100, "time_total_s": 55.0, "timestamp": T0 + 320, "done": False}])
    _trial_dir(root, small[2], config("small", "nli", 2),
               [{"intermediate_steps": 100, "time_total_s": 60.0, "timestamp": T0 + 400, "done": False}],
               partial_line=True)
    large = [trial_id("large", "nli", s) for s in range(3)]
    _trial_dir(root, large[0], config("large", "nli", 0), [], error="RuntimeError: CUDA out of memory")
    ray_state.update({small[0]: "TERMINATED", small[1]: "TERMINATED", small[2]: "RUNNING", large[0]: "ERROR",
                      large[1]: "PENDING"})  # large[2]: not created by Ray yet
    configs = {trial_id(m, t, s): config(m, t, s) for m in ("small", "large") for t in ("none", "nli") for s in range(3)}
    state = {
        "trial_data": [
            [json.dumps({"trial_id": tid, "status": st, "config": configs[tid]}), json.dumps({"start_time": T0 + 5})]
            for tid, st in ray_state.items()
        ],
        "runner_data": {"_start_time": T0},
        "stats": {"start_time": T0},
    }
    (root / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(state))
    decisions = [
        {"group": "small", "milestone": 100, "trial_id": small[0], "score": 80.0, "cutoff": None, "decision": "CONTINUE"},
        {"group": "small", "milestone": 100, "trial_id": small[1], "score": 70.0, "cutoff": 80.0, "decision": "STOP"},
    ]
    (root / "scheduler.json").write_text(json.dumps(decisions))
    return root


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
    assert status.status_command(str(live_study), as_json=True) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["trials_by_state"]["stopped"] == 1 and printed["study"] == "syn"
    assert status.status_command(str(live_study), as_json=False) == 0
    out = capsys.readouterr().out
    for text in ("trials by state and size", "milestones done", "best so far", "in progress", "1000: 1/3"):
        assert text in out


def test_a_study_with_rows_only_and_a_folder_without_a_study(tmp_path, capsys):
    write_study(str(tmp_path / "rows-only"))
    s = status.gather(str(tmp_path / "rows-only"))
    # without Ray's files, trials whose last milestone is written count as finished
    assert s["trials_by_state"]["finished"] == 12 and s["running"] is False
    assert status.status_command(str(tmp_path / "nothing"), as_json=False) == 2
    assert "no study here" in " ".join(capsys.readouterr().err.split())


def test_ray_files_alone_tell_finished_from_stopped(tmp_path):
    """Rows may live elsewhere (or not be visible yet): what a trial reported to Ray Tune also counts."""
    from synthetic import spec_json

    root = tmp_path / "ray-only"
    root.mkdir()
    (root / "spec.json").write_text(spec_json())
    config = {"model": "small", "intermediate_task": "nli", "intermediate_lr": 1e-4, "target_lr": 3e-5}
    _trial_dir(root, "abcde_00000", {**config, "seed": 0},
               [{"intermediate_steps": 100, "time_total_s": 5.0, "timestamp": T0, "done": False},
                {"intermediate_steps": 1000, "time_total_s": 9.0, "timestamp": T0 + 9, "done": True}])
    _trial_dir(root, "abcde_00001", {**config, "seed": 1},
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
    assert any("benchmark XTREME" in str(line) for line in status.render(gathered))
