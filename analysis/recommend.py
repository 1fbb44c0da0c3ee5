"""What to do: per model size, the intermediate task and step count to train for a budget, and why.

Built on the fitted gain curves of `analysis.curves` (the gain over the step-0 baseline of the same size, so
every intermediate task of a size is compared against one baseline):

- default budget, "within `within` points of the plateau gain": for each task, the fewest steps at which its
  mean curve is within `within` points of its own plateau (`Curve.steps_within`); a curve without a plateau
  (fewer than 4 milestones) falls back to its best measured milestone, and says so;
- `budget_gpu_hours` H: each task trains for the steps H buys at its measured GPU-hours per step, or for
  fewer when it is within `within` points of its plateau sooner (compute past that is spent for < `within`).

The recommended task is the one with the highest predicted gain at its step count (ties: fewer steps). Every
row gives the predicted gain and score there with their intervals (`Curve.predict`), and `extrapolated` is
True whenever that step count lies past the task's last measured milestone.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.curves import CONSTANT, SATURATING, Curves
from analysis.gains import CONFIDENCE

OVERALL = "overall"
DEFAULT_WITHIN = 0.5  # points of the plateau gain
COLUMNS = [
    "model", "model_params", "target_task", "budget", "intermediate_task", "steps", "gpu_hours", "intermediate_flops",
    "predicted_gain", "gain_ci_low", "gain_ci_high", "predicted_score", "score_ci_low", "score_ci_high",
    "plateau_gain", "plateau_ci_low", "plateau_ci_high", "extrapolated", "family", "n_milestones", "n_seeds",
    "interval", "why",
]


def budget_text(within: float, budget_gpu_hours: float | None) -> str:
    if budget_gpu_hours is not None:
        return f"{budget_gpu_hours:g} GPU-hours"
    return f"within {within:g} points of the plateau gain"


def recommend(curves: Curves, target: str = OVERALL, within: float = DEFAULT_WITHIN,
              budget_gpu_hours: float | None = None, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per model size (smallest first): see the module docstring and COLUMNS.

    A size without any usable curve still gets a row, whose `why` says what is missing.
    """
    if within <= 0:
        raise ValueError(f"within must be positive points, got {within}")
    if budget_gpu_hours is not None and not budget_gpu_hours > 0:
        raise ValueError(f"--budget-gpu-hours must be positive, got {budget_gpu_hours}")
    table, points = curves.table, curves.points
    budget = budget_text(within, budget_gpu_hours)
    if points.empty:
        return pd.DataFrame(columns=COLUMNS)
    sizes = points.groupby("model")["model_params"].first().sort_values(kind="mergesort")
    rows = []
    for model, params in sizes.items():
        base = {"model": model, "model_params": params, "target_task": target, "budget": budget}
        candidates, missing = [], []
        mine = table[(table["model"] == model) & (table["target_task"] == target) & (table["quantity"] == "gain")]
        for _, row in mine.iterrows():
            task = row["intermediate_task"]
            gain = curves.fitted.get((model, task, target, "gain"))
            if gain is None:
                missing.append(f"{task}: {row['reason']}")
                continue
            choice = _candidate(curves, model, task, target, row, within, budget_gpu_hours, confidence)
            if isinstance(choice, str):
                missing.append(f"{task}: {choice}")
            else:
                candidates.append(choice)
        if not candidates:
            rows.append({**base, "extrapolated": False, "why": "no recommendation: " + ("; ".join(missing) or
                         f"no fitted curve for target {target!r} yet")})
            continue
        # A task whose curve is best at step 0 (it declines, or stays flat) is one not to train.
        declining = [c["intermediate_task"] for c in candidates if c["steps"] == 0]
        candidates = [c for c in candidates if c["steps"] > 0 and c["predicted_gain"] > 0]
        candidates.sort(key=lambda c: (-c["predicted_gain"], c["steps"]))
        if declining:
            missing.append(f"{', '.join(declining)}: the fitted gain never rises above step 0")
        if not candidates:
            rows.append({**base, "intermediate_task": "none", "steps": 0, "gpu_hours": 0.0, "intermediate_flops": 0.0,
                         "predicted_gain": 0.0, "extrapolated": False, "why": (
                             "no intermediate training: no task is predicted to gain over the step-0 baseline. "
                             + "; ".join(missing) + ".")})
            continue
        best = candidates[0]
        why = _why(best, candidates[1:], within, budget_gpu_hours)
        if missing:
            why += " Not considered: " + "; ".join(missing) + "."
        rows.append({**base, **{k: v for k, v in best.items() if k in COLUMNS}, "why": why})
    return pd.DataFrame(rows, columns=COLUMNS)


