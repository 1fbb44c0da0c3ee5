"""study.preflight: the checks before a study starts or resumes, each naming the folder or file and the rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.grid import grid_points
from study.preflight import LaunchError, check_experiment_state, check_new_study, check_storage, read_study_spec
from study.spec import parse_spec

SPEC = {"study": {"name": "s"}, "models": [{"name": "m", "source": {"builtin": "tiny"}, "steps": [0, 10]}],
        "intermediate_tasks": ["none", "builtin_nli"], "target_tasks": ["builtin_xnli"], "seeds": [0, 1],
        "hyperparameters": {"target_lr": 3e-5}}


@pytest.fixture
def spec():
    return parse_spec(SPEC)


def write_state(folder: Path, trials: list, name: str = "experiment_state-2026-01-01_00-00-00.json") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps({"trial_data": trials}))


def trial(tid: str, point: dict, **hyper) -> list:
    """Ray's record of a trial: [trial JSON, runtime metadata JSON]."""
    return [json.dumps({"trial_id": tid, "config": {"point": point, **hyper}}), "{}"]


def test_a_new_study_needs_a_folder_without_one(tmp_path, spec):
    check_new_study(spec, str(tmp_path / "absent"))
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "notes.txt").write_text("mine")
    check_new_study(spec, str(tmp_path / "s"))
    (tmp_path / "s" / "rows").mkdir()
    (tmp_path / "s" / "spec.json").write_text("{}")
    with pytest.raises(LaunchError, match=r"study.name \(s\): .*/s already holds a study \(rows, spec.json\); "
                                          r"continue it with `xstudy resume .*`"):
        check_new_study(spec, str(tmp_path / "s"))


def test_storage_that_cannot_be_written_is_refused(tmp_path, spec):
    check_storage(spec, str(tmp_path / "new" / "s"))
    (tmp_path / "afile").write_text("")
    with pytest.raises(LaunchError, match=r"study.storage \(\./results\): cannot write the study folder .*afile/s: "
                                          r".*nothing was started"):
        check_storage(spec, str(tmp_path / "afile" / "s"))


def test_the_stored_spec_is_read_and_validated(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "spec.json").write_text(json.dumps(SPEC))
    with pytest.raises(FileNotFoundError, match=r"no study here \(expected .*/spec.json.*\); studies below it: .*/a$"):
        read_study_spec(str(tmp_path))
    assert read_study_spec(str(tmp_path / "a")).seeds == [0, 1]
    (tmp_path / "a" / "spec.json").write_text("{not json")
    with pytest.raises(LaunchError, match=r"not the spec of a study \(not valid JSON"):
        read_study_spec(str(tmp_path / "a"))
    (tmp_path / "a" / "spec.json").write_text(json.dumps({**SPEC, "target_tasks": ["no_such_task"]}))
    with pytest.raises(LaunchError, match=r"does not validate against this version of xstudy \(1 error\(s\)\).*\n  "
                                          r"target_tasks.*no_such_task"):
        read_study_spec(str(tmp_path / "a"))


def test_the_experiment_state_must_hold_only_the_grids_trials(tmp_path, spec):
    points = grid_points(spec)
    with pytest.raises(FileNotFoundError, match="no Ray Tune experiment state"):
        check_experiment_state(str(tmp_path), spec, points)
    good = [trial(f"t{i}", p, target_lr=1e-5) for i, p in enumerate(points)]
    write_state(tmp_path, good)
    check_experiment_state(str(tmp_path), spec, points)
    # Studies made by earlier versions keep the grid point flat in the config.
    flat = [[json.dumps({"trial_id": "old", "config": {**points[0], "target_lr": 1e-5}})]]
    write_state(tmp_path, flat)
    check_experiment_state(str(tmp_path), spec, points)
    # The latest state file (Ray names them by time) is the one checked.
    bad = [trial("x", {**points[0], "seed": 7}, target_lr=1e-5), trial("y", points[1], lr=1e-5), "garbage"]
    write_state(tmp_path, bad, "experiment_state-2026-02-01_00-00-00.json")
    with pytest.raises(LaunchError) as err:
        check_experiment_state(str(tmp_path), spec, points)
    lines = str(err.value).splitlines()
    assert "experiment_state-2026-02-01_00-00-00.json" in lines[0]
    assert lines[1:] == ["  trial x: its grid point {'model': 'm', 'intermediate_task': 'none', 'seed': 7} is not "
                         "in spec.json's grid",
                         "  trial y: hyperparameters ['lr'], but spec.json has ['target_lr']",
                         "  trial_data[2]: not a trial record"]


def test_many_problems_are_listed_up_to_five_and_counted(tmp_path, spec):
    write_state(tmp_path, [trial(f"t{i}", {"model": "other", "intermediate_task": "none", "seed": i}) for i in range(8)])
    with pytest.raises(LaunchError, match=r"trial t4: .*\n  \.\.\. and 3 more$"):
        check_experiment_state(str(tmp_path), spec, grid_points(spec))
    write_state(tmp_path, {"not": "a list"}, "experiment_state-2027.json")
    with pytest.raises(LaunchError, match=r"cannot be read \(TypeError: trial_data is not a list\)"):
        check_experiment_state(str(tmp_path), spec, grid_points(spec))
