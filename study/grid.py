"""The study's grid, enumerated once: launch runs it, status counts it, the plan costs it.

A grid point is (model size, intermediate task, seed), in `independent` mode also a step budget, and with
`search.num_samples` > 1 a sample index. Grid-searched hyperparameters multiply each point into as many
trials (`combinations`).
"""

from __future__ import annotations

import math
from typing import Any

from study.spec import Grid, StudySpec

# Tune's config holds a trial's grid point under this one key, beside the hyperparameters.
POINT = "point"


def point_of(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's config flat: its grid point (model, intermediate task, seed, budget, sample) and hyperparameters
    side by side. The one place where the nested layout is flattened; everything inside a trial (Trial, the
    Train workers) takes this flat dict. A config that is flat already (a study made before the point was
    nested) comes back as it is, and a `point` that is not a mapping is dropped.

    Why Tune's config keeps the point nested under `POINT` rather than flat: Tune's grid search varies one
    key at a time, and a grid point is several keys that vary together (the grid is a list of points, not a
    product: the baseline has no budget). So `param_space` grid-searches the one key `point` over whole
    points. Tune stores that param space and every trial's config with the experiment and `xstudy resume`
    restores them as stored: the layout of a study's configs is fixed when it is made, and flattening them in
    the param space would change what `SharedSample` draws and what a resumed study's trials look like. So
    the nesting stays where Tune sees it (param space, searcher, scheduler, resource requests, experiment
    state), and everything else reads a config through this function.
    """
    point = config.get(POINT)
    rest = {k: v for k, v in config.items() if k != POINT}
    return {**point, **rest} if isinstance(point, dict) else rest


def grid_points(spec: StudySpec, schedule: str | None = None) -> list[dict[str, Any]]:
    """Every (model size, intermediate task, seed) point, and in `independent` mode every step budget.

    The baseline (`none`) has no budget: it is one step-0 run per size and seed in both modes. With
    `search.num_samples` > 1, every point is repeated once per sample, with its index as `sample`.
    `schedule` counts the grid as under the other schedule (the plan compares both).
    """
    return enumerate_points(
        [(m.name, m.milestones) for m in spec.models], spec.intermediate, spec.seeds, spec.search.num_samples,
        (schedule or spec.intermediate_training.schedule) == "independent",
    )


def enumerate_points(models: list[tuple[str, list[int]]], intermediate: list[str], seeds: list[int], samples: int,
                     independent: bool) -> list[dict[str, Any]]:
    """The grid from its parts: (size, step milestones) pairs, intermediate task names (`none` among them),
    seeds, samples per point and the schedule. Seeds are the innermost axis."""
    points = []
    for sample in range(samples):
        for name, milestones in models:
            for task in intermediate:
                budgets = [s for s in milestones if s > 0] if independent and task != "none" else [None]
                for budget in budgets:
                    for seed in seeds:
                        point = {"model": name, "intermediate_task": task, "seed": seed}
                        if budget is not None:
                            point["budget"] = budget
                        if samples > 1:
                            point["sample"] = sample
                        points.append(point)
    return points


def combinations_of(hyperparameters: dict[str, Any]) -> int:
    """Trials per grid point that the grid-searched values make (`{grid: [...]}`), from a spec or its JSON."""
    return math.prod(len(v.grid) if isinstance(v, Grid) else len(v["grid"])
                     if isinstance(v, dict) and isinstance(v.get("grid"), list) else 1 for v in hyperparameters.values())


def combinations(spec: StudySpec) -> int:
    """Trials per grid point that grid-searched hyperparameters make."""
    return combinations_of(spec.hyperparameters)


def trial_counts(spec: StudySpec, schedule: str | None = None) -> dict[str, dict[str, int]]:
    """Per size: its trials in all (`trials`) and its step-0 baselines among them (`baselines`)."""
    return count_trials(grid_points(spec, schedule), combinations(spec), [m.name for m in spec.models])


def count_trials(points: list[dict[str, Any]], combos: int, sizes: list[str]) -> dict[str, dict[str, int]]:
    counts = {name: {"trials": 0, "baselines": 0} for name in sizes}
    for point in points:
        counts[point["model"]]["trials"] += combos
        counts[point["model"]]["baselines"] += combos if point["intermediate_task"] == "none" else 0
    return counts
