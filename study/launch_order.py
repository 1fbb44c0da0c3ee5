"""The order in which a study launches its trials: the longest first.

Tune starts grid points in the order it is given them. Started in the spec's order, a study's slowest trials
(the largest size's intermediate trials) may start last, and the study's end waits on them while the other
workers idle. Sorted by expected work, longest first, that tail shrinks to the shortest trials (the
scheduling rule known as LPT, longest processing time first).

The expected work of a point is its training FLOPs as `study.plan` counts them, with every sequence taken at
max_length (the plan's upper bound; no data is read at launch): the ranking needs relative sizes only. The
sort is stable, so a configuration's seeds, which share a key, stay together in the spec's order (the
Optuna space relies on it).
"""

from __future__ import annotations

from typing import Any

from study.spec import ModelSpec, StudySpec
from study.train import cooldown_steps


def _tokens_per_step(model: ModelSpec, batch_size: int) -> float:
    return float(batch_size * model.max_length)


def target_round_steps(spec: StudySpec) -> int:
    """Fine-tuning steps of one milestone's targets, each training set once (study.plan.fine_tuned_targets)."""
    from study.plan import fine_tuned_targets

    return sum(steps * (1 + len(task.train_first)) for task, steps in fine_tuned_targets(spec))


def expected_flops(spec: StudySpec, point: dict[str, Any], params: dict[str, float]) -> float:
    """Training FLOPs of the trial at `point` (non-embedding parameters x 6 x tokens, tokens at max_length)."""
    model = spec.model(point["model"])
    grid = [m for m in model.milestones if m > 0]
    rounds = target_round_steps(spec) * _tokens_per_step(model, spec.target_training.batch_size)
    if point["intermediate_task"] == "none":
        tokens = rounds
    else:
        reached = [m for m in grid if m <= point.get("budget", grid[-1])]
        steps = reached[-1]
        if spec.intermediate_training.schedule == "branch":
            steps += sum(cooldown_steps(spec.intermediate_training.cooldown_fraction, m) for m in reached)
        tokens = steps * _tokens_per_step(model, model.batch_size) + len(reached) * rounds
    return 6.0 * params[model.name] * tokens


def model_params(spec: StudySpec) -> dict[str, float]:
    """Non-embedding parameters of each size (study.plan.model_shape). Where a size's config cannot be read
    here, every size ranks by its position in the spec instead (later sizes larger, as specs list them)."""
    from study.plan import model_shape

    try:
        return {m.name: float(model_shape(m)[1].non_embedding_params) for m in spec.models}
    except (OSError, ValueError):  # a config not on this machine: the order only, never an error
        return {m.name: float(i + 1) for i, m in enumerate(spec.models)}


def longest_first(spec: StudySpec, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`points` sorted by expected FLOPs, the largest first; ties keep their order."""
    params = model_params(spec)
    return sorted(points, key=lambda p: -expected_flops(spec, p, params))
