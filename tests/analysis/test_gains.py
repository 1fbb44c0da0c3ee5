import itertools
import math

import numpy as np
import pandas as pd
import pytest

from analysis.aggregate import overall_scores, task_scores
from analysis.gains import bootstrap_mean_ci, gains_over_baseline


def _scores(rows):
    """An overall-scores-like frame from (model, intermediate_task, seed, steps, score) tuples."""
    frame = pd.DataFrame(rows, columns=["model", "intermediate_task", "seed", "intermediate_steps", "score"])
    return frame.assign(study="s", model_params=frame["model"].map({"small": 270_000_000, "large": 3_500_000_000}))


def _row(gains, model="small", task="mnli", steps=100):
    chosen = (gains["model"] == model) & (gains["intermediate_task"] == task) & (gains["intermediate_steps"] == steps)
    return gains[chosen].iloc[0]


def test_three_seeds_give_the_mean_and_a_known_interval():
    # Baselines differ by seed; the paired gains are 1, 2 and 3 points.
    rows = [("small", "none", s, 0, 40.0 + 10 * s) for s in range(3)]
    rows += [("small", "mnli", s, 100, 40.0 + 10 * s + s + 1) for s in range(3)]
    gains = gains_over_baseline(_scores(rows))
    row = _row(gains)
    assert row["gain"] == pytest.approx(2.0)
    assert row["n_seeds"] == 3
    # Resampling 3 seeds gives 27 equally likely draws; the mean is 1 (all three draws the gain 1) with
    # probability 1/27 = 3.7% > 2.5%, and 3 likewise, so the 95% interval is [1, 3].
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((1.0, 3.0))
    # An 80% interval: P(mean <= 4/3) = 4/27 = 14.8% > 10% > P(mean <= 1), so its ends are 4/3 and 8/3.
    narrow = _row(gains_over_baseline(_scores(rows), confidence=0.8))
    assert (narrow["ci_low"], narrow["ci_high"]) == pytest.approx((4 / 3, 8 / 3))
    assert row["baseline"] == pytest.approx(50.0)
    assert row["score"] == pytest.approx(52.0)


def test_the_interval_matches_the_exact_bootstrap_distribution():
    values = np.array([0.0, 1.0, 3.0, 10.0])
    means = np.array([np.mean(draw) for draw in itertools.product(values, repeat=4)])  # all 256 resamples
    exact_low, exact_high = np.quantile(means, [0.025, 0.975], method="inverted_cdf")
    # Both ends lie well inside one atom of the distribution (cumulative 2.0-4.3% and 96.5-98.0%), so
    # 20,000 resamples find the exact quantiles.
    assert (exact_low, exact_high) == (0.5, 7.75)
    mean, low, high = bootstrap_mean_ci(values, n_boot=20_000, seed=1)
    assert mean == pytest.approx(values.mean())
    assert (low, high) == pytest.approx((exact_low, exact_high))


def test_one_seed_gives_an_interval_equal_to_the_mean():
    rows = [("small", "none", 0, 0, 40.0), ("small", "mnli", 0, 100, 43.5)]
    row = _row(gains_over_baseline(_scores(rows)))
    assert row["gain"] == row["ci_low"] == row["ci_high"] == 3.5
    assert row["n_seeds"] == 1


def test_gains_pair_each_seed_with_its_own_baseline():
    # Seed-to-seed spread of 20 points, the same 2-point gain for each seed: a zero-width interval.
    rows = [("small", "none", s, 0, 40.0 + 20 * s) for s in range(3)]
    rows += [("small", "mnli", s, 100, 42.0 + 20 * s) for s in range(3)]
    row = _row(gains_over_baseline(_scores(rows)))
    assert (row["gain"], row["ci_low"], row["ci_high"]) == pytest.approx((2.0, 2.0, 2.0))


