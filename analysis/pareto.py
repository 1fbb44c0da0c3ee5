"""Pareto fronts of score against cost: which (trial, milestone) points no other point beats on both.

Computing is kept apart from drawing (`analysis.plots` only draws what these functions return), as optuna
keeps `_get_pareto_front_info` apart from its plotting backends.

Dominance, used throughout: point j dominates point i when j is at least as good as i on both axes and
strictly better on at least one. Consequences, which the tests pin down:
- at equal x, only the best y survives (the others are dominated by it);
- exactly equal points do not dominate each other, so all copies stay on the front (two seeds or two
  trials that reach the same score at the same cost are both reported, rather than one picked arbitrarily);
- a point with NaN in x or y is never on the front and dominates nothing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

ALL_SIZES = "all"  # the `front` label of a front computed across every model size


def is_pareto_efficient(
    xs: npt.ArrayLike,
    ys: npt.ArrayLike,
    minimize_x: bool = True,
    maximize_y: bool = True,
) -> np.ndarray:
    """Boolean mask, one entry per point: True where no other point dominates it (see the module docstring).

    Runs in O(n log n): sort by x (best first), then keep a point when its y is the best at its x and
    strictly better than the best y of every strictly better x.
    """
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"xs and ys must be 1-D and of equal length, got shapes {x.shape} and {y.shape}")
    # Turn both axes into "smaller is better".
    a = x if minimize_x else -x
    b = -y if maximize_y else y

    mask = np.zeros(x.shape, dtype=bool)
    valid = np.flatnonzero(~(np.isnan(a) | np.isnan(b)))
    if valid.size == 0:
        return mask
    order = valid[np.lexsort((b[valid], a[valid]))]  # by a, then b within equal a
    a_sorted, b_sorted = a[order], b[order]
    new_x = np.r_[True, a_sorted[1:] != a_sorted[:-1]]
    group = np.cumsum(new_x) - 1  # index of each point's equal-x group
    best_in_group = b_sorted[new_x]  # sorted by b within a group, so its first b is its best
    # Best b over all strictly better x; +inf for the first group, which nothing precedes.
    best_before = np.r_[np.inf, np.minimum.accumulate(best_in_group)[:-1]]
    mask[order] = (b_sorted == best_in_group[group]) & (b_sorted < best_before[group])
    return mask


def pareto_front(
    points: pd.DataFrame,
    x: str,
    y: str,
    minimize_x: bool = True,
    maximize_y: bool = True,
) -> pd.DataFrame:
    """The non-dominated rows of `points`, sorted by `x` ascending (a stable sort).

    Exactly equal points are all kept (none dominates the other), in their input order. The rows keep
    their original index, so the result can be joined back to `points`.
    """
    for column in (x, y):
        if column not in points.columns:
            raise ValueError(f"points lack the column {column!r}; columns are {list(points.columns)}")
    mask = is_pareto_efficient(points[x].to_numpy(dtype=float), points[y].to_numpy(dtype=float), minimize_x, maximize_y)
    return points[mask].sort_values(x, kind="mergesort")


def frontier_table(
    overall: pd.DataFrame,
    cost: str,
    by: str | None = "model",
    score: str = "score",
) -> pd.DataFrame:
    """Frontier points of `score` against `cost` (lower cost is better), one front per value of `by`.

    Args:
        overall: one row per point, e.g. `analysis.aggregate.overall_scores` (one per trial and milestone).
        cost: the cost column, e.g. "intermediate_flops"; 0 for the step-0 baseline, which is therefore
            always on its front unless another zero-cost point scores higher.
        by: the column that splits the fronts, "model" for one front per model size; None for a single
            front across every size.
        score: the score column. Its direction is read from the `higher_is_better` column when `overall`
            has one (it must then be the same on every row), and is "higher is better" otherwise.

    Returns:
        The front rows with all of `overall`'s columns plus `front`, the label of the front they belong to
        (the value of `by`, or `ALL_SIZES` when by is None), sorted by `by` and then `cost`, with a fresh
        index. Each front is computed over the points as given: pass seed-averaged points for a front that
        does not favour a lucky seed.
    """
    maximize = True
    if "higher_is_better" in overall.columns and not overall.empty:
        directions = overall["higher_is_better"].unique()
        if len(directions) > 1:
            raise ValueError(f"higher_is_better takes the values {list(directions)}; one front needs one direction")
        maximize = bool(directions[0])

    if by is None:
        front = pareto_front(overall, cost, score, minimize_x=True, maximize_y=maximize)
        return front.assign(front=ALL_SIZES).reset_index(drop=True)

    if by not in overall.columns:
        raise ValueError(f"overall lacks the column by={by!r}; columns are {list(overall.columns)}")
    fronts = [
        pareto_front(group, cost, score, minimize_x=True, maximize_y=maximize).assign(front=str(label))
        for label, group in overall.groupby(by, sort=True, dropna=False)
    ]
    if not fronts:
        return overall.iloc[:0].assign(front=pd.Series(dtype=str)).reset_index(drop=True)
    return pd.concat(fronts).reset_index(drop=True)


# The cost axes of the study's fronts: within a size, intermediate steps (how long to train it); across
# sizes, intermediate-training FLOPs as the matmuls count them (`study.flops`: non-embedding parameters plus
# attention), the one axis on which a 1B and a 10B model's budgets can be compared.
STEPS_AXIS = "intermediate_steps"
FLOPS_AXIS = "intermediate_flops"
OVERALL = "overall"  # the `objective` of the overall score (the mean over target tasks)
OBJECTIVE = "target_task"  # the report's column naming what a score is of: a target task, or OVERALL


def study_fronts(points: pd.DataFrame, objective: str = "objective", score: str = "score") -> pd.DataFrame:
    """Every front the report shows: per model size on steps, and across sizes on FLOPs, per objective.

    Args:
        points: one row per point, e.g. `analysis.aggregate.seed_means` of the overall scores and of the
            task scores, concatenated with an `objective` column ("overall" or the target task's name).
            Needs `model`, `intermediate_steps`, `intermediate_flops` and `score`.
        objective: the column that names what a point scores.

    Returns:
        `frontier_table`'s rows for each objective (in sorted order): first one front per model size with
        cost `STEPS_AXIS`, then one front across sizes (`front == ALL_SIZES`) with cost `FLOPS_AXIS`.
        Columns: `objective`, `front`, `cost_axis`, then the points' columns.
    """
    if objective not in points.columns:
        raise ValueError(f"points lack the column {objective!r}; columns are {list(points.columns)}")
    parts = []
    for name, group in points.groupby(objective, sort=True):
        parts.append(frontier_table(group, STEPS_AXIS, by="model", score=score).assign(cost_axis=STEPS_AXIS))
        parts.append(frontier_table(group, FLOPS_AXIS, by=None, score=score).assign(cost_axis=FLOPS_AXIS))
    columns = [objective, "front", "cost_axis", *(c for c in points.columns if c != objective)]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]
