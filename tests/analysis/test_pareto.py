import numpy as np
import pandas as pd
import pytest

from analysis.aggregate import overall_scores
from analysis.pareto import ALL_SIZES, frontier_table, is_pareto_efficient, pareto_front


def _brute_force(xs, ys, minimize_x=True, maximize_y=True):
    """The definition, checked pair by pair: j dominates i if at least as good on both, better on one."""
    a = np.asarray(xs, float) * (1 if minimize_x else -1)
    b = np.asarray(ys, float) * (-1 if maximize_y else 1)
    n = len(a)
    mask = np.ones(n, bool)
    for i in range(n):
        if np.isnan(a[i]) or np.isnan(b[i]):
            mask[i] = False
            continue
        for j in range(n):
            if a[j] <= a[i] and b[j] <= b[i] and (a[j] < a[i] or b[j] < b[i]):
                mask[i] = False
    return mask


def test_a_dominated_point_is_dropped():
    #          front   dominated by (1, 5)   front   front
    xs = [0.0, 1.0, 2.0, 3.0, 4.0]
    ys = [1.0, 5.0, 4.0, 6.0, 6.0]
    # (4, 6) costs more than (3, 6) for the same score
    assert is_pareto_efficient(xs, ys).tolist() == [True, True, False, True, False]


def test_equal_x_keeps_only_the_best_y():
    assert is_pareto_efficient([1.0, 1.0, 1.0], [3.0, 5.0, 4.0]).tolist() == [False, True, False]


def test_equal_points_are_all_kept():
    assert is_pareto_efficient([1.0, 1.0, 0.5], [5.0, 5.0, 2.0]).tolist() == [True, True, True]
    assert is_pareto_efficient([1.0, 1.0, 0.5], [5.0, 5.0, 6.0]).tolist() == [False, False, True]


def test_a_single_point_and_no_points():
    assert is_pareto_efficient([3.0], [1.0]).tolist() == [True]
    assert is_pareto_efficient([], []).tolist() == []


def test_nan_is_never_on_the_front_and_dominates_nothing():
    assert is_pareto_efficient([np.nan, 1.0, 2.0], [100.0, 1.0, np.nan]).tolist() == [False, True, False]


def test_directions_can_be_flipped():
    xs, ys = [0.0, 1.0, 2.0], [3.0, 2.0, 1.0]
    assert is_pareto_efficient(xs, ys).tolist() == [True, False, False]
    assert is_pareto_efficient(xs, ys, minimize_x=False, maximize_y=False).tolist() == [False, False, True]
    assert is_pareto_efficient(xs, ys, minimize_x=False).tolist() == [True, True, True]


def test_matches_the_definition_on_random_points_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        xs = rng.integers(0, 6, n).astype(float)  # few distinct values, so ties are common
        ys = rng.integers(0, 6, n).astype(float)
        for minimize_x in (True, False):
            for maximize_y in (True, False):
                got = is_pareto_efficient(xs, ys, minimize_x, maximize_y)
                np.testing.assert_array_equal(got, _brute_force(xs, ys, minimize_x, maximize_y))


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="equal length"):
        is_pareto_efficient([1.0, 2.0], [1.0])


def test_pareto_front_sorts_by_x_and_keeps_the_index():
    points = pd.DataFrame({"cost": [3.0, 0.0, 2.0, 1.0], "score": [6.0, 1.0, 4.0, 5.0]}, index=[10, 11, 12, 13])
    front = pareto_front(points, "cost", "score")
    assert front.index.tolist() == [11, 13, 10]
    assert front["cost"].tolist() == [0.0, 1.0, 3.0]
    with pytest.raises(ValueError, match="'flops'"):
        pareto_front(points, "flops", "score")


