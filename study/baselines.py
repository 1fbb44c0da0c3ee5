"""Chance levels, scored with each task's own metric, so a transfer claim can be checked against them.

Each format says what its chance level is (`Format.chance`):
- classification and tagging: always predict the most frequent label of the English training data;
- multiple choice: the expected accuracy of a uniform guess;
- retrieval: the expected top-1 accuracy of a uniform guess among the candidates;
- span QA, bitext mining and ranking: none (no meaningful constant predictor).
"""

from __future__ import annotations

from study.tasks.registry import LoadContext, Task


def chance_score(task: Task, lang: str, ctx: LoadContext, split: str = "test") -> float | None:
    """The chance level of one (split, language), loading the raw data."""
    train = task.load("train", task.train_language, ctx) if task.format.chance_needs_train else []
    return chance_of(task, task.load(split, lang, ctx), train, lang)


def chance_of(task: Task, examples: list[dict], train: list[dict], lang: str) -> float | None:
    """The chance level of `examples`, given the English training examples (for the majority label)."""
    return task.format.chance(task, examples, train, lang)
