"""Gains over the no-intermediate baseline, with Student-t intervals over seeds.

The study runs step 0 (no intermediate training) for every model size and seed, so each score can be paired
with the baseline that shares its model and seed. Pairing by seed removes the part of the seed-to-seed
spread that the baseline and the trained model share (the same target fine-tuning seed), which a comparison
of two unpaired means would leave in.

Intervals are t intervals, because studies run 2 to 5 seeds and at those counts a percentile bootstrap over
seeds covers far less than its nominal level (it cannot reach beyond the seeds' own range: about 50% at 2
seeds, 75% at 3). A paired t interval over the per-seed gains holds its level exactly when those gains are
normal, and approximately otherwise; one seed gives no interval at all (NaN bounds), since one value says
nothing about the spread.

Across sizes (`size_comparison`) there is no such pairing: seed 3 of a 1B model and seed 3 of a 10B model
share nothing but a number, so the difference of two sizes' mean gains gets a Welch interval (unequal
variances, Welch-Satterthwaite degrees of freedom), which keeps its level when the sizes' spreads differ.

What the intervals cover: the spread between seeds (target fine-tuning and intermediate data order, head
initialisation, dropout), which includes the part of evaluation noise that changes with the seed. They do
not cover the sampling of the test examples themselves: every seed and its baseline are scored on the same
test set, so an interval speaks about this test set, not about the population it was drawn from.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from analysis.aggregate import COST_COLUMNS, MILESTONE

BASELINE_STEPS = 0  # the milestone with no intermediate training
# Keys that split gains further when the scores have them: per target task, and per language.
INNER_KEYS = ("target_task", "language")
CONFIDENCE = 0.95  # the level of every interval the report shows


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def t_half_width(sd: npt.ArrayLike, n: npt.ArrayLike, confidence: float = CONFIDENCE) -> np.ndarray:
    """Half-width of the Student-t interval of a mean: t_{(1+confidence)/2, n-1} x sd / sqrt(n).

    `sd` is the sample standard deviation (ddof=1) of `n` values; NaN where n < 2 (no spread to go by).
    Element-wise over arrays.
    """
    _check_confidence(confidence)
    sd = np.asarray(sd, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf((1 + confidence) / 2, n - 1) * sd / np.sqrt(n)
    return np.where(n >= 2, half, np.nan)


def mean_ci(values: npt.ArrayLike, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` and its Student-t interval at `confidence`.

    For per-seed paired gains this is the paired t interval. One value gives NaN bounds (no interval);
    no values give NaNs.
    """
    _check_confidence(confidence)
    sample = np.asarray(values, dtype=float)
    if sample.size == 0:
        return (float("nan"),) * 3
    mean = float(sample.mean())
    half = float(t_half_width(sample.std(ddof=1) if sample.size > 1 else np.nan, sample.size, confidence))
    return mean, mean - half, mean + half


