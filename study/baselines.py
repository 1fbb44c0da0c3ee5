"""Chance levels, scored with each task's own metric, so a transfer claim can be checked against them.

- classification and tagging: always predict the most frequent label of the English training data;
- multiple choice: the expected accuracy of a uniform guess;
- retrieval: the expected top-1 accuracy of a uniform guess among the candidates.
"""

from __future__ import annotations

from collections import Counter

from study.tasks.registry import LoadContext, Task


def chance_score(task: Task, lang: str, ctx: LoadContext, split: str = "test") -> float | None:
    """The chance level of one (split, language), loading the raw data."""
    train = task.load("train", task.train_language, ctx) if task.format_name in ("classification", "tagging") else []
    return chance_of(task, task.load(split, lang, ctx), train, lang)


def chance_of(task: Task, examples: list[dict], train: list[dict], lang: str) -> float | None:
    """The chance level of `examples`, given the English training examples (for the majority label)."""
    fmt = task.format_name
    if fmt == "retrieval":
        return 100.0 / len(examples)
    if fmt == "multiple_choice":
        return 100.0 * sum(1 / len(ex["choices"]) for ex in examples) / len(examples)
    if fmt not in ("classification", "tagging"):
        return None  # span QA has no meaningful constant predictor
    gold = task.format.gold(examples, task)
    if fmt == "classification":
        majority = Counter(ex["label"] for ex in train).most_common(1)[0][0]
        predicted = [majority] * len(examples)
    else:
        majority = Counter(t for ex in train for t in ex["tags"]).most_common(1)[0][0]
        predicted = [[majority] * len(g) for g in gold]
    return task.score(gold, predicted, lang)["score"]
