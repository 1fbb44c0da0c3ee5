"""`xstudy data inspect TASK`: where a task's data is, how big each split is, and what its examples look like.

Counts are what the task's metric counts: questions for QA, sentences for tagging, sentence pairs for
Tatoeba, queries for LAReQA and Mewsli-X, gold pairs for BUCC (`Format.count`). Each (language, split) is
read on its own and reported as a count, as missing, or as an error: real data has holes (UD's Hindi PUD,
Thai, Tagalog and Yoruba treebanks are test-only), and whether a hole matters depends on the study, which
`--spec` names.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from study.tasks import registry
from study.tasks.readers import DataError, MissingData
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


MISSING, ERROR = "missing", "error"


def inspect_task(task: Task, languages: list[str], ctx: LoadContext) -> tuple[dict, dict, dict]:
    """Load every split of every language, each on its own: one that is absent does not hide the others.

    Returns ({lang: {split: count}}, {(lang, split): first examples}, {(lang, split): (kind, message)}) with
    kind "missing" (no release file of that name and no hub copy reachable: UD's test-only treebanks have no
    dev file) or "error" (a file that is there but malformed)."""
    counts: dict[str, dict[str, int]] = {}
    previews: dict[tuple[str, str], list[dict]] = {}
    problems: dict[tuple[str, str], tuple[str, str]] = {}
    for lang in languages:
        for split in splits_of(task, lang):
            try:
                examples = task.load(split, lang, ctx)
            except DataError as err:
                problems[(lang, split)] = (MISSING if isinstance(err, MissingData) else ERROR, str(err))
                continue
            counts.setdefault(lang, {})[split] = task.format.count(examples)
            if lang == languages[0]:
                previews[(lang, split)] = examples[:PREVIEW]
    return counts, previews, problems


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
            for first in (*task.train_first, task.name):  # the training sets it fine-tunes on (Task.training_set)
                data = registry.get(registry.get(first).training_set)
                add(data.name, "train", data.train_language)
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


def inspect_command(task: str, languages: list[str] | None, data_dir: str | None, as_json: bool,
                    spec_path: str | None = None) -> int:
    """Print a task's split sizes per language (JSON with `as_json`) and, as tables, its first examples.

    Each split is read on its own; one that is absent is shown as missing, the others with their counts.
    JSON: {"task": NAME, "splits": {LANG: {SPLIT: N_EXAMPLES}}, "missing": {LANG: [SPLIT, ...]}}, plus
    "errors": [...] (malformed files) and, with a spec, "needed_missing": [[SPLIT, LANG], ...].

    With `spec_path`, the splits the spec's study reads (`study_splits`: zero-shot needs English train and dev
    and the target languages' test) are needed; the spec's `study.data_dir` is the default data directory.
    Exit codes: 0 every split that is there reads, and the spec (if given) finds all it needs; 1 a file is
    malformed (the message names the file, the line and what was expected), or a split the spec needs is
    missing; 2 an unknown task or language, or a spec that is invalid or does not read the task.
    """
    err = Console(stderr=True, soft_wrap=True)
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
    needed: set[tuple[str, str]] | None = None
    if spec_path is not None:
        from study.spec import SpecError, load_spec

        try:
            spec = load_spec(spec_path)
        except SpecError as exc:
            err.print(Text(f"error: {exc}", style="red"), soft_wrap=True)
            return 2
        needed = {(lang, split) for name, split, lang in study_splits(spec) if name == the_task.name}
        if not needed:
            err.print(Text(f"error: the study of {spec_path} reads nothing of task {task}", style="red"), soft_wrap=True)
            return 2
        data_dir = data_dir or spec.study.data_dir
    try:
        counts, previews, problems = inspect_task(the_task, wanted, LoadContext(data_dir=data_dir))
    except DataError as exc:  # the data directory itself is wrong
        counts, previews, problems = {}, {}, {("", ""): (ERROR, str(exc))}
    missing: dict[str, list[str]] = {}
    for (lang, split), (kind, _) in problems.items():
        if kind == MISSING:
            missing.setdefault(lang, []).append(split)
    errors = [message for kind, message in problems.values() if kind == ERROR]
    needed_missing = sorted((split, lang) for lang, split in needed or () if problems.get((lang, split), ("",))[0] == MISSING)
    if as_json:
        out: dict[str, Any] = {"task": the_task.name, "splits": counts, "missing": missing}
        if errors:
            out["errors"] = errors
        if needed is not None:
            out["needed_missing"] = [list(x) for x in needed_missing]
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    else:
        console = Console(soft_wrap=True)
        table = Table(title=f"{the_task.name} ({the_task.format_name}, metric {the_task.metric}): examples as scored")
        table.add_column("language")
        for split in SPLIT_ORDER:
            table.add_column(split, justify="right")
        for lang in wanted:
            row = counts.get(lang, {})
            cells = [str(row[s]) if s in row else problems.get((lang, s), ("-",))[0] for s in SPLIT_ORDER]
            if needed is not None:
                cells = [c + (" (needed)" if (lang, s) in needed and c == MISSING else "") for c, s in zip(cells, SPLIT_ORDER)]
            table.add_row(lang, *cells)
        console.print(table)
        if the_task.description:
            console.print(Text(the_task.description, style="dim"))
        for (lang, split), examples in previews.items():
            console.print(Text(f"first {len(examples)} {split} examples ({lang}):", style="bold"))
            for ex in examples:
                console.print(Text(f"  {_short(ex)}"), soft_wrap=True)
    for (lang, split), (kind, message) in problems.items():
        if kind == ERROR or (lang, split) in (needed or ()):
            err.print(Text(f"error: {message}", style="red"), soft_wrap=True)
        else:
            err.print(Text(f"missing: {message}", style="yellow"), soft_wrap=True)
    return 1 if errors or needed_missing else 0