def _candidate(curves: Curves, model, task, target, row, within, budget_gpu_hours, confidence) -> dict | str:
    gain = curves.fitted[(model, task, target, "gain")]
    score = curves.fitted.get((model, task, target, "score"))
    last = float(gain.milestones.max())
    plateau = gain.plateau(confidence)
    has_plateau = gain.family in (SATURATING, CONSTANT) and np.isfinite(plateau[0])
    near = gain.steps_within(within) if has_plateau else float("nan")
    per_gpu_hour = row["gpu_hours_per_step"]
    if has_plateau and plateau[0] <= float(gain.mean([0.0])[0]):
        near = 0.0  # a curve that declines (or stays) from step 0 is best not trained at all
    if budget_gpu_hours is not None:
        if not (np.isfinite(per_gpu_hour) and per_gpu_hour > 0):
            return "GPU-hours not measured (intermediate_accelerator_seconds is 0 on CPU)"
        affordable = budget_gpu_hours / per_gpu_hour
        if np.isfinite(near) and near <= affordable:
            steps, basis = near, f"within {within:g} points of its plateau gain before the budget is spent"
        else:
            steps, basis = affordable, f"the steps {budget_gpu_hours:g} GPU-hours buy"
    elif np.isfinite(near):
        steps, basis = near, f"the fewest steps within {within:g} points of its plateau gain"
    else:
        measured = curves.points[(curves.points["model"] == model) & (curves.points["intermediate_task"] == task)
                                 & (curves.points["target_task"] == target)]
        by_step = measured.groupby("intermediate_steps")["gain"].mean()
        if by_step.dropna().empty:
            return "no measured gain"
        steps = float(by_step.idxmax())
        basis = (f"its best measured milestone (no plateau: {gain.family} fit on {len(gain.milestones)} milestones)"
                 if not has_plateau else f"its best measured milestone (never within {within:g} points of the plateau)")
    first = float(gain.milestones[gain.milestones > 0].min())
    if 0 < steps < first:
        # Nothing is measured between step 0 and the first milestone: the curve's shape there is a guess.
        steps, basis = first, basis + "; the fit gets there before the first milestone, so the first milestone"
    steps = float(math.ceil(steps))
    g = [float(v[0]) for v in gain.predict([steps], confidence)]
    s = [float(v[0]) for v in score.predict([steps], confidence)] if score is not None else [float("nan")] * 3
    return {
        "intermediate_task": task, "steps": int(steps), "gpu_hours": steps * per_gpu_hour,
        "intermediate_flops": steps * row["flops_per_step"], "predicted_gain": g[0], "gain_ci_low": g[1],
        "gain_ci_high": g[2], "predicted_score": s[0], "score_ci_low": s[1], "score_ci_high": s[2],
        "plateau_gain": plateau[0], "plateau_ci_low": plateau[1], "plateau_ci_high": plateau[2],
        "extrapolated": bool(steps > last), "family": gain.family, "n_milestones": len(gain.milestones),
        "n_seeds": gain.n_seeds, "interval": gain.interval, "basis": basis, "last": last,
    }


def _interval(low: float, high: float) -> str:
    return f"[{low:+.2f}, {high:+.2f}]" if np.isfinite(low) and np.isfinite(high) else "(no interval)"


def _why(best: dict, others: list[dict], within: float, budget_gpu_hours: float | None) -> str:
    text = (f"{best['intermediate_task']} at {best['steps']:,} steps ({best['basis']}): predicted gain "
            f"{best['predicted_gain']:+.2f} {_interval(best['gain_ci_low'], best['gain_ci_high'])}")
    if np.isfinite(best["plateau_gain"]):
        text += f", plateau gain {best['plateau_gain']:+.2f} {_interval(best['plateau_ci_low'], best['plateau_ci_high'])}"
    text += f"; {best['interval']}."
    if best["extrapolated"]:
        text += f" Extrapolated past the last measured milestone ({int(best['last']):,} steps)."
    if others:
        runner = others[0]
        text += (f" Next best: {runner['intermediate_task']}, {runner['predicted_gain']:+.2f} at "
                 f"{runner['steps']:,} steps.")
    return text
