"""study.grid: the one enumeration of a study's trials, which launch runs, status counts and the plan costs."""

from __future__ import annotations

import json

from study.grid import combinations, grid_points, trial_counts
from study.plan import plan
from study.status import _planned
from helpers import small_spec


def test_points_in_both_schedules_with_samples_and_grid_searched_values(tmp_path):
    spec = small_spec(str(tmp_path), seeds=[0, 1], intermediate_tasks=["builtin_nli"],  # `none` is added
                      hyperparameters={"intermediate_lr": 1e-3, "target_lr": {"grid": [1e-3, 1e-4, 1e-5]}},
                      search={"num_samples": 2})
    branch = grid_points(spec)
    # 2 samples x 2 sizes x (none + builtin_nli) x 2 seeds
    assert len(branch) == 16 and {p["sample"] for p in branch} == {0, 1}
    assert [p["seed"] for p in branch[:2]] == [0, 1], "seeds innermost"
    independent = grid_points(spec, "independent")
    # builtin_nli once per budget (10 and 20), the baseline once
    assert len(independent) == 2 * 2 * (1 + 2) * 2
    assert combinations(spec) == 3
    counts = trial_counts(spec)
    assert counts == {"tiny": {"trials": 24, "baselines": 12}, "small": {"trials": 24, "baselines": 12}}


def test_status_and_plan_count_what_launch_runs(tmp_path):
    spec = small_spec(str(tmp_path), intermediate_tasks=["builtin_nli"], seeds=[0, 1, 2])
    planned = _planned(json.loads(spec.model_dump_json()))
    assert planned["by_size"] == {"tiny": 6, "small": 6}, "the baseline is counted though the spec does not list it"
    assert planned["baselines_by_size"] == {"tiny": 3, "small": 3}
    assert planned["total"] == len(grid_points(spec))
    from study.flops import Shape
    from study.plan import SplitProfile

    given = SplitProfile(tokens=10.0, pairs=100.0, examples=100, estimate="given")
    p = plan(spec, shapes={"tiny": (1, Shape(1, 1, 1)), "small": (1, Shape(1, 1, 1))},
             profiles={(m, t): given for m in ("tiny", "small") for t in ("builtin_nli", "builtin_pos", "builtin_xnli")})
    assert p["trials"]["branch"] == len(grid_points(spec))
    assert p["trials"]["independent"] == len(grid_points(spec, "independent"))
    assert _planned({"models": []}) is None, "no sizes: no count"


def test_a_config_is_flattened_in_one_place_and_the_trial_takes_it_flat(tmp_path):
    import pytest

    from study.grid import POINT, point_of
    from study.scheduler import config_key
    from study.trial import Trial

    point = {"model": "tiny", "intermediate_task": "builtin_nli", "seed": 1}
    nested = {POINT: point, "target_lr": 1e-3}
    flat = {**point, "target_lr": 1e-3}
    assert point_of(nested) == flat
    assert point_of(flat) == flat, "a study made before the point was nested: read as it is"
    assert point_of({POINT: "not a mapping", "target_lr": 1}) == {"target_lr": 1}
    assert nested == {POINT: point, "target_lr": 1e-3}, "the config is not changed"
    assert config_key(nested) == config_key(flat) == config_key({**nested, POINT: {**point, "seed": 2}})
    with pytest.raises(ValueError, match="flat"):
        Trial(small_spec(str(tmp_path)), nested, "t")


def test_point_of_is_still_found_where_the_pickles_of_earlier_studies_look_for_it():
    """Tune pickles the scheduler of a study with the functions it holds; those of studies made before point_of
    moved to study.grid name it `study.trial.point_of`, and `xstudy resume` unpickles them."""
    import pickle

    import study.grid
    import study.trial

    earlier = pickle.dumps(study.grid.point_of, protocol=0).replace(b"study.grid", b"study.trial")  # text opcodes
    assert pickle.loads(earlier) is study.grid.point_of
