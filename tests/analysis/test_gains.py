import math

import numpy as np
import pandas as pd
import pytest

from analysis.aggregate import overall_scores, task_scores
from scipy import stats

from analysis.gains import gains_over_baseline, mean_ci


def _scores(rows):
    """An overall-scores-like frame from (model, intermediate_task, seed, steps, score) tuples."""
    frame = pd.DataFrame(rows, columns=["model", "intermediate_task", "seed", "intermediate_steps", "score"])
    return frame.assign(study="s", model_params=frame["model"].map({"small": 270_000_000, "large": 3_500_000_000}))


def _row(gains, model="small", task="mnli", steps=100):
    chosen = (gains["model"] == model) & (gains["intermediate_task"] == task) & (gains["intermediate_steps"] == steps)
    return gains[chosen].iloc[0]


def test_three_seeds_give_the_mean_and_the_paired_t_interval():
    # Baselines differ by seed; the paired gains are 1, 2 and 3 points: mean 2, sd 1.
    rows = [("small", "none", s, 0, 40.0 + 10 * s) for s in range(3)]
    rows += [("small", "mnli", s, 100, 40.0 + 10 * s + s + 1) for s in range(3)]
    gains = gains_over_baseline(_scores(rows))
    row = _row(gains)
    assert row["gain"] == pytest.approx(2.0)
    assert row["n_seeds"] == 3
    # t with 2 degrees of freedom: t_0.975 = 4.302653, so the interval is 2 +- 4.302653 / sqrt(3).
    half = 4.302652729911275 / math.sqrt(3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((2.0 - half, 2.0 + half))
    narrow = _row(gains_over_baseline(_scores(rows), confidence=0.8))
    half80 = stats.t.ppf(0.9, 2) / math.sqrt(3)  # 1.885618 / sqrt(3)
    assert (narrow["ci_low"], narrow["ci_high"]) == pytest.approx((2.0 - half80, 2.0 + half80))
    assert row["baseline"] == pytest.approx(50.0)
    assert row["score"] == pytest.approx(52.0)


def test_one_seed_gives_no_interval():
    rows = [("small", "none", 0, 0, 40.0), ("small", "mnli", 0, 100, 43.5)]
    row = _row(gains_over_baseline(_scores(rows)))
    assert row["gain"] == 3.5
    assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
    assert row["n_seeds"] == 1


def _simulated_study(model: str, n_seeds: int, draws: int, true_gain: float, rng: np.random.Generator) -> pd.DataFrame:
    """`draws` independent repeats of one configuration of `model`, each its own group (intermediate task
    `mnli-<draw>`, with seeds of its own so that it pairs only with its own baselines).

    Each seed has its own level (sd 3 points, shared by the baseline and the trained model, as the same
    target fine-tuning seed is), plus noise of sd 1.5 on each score.
    """
    seed_effect = rng.normal(50.0, 3.0, size=(draws, n_seeds))
    baseline = seed_effect + rng.normal(0.0, 1.5, size=(draws, n_seeds))
    trained = seed_effect + true_gain + rng.normal(0.0, 1.5, size=(draws, n_seeds))
    seed = np.arange(draws * n_seeds)
    task = np.repeat([f"mnli-{d}" for d in range(draws)], n_seeds)
    return pd.concat([
        pd.DataFrame({"model": model, "intermediate_task": "none", "seed": seed, "intermediate_steps": 0,
                      "score": baseline.ravel()}),
        pd.DataFrame({"model": model, "intermediate_task": task, "seed": seed, "intermediate_steps": 100,
                      "score": trained.ravel()}),
    ], ignore_index=True)


@pytest.mark.parametrize("n_seeds", [2, 3, 5])
def test_the_95_percent_gain_interval_covers_the_true_gain_95_percent_of_the_time(n_seeds):
    true_gain = 2.0
    frame = _simulated_study("small", n_seeds, draws=2000, true_gain=true_gain, rng=np.random.default_rng(100 + n_seeds))
    gains = gains_over_baseline(frame)
    trained = gains[gains["intermediate_steps"] == 100]
    assert len(trained) == 2000 and (trained["n_seeds"] == n_seeds).all()
    coverage = ((trained["ci_low"] <= true_gain) & (true_gain <= trained["ci_high"])).mean()
    assert 0.93 <= coverage <= 0.97, f"{n_seeds} seeds: the 95% interval covered {coverage:.1%}"


def test_mean_ci_is_the_t_interval():
    mean, low, high = mean_ci([1.0, 2.0, 6.0])
    half = stats.t.ppf(0.975, 2) * np.std([1.0, 2.0, 6.0], ddof=1) / math.sqrt(3)
    assert (mean, low, high) == pytest.approx((3.0, 3.0 - half, 3.0 + half))
    one = mean_ci([4.0])
    assert one[0] == 4.0 and math.isnan(one[1]) and math.isnan(one[2])


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
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([1.0, 2.0], confidence=1.0)
    with pytest.raises(ValueError, match="confidence"):
        gains_over_baseline(_scores([("small", "none", 0, 0, 40.0)]), confidence=0.0)
    with pytest.raises(ValueError, match="seed"):
        gains_over_baseline(pd.DataFrame({"model": [], "score": []}))
    assert all(math.isnan(v) for v in mean_ci([]))


# ----------------------------------------------------------------------------- per language, across sizes
from analysis.aggregate import language_scores  # noqa: E402
from analysis.gains import GROWS, SHRINKS, TOO_FEW_SEEDS, WITHIN_NOISE, seed_gains, size_comparison, welch_diff_ci  # noqa: E402


def test_many_groups_get_exactly_the_intervals_of_one_group_at_a_time():
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
    gains = gains_over_baseline(frame)
    for row in gains[gains["intermediate_steps"] > 0].itertuples():
        chosen = frame[(frame.model == row.model) & (frame.intermediate_steps == row.intermediate_steps)]
        expected = mean_ci(chosen["score"].to_numpy() - 40.0)
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
    half = stats.t.ppf(0.975, 1) * math.sqrt(2.0) / math.sqrt(2)  # gains 5 and 7: sd sqrt(2), 1 df
    assert (trained.loc["sw", "ci_low"], trained.loc["sw", "ci_high"]) == pytest.approx((6.0 - half, 6.0 + half))
    assert {"target_task", "language"} <= set(gains.columns)


def test_seed_gains_are_paired_per_seed():
    rows = [("small", "none", s, 0, 40.0 + 10 * s) for s in range(2)]
    rows += [("small", "mnli", s, 100, 41.0 + 12 * s) for s in range(2)]
    per_seed = seed_gains(_scores(rows))
    trained = per_seed[per_seed.intermediate_steps == 100].set_index("seed")["gain"]
    assert trained.to_dict() == {0: 1.0, 1: 3.0}


def test_the_difference_interval_is_welchs():
    a, b = [0.0, 1.0, 2.0], [10.0, 14.0]
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 2
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 1)  # Welch-Satterthwaite
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert welch_diff_ci(a, b) == pytest.approx((11.0, 11.0 - half, 11.0 + half))
    # scipy's Welch test agrees: the 95% interval excludes 0 exactly when p < 0.05.
    assert (welch_diff_ci(a, b)[1] > 0) == (stats.ttest_ind(b, a, equal_var=False).pvalue < 0.05)
    assert all(math.isnan(v) for v in welch_diff_ci([], [1.0]))
    one = welch_diff_ci([1.0], [2.0, 3.0])
    assert one[0] == 1.5 and math.isnan(one[1]) and math.isnan(one[2])


