"""`xstudy data inspect TASK`: where a task's data is, how big each split is, and what its examples look like.

Counts are what the task's metric counts: questions for QA, sentences for tagging, sentence pairs for
Tatoeba, queries for LAReQA and Mewsli-X, gold pairs for BUCC (`Format.count`).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from study.tasks import registry
from study.tasks.readers import DataError
from study.tasks.registry import LoadContext, Task

SPLIT_ORDER = ("train", "dev", "test")
PREVIEW = 3  # examples shown per split of the first language
PREVIEW_CHARS = 300


def task_languages(task: Task) -> list[str]:
    """Every language with some split, the training language first, then in the task's own order."""
    has_train_language = task.splits is None or any(task.train_language in v for v in task.splits.values())
    langs = [task.train_language] if has_train_language else []
    for split in SPLIT_ORDER:
        for lang in (task.splits or {}).get(split, ()):
            if lang not in langs:
                langs.append(lang)
    for lang in task.test_languages:
        if lang not in langs:
            langs.append(lang)
    return langs


def splits_of(task: Task, lang: str) -> list[str]:
    if task.splits is None:  # a loader that does not declare its splits: try the usual ones
        return [s for s in SPLIT_ORDER if s != "test" or lang in task.test_languages]
    return [s for s in SPLIT_ORDER if lang in task.splits.get(s, ())]


def inspect_task(task: Task, languages: list[str], ctx: LoadContext) -> tuple[dict, dict, list[str]]:
    """({lang: {split: count}}, {(lang, split): first examples}, [error messages]); loads every split."""
    counts: dict[str, dict[str, int]] = {}
    previews: dict[tuple[str, str], list[dict]] = {}
    errors: list[str] = []
    for lang in languages:
        for split in splits_of(task, lang):
            try:
                examples = task.load(split, lang, ctx)
            except DataError as err:
                errors.append(str(err))
                continue
            counts.setdefault(lang, {})[split] = task.format.count(examples)
            if lang == languages[0]:
                previews[(lang, split)] = examples[:PREVIEW]
    return counts, previews, errors


def study_splits(spec: Any) -> list[tuple[str, str, str]]:
    """Every (task, split, language) a study reads: the intermediate tasks' English train and dev; each
    target's English train (for the tasks it trains first too) and dev, where the task has them; and its
    test split in the spec's languages."""
    wanted: list[tuple[str, str, str]] = []

    def add(name: str, split: str, lang: str) -> None:
        task = registry.get(name)
        has = task.splits is None or lang in task.splits.get(split, ())
        if has and (name, split, lang) not in wanted:
            wanted.append((name, split, lang))

    for name in spec.intermediate:
        for member in spec.members(name):
            add(member, "train", registry.get(member).train_language)
            add(member, "dev", registry.get(member).train_language)
    for target in spec.targets:
        task = registry.get(target.task)
        if task.format.trains:
            for first in task.train_first:
                add(first, "train", registry.get(first).train_language)
            add(task.name, "train", task.train_language)
        add(task.name, "dev", task.train_language)
        for lang in spec.languages_of(target):
            add(task.name, "test", lang)
    return wanted


def check_study_data(spec: Any) -> list[str]:
    """Read (without tokenizing) every split a study needs; the errors name file, line and what was expected.

    Meant to run before any compute is spent: a study of hours should not stop at its first target
    because one language file is missing."""
    ctx = LoadContext(data_dir=spec.study.data_dir)
    errors = []
    for name, split, lang in study_splits(spec):
        try:
            registry.get(name).load(split, lang, ctx)
        except DataError as err:
            errors.append(str(err))
    return errors


def _short(example: dict[str, Any]) -> str:
    text = json.dumps(example, ensure_ascii=False)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 3] + "..."


def inspect_command(task: str, languages: list[str] | None, data_dir: str | None, as_json: bool) -> int:
    """Print a task's split sizes per language (JSON with `as_json`) and, as tables, its first examples.

    JSON: {"task": NAME, "splits": {LANG: {SPLIT: N_EXAMPLES}}}, plus "errors": [...] when some split
    could not be read. Exit codes: 0 all splits read; 1 a file is missing or malformed (the message names
    the file, the line and what was expected); 2 an unknown task or language.
    """
    err = Console(stderr=True)
    the_task = registry.get(task, None)
    if the_task is None:
        err.print(Text(f"error: unknown task {task!r}; known: {', '.join(registry.names())}", style="red"), soft_wrap=True)
        return 2
    known = task_languages(the_task)
    wanted = list(languages) if languages else known
    unknown = [lang for lang in wanted if lang not in known]
    if unknown:
        err.print(Text(f"error: {task} has no language(s) {unknown}; it has {known}", style="red"), soft_wrap=True)
        return 2
    try:
        counts, previews, errors = inspect_task(the_task, wanted, LoadContext(data_dir=data_dir))
    except DataError as exc:  # the data directory itself is wrong
        errors, counts, previews = [str(exc)], {}, {}
    if as_json:
        out: dict[str, Any] = {"task": the_task.name, "splits": counts}
        if errors:
            out["errors"] = errors
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    else:
        console = Console()
        table = Table(title=f"{the_task.name} ({the_task.format_name}, metric {the_task.metric}): examples as scored")
        table.add_column("language")
        for split in SPLIT_ORDER:
            table.add_column(split, justify="right")
        for lang in wanted:
            row = counts.get(lang, {})
            table.add_row(lang, *[str(row[s]) if s in row else ("-" if s not in splits_of(the_task, lang) else "error")
                                  for s in SPLIT_ORDER])
        console.print(table)
        if the_task.description:
            console.print(Text(the_task.description, style="dim"))
        for (lang, split), examples in previews.items():
            console.print(Text(f"first {len(examples)} {split} examples ({lang}):", style="bold"))
            for ex in examples:
                console.print(Text(f"  {_short(ex)}"), soft_wrap=True)
    for message in errors:
        err.print(Text(f"error: {message}", style="red"), soft_wrap=True)
    return 1 if errors else 0
