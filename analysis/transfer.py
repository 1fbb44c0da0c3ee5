"""Does the English dev score (ASHA's signal) predict zero-shot cross-lingual transfer?

ASHA stops trials on their English dev score. That is only sound for this study if trials that rank high
on English dev also rank high on the zero-shot score in the other languages. `dev_vs_zero_shot` pairs the
two per (trial, milestone); `rank_correlation` measures the agreement with Spearman's rank correlation,
per model size over all milestones (does it hold as the duration grows?) and per (size, milestone), which
is the comparison ASHA actually makes at a rung.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.aggregate import COST_COLUMNS, MILESTONE, MILESTONE_KEYS, dev_signal, overall_scores

MIN_POINTS = 3  # Spearman's rho of fewer points is +-1 or undefined, never evidence


def dev_vs_zero_shot(
    df: pd.DataFrame,
    metrics: Mapping[str, str] | None = None,
    expected_languages: Mapping[str, Iterable[str]] | None = None,
) -> pd.DataFrame:
    """ASHA's signal against the zero-shot score, one row per (trial, milestone) that has both.

    `dev` is `dev_signal`: the mean over target tasks of the chance-normalised English dev score, computed
    by the same function (`analysis.aggregate.asha_signal`) a trial reports to ASHA (0 at chance, 100
    perfect). `zero_shot` is the overall test score without English (`overall_scores(exclude_english=True)`,
    with `metrics` and `expected_languages` as there; 0-100): the transfer the study is about, not the
    English test score, which would share most of its information with English dev.

    Returns:
        Columns `MILESTONE_KEYS`, `dev`, `zero_shot`, and `COST_COLUMNS`, sorted by the keys.
    """
    keys = list(MILESTONE_KEYS)
    dev = dev_signal(df)[[*keys, "score"]].rename(columns={"score": "dev"})
    test = overall_scores(df, split="test", exclude_english=True, metrics=metrics, expected_languages=expected_languages)
    test = test[[*keys, "score", *(c for c in COST_COLUMNS if c in test)]].rename(columns={"score": "zero_shot"})
    points = dev.merge(test, on=keys, how="inner").dropna(subset=["dev", "zero_shot"])
    return points.sort_values(keys, kind="mergesort").reset_index(drop=True)


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(rho, two-sided p-value) of Spearman's rank correlation (ties get average ranks).

    NaN for both when there are fewer than `MIN_POINTS` points or either side is constant (no ranking).
    """
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    if a.size < MIN_POINTS or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.spearmanr(a, b)
    return float(result.statistic), float(result.pvalue)


def rank_correlation(points: pd.DataFrame, x: str = "dev", y: str = "zero_shot") -> pd.DataFrame:
    """Spearman's rho of `x` against `y`, per model size over all milestones and per (size, milestone).

    Returns:
        Columns `model`, `model_params` (when present), `intermediate_steps` (<NA> for the row over all of
        a size's milestones), `n` (points), `rho` and `p_value`; per size, the all-milestones row first,
        then its milestones in order.
    """
    size = ["model", "model_params"] if "model_params" in points.columns else ["model"]
    order = ["model_params", "model"] if "model_params" in points.columns else ["model"]
    records = []
    for keys, group in points.sort_values(order, kind="mergesort").groupby(size, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        base = dict(zip(size, keys, strict=True))
        rho, p = spearman(group[x], group[y])
        records.append({**base, MILESTONE: pd.NA, "n": len(group), "rho": rho, "p_value": p})
        for steps, at in group.groupby(MILESTONE, sort=True):
            rho, p = spearman(at[x], at[y])
            records.append({**base, MILESTONE: steps, "n": len(at), "rho": rho, "p_value": p})
    out = pd.DataFrame.from_records(records, columns=[*size, MILESTONE, "n", "rho", "p_value"])
    out[MILESTONE] = out[MILESTONE].astype("Int64")
    return out
