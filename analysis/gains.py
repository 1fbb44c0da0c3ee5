"""Gains over the no-intermediate baseline, with percentile bootstrap intervals over seeds.

The study runs step 0 (no intermediate training) for every model size and seed, so each score can be paired
with the baseline that shares its model and seed. Pairing by seed removes the part of the seed-to-seed
spread that the baseline and the trained model share (the same target fine-tuning seed), which a comparison
of two unpaired means would leave in.

Across sizes (`size_comparison`) there is no such pairing: seed 3 of a 1B model and seed 3 of a 10B model
share nothing but a number, so the difference of two sizes' gains resamples each size's seeds on its own.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.aggregate import COST_COLUMNS, MILESTONE

BASELINE_STEPS = 0  # the milestone with no intermediate training
# Keys that split gains further when the scores have them: per target task, and per language.
INNER_KEYS = ("target_task", "language")
# Groups bootstrapped at once; bounds the (groups x n_boot x seeds) array of resampled means (8 bytes each).
_CHUNK = 256


def bootstrap_mean_ci(
    values: npt.ArrayLike,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` and its percentile bootstrap interval.

    Draws `n_boot` resamples of len(values) with replacement from `numpy.random.default_rng(seed)`, and
    takes the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of their means (numpy's default linear
    interpolation). One value gives low == mean == high: a single seed carries no information about the
    spread, and the interval says so by having zero width rather than by inventing one. No values give NaNs.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    sample = np.asarray(values, dtype=float)
    if sample.size == 0:
        return (float("nan"),) * 3
    if sample.size == 1:
        value = float(sample[0])
        return value, value, value
    rng = np.random.default_rng(seed)
    means = sample[rng.integers(0, sample.size, size=(n_boot, sample.size))].mean(axis=1)
    low, high = np.percentile(means, [50 * (1 - confidence), 50 * (1 + confidence)])
    return float(sample.mean()), float(low), float(high)


def gains_over_baseline(
    task_or_overall_scores: pd.DataFrame,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean gain over the step-0 baseline per (model, intermediate task, milestone[, target task][, language]).

    Args:
        task_or_overall_scores: `analysis.aggregate.task_scores` (has `target_task`: gains per task),
            `overall_scores` (gains of the overall score) or `language_scores` (has `target_task` and
            `language`: gains per task and language). Needs `model`, `seed`, `intermediate_task`,
            `intermediate_steps` and `score`.
        n_boot: bootstrap resamples per group.
        seed: seeds a fresh `numpy.random.default_rng` for every group, so a group's interval depends only
            on its own values (adding a model or a task does not move the others' intervals).
        confidence: the interval's coverage, e.g. 0.95 for the 2.5 and 97.5 percentiles.

    Pairing: a row's baseline is the mean score of the step-0 rows (`intermediate_steps == 0`, whatever their
    `intermediate_task`, "none" included) with the same model and seed, and the same `study`,
    `target_task` and `language` where those columns exist. Averaging covers a study that records step 0
    both as a "none" trial and as each trial's first milestone. gain = score - baseline, on the score's
    0-100 scale; where `higher_is_better` is False it is baseline - score, so a positive gain is always an
    improvement.

    Over seeds: within a group, each seed's gain is the mean over that seed's rows (several trials share a
    seed when hyperparameters were searched), and the interval resamples seeds (see `bootstrap_mean_ci`;
    one seed gives an interval equal to the mean). Rows whose model and seed have no baseline, or whose
    score is NaN, are left out; a group left with none has NaN gain and n_seeds 0. The step-0 rows are
    groups too: their gain is 0 with one baseline per model and seed, and otherwise shows how far the
    baselines recorded at step 0 disagree.

    Returns:
        One row per group (keys: `study` if present, `model`, `intermediate_task`, `intermediate_steps`,
        `target_task` and `language` if present), with `model_params` if present, `gain`, `ci_low`,
        `ci_high` (0-100 points), `n_seeds`, `score` and `baseline` (means over the paired rows), and the
        mean of each cost column present; sorted by the keys.
    """
    paired, group_keys = _paired(task_or_overall_scores)
    carried = [column for column in ("model_params", *COST_COLUMNS) if column in paired.columns]
    grouped = paired.groupby(group_keys, sort=True, dropna=False)
    usable = paired.dropna(subset=["gain"])
    per_seed = usable.groupby([*group_keys, "seed"], sort=True, dropna=False)["gain"].mean()

    out = grouped.size().to_frame("_rows").drop(columns="_rows")
    if "model_params" in carried:
        out["model_params"] = grouped["model_params"].first()
    stats = _bootstrap_groups(per_seed, len(group_keys), n_boot, seed, confidence).reindex(out.index)
    out["gain"], out["ci_low"], out["ci_high"] = stats["mean"], stats["low"], stats["high"]
    out["n_seeds"] = stats["n"].fillna(0).astype(int)
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