def test_size_comparison_says_whether_the_gain_grows_beyond_the_noise():
    rows = []
    for model, gains_by_seed in (("small", [0.0, 1.0, 0.5]), ("large", [10.0, 11.0, 10.5])):
        for seed, gain in enumerate(gains_by_seed):
            rows += [(model, "none", seed, 0, 50.0 + seed), (model, "mnli", seed, 100, 50.0 + seed + gain)]
    row = size_comparison(_scores(rows)).iloc[0]
    assert (row["smaller"], row["larger"]) == ("small", "large")  # by parameters, not by name
    assert (row["gain_smaller"], row["gain_larger"]) == pytest.approx((0.5, 10.5))
    expected = welch_diff_ci([0.0, 1.0, 0.5], [10.0, 11.0, 10.5])
    assert (row["difference"], row["ci_low"], row["ci_high"]) == pytest.approx(expected)
    assert (row["n_seeds_smaller"], row["n_seeds_larger"], row["verdict"]) == (3, 3, GROWS)


def test_size_comparison_verdicts():
    def verdict(small_gains, large_gains):
        rows = []
        for model, values in (("small", small_gains), ("large", large_gains)):
            for seed, gain in enumerate(values):
                rows += [(model, "none", seed, 0, 50.0), (model, "mnli", seed, 100, 50.0 + gain)]
        return size_comparison(_scores(rows))

    assert verdict([5.0, 5.2, 4.8], [1.0, 1.2, 0.8])["verdict"].tolist() == [SHRINKS]
    assert verdict([0.0, 4.0], [1.0, 3.0])["verdict"].tolist() == [WITHIN_NOISE]
    too_few = verdict([0.0], [9.0, 9.0])  # one seed has no spread to judge a difference by
    assert too_few["verdict"].tolist() == [TOO_FEW_SEEDS]
    assert too_few[["ci_low", "ci_high"]].isna().all(axis=None)


@pytest.mark.parametrize("n_seeds", [2, 3, 5])
def test_the_size_verdict_is_wrong_under_the_null_at_most_5_percent_of_the_time(n_seeds):
    # Two sizes with the same true gain (2 points): every "grows" or "shrinks" is wrong.
    rng = np.random.default_rng(200 + n_seeds)
    both = pd.concat([_simulated_study("small", n_seeds, 2000, 2.0, rng).assign(model_params=1),
                      _simulated_study("large", n_seeds, 2000, 2.0, rng).assign(model_params=2)], ignore_index=True)
    comparison = size_comparison(both)
    assert len(comparison) == 2000
    wrong = comparison["verdict"].isin([GROWS, SHRINKS]).mean()
    assert wrong <= 0.05, f"{n_seeds} seeds: {wrong:.1%} of the verdicts call a null difference real"


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
