"""How long a running study still needs, from what it has measured so far (`xstudy status`).

A trial's work between two milestones a < b is its intermediate steps, b - a, at the size's measured
seconds per intermediate step (trunk and cooldown, `intermediate_seconds / intermediate_steps` over its
rows), plus the work done at every milestone whatever its step count: each target's fine-tuning and
evaluation (`target_seconds + eval_seconds`, one value per target task and milestone). Both rates are
means over the size's finished milestones. A running trial's current milestone is taken from its live
progress file instead (study.progress), where it has one.

What is left: every milestone that a trial not yet finished can still reach, and the trials the grid
plans that Ray has not created yet (each like the size's average intermediate trial). It is an upper
bound twice over: ASHA may stop trials before their last milestone, and a size without a finished
milestone yet has no rate (the estimate then says which sizes it leaves out). Wall time is the work
divided by the trials that run at once (those running now, at least one).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

FINISHED_STATES = ("finished", "stopped", "errored")


def rates(table: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Per size: seconds per intermediate step (None before a trained milestone is finished), and seconds of
    fixed work per milestone (all targets)."""
    if table.empty:
        return {}
    out: dict[str, dict[str, float]] = {}
    milestones = ["trial_id", "intermediate_steps"]
    for model, rows in table.groupby("model", sort=True):
        path = rows.drop_duplicates(milestones)
        trained = path[path["intermediate_steps"] > 0]
        per_step = float(trained["intermediate_seconds"].sum() / trained["intermediate_steps"].sum()) if len(trained) else None
        per_target = rows.drop_duplicates([*milestones, "target_task"])
        fixed = (per_target["target_seconds"] + per_target["eval_seconds"]).groupby(
            [per_target["trial_id"], per_target["intermediate_steps"]]).sum()
        out[str(model)] = {"seconds_per_step": per_step, "seconds_per_milestone": float(fixed.mean())}
    return out


def remaining(status: dict[str, Any], table: pd.DataFrame, live: dict[str, dict[str, Any]],
              milestones: dict[str, list[int]]) -> dict[str, Any]:
    """The study's remaining work and wall time; `status` is what `study.status.gather` built so far."""
    measured = rates(table)
    work = 0.0
    unknown: set[str] = set()
    for trial in status["trials"]:
        if trial["state"] in FINISHED_STATES or trial["model"] is None:
            continue
        size = trial["model"]
        reached = set(trial["milestones_done"]) | set(trial["milestones_reported"])
        grid = [0] if trial["intermediate_task"] == "none" else [m for m in milestones.get(size, []) if m > 0]
        if trial["final_milestone"] is not None:
            grid = [m for m in grid if m <= trial["final_milestone"]]
        last = max(reached, default=0)
        todo = [m for m in grid if m not in reached and m >= last]
        record = live.get(trial["trial_id"]) or {}
        previous = last
        for i, m in enumerate(todo):
            if i == 0 and record.get("state") == "running" and record.get("milestone") == m and record.get("eta_milestone_s") is not None:
                work += float(record["eta_milestone_s"])
            elif (seconds := _between(measured.get(size), previous, m)) is None:
                unknown.add(size)
            else:
                work += seconds
            previous = m
    planned = status.get("planned_trials") or {}
    for size, n_planned in (planned.get("by_size") or {}).items():
        missing = n_planned - sum(1 for t in status["trials"] if t["model"] == size)
        if missing <= 0:
            continue
        grid = [m for m in milestones.get(size, []) if m > 0]
        one = sum(_between(measured.get(size), a, b) or math.nan for a, b in zip([0, *grid], grid))
        if math.isnan(one):
            unknown.add(size)
        else:
            work += missing * one
    running = sum(1 for t in status["trials"] if t["state"] == "running")
    at_once = max(1, running)
    return {
        "work_seconds": work,
        "wall_seconds": work / at_once,
        "trials_at_once": at_once,
        "sizes_without_rate": sorted(unknown),
        "basis": "upper bound: every trial runs to its last milestone (ASHA may stop some sooner)",
        "complete": not unknown and math.isfinite(work),
    }


def _between(rate: dict[str, float | None] | None, start: int, end: int) -> float | None:
    """Seconds from milestone `start` to milestone `end` (>= start) at a size's rates; None if unmeasured."""
    if rate is None or (end > start and rate["seconds_per_step"] is None):
        return None
    return (rate["seconds_per_step"] or 0.0) * (end - start) + rate["seconds_per_milestone"]
