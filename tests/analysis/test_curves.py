"""Fitted duration curves: recovery of known curves, honest intervals, rows with reasons for bad data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import curves

STEPS = np.array([0.0, 100.0, 200.0, 400.0, 800.0])
TRUE = {"a": 60.0, "b": 400.0, "c": 0.8, "s0": 100.0}  # f(0) = 50, f(800) = 59.1: the plateau lies past the grid


def truth(steps, a=TRUE["a"], b=TRUE["b"], c=TRUE["c"], s0=TRUE["s0"]):
    return a - b * np.power(np.asarray(steps, dtype=float) + s0, -c)


def seeds_of(rng, n_seeds=3, seed_sd=1.0, eval_sd=0.5, steps=STEPS):
    """Per seed: the true curve shifted by the seed's own offset, plus independent evaluation noise per point."""
    s, y, k = [], [], []
    for seed in range(n_seeds):
        offset = rng.normal(0.0, seed_sd)
        s.append(steps)
        y.append(truth(steps) + offset + rng.normal(0.0, eval_sd, steps.size))
        k.append(np.full(steps.size, seed))
    return np.concatenate(s), np.concatenate(y), np.concatenate(k)


def test_synthetic_recovery_the_95_percent_plateau_interval_covers_90_to_98_percent():
    """500 draws of 3 seeds x 5 milestones with seed offsets (sd 1) and evaluation noise (sd 0.5)."""
    rng = np.random.default_rng(20260101)
    covered, widths = [], []
    for _ in range(500):
        curve = curves.fit_curve(*seeds_of(rng))
        plateau, low, high = curve.plateau()
        covered.append(low <= TRUE["a"] <= high)
        widths.append(high - low)
    coverage = float(np.mean(covered))
    assert 0.90 <= coverage <= 0.98, coverage
    assert np.median(widths) < 40.0  # an interval that covers by being endless would pass the line above


def test_noise_free_points_give_back_the_parameters_and_steps_to_the_plateau():
    curve = curves.fit_curve(np.tile(STEPS, 2), np.tile(truth(STEPS), 2), np.repeat([0, 1], STEPS.size))
    assert curve.family == curves.SATURATING
    assert curve.plateau()[0] == pytest.approx(TRUE["a"], abs=0.05)
    # 90% of the way from f(0) to a: (s + s0)^-c = 0.1 s0^-c  ->  s = s0 (10^(1/c) - 1)
    expected = TRUE["s0"] * (10 ** (1 / TRUE["c"]) - 1)
    assert curve.steps_to_fraction(0.9) == pytest.approx(expected, rel=0.03)
    slope = curve.slope([200.0])[0]
    exact = TRUE["b"] * TRUE["c"] * (200.0 + TRUE["s0"]) ** (-TRUE["c"] - 1)
    assert slope == pytest.approx(exact, rel=0.02)


def test_one_seed_gets_the_fits_own_interval_and_says_so():
    rng = np.random.default_rng(3)
    y = truth(STEPS) + rng.normal(0, 0.3, STEPS.size)
    curve = curves.fit_curve(STEPS, y)
    mean, low, high = curve.predict([300.0])
    assert curve.interval.startswith("fit residuals (1 seed")
    assert low[0] < mean[0] < high[0]


def test_fewer_milestones_fall_back_to_simpler_families():
    three = curves.fit_curve([0, 100, 200], [50, 53, 54])
    assert three.family == curves.LOG_LINEAR and np.isnan(three.plateau()[0])
    two = curves.fit_curve([0, 100], [50, 53])
    assert two.family == curves.LINEAR and two.mean([50.0])[0] == pytest.approx(51.5)


@pytest.mark.parametrize(("steps", "values", "reason"), [
    ([0, 100, 200, 400], [np.nan] * 4, "no finite score"),
    ([100, 100], [50, 51], "too few milestones"),
])
def test_unfittable_curves_raise_a_reason(steps, values, reason):
    with pytest.raises(curves.CurveError, match=reason):
        curves.fit_curve(steps, values)


def points_table(gain_by_steps: dict[str, dict[int, float]], seeds=(0, 1, 2), model="m", params=1_000_000):
    rows = []
    for task, gains in gain_by_steps.items():
        for seed in seeds:
            for steps, gain in gains.items():
                rows.append({"model": model, "intermediate_task": task, "target_task": "overall", "seed": seed,
                             "intermediate_steps": steps, "model_params": params, "score": 50.0 + seed + gain,
                             "gain": gain, "intermediate_flops": 6.0 * params * 1000 * steps, "gpu_hours": np.nan})
    return pd.DataFrame(rows)


def test_bad_curves_get_rows_with_reasons_never_an_error():
    points = pd.concat([
        points_table({"flat": {0: 0.0, 100: 0.0, 200: 0.0, 400: 0.0}}),
        points_table({"nan": {0: 0.0, 100: np.nan, 200: np.nan}}),
        points_table({"short": {0: 0.0}}),
    ], ignore_index=True)
    points.loc[points["intermediate_task"] == "nan", "score"] = np.nan
    table = curves.fit_curves(points).table.set_index(["intermediate_task", "quantity"])
    assert table.loc[("flat", "gain"), "family"] == curves.CONSTANT
    assert "flat" in table.loc[("flat", "gain"), "reason"]
    assert table.loc[("flat", "gain"), "plateau"] == 0.0
    assert table.loc[("nan", "score"), "family"] == curves.NONE
    assert "no finite score" in table.loc[("nan", "score"), "reason"]
    assert "too few milestones (1)" in table.loc[("short", "gain"), "reason"]
    assert set(table["n_seeds"]) <= {0, 3}