def test_frontier_table_per_size_and_across_sizes():
    overall = pd.DataFrame(
        {
            "model": ["small"] * 4 + ["large"] * 3,
            "intermediate_flops": [0.0, 1.0, 2.0, 3.0, 0.0, 10.0, 20.0],
            "score": [50.0, 55.0, 54.0, 56.0, 60.0, 66.0, 65.0],
            "higher_is_better": True,
        }
    )
    per_size = frontier_table(overall, "intermediate_flops")
    assert per_size[["front", "intermediate_flops", "score"]].values.tolist() == [
        ["large", 0.0, 60.0],
        ["large", 10.0, 66.0],
        ["small", 0.0, 50.0],
        ["small", 1.0, 55.0],
        ["small", 3.0, 56.0],
    ]
    assert (per_size["front"] == per_size["model"]).all()
    across = frontier_table(overall, "intermediate_flops", by=None)
    # the large baseline (cost 0, score 60) beats every small point
    assert across[["model", "intermediate_flops", "score"]].values.tolist() == [
        ["large", 0.0, 60.0],
        ["large", 10.0, 66.0],
    ]
    assert (across["front"] == ALL_SIZES).all()


def test_frontier_table_reads_the_direction_from_the_rows():
    overall = pd.DataFrame({"model": "m", "cost": [0.0, 1.0], "score": [5.0, 3.0], "higher_is_better": False})
    assert frontier_table(overall, "cost")["score"].tolist() == [5.0, 3.0]  # lower is better: both on the front
    mixed = overall.assign(higher_is_better=[True, False])
    with pytest.raises(ValueError, match="one direction"):
        frontier_table(mixed, "cost")


def test_frontier_table_on_a_study(small_study):
    overall = overall_scores(small_study)
    front = frontier_table(overall, "intermediate_flops")
    # Per size, the best seed (seed 2) dominates at every milestone, and scores rise with steps.
    assert set(front["seed"]) == {2}
    assert front.groupby("model")["intermediate_steps"].apply(list).to_dict() == {
        "large": [0, 100, 1000],
        "small": [0, 100, 1000],
    }
    assert frontier_table(overall.iloc[:0], "intermediate_flops").empty


def test_study_fronts_per_size_on_steps_and_across_sizes_on_flops():
    from analysis.pareto import FLOPS_AXIS, STEPS_AXIS, study_fronts

    # small: 1 FLOP per step; large: 10 FLOPs per step.
    points = pd.DataFrame(
        {
            "target_task": ["overall"] * 6 + ["xnli"] * 2,
            "model": ["small", "small", "small", "large", "large", "large", "small", "large"],
            "intermediate_steps": [0, 100, 200, 0, 100, 200, 0, 0],
            "intermediate_flops": [0.0, 100.0, 200.0, 0.0, 1000.0, 2000.0, 0.0, 0.0],
            "score": [50.0, 58.0, 57.0, 55.0, 56.0, 62.0, 40.0, 30.0],
            "higher_is_better": True,
        }
    )
    fronts = study_fronts(points, objective="target_task")
    assert list(fronts.columns[:3]) == ["target_task", "front", "cost_axis"]
    overall = fronts[fronts.target_task == "overall"]
    steps = overall[overall.cost_axis == STEPS_AXIS]
    # per size on steps: small at 200 steps (57) is dominated by small at 100 (58); large keeps all three
    assert steps[["front", "intermediate_steps", "score"]].values.tolist() == [
        ["large", 0, 55.0], ["large", 100, 56.0], ["large", 200, 62.0], ["small", 0, 50.0], ["small", 100, 58.0],
    ]
    across = overall[overall.cost_axis == FLOPS_AXIS]
    # across sizes on FLOPs: the large baseline (0 FLOPs, 55) beats the small one; small at 100 FLOPs (58)
    # beats large at 1000 FLOPs (56); large at 2000 FLOPs (62) is the best score
    assert across[["model", "intermediate_flops", "score"]].values.tolist() == [
        ["large", 0.0, 55.0], ["small", 100.0, 58.0], ["large", 2000.0, 62.0],
    ]
    assert (across.front == ALL_SIZES).all()
    xnli = fronts[fronts.target_task == "xnli"]
    assert xnli[["front", "cost_axis", "model"]].values.tolist() == [
        ["large", STEPS_AXIS, "large"], ["small", STEPS_AXIS, "small"], [ALL_SIZES, FLOPS_AXIS, "small"],
    ]
    assert study_fronts(points.iloc[:0], objective="target_task").empty
    with pytest.raises(ValueError, match="objective"):
        study_fronts(points)