def welch_interval(
    mean_a: npt.ArrayLike, var_a: npt.ArrayLike, n_a: npt.ArrayLike,
    mean_b: npt.ArrayLike, var_b: npt.ArrayLike, n_b: npt.ArrayLike,
    confidence: float = CONFIDENCE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(difference, low, high) of mean_b - mean_a for independent samples, by Welch's t interval.

    Variances are sample variances (ddof=1). Degrees of freedom by Welch-Satterthwaite:
    (va/na + vb/nb)^2 / ((va/na)^2/(na-1) + (vb/nb)^2/(nb-1)). Bounds are NaN where either sample has fewer
    than 2 values; where both samples are constant the interval is the difference itself. Element-wise.
    """
    _check_confidence(confidence)
    mean_a, var_a, n_a, mean_b, var_b, n_b = (np.asarray(x, dtype=float) for x in (mean_a, var_a, n_a, mean_b, var_b, n_b))
    difference = mean_b - mean_a
    with np.errstate(invalid="ignore", divide="ignore"):
        ua, ub = var_a / n_a, var_b / n_b
        se = np.sqrt(ua + ub)
        df = (ua + ub) ** 2 / (ua**2 / (n_a - 1) + ub**2 / (n_b - 1))
        half = np.where(se > 0, stats.t.ppf((1 + confidence) / 2, df) * se, 0.0)
    half = np.where((n_a >= 2) & (n_b >= 2), half, np.nan)
    return difference, difference - half, difference + half


def welch_diff_ci(first: npt.ArrayLike, second: npt.ArrayLike, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(difference, low, high): mean(second) - mean(first) with Welch's interval (see `welch_interval`);
    an empty sample gives NaNs, a sample of one value NaN bounds."""
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    if a.size == 0 or b.size == 0:
        return (float("nan"),) * 3
    var = lambda x: x.var(ddof=1) if x.size > 1 else np.nan  # noqa: E731
    difference, low, high = welch_interval(a.mean(), var(a), a.size, b.mean(), var(b), b.size, confidence)
    return float(difference), float(low), float(high)


def gains_over_baseline(task_or_overall_scores: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Mean gain over the step-0 baseline per (model, intermediate task, milestone[, target task][, language]).

    Args:
        task_or_overall_scores: `analysis.aggregate.task_scores` (has `target_task`: gains per task),
            `overall_scores` (gains of the overall score) or `language_scores` (has `target_task` and
            `language`: gains per task and language). Needs `model`, `seed`, `intermediate_task`,
            `intermediate_steps` and `score`.
        confidence: the interval's level, e.g. 0.95.

    Pairing: a row's baseline is the mean score of the step-0 rows (`intermediate_steps == 0`, whatever their
    `intermediate_task`, "none" included) with the same model and seed, and the same `study`,
    `target_task` and `language` where those columns exist. Averaging covers a study that records step 0
    both as a "none" trial and as each trial's first milestone. gain = score - baseline, on the score's
    0-100 scale; where `higher_is_better` is False it is baseline - score, so a positive gain is always an
    improvement.

    Over seeds: within a group, each seed's gain is the mean over that seed's rows (several trials share a
    seed when hyperparameters were searched), and the interval is the paired Student-t interval over those
    per-seed gains (`mean_ci`): mean +- t_{n-1} x sd / sqrt(n). One seed gives NaN bounds. Rows whose model
    and seed have no baseline, or whose score is NaN, are left out; a group left with none has NaN gain and
    n_seeds 0. The step-0 rows are groups too: their gain is 0 with one baseline per model and seed, and
    otherwise shows how far the baselines recorded at step 0 disagree.

    Returns:
        One row per group (keys: `study` if present, `model`, `intermediate_task`, `intermediate_steps`,
        `target_task` and `language` if present), with `model_params` if present, `gain`, `ci_low`,
        `ci_high` (0-100 points; NaN bounds with fewer than 2 seeds), `n_seeds`, `score` and `baseline`
        (means over the paired rows), and the mean of each cost column present; sorted by the keys.
    """
    _check_confidence(confidence)
    paired, group_keys = _paired(task_or_overall_scores)
    carried = [column for column in ("model_params", *COST_COLUMNS) if column in paired.columns]
    grouped = paired.groupby(group_keys, sort=True, dropna=False)
    usable = paired.dropna(subset=["gain"])
    per_seed = usable.groupby([*group_keys, "seed"], sort=True, dropna=False)["gain"].mean()
    over_seeds = per_seed.groupby(level=list(range(len(group_keys))), sort=True, dropna=False)

    out = grouped.size().to_frame("_rows").drop(columns="_rows")
    if "model_params" in carried:
        out["model_params"] = grouped["model_params"].first()
    mean = over_seeds.mean().reindex(out.index)
    n = over_seeds.size().reindex(out.index).fillna(0).astype(int)
    half = t_half_width(over_seeds.std(ddof=1).reindex(out.index), n, confidence)
    out["gain"], out["ci_low"], out["ci_high"] = mean, mean - half, mean + half
    out["n_seeds"] = n
    used = usable.groupby(group_keys, sort=True, dropna=False)
    out["score"] = used["score"].mean().reindex(out.index)
    out["baseline"] = used["baseline"].mean().reindex(out.index)
    for column in carried:
        if column != "model_params":
            out[column] = grouped[column].mean()
    return out.reset_index()


def seed_gains(scores: pd.DataFrame) -> pd.DataFrame:
    """Each seed's gain over its own step-0 baseline, per group of `gains_over_baseline` and seed.

    Returns the group keys, `model_params` if present, `seed` and `gain` (the mean over that seed's rows in
    the group; 0-100 points); seeds without a baseline or a score are left out.
    """
    paired, group_keys = _paired(scores)
    usable = paired.dropna(subset=["gain"])
    extra = ["model_params"] if "model_params" in usable.columns else []
    grouped = usable.groupby([*group_keys, "seed"], sort=True, dropna=False)
    out = grouped["gain"].mean().to_frame()
    for column in extra:
        out.insert(0, column, grouped[column].first())
    return out.reset_index()


# Verdicts of `size_comparison`.
GROWS, SHRINKS, WITHIN_NOISE, TOO_FEW_SEEDS = "grows", "shrinks", "within noise", "too few seeds"


def size_comparison(scores: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Does the gain grow or shrink from a smaller model size to a larger one, beyond the seed noise?

    For every pair of sizes (smaller, larger), ordered by `model_params` when present and by name otherwise,
    and every (intermediate task, milestone[, target task][, language]) that both sizes have with a positive
    step count, compares the sizes' gains over their own baselines (`seed_gains`): difference = mean gain of
    the larger - mean gain of the smaller, with Welch's t interval (`welch_interval`: the sizes' seeds are
    independent samples with their own spreads).

    Sizes are compared at equal step counts; a step count that only one size's grid has is left out (the
    Pareto front across sizes compares them at equal FLOPs instead).

    Returns:
        One row per comparison: `smaller`, `larger`, the group keys but `model`, `gain_smaller`,
        `gain_larger`, `difference`, `ci_low`, `ci_high` (0-100 points), `n_seeds_smaller`,
        `n_seeds_larger` and `verdict`: "grows" or "shrinks" when the interval lies above or below 0,
        "within noise" when it holds 0, and "too few seeds" (NaN bounds) when a size has fewer than 2 seeds.
    """
    _check_confidence(confidence)
    per_seed = seed_gains(scores)
    per_seed = per_seed[per_seed[MILESTONE] > BASELINE_STEPS]
    study = ["study"] if "study" in per_seed.columns else []
    keys = [*study, "intermediate_task", MILESTONE, *(k for k in INNER_KEYS if k in per_seed.columns)]
    order = ["model_params", "model"] if "model_params" in per_seed.columns else ["model"]
    sizes = per_seed.drop_duplicates("model").sort_values(order, kind="mergesort")["model"].tolist()
    summary = per_seed.groupby(["model", *keys], sort=True, dropna=False)["gain"].agg(["mean", "var", "size"]).reset_index()
    by_size = {model: group.drop(columns="model") for model, group in summary.groupby("model", sort=False)}

    parts = []
    for i, smaller in enumerate(sizes):
        for larger in sizes[i + 1 :]:
            both = by_size[smaller].merge(by_size[larger], on=keys, suffixes=("_a", "_b"))
            if both.empty:
                continue
            difference, low, high = welch_interval(both["mean_a"], both["var_a"], both["size_a"],
                                                   both["mean_b"], both["var_b"], both["size_b"], confidence)
            verdict = np.select(
                [np.minimum(both["size_a"], both["size_b"]) < 2, low > 0, high < 0],
                [TOO_FEW_SEEDS, GROWS, SHRINKS], default=WITHIN_NOISE,
            )
            parts.append(pd.DataFrame({
                "smaller": smaller, "larger": larger, **{k: both[k] for k in keys},
                "gain_smaller": both["mean_a"], "gain_larger": both["mean_b"], "difference": difference,
                "ci_low": low, "ci_high": high, "n_seeds_smaller": both["size_a"].astype(int),
                "n_seeds_larger": both["size_b"].astype(int), "verdict": verdict,
            }))
    columns = ["smaller", "larger", *keys, "gain_smaller", "gain_larger", "difference", "ci_low", "ci_high",
               "n_seeds_smaller", "n_seeds_larger", "verdict"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def _paired(scores: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The scores with `baseline` and `gain` columns, and the keys that group them."""
    needed = ["model", "seed", "intermediate_task", MILESTONE, "score"]
    missing = [column for column in needed if column not in scores.columns]
    if missing:
        raise ValueError(f"scores lack columns {missing}; gains need {needed}")
    study = ["study"] if "study" in scores.columns else []
    inner = [key for key in INNER_KEYS if key in scores.columns]
    pair_keys = [*study, "model", "seed", *inner]
    group_keys = [*study, "model", "intermediate_task", MILESTONE, *inner]

    baselines = (
        scores[scores[MILESTONE] == BASELINE_STEPS]
        .groupby(pair_keys, dropna=False)["score"]
        .mean()
        .rename("baseline")
        .reset_index()
    )
    paired = scores.merge(baselines, on=pair_keys, how="left", validate="many_to_one")
    direction = np.where(paired["higher_is_better"], 1.0, -1.0) if "higher_is_better" in paired else 1.0
    paired["gain"] = direction * (paired["score"] - paired["baseline"])
    return paired, group_keys
