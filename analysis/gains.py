"""Gains over the no-intermediate baseline, with percentile bootstrap intervals over seeds.

The study runs step 0 (no intermediate training) for every model size and seed, so each score can be paired
with the baseline that shares its model and seed. Pairing by seed removes the part of the seed-to-seed
spread that the baseline and the trained model share (the same target fine-tuning seed), which a comparison
of two unpaired means would leave in.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.aggregate import COST_COLUMNS, MILESTONE

BASELINE_STEPS = 0  # the milestone with no intermediate training


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
    """Mean gain over the step-0 baseline per (model, intermediate task, milestone[, target task]).

    Args:
        task_or_overall_scores: `analysis.aggregate.task_scores` (has `target_task`: gains per task) or
            `overall_scores` (gains of the overall score). Needs `model`, `seed`, `intermediate_task`,
            `intermediate_steps` and `score`.
        n_boot: bootstrap resamples per group.
        seed: seeds a fresh `numpy.random.default_rng` for every group, so a group's interval depends only
            on its own values (adding a model or a task does not move the others' intervals).
        confidence: the interval's coverage, e.g. 0.95 for the 2.5 and 97.5 percentiles.

    Pairing: a row's baseline is the mean score of the step-0 rows (`intermediate_steps == 0`, whatever their
    `intermediate_task`, "none" included) with the same model and seed, and the same `study` and
    `target_task` where those columns exist. Averaging covers a study that records step 0 both as a "none"
    trial and as each trial's first milestone. gain = score - baseline, on the score's 0-100 scale; where
    `higher_is_better` is False it is baseline - score, so a positive gain is always an improvement.

    Over seeds: within a group, each seed's gain is the mean over that seed's rows (several trials share a
    seed when hyperparameters were searched), and the interval resamples seeds (see `bootstrap_mean_ci`;
    one seed gives an interval equal to the mean). Rows whose model and seed have no baseline, or whose
    score is NaN, are left out; a group left with none has NaN gain and n_seeds 0. The step-0 rows are
    groups too: their gain is 0 with one baseline per model and seed, and otherwise shows how far the
    baselines recorded at step 0 disagree.

    Returns:
        One row per group (keys: `study` if present, `model`, `intermediate_task`, `intermediate_steps`,
        `target_task` if present), with `model_params` if present, `gain`, `ci_low`, `ci_high` (0-100
        points), `n_seeds`, `score` and `baseline` (means over the paired rows), and the mean of each cost
        column present; sorted by the keys.
    """
    scores = task_or_overall_scores
    needed = ["model", "seed", "intermediate_task", MILESTONE, "score"]
    missing = [column for column in needed if column not in scores.columns]
    if missing:
        raise ValueError(f"scores lack columns {missing}; gains need {needed}")
    study = ["study"] if "study" in scores.columns else []
    task = ["target_task"] if "target_task" in scores.columns else []
    pair_keys = [*study, "model", "seed", *task]
    group_keys = [*study, "model", "intermediate_task", MILESTONE, *task]

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

    carried = [column for column in ("model_params", *COST_COLUMNS) if column in paired.columns]
    records = []
    for keys, group in paired.groupby(group_keys, sort=True, dropna=False):
        usable = group.dropna(subset=["gain"])
        per_seed = usable.groupby("seed", dropna=False)["gain"].mean()
        mean, low, high = bootstrap_mean_ci(per_seed.to_numpy(), n_boot=n_boot, seed=seed, confidence=confidence)
        record = dict(zip(group_keys, keys, strict=True))
        if "model_params" in carried:
            record["model_params"] = group["model_params"].iloc[0]
        record.update(
            gain=mean,
            ci_low=low,
            ci_high=high,
            n_seeds=int(per_seed.size),
            score=usable["score"].mean(),
            baseline=usable["baseline"].mean(),
        )
        record.update({column: group[column].mean() for column in carried if column != "model_params"})
        records.append(record)

    columns = [*group_keys, *(["model_params"] if "model_params" in carried else [])]
    columns += ["gain", "ci_low", "ci_high", "n_seeds", "score", "baseline"]
    columns += [column for column in carried if column != "model_params"]
    return pd.DataFrame.from_records(records, columns=columns)
