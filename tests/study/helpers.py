"""Small built-in study settings that run in seconds, shared by the trial and study tests."""

from __future__ import annotations

import copy
from typing import Any

from study.spec import StudySpec, parse_spec

# Few pretraining steps: enough for the machinery, not for transfer (the demo measures transfer).
TEST_MLM_STEPS = 60


def small_spec(storage: str, name: str = "t", **overrides: Any) -> StudySpec:
    data: dict[str, Any] = {
        "study": {"name": name, "storage": storage, "max_failures": 0},
        "models": [
            {"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": TEST_MLM_STEPS}, "batch_size": 16,
             "max_length": 48, "steps": [0, 10, 20]},
            {"name": "small", "source": {"builtin": "small", "mlm_steps": TEST_MLM_STEPS}, "batch_size": 16,
             "max_length": 48, "steps": [0, 10, 20]},
        ],
        "intermediate_tasks": ["none", "builtin_nli"],
        "target_tasks": [
            {"task": "builtin_pos", "languages": ["en", "xa"]},
            {"task": "builtin_xnli", "languages": ["en", "xb"]},
            {"task": "builtin_tatoeba", "languages": ["xc"]},
        ],
        "hyperparameters": {"intermediate_lr": 1e-3, "target_lr": 1e-3},
        "intermediate_training": {"warmup_steps": 2, "cooldown_fraction": 0.2},
        "target_training": {"steps": 8, "batch_size": 16, "eval_batch_size": 128},
        "search": {"max_concurrent_trials": 2},
    }
    for key, value in overrides.items():
        data[key] = copy.deepcopy(value)
    return parse_spec(data)
