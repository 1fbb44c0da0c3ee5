"""Recommendations from fitted gain curves: the task and steps per size, for a plateau margin or GPU-hours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import curves, recommend

STEPS = (0, 100, 200, 400, 800)


def gain(plateau, s0, c=1.0):
    """A saturating gain curve with gain 0 at step 0: plateau (1 - (1 + s/s0)^-c)."""
    return {s: plateau * (1 - (1 + s / s0) ** -c) for s in STEPS}


def points(per_task, model="m", params=1_000_000, seeds=(0, 1, 2), gpu_hours_per_step=0.01, steps=STEPS):
    rows = []
    for task, gains in per_task.items():
        for seed in seeds:
            for s in steps:
                rows.append({"model": model, "intermediate_task": task, "target_task": "overall", "seed": seed,
                             "intermediate_steps": s, "model_params": params, "score": 50.0 + seed + gains[s],
                             "gain": gains[s], "intermediate_flops": 6e9 * s, "gpu_hours": s * gpu_hours_per_step})
    return pd.DataFrame(rows)


def test_default_budget_is_the_fewest_steps_within_half_a_point_of_the_plateau():
    fitted = curves.fit_curves(points({"nli": gain(4.0, 50.0), "qa": gain(2.0, 20.0)}))
    row = recommend.recommend(fitted).iloc[0]
    assert row["intermediate_task"] == "nli"  # the higher plateau wins
    # 4 (1 - (1 + s/50)^-1) >= 3.5  <=>  1 + s/50 >= 8  <=>  s >= 350
    assert row["steps"] == pytest.approx(350, rel=0.03)
    assert row["predicted_gain"] == pytest.approx(3.5, abs=0.05)
    assert row["score_ci_low"] <= row["predicted_score"] <= row["score_ci_high"]
    assert not row["extrapolated"]
    assert "nli at" in row["why"] and "Next best: qa" in row["why"]


def test_a_plateau_past_the_grid_is_flagged_extrapolated():
    fitted = curves.fit_curves(points({"nli": gain(6.0, 400.0)}))
    row = recommend.recommend(fitted).iloc[0]
    assert row["steps"] > 800 and row["extrapolated"]
    assert "Extrapolated past the last measured milestone (800 steps)" in row["why"]


def test_a_gpu_hour_budget_buys_its_steps_or_stops_at_the_plateau():
    fitted = curves.fit_curves(points({"nli": gain(4.0, 50.0)}))
    short = recommend.recommend(fitted, budget_gpu_hours=1.0).iloc[0]
    assert short["steps"] == 100 and short["gpu_hours"] == pytest.approx(1.0)  # 1 GPU-hour at 0.01 per step
    assert short["predicted_gain"] == pytest.approx(gain(4.0, 50.0)[100], abs=0.05)
    ample = recommend.recommend(fitted, budget_gpu_hours=100.0).iloc[0]
    assert ample["steps"] == pytest.approx(350, rel=0.03)  # no need to spend what buys < 0.5 points


def test_without_gpu_hours_or_curves_the_row_says_why():
    fitted = curves.fit_curves(points({"nli": gain(4.0, 50.0)}, gpu_hours_per_step=np.nan))
    row = recommend.recommend(fitted, budget_gpu_hours=1.0).iloc[0]
    assert pd.isna(row["intermediate_task"]) and "GPU-hours not measured" in row["why"]
    few = curves.fit_curves(points({"nli": {0: 0.0, 100: 2.0, 200: 2.5}}, steps=(0, 100, 200)))
    row = recommend.recommend(few).iloc[0]
    assert row["steps"] == 200 and "no plateau: log-linear fit on 3 milestones" in row["why"]


def test_one_row_per_size_smallest_first():
    both = pd.concat([points({"nli": gain(4.0, 50.0)}, model="big", params=9), points({"nli": gain(2.0, 50.0)},
                                                                                    model="little", params=1)])
    assert recommend.recommend(curves.fit_curves(both))["model"].tolist() == ["little", "big"]
    with pytest.raises(ValueError, match="budget-gpu-hours"):
        recommend.recommend(curves.fit_curves(both), budget_gpu_hours=0)


def test_when_intermediate_training_only_hurts_the_answer_is_not_to_train():
    fitted = curves.fit_curves(points({"nli": gain(-2.0, 50.0)}))
    row = recommend.recommend(fitted).iloc[0]
    assert (row["intermediate_task"], row["steps"]) == ("none", 0)
    assert row["why"].startswith("no intermediate training")


def test_a_step_count_before_the_first_milestone_is_raised_to_it():
    """A curve that has gained everything by its first milestone: the fit cannot say when in between."""
    jump = {s: (0.0 if s == 0 else 4.0) for s in STEPS}
    row = recommend.recommend(curves.fit_curves(points({"nli": jump}))).iloc[0]
    assert row["steps"] == 100 and "the first milestone" in row["why"]