def test_the_baseline_is_per_model_and_may_come_from_any_step_zero_row():
    rows = [
        ("small", "none", 0, 0, 40.0),
        ("small", "mnli", 0, 0, 42.0),  # a trial's own step-0 milestone also counts: baseline = 41
        ("small", "mnli", 0, 100, 45.0),
        ("large", "none", 0, 0, 60.0),
        ("large", "mnli", 0, 100, 61.0),
    ]
    gains = gains_over_baseline(_scores(rows))
    assert _row(gains, "small")["gain"] == pytest.approx(4.0)
    assert _row(gains, "large")["gain"] == pytest.approx(1.0)
    assert _row(gains, "large")["model_params"] == 3_500_000_000
    # The step-0 rows are groups too: with two baselines they show how far each is from their mean.
    assert _row(gains, "small", "none", 0)["gain"] == pytest.approx(-1.0)
    assert _row(gains, "small", "mnli", 0)["gain"] == pytest.approx(1.0)
    assert _row(gains, "large", "none", 0)["gain"] == 0.0


def test_several_trials_of_one_seed_are_averaged_before_resampling_seeds():
    rows = [("small", "none", s, 0, 40.0) for s in range(2)]
    rows += [("small", "mnli", 0, 100, 41.0), ("small", "mnli", 0, 100, 43.0), ("small", "mnli", 1, 100, 46.0)]
    row = _row(gains_over_baseline(_scores(rows)))
    assert row["n_seeds"] == 2
    assert row["gain"] == pytest.approx((2.0 + 6.0) / 2)  # seed 0: mean(1, 3) = 2; seed 1: 6


def test_rows_without_a_baseline_are_left_out():
    rows = [("small", "none", 0, 0, 40.0), ("small", "mnli", 0, 100, 42.0), ("small", "mnli", 1, 100, 99.0)]
    rows += [("large", "mnli", 0, 100, 70.0)]
    gains = gains_over_baseline(_scores(rows))
    small = _row(gains, "small")
    assert (small["gain"], small["n_seeds"]) == (2.0, 1)
    large = _row(gains, "large")
    assert large["n_seeds"] == 0
    assert math.isnan(large["gain"]) and math.isnan(large["ci_low"]) and math.isnan(large["ci_high"])


def test_a_lower_is_better_score_counts_a_drop_as_a_gain():
    rows = _scores([("small", "none", 0, 0, 40.0), ("small", "mnli", 0, 100, 30.0)]).assign(higher_is_better=False)
    assert _row(gains_over_baseline(rows))["gain"] == pytest.approx(10.0)


def test_the_same_seed_gives_the_same_intervals():
    rng = np.random.default_rng(3)
    rows = [("small", "none", s, 0, 40.0) for s in range(5)]
    rows += [("small", "mnli", s, 100, 40.0 + float(rng.normal(2, 1))) for s in range(5)]
    first = gains_over_baseline(_scores(rows), seed=7)
    pd.testing.assert_frame_equal(first, gains_over_baseline(_scores(rows), seed=7))
    other = gains_over_baseline(_scores(rows), seed=8)
    assert _row(other)["ci_low"] != _row(first)["ci_low"]


def test_gains_per_task_and_overall_on_a_study(small_study):
    per_task = gains_over_baseline(task_scores(small_study))
    assert {"target_task", "gain", "ci_low", "ci_high", "n_seeds", "intermediate_flops"} <= set(per_task.columns)
    assert len(per_task) == 2 * 3 * 2  # sizes x (baseline, 100, 1000 steps) x tasks
    trained = per_task[per_task["intermediate_steps"] > 0].set_index(["model", "intermediate_steps", "target_task"])
    for steps, expected in ((100, 2.0), (1000, 3.0)):
        for model in ("small", "large"):
            for task in ("xnli", "xquad"):
                row = trained.loc[(model, steps, task)]
                assert (row["gain"], row["ci_low"], row["ci_high"]) == pytest.approx((expected,) * 3)
                assert row["n_seeds"] == 3
    overall = gains_over_baseline(overall_scores(small_study))
    assert "target_task" not in overall.columns
    assert overall.set_index(["model", "intermediate_steps"]).loc[("large", 1000), "gain"] == pytest.approx(3.0)
    assert (overall.loc[overall["intermediate_steps"] == 0, "gain"] == 0.0).all()


def test_bad_arguments_are_errors():
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_mean_ci([1.0, 2.0], n_boot=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean_ci([1.0, 2.0], confidence=1.0)
    with pytest.raises(ValueError, match="seed"):
        gains_over_baseline(pd.DataFrame({"model": [], "score": []}))
    assert all(math.isnan(v) for v in bootstrap_mean_ci([]))
