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


# ----------------------------------------------------------------------------- per language, across sizes
from analysis.aggregate import language_scores  # noqa: E402
from analysis.gains import GROWS, SHRINKS, TOO_FEW_SEEDS, WITHIN_NOISE, bootstrap_diff_ci, seed_gains, size_comparison  # noqa: E402


def test_many_groups_get_exactly_the_intervals_of_one_group_at_a_time():
    # The intervals are computed for all groups with one draw of indices per seed count; each group must
    # still get what bootstrap_mean_ci gives it alone.
    rng = np.random.default_rng(5)
    rows = []
    for model in ("small", "large"):
        for seed in range(4):
            rows.append((model, "none", seed, 0, 40.0))
            for steps in (10, 100, 1000):
                if model == "large" and seed == 3 and steps == 10:
                    continue  # a group with 3 seeds beside groups with 4
                rows.append((model, "mnli", seed, steps, 40.0 + float(rng.normal(2, 3))))
    frame = _scores(rows)
    gains = gains_over_baseline(frame, n_boot=500, seed=11)
    for row in gains[gains["intermediate_steps"] > 0].itertuples():
        chosen = frame[(frame.model == row.model) & (frame.intermediate_steps == row.intermediate_steps)]
        expected = bootstrap_mean_ci(chosen["score"].to_numpy() - 40.0, n_boot=500, seed=11)
        assert (row.gain, row.ci_low, row.ci_high) == pytest.approx(expected, abs=1e-12)
    assert set(gains.loc[gains.intermediate_steps == 10, "n_seeds"]) == {3, 4}


def test_gains_per_language_pair_each_language_with_its_own_baseline(make_results, make_scores):
    rows = []
    for seed in range(2):
        base = {"model": "small", "seed": seed, "trial_id": f"b{seed}"}
        trained = {"model": "small", "seed": seed, "intermediate_steps": 100, "trial_id": f"t{seed}"}
        rows += make_scores({"xnli": {"en": 80.0, "sw": 40.0 + seed}}, **base)
        rows += make_scores({"xnli": {"en": 81.0, "sw": 45.0 + 3 * seed}}, **trained)
    gains = gains_over_baseline(language_scores(make_results(rows)))
    trained = gains[gains.intermediate_steps == 100].set_index("language")
    assert trained.loc["en", "gain"] == pytest.approx(1.0)
    assert trained.loc["sw", "gain"] == pytest.approx((5.0 + 7.0) / 2)  # seed 0: 45 - 40; seed 1: 48 - 41
    assert (trained.loc["sw", "ci_low"], trained.loc["sw", "ci_high"]) == pytest.approx((5.0, 7.0))
    assert {"target_task", "language"} <= set(gains.columns)


def test_seed_gains_are_paired_per_seed():
    rows = [("small", "none", s, 0, 40.0 + 10 * s) for s in range(2)]
    rows += [("small", "mnli", s, 100, 41.0 + 12 * s) for s in range(2)]
    per_seed = seed_gains(_scores(rows))
    trained = per_seed[per_seed.intermediate_steps == 100].set_index("seed")["gain"]
    assert trained.to_dict() == {0: 1.0, 1: 3.0}


def test_the_difference_interval_of_two_independent_samples():
    # The smaller size's gains are 0 and 1, the larger's always 10: the larger's resampled mean is 10,
    # the smaller's is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4. So the difference is 10, 9.5 or 9,
    # and both 2.5% tails fall inside the atoms at 9 and 10.
    assert bootstrap_diff_ci([0.0, 1.0], [10.0, 10.0]) == pytest.approx((9.5, 9.0, 10.0))
    # Against a constant, the interval is the other sample's (the three-seed interval [1, 3], see above).
    assert bootstrap_diff_ci([0.0, 0.0], [1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0, 3.0))
    assert all(math.isnan(v) for v in bootstrap_diff_ci([], [1.0]))


def test_size_comparison_says_whether_the_gain_grows_beyond_the_noise():
    rows = []
    for model, gains_by_seed in (("small", [0.0, 1.0]), ("large", [10.0, 10.0])):
        for seed, gain in enumerate(gains_by_seed):
            rows += [(model, "none", seed, 0, 50.0 + seed), (model, "mnli", seed, 100, 50.0 + seed + gain)]
    row = size_comparison(_scores(rows)).iloc[0]
    assert (row["smaller"], row["larger"]) == ("small", "large")  # by parameters, not by name
    assert (row["gain_smaller"], row["gain_larger"]) == pytest.approx((0.5, 10.0))
    assert (row["difference"], row["ci_low"], row["ci_high"]) == pytest.approx((9.5, 9.0, 10.0))
    assert (row["n_seeds_smaller"], row["n_seeds_larger"], row["verdict"]) == (2, 2, GROWS)


def test_size_comparison_verdicts():
    def verdict(small_gains, large_gains):
        rows = []
        for model, values in (("small", small_gains), ("large", large_gains)):
            for seed, gain in enumerate(values):
                rows += [(model, "none", seed, 0, 50.0), (model, "mnli", seed, 100, 50.0 + gain)]
        return size_comparison(_scores(rows))["verdict"].tolist()

    assert verdict([5.0, 5.0], [1.0, 2.0]) == [SHRINKS]
    assert verdict([0.0, 4.0], [1.0, 3.0]) == [WITHIN_NOISE]  # the smaller's spread covers the larger's gains
    assert verdict([0.0], [9.0, 9.0]) == [TOO_FEW_SEEDS]  # one seed has no spread to judge a difference by


def test_size_comparison_pairs_every_size_and_only_shared_step_counts():
    rows = []
    for model, steps in (("small", (100, 200)), ("large", (100, 300)), ("huge", (100,))):
        for seed in range(2):
            rows.append((model, "none", seed, 0, 50.0))
            rows += [(model, "mnli", seed, s, 52.0) for s in steps]
    frame = _scores(rows).assign(model_params=lambda f: f["model"].map({"small": 1, "large": 2, "huge": 3}))
    comparison = size_comparison(frame)
    assert comparison[["smaller", "larger", "intermediate_steps"]].values.tolist() == [
        ["small", "large", 100], ["small", "huge", 100], ["large", "huge", 100],
    ]
    assert (comparison["difference"] == 0.0).all()
    assert size_comparison(frame[frame.model == "small"]).empty
