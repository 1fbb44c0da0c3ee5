"""A small study written straight into rows/, with scores chosen by hand: no training, no Ray.

Two sizes ("small", "large"), the baseline and one intermediate task ("nli") at 100 and 1000 steps, three
seeds, and two target tasks: "xnli" (en, de, sw) and "panx" (en, hi). A test score is
    50 + 10 (large) + seed + gain(steps) + a per-language offset,
with gain 0, 2, 3 at 0, 100, 1000 steps for the small size and 0, 1, 1 for the large one; English dev
is 20 points above the English test score.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from study import results, storage

PARAMS = {"small": 1_000_000, "large": 10_000_000}
GAIN = {"small": {0: 0.0, 100: 2.0, 1000: 3.0}, "large": {0: 0.0, 100: 1.0, 1000: 1.0}}
TARGETS = {"xnli": {"en": 10.0, "de": 0.0, "sw": -10.0}, "panx": {"en": 5.0, "hi": -5.0}}
SEEDS = (0, 1, 2)
TOKENS_PER_STEP = 1_000


def _defaults() -> dict[str, Any]:
    """A value of the right type for every column of the schema (including columns added later)."""
    out: dict[str, Any] = {}
    for f in results.SCHEMA:
        if pa.types.is_string(f.type):
            out[f.name] = ""
        elif pa.types.is_integer(f.type):
            out[f.name] = 0
        elif pa.types.is_floating(f.type):
            out[f.name] = 0.0
        elif pa.types.is_boolean(f.type):
            out[f.name] = True
    return out


def trial_id(model: str, task: str, seed: int) -> str:
    """An id shaped like Ray Tune's (experiment hash, then the trial's index), as real rows carry."""
    return f"5e7a1_{trials().index((model, task, seed)):05d}"


def milestone_rows(model: str, task: str, seed: int, steps: int, study: str = "syn") -> list[dict[str, Any]]:
    level = 50.0 + (10.0 if model == "large" else 0.0) + seed + GAIN[model][steps]
    config = {"model": model, "intermediate_task": task, "seed": seed, "intermediate_lr": 1e-4, "target_lr": 3e-5}
    tokens = steps * TOKENS_PER_STEP
    common = {
        **_defaults(), "study": study, "trial_id": trial_id(model, task, seed), "model": model,
        "model_params": PARAMS[model], "intermediate_task": task, "schedule": "branch", "seed": seed,
        "config": results.config_json(config), "intermediate_steps": steps, "intermediate_examples": steps * 8,
        "intermediate_tokens": tokens, "intermediate_flops": 6.0 * PARAMS[model] * tokens,
        "intermediate_seconds": 0.01 * steps, "metric": "score", "higher_is_better": True, "node": "n0",
        "recorded_at": "2026-01-01T00:00:00+00:00",
    }
    rows = []
    for target, offsets in TARGETS.items():
        for language, offset in offsets.items():
            rows.append({**common, "target_task": target, "language": language, "split": "test", "value": level + offset})
        rows.append({**common, "target_task": target, "language": "en", "split": "dev", "value": level + offsets["en"] + 20})
    return rows


def milestones(model: str, task: str) -> list[int]:
    return [0] if task == "none" else [100, 1000]


def trials() -> list[tuple[str, str, int]]:
    return [(m, t, s) for m in PARAMS for t in ("none", "nli") for s in SEEDS]


def spec_json(name: str = "syn") -> str:
    """The parts of a study spec that `xstudy status` reads."""
    return json.dumps({
        "study": {"name": name, "storage": "."},
        "models": [{"name": m, "steps": [0, 100, 1000]} for m in PARAMS],
        "intermediate_tasks": ["none", "nli"], "seeds": list(SEEDS),
        "hyperparameters": {"intermediate_lr": 1e-4, "target_lr": 3e-5},
        "search": {"num_samples": 1}, "intermediate_training": {"schedule": "branch"},
    })


def write_study(uri: str, skip: set[tuple[str, str, int, int]] = frozenset()) -> str:
    """Every trial's milestone files under `uri`, except the (model, task, seed, steps) in `skip`."""
    storage.write_text_atomic(storage.join(uri, "spec.json"), spec_json(uri.rstrip("/").rsplit("/", 1)[-1]))
    for model, task, seed in trials():
        for steps in milestones(model, task):
            if (model, task, seed, steps) not in skip:
                results.write_milestone(uri, trial_id(model, task, seed), steps, milestone_rows(model, task, seed, steps))
    return uri