def test_curve_rows_carry_costs_holdout_and_extrapolation_flags():
    gains = {s: float(truth(s) - truth(0)) for s in (0, 100, 200, 400, 800)}
    points = points_table({"nli": gains})
    points["gpu_hours"] = points["intermediate_steps"] * 0.01
    fitted = curves.fit_curves(points)
    row = fitted.table.set_index("quantity").loc["gain"]
    assert row["family"] == curves.SATURATING and row["n_milestones"] == 5 and row["n_seeds"] == 3
    assert row["plateau"] == pytest.approx(TRUE["a"] - truth(0), abs=0.1)
    assert row["steps_to_90_extrapolated"]  # 90% of the way is reached past 800 steps
    assert row["gpu_hours_per_step"] == pytest.approx(0.01)
    assert row["gpu_hours_to_90"] == pytest.approx(row["steps_to_90"] * 0.01)
    # The last milestone held back: the 4 earlier ones predict it almost exactly on a noise-free curve.
    assert row["holdout_milestone"] == 800
    assert abs(row["holdout_error"]) < 0.2
    marginal = dict(item.split(":") for item in row["marginal_per_1k_steps"].split(";"))
    assert float(marginal["400"]) == pytest.approx(1000 * TRUE["b"] * TRUE["c"] * 500 ** (-1.8), rel=0.05)
    bands = curves.bands(fitted, "gain")
    assert bands["extrapolated"].any() and not bands[bands["intermediate_steps"] <= 800]["extrapolated"].any()
    assert (bands["low"] <= bands["mean"] + 1e-9).all() and (bands["mean"] <= bands["high"] + 1e-9).all()


def test_sizes_across_budgets_and_crossover():
    """A small size that gains fast but flattens at +4, a large one 2 points lower at step 0 that gains
    slowly to +10: at small budgets the small size is ahead, at large ones the large one."""
    steps = (0, 100, 200, 400, 800)
    small = points_table({"nli": {s: 4.0 * (1 - (1 + s / 20) ** -1.0) for s in steps}}, model="small", params=1_000_000)
    large = points_table({"nli": {s: 10.0 * (1 - (1 + s / 400) ** -1.0) - 2.0 for s in steps}}, model="large",
                         params=2_000_000)
    rng = np.random.default_rng(0)
    points = pd.concat([small, large], ignore_index=True)
    points["score"] += rng.normal(0, 0.05, len(points))
    fitted = curves.fit_curves(points)
    best = curves.best_size_by_budget(fitted)
    assert best["best_model"].iloc[0] == "small" and best["best_model"].iloc[-1] == "large"
    assert best["probability_best"].between(0, 1).all()
    cross = curves.crossovers(fitted).iloc[0]
    assert (cross["smaller"], cross["larger"]) == ("small", "large")
    assert np.isfinite(cross["crossover_flops"])
    assert cross["ci_low"] <= cross["crossover_flops"] <= cross["ci_high"]
    # Where is it really? The scores of the two true curves cross where the large one's gain - 2 exceeds the small's.
    grid = np.arange(1, 800)
    diff = (10 * (1 - (1 + grid / 400) ** -1.0) - 2) - 4 * (1 - (1 + 2 * grid / 20) ** -1.0)  # large at s, small at 2s
    true_steps_large = grid[np.argmax(diff > 0)]
    assert cross["crossover_flops"] == pytest.approx(6.0 * 2_000_000 * 1000 * true_steps_large, rel=0.25)


def test_no_crossover_is_said_in_words():
    steps = (0, 100, 200, 400)
    points = pd.concat([
        points_table({"nli": {s: 2.0 * s / 400 for s in steps}}, model="small", params=1_000_000),
        points_table({"nli": {s: 2.0 * s / 400 for s in steps}}, model="large", params=2_000_000),
    ], ignore_index=True)
    points.loc[points["model"] == "large", "score"] += 5.0  # always ahead
    assert curves.crossovers(curves.fit_curves(points))["verdict"].tolist() == [curves.NO_CROSSOVER]


def test_study_curves_of_an_empty_table_is_empty_not_an_error():
    from study import results

    empty = results.SCHEMA.empty_table().to_pandas()
    fitted = curves.study_curves(empty)
    assert fitted.table.empty and list(fitted.table.columns) == curves.CURVE_COLUMNS


def test_flat_check_stops_a_flat_trunk_and_lets_a_rising_one_go_on():
    flat = curves.flat_check([0, 50, 100, 200], [10.0, 20.0, 20.2, 20.25], 400, min_gain=0.5, confidence=0.9)
    assert flat["decision"] == "STOP"
    assert flat["upper_bound"] < 0.5 and flat["predicted_gain"] < flat["upper_bound"]
    rising = curves.flat_check([0, 50, 100, 200], [10.0, 12.0, 14.1, 18.0], 400, min_gain=0.5, confidence=0.9)
    assert rising["decision"] == "CONTINUE" and rising["predicted_gain"] > 0.5
    early = curves.flat_check([0, 50], [10.0, 10.0], 100, min_gain=0.5, confidence=0.9)
    assert early["decision"] == "CONTINUE" and "fewer than 3" in early["reason"]
