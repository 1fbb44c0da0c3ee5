"""Synthetic results tables that conform to `study.results.SCHEMA`, for the analysis tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
import pytest

from study.results import config_json, to_table

PARAMS = {"small": 270_000_000, "large": 3_500_000_000}  # encoder parameters per model size name
BATCH = 32  # examples per intermediate step
TOKENS_PER_EXAMPLE = 128  # non-padding tokens per example


def result_row(**overrides: Any) -> dict[str, Any]:
    """One complete result row: a plausible default for every column, then `overrides`.

    The intermediate cost columns follow from `intermediate_steps` and `model_params` unless given, so
    that rows of one milestone agree on them, as real trials' rows do.
    """
    model = overrides.get("model", "small")
    params = overrides.get("model_params", PARAMS.get(model, 1_000_000))
    steps = overrides.get("intermediate_steps", 0)
    task = overrides.get("intermediate_task", "none" if steps == 0 else "mnli")
    seed = overrides.get("seed", 0)
    tokens = steps * BATCH * TOKENS_PER_EXAMPLE
    row = {
        "study": "s",
        "trial_id": f"{model}-{task}-seed{seed}",
        "model": model,
        "model_params": params,
        "intermediate_task": task,
        "schedule": "branch",
        "seed": seed,
        "config": config_json({"lr": 1e-5}),
        "intermediate_steps": steps,
        "intermediate_examples": steps * BATCH,
        "intermediate_tokens": tokens,
        "intermediate_flops": 6.0 * params * tokens,
        "intermediate_seconds": 0.1 * steps,
        "target_task": "xnli",
        "target_format": "classification",
        "language": "en",
        "split": "test",
        "metric": "score",
        "value": 50.0,
        "higher_is_better": True,
        "target_steps": 100,
        "target_tokens": 100 * BATCH * TOKENS_PER_EXAMPLE,
        "target_flops": 6.0 * params * 100 * BATCH * TOKENS_PER_EXAMPLE,
        "target_seconds": 10.0,
        "eval_examples": 200,
        "eval_tokens": 200 * TOKENS_PER_EXAMPLE,
        "eval_flops": 2.0 * params * 200 * TOKENS_PER_EXAMPLE,
        "eval_seconds": 1.0,
        "node": "node-0",
        "recorded_at": "2025-01-01T00:00:00+00:00",
    }
    row.update(overrides)
    return row


def score_rows(values: Mapping[str, Mapping[str, float]], **common: Any) -> list[dict[str, Any]]:
    """Rows for {target_task: {language: value}}, all sharing `common` (trial, milestone, split...)."""
    return [
        result_row(target_task=task, language=language, value=value, **common)
        for task, per_language in values.items()
        for language, value in per_language.items()
    ]


def build_results(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Partial rows -> a DataFrame that went through `study.results.to_table`, so its schema is the real one."""
    return to_table(result_row(**row) for row in rows).to_pandas()


@pytest.fixture
def make_results() -> Callable[[Iterable[Mapping[str, Any]]], pd.DataFrame]:
    """Factory: partial rows (any subset of the schema's columns) -> a schema-conforming results DataFrame."""
    return build_results


@pytest.fixture
def make_scores() -> Callable[..., list[dict[str, Any]]]:
    """Factory: `score_rows`, rows for {target_task: {language: value}} sharing the given columns."""
    return score_rows


@pytest.fixture
def small_study() -> pd.DataFrame:
    """Two sizes x (baseline + MNLI at 100 and 1000 steps) x 3 seeds x 2 tasks x 2 test languages + English dev.

    Test scores rise with steps and size; every trial also writes a non-score metric row, which the
    aggregation must ignore.
    """
    rows: list[dict[str, Any]] = []
    for model, size_bonus in (("small", 0.0), ("large", 10.0)):
        for seed in range(3):
            for steps in (0, 100, 1000):
                task = "none" if steps == 0 else "mnli"
                common = {"model": model, "seed": seed, "intermediate_steps": steps, "intermediate_task": task}
                level = 50.0 + size_bonus + {0: 0.0, 100: 2.0, 1000: 3.0}[steps] + seed
                rows += score_rows(
                    {"xnli": {"en": level + 10, "de": level}, "xquad": {"en": level + 5, "de": level - 5}},
                    **common,
                )
                rows += score_rows({"xnli": {"en": level + 20}, "xquad": {"en": level + 15}}, split="dev", **common)
                rows.append(result_row(metric="accuracy", value=0.0, target_task="xnli", language="de", **common))
    return build_results(rows)