def bootstrap_diff_ci(
    first: npt.ArrayLike,
    second: npt.ArrayLike,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """(difference, low, high): mean(second) - mean(first) and its percentile bootstrap interval.

    The two samples are independent (two model sizes' seeds): each resample draws len(first) values from
    `first` and len(second) from `second`, with replacement, from one `numpy.random.default_rng(seed)`,
    first sample first. A sample of one value contributes no spread (as in `bootstrap_mean_ci`); an empty
    sample gives NaNs.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    if a.size == 0 or b.size == 0:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    means_a = a[rng.integers(0, a.size, size=(n_boot, a.size))].mean(axis=1)
    means_b = b[rng.integers(0, b.size, size=(n_boot, b.size))].mean(axis=1)
    low, high = np.percentile(means_b - means_a, [50 * (1 - confidence), 50 * (1 + confidence)])
    return float(b.mean() - a.mean()), float(low), float(high)


# Verdicts of `size_comparison`.
GROWS, SHRINKS, WITHIN_NOISE, TOO_FEW_SEEDS = "grows", "shrinks", "within noise", "too few seeds"


def size_comparison(
    scores: pd.DataFrame,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Does the gain grow or shrink from a smaller model size to a larger one, beyond the seed noise?

    For every pair of sizes (smaller, larger), ordered by `model_params` when present and by name otherwise,
    and every (intermediate task, milestone[, target task][, language]) that both sizes have with a positive
    step count, compares the sizes' gains over their own baselines (`seed_gains`): difference = mean gain of
    the larger - mean gain of the smaller, with the percentile bootstrap interval of `bootstrap_diff_ci`
    (each size's seeds resampled on their own; `seed` seeds each comparison's generator afresh).

    Sizes are compared at equal step counts; a step count that only one size's grid has is left out (the
    Pareto front across sizes compares them at equal FLOPs instead).

    Returns:
        One row per comparison: `smaller`, `larger`, the group keys but `model`, `gain_smaller`,
        `gain_larger`, `difference`, `ci_low`, `ci_high` (0-100 points), `n_seeds_smaller`,
        `n_seeds_larger` and `verdict`: "grows" or "shrinks" when the interval lies above or below 0,
        "within noise" when it holds 0, and "too few seeds" when a size has fewer than 2 seeds (a one-seed
        interval has no width and would call any difference real).
    """
    per_seed = seed_gains(scores)
    per_seed = per_seed[per_seed[MILESTONE] > BASELINE_STEPS]
    study = ["study"] if "study" in per_seed.columns else []
    keys = [*study, "intermediate_task", MILESTONE, *(k for k in INNER_KEYS if k in per_seed.columns)]
    order = ["model_params", "model"] if "model_params" in per_seed.columns else ["model"]
    sizes = per_seed.drop_duplicates("model").sort_values(order, kind="mergesort")["model"].tolist()
    by_size = {model: dict(iter(group.groupby(keys, sort=True, dropna=False)["gain"])) for model, group in per_seed.groupby("model")}

    records = []
    for i, smaller in enumerate(sizes):
        for larger in sizes[i + 1 :]:
            for key in sorted(set(by_size[smaller]) & set(by_size[larger]), key=str):
                a = by_size[smaller][key].to_numpy(dtype=float)
                b = by_size[larger][key].to_numpy(dtype=float)
                difference, low, high = bootstrap_diff_ci(a, b, n_boot=n_boot, seed=seed, confidence=confidence)
                if min(a.size, b.size) < 2:
                    verdict = TOO_FEW_SEEDS
                elif low > 0:
                    verdict = GROWS
                elif high < 0:
                    verdict = SHRINKS
                else:
                    verdict = WITHIN_NOISE
                key = key if isinstance(key, tuple) else (key,)
                records.append({
                    "smaller": smaller, "larger": larger, **dict(zip(keys, key, strict=True)),
                    "gain_smaller": float(a.mean()), "gain_larger": float(b.mean()), "difference": difference,
                    "ci_low": low, "ci_high": high, "n_seeds_smaller": int(a.size), "n_seeds_larger": int(b.size),
                    "verdict": verdict,
                })
    columns = ["smaller", "larger", *keys, "gain_smaller", "gain_larger", "difference", "ci_low", "ci_high",
               "n_seeds_smaller", "n_seeds_larger", "verdict"]
    return pd.DataFrame.from_records(records, columns=columns)


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


def _bootstrap_groups(per_seed: pd.Series, n_levels: int, n_boot: int, seed: int, confidence: float) -> pd.DataFrame:
    """`bootstrap_mean_ci` of every group of `per_seed` (indexed by the group keys, then the seed) at once.

    Every group starts a fresh generator from `seed`, so groups with the same number of seeds draw the same
    resample indices; drawing them once per size and applying them to all those groups together gives
    exactly the numbers `bootstrap_mean_ci` gives one group at a time, without a Python loop per group.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    levels = list(range(n_levels))
    groups = per_seed.groupby(level=levels, sort=True, dropna=False)
    values = groups.agg(list)
    out = pd.DataFrame(index=values.index, columns=["mean", "low", "high", "n"], dtype=float)
    sizes = values.map(len)
    out["n"] = sizes
    quantiles = [50 * (1 - confidence), 50 * (1 + confidence)]
    for n in sorted(sizes.unique()):
        chosen = sizes.index[sizes == n]
        matrix = np.array(values.loc[chosen].tolist(), dtype=float).reshape(len(chosen), n)
        out.loc[chosen, "mean"] = matrix.mean(axis=1)
        if n == 1:
            out.loc[chosen, "low"] = out.loc[chosen, "high"] = matrix[:, 0]
            continue
        draws = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
        for start in range(0, len(chosen), _CHUNK):
            block = matrix[start : start + _CHUNK]
            means = block[:, draws].mean(axis=2)  # (groups, n_boot)
            low, high = np.percentile(means, quantiles, axis=1)
            out.loc[chosen[start : start + _CHUNK], "low"] = low
            out.loc[chosen[start : start + _CHUNK], "high"] = high
    return out
