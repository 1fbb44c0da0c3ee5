"""Kept as one module: a mirror of the official evaluate.py, with one reader and one scorer per task, paired in one
table (`TASK_FILES`) and sharing the file checks.

Score an XTREME / XTREME-R submission folder the way the official `evaluate.py` does.

A submission is a folder with one sub-folder per task and one file per language, `TASK/test-LANG.EXT`
(EXT: `json` for the QA tasks, Mewsli-X and LAReQA, `jsonl` for XCOPA, `tsv` otherwise); the label
folder has the same layout. This is the layout of the official `mock_test_data`.

What is computed, as in evaluate.py (google-research/xtreme HEAD 838c13b):
- per language, the task's metrics (`study.metrics`), under the official keys (`accuracy`, `f1`,
  `precision`, `recall`, `exact_match`, `map@20`);
- per task, the unweighted mean over the benchmark's languages of each metric (`avg_<metric>`), and the
  task score `avg_metric`: (EM + F1) / 2 for QA tasks, the single metric otherwise;
- per group, the mean of its tasks' scores, when every task of the group was scored;
- overall, the mean of all task scores (not of the group means), when every task was scored.

Task folders missing from either side are skipped, as evaluate.py skips them; a task that is present
must have a file for every one of its languages on both sides.

Where the official script cannot produce a number, this module does, and says how:
- XTREME-R LAReQA: evaluate.py lists no languages, no reader and no metric for it, so it can never
  give an XTREME-R overall score. Here LAReQA is scored on XQuAD-R's 11 languages with mAP@20 (the
  metric of the XTREME-R paper and of LAReQA's own code, `study.metrics.map_at_k`). Its files follow the
  Mewsli-X layout: labels `{question_id: [relevant candidate ids]}`, predictions
  `{question_id: [candidate ids, best first]}`. LAReQA pools the questions of all languages into one
  mean; XQuAD-R has the same 1190 questions in every language, so the mean of the per-language means
  is the same number up to float rounding.
- XTREME-R groups are the paper's: LAReQA belongs to "retrieval" (evaluate.py leaves it out) and there
  is no "multi_choice" group (evaluate.py's holds XCOPA alone, which is already in "classification").
- The overall score sums the task scores with `math.fsum` (correctly rounded). evaluate.py sums them in
  the iteration order of a Python set, so its last bits can change with PYTHONHASHSEED; on the official
  mock files 91.5% of the 9! orders give the fsum value and the others differ by 1-2 units in the last place.

- A leading UTF-8 byte-order mark is dropped, as the dataset readers drop it (`study.textfile`); evaluate.py
  would read it as part of a TSV file's first label, and its json would refuse a JSON file that has one.

Conventions: "official" is the above; "f1_only" scores QA tasks by F1 alone (the convention of, e.g.,
the mGTE paper's XTREME-R table). Everything else is the same in both.

Tasks of no benchmark (benchmark "none": the built-in tasks, a user's own): every label folder named after a
registered task is scored, on the languages of its label files (`test-LANG.EXT`, EXT the entry's `suffix`),
with no groups; the overall score is the mean of the scored tasks' scores. A task the official scorer does
not know is read by its format (`Format.read_submission`) and scored with its registry entry's metric, so
its numbers are the ones a trial records; a benchmark task keeps its official scorer whatever the benchmark.
A task's score keys and display name are its registry entry's (`study.tasks.registry.Task`).
"""

from __future__ import annotations

import json
import math
import numbers
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from study import metrics
from study.tasks import registry
from study.tasks.registry import QA_SCORE_KEYS
from study.tasks.submission import (
    ScoringError,
    jsonl_label_pairs,
    line_pairs,
    qa_pairs,
    ranking_files,
    read_labels,
    tag_pairs,
)
from study.tasks.languages import BENCHMARKS, TASK_GROUPS, TASK_LANGUAGES

CONVENTIONS: tuple[str, ...] = ("official", "f1_only")
NO_BENCHMARK = "none"  # score registered tasks of no benchmark (see the module docstring)
TOP_K = 20  # Mewsli-X and LAReQA are scored on each query's 20 best candidates


# ----------------------------------------------------------------------------------- per-task scorers
# Each scorer: (prediction file, label file, language, notes) -> {metric: value on 0-100}. `notes`
# collects what the official script passes over silently (unanswered questions, ignored ids).
Scorer = Callable[[Path, Path, str, list[str]], dict[str, float]]


def _score_accuracy(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    return {"accuracy": metrics.accuracy(*line_pairs(pred_path, label_path))}


def _score_xcopa(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    return {"accuracy": metrics.accuracy(*jsonl_label_pairs(pred_path, label_path))}


def _score_tags(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    return metrics.seqeval_scores(*tag_pairs(pred_path, label_path))


def _score_bucc(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    # Pair sets, so no count check (as evaluate.py): a miner may output any number of pairs.
    return metrics.bucc_f1(read_labels(label_path), read_labels(pred_path))


def _score_squad(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    return metrics.squad_scores(*qa_pairs(pred_path, label_path, notes))


def _score_mlqa(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    return metrics.mlqa_scores(*qa_pairs(pred_path, label_path, notes), lang)


def _score_mewslix(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    gold, ranked = ranking_files(pred_path, label_path, "Mewsli-X", notes)
    return {"map@20": metrics.mewslix_mrr(gold, ranked, k=TOP_K)}


def _score_lareqa(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    gold, ranked = ranking_files(pred_path, label_path, "LAReQA", notes)
    return {"map@20": metrics.map_at_k(list(gold.values()), [ranked.get(q, []) for q in gold], k=TOP_K)}


# The official scorer's per-task readers and metrics (evaluate.py's), by task name.
OFFICIAL_SCORERS: Mapping[str, Scorer] = {
    "pawsx": _score_accuracy,
    "xnli": _score_accuracy,
    "xcopa": _score_xcopa,
    "udpos": _score_tags,
    "panx": _score_tags,
    "bucc2018": _score_bucc,
    "tatoeba": _score_accuracy,
    "mewslix": _score_mewslix,
    "lareqa": _score_lareqa,
    "xquad": _score_squad,
    "mlqa": _score_mlqa,
    "tydiqa": _score_squad,
}


@dataclass(frozen=True)
class _TaskFiles:
    suffix: str  # the task entry's `suffix`
    score: Scorer


def _format_scorer(task: registry.Task) -> Scorer:
    """A task the official scorer does not know: its format reads the files, its entry's metric scores them
    (the numbers `Task.score` gives a trial's rows, without the derived "score")."""
    def score(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
        gold, predicted = task.format.read_submission(task, pred_path, label_path, notes)
        values = task.score(gold, predicted, lang)
        del values["score"]
        return values

    return score


TASK_FILES: Mapping[str, _TaskFiles] = {
    name: _TaskFiles(registry.get(name).suffix, scorer) for name, scorer in OFFICIAL_SCORERS.items()
}


def task_files(task: str) -> _TaskFiles:
    """How a task's files are named and scored: the official scorer's way for the tasks it knows, else the
    registry entry's suffix, format reader and metric."""
    if task in TASK_FILES:
        return TASK_FILES[task]
    entry = registry.get(task)
    return _TaskFiles(entry.suffix, _format_scorer(entry))


# -------------------------------------------------------------------------------------- aggregation
def _check_benchmark(benchmark: str, convention: str) -> None:
    if benchmark not in BENCHMARKS and benchmark != NO_BENCHMARK:
        raise ValueError(f"unknown benchmark {benchmark!r}; choose one of {[*BENCHMARKS, NO_BENCHMARK]}")
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose one of {list(CONVENTIONS)}")


def task_score(task: str, values: Mapping[str, float] | float, convention: str = "official") -> float:
    """A task's score from its language-averaged metrics (keys with or without the "avg_" prefix).

    QA tasks: (EM + F1) / 2 under "official", F1 under "f1_only"; other tasks: their one metric (the
    registry entry's `score_keys`). A plain number is taken as the task score itself.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose one of {list(CONVENTIONS)}")
    if isinstance(values, numbers.Real):
        return float(values)
    entry = registry.get(task, None)
    if entry is None:
        raise ValueError(f"unknown task {task!r}; known: {registry.names()}")
    keys = ("f1",) if entry.score_keys == QA_SCORE_KEYS and convention == "f1_only" else entry.score_keys

    def get(key: str) -> float:
        for name in (f"avg_{key}", key):
            if name in values:
                return values[name]
        raise ValueError(f"{task}: no {key!r} (or 'avg_{key}') among {sorted(values)}; its {convention} score "
                         f"needs {list(keys)}")

    if keys == QA_SCORE_KEYS:
        return (get("exact_match") + get("f1")) / 2
    return get(keys[0])


def aggregate(task_scores: Mapping[str, Mapping[str, float] | float], benchmark: str,
              convention: str = "official") -> dict[str, Any]:
    """Group and overall scores from per-task scores, without files.

    `task_scores` maps a task to its language-averaged metrics, e.g. {"xquad": {"exact_match": 61.6,
    "f1": 77.2}} (the "avg_" keys of `score_submission` also work), or to its task score as a number.
    Returns {"tasks": {task: score}, "groups": {group: mean of its tasks}, "overall": mean of all task
    scores or None, "missing": [tasks not given], "benchmark", "convention"}. A group, and the overall
    score, appear only when all their tasks are given. Benchmark "none": the given (registered) tasks, no
    groups, and the overall score is their mean.
    """
    _check_benchmark(benchmark, convention)
    all_tasks = list(task_scores) if benchmark == NO_BENCHMARK else list(TASK_LANGUAGES[benchmark])
    unknown = [t for t in task_scores if t not in all_tasks]
    if unknown:
        raise ValueError(f"{unknown} are not {benchmark} tasks; its tasks: {all_tasks}")
    scores = {t: task_score(t, task_scores[t], convention) for t in all_tasks if t in task_scores}
    groups = {
        group: sum(scores[t] for t in tasks) / len(tasks)
        for group, tasks in TASK_GROUPS.get(benchmark, {}).items()
        if all(t in scores for t in tasks)
    }
    missing = [t for t in all_tasks if t not in scores]
    # evaluate.py sums the task scores over a set, so its last bits depend on PYTHONHASHSEED; math.fsum
    # gives the correctly rounded sum, which is what most of its orders give. Groups are summed in list
    # order, as evaluate.py does, which is deterministic.
    overall = None if missing else math.fsum(scores[t] for t in all_tasks) / len(all_tasks)
    return {"benchmark": benchmark, "convention": convention, "tasks": scores, "groups": groups,
            "overall": overall, "missing": missing}


# ---------------------------------------------------------------------------------- whole submission
def _registered_task_languages(label_dir: Path) -> dict[str, tuple[str, ...]]:
    """Benchmark "none": each folder of `label_dir` named after a registered task, with the languages of its
    label files (`test-LANG.EXT`, EXT the entry's suffix), sorted; folders without one are left out."""
    found: dict[str, tuple[str, ...]] = {}
    for folder in sorted(p for p in label_dir.iterdir() if p.is_dir()):
        task = registry.get(folder.name, None)
        if task is None:
            continue
        end = f".{task.suffix}"
        langs = sorted(p.name[len("test-"):-len(end)] for p in folder.glob(f"test-*{end}") if p.is_file())
        if langs:
            found[task.name] = tuple(langs)
    return found


def task_languages(benchmark: str, label_dir: Path | str) -> Mapping[str, tuple[str, ...]]:
    """The tasks `score_submission` scores and the languages of each: the benchmark's; for "none", the
    registered tasks that have label files under `label_dir`, on the languages of those files."""
    if benchmark == NO_BENCHMARK:
        return _registered_task_languages(Path(label_dir))
    return TASK_LANGUAGES[benchmark]


def score_submission(pred_dir: Path | str, label_dir: Path | str, benchmark: str, convention: str = "official",
                     tasks: Iterable[str] | None = None, on_file=None) -> dict[str, Any]:
    """Score a submission folder against a label folder, as evaluate.py does (see the module docstring).

    `tasks` limits scoring to some of the benchmark's tasks (default: all that both folders have). Benchmark
    "none" scores registered tasks of any benchmark or none (see the module docstring).
    Returns {"benchmark", "convention",
             "tasks": {task: {metric: {lang: value}, "avg_<metric>": value, "avg_metric": task score}},
             "groups": {group: value}, "overall": value or None, "missing": [unscored tasks],
             "skipped": {folder: why}, "notes": [things the official script passes over silently]}.
    "tasks" has exactly the layout of evaluate.py's detailed scores. Raises ScoringError for a missing
    language file, unreadable or malformed files, and prediction/label count mismatches. `on_file(task, lang)`
    is called as each language file is scored (the command's progress bar).
    """
    _check_benchmark(benchmark, convention)
    pred_dir, label_dir = Path(pred_dir), Path(label_dir)
    for folder, role in ((pred_dir, "prediction"), (label_dir, "label")):
        if not folder.is_dir():
            raise ScoringError(f"no {role} folder", path=folder, rule="a submission is a folder of TASK/ folders")
    task_langs = task_languages(benchmark, label_dir)
    wanted = list(task_langs) if tasks is None else list(tasks)
    unknown = [t for t in wanted if t not in task_langs]
    if unknown:
        if benchmark == NO_BENCHMARK:
            raise ValueError(f"{unknown} are not registered tasks with label files in {label_dir}; "
                             f"those: {list(task_langs)}")
        raise ValueError(f"{unknown} are not {benchmark} tasks; its tasks: {list(task_langs)}")

    pred_tasks = {p.name for p in pred_dir.iterdir() if p.is_dir()}
    label_tasks = {p.name for p in label_dir.iterdir() if p.is_dir()}
    skipped: dict[str, str] = {}
    for name in sorted(pred_tasks - set(task_langs)):
        skipped[name] = (f"{pred_dir / name}: not a task of {benchmark}; ignored" if benchmark != NO_BENCHMARK else
                         f"{pred_dir / name}: not a registered task with label files; ignored")
    notes: list[str] = []
    detailed: dict[str, dict[str, Any]] = {}
    for task, langs in task_langs.items():
        if task not in wanted:
            continue
        if task not in pred_tasks or task not in label_tasks:
            sides = ((pred_dir, pred_tasks), (label_dir, label_tasks))
            absent = [str(folder / task) for folder, have in sides if task not in have]
            skipped[task] = f"no folder {' or '.join(absent)}; task not scored"
            continue
        files = task_files(task)
        per_metric: dict[str, dict[str, float]] = {}
        for lang in langs:
            pred_path = pred_dir / task / f"test-{lang}.{files.suffix}"
            label_path = label_dir / task / f"test-{lang}.{files.suffix}"
            for path in (pred_path, label_path):
                if not path.is_file():
                    raise ScoringError("file missing", path=path,
                                       rule=f"{benchmark} scores {task} on {len(langs)} languages ({' '.join(langs)}); "
                                            f"each needs test-LANG.{files.suffix} among both predictions and labels")
            for metric, value in files.score(pred_path, label_path, lang, notes).items():
                per_metric.setdefault(metric, {})[lang] = value
            if on_file is not None:
                on_file(task, lang)
        entry: dict[str, Any] = dict(per_metric)
        for metric, by_lang in per_metric.items():
            entry[f"avg_{metric}"] = sum(by_lang.values()) / len(by_lang)
        entry["avg_metric"] = task_score(task, entry, convention)
        detailed[task] = entry
    if not detailed:
        raise ScoringError(f"no {benchmark} task folder in both {pred_dir} and {label_dir}", path=pred_dir,
                           rule=f"task folders are named {list(task_langs)}")
    summary = aggregate(detailed, benchmark, convention)
    return {"benchmark": benchmark, "convention": convention, "tasks": detailed, "groups": summary["groups"],
            "overall": summary["overall"], "missing": summary["missing"], "skipped": skipped, "notes": notes}


# ----------------------------------------------------------------------------------------- display
def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _display_name(task: str) -> str:
    entry = registry.get(task, None)
    return entry.display_name if entry is not None else task


def _score_keys(task: str) -> tuple[str, ...]:
    entry = registry.get(task, None)
    return entry.score_keys if entry is not None else ()


def render_scores(result: Mapping[str, Any], console: Console) -> None:
    """Print a `score_submission` result as rich tables: tasks, per-language scores, groups and overall."""
    benchmark, convention = result["benchmark"], result["convention"]
    tasks: Mapping[str, Mapping[str, Any]] = result["tasks"]
    qa_rule = "QA = (EM + F1) / 2" if convention == "official" else "QA = F1"
    heading = "Registered" if benchmark == NO_BENCHMARK else benchmark.upper()

    overview = Table(title=f"{heading} task scores ({convention} convention: {qa_rule})")
    overview.add_column("task")
    overview.add_column("languages", justify="right")
    overview.add_column("averages")
    overview.add_column("score", justify="right", style="bold")
    for task, entry in tasks.items():
        averages = ", ".join(
            f"{k[4:]} {_fmt(v)}" for k, v in entry.items() if k.startswith("avg_") and k != "avg_metric"
        )
        n_langs = max((len(v) for v in entry.values() if isinstance(v, dict)), default=0)
        overview.add_row(_display_name(task), str(n_langs), averages, _fmt(entry["avg_metric"]))
    console.print(overview)

    per_lang = Table(title="Per-language scores (QA: EM/F1)")
    per_lang.add_column("lang")
    languages: list[str] = []
    for task, entry in tasks.items():
        per_lang.add_column(_display_name(task), justify="right")
        for by_lang in (v for v in entry.values() if isinstance(v, dict)):
            languages.extend(lang for lang in by_lang if lang not in languages)
    for lang in sorted(languages):
        cells = []
        for task, entry in tasks.items():
            keys = _score_keys(task)
            values = [entry.get(k, {}).get(lang) for k in keys]
            cells.append("" if any(v is None for v in values) or not values else "/".join(_fmt(v) for v in values))
        per_lang.add_row(lang, *cells)
    console.print(per_lang)

    summary = Table(title=f"{heading} groups and overall")
    summary.add_column("group")
    summary.add_column("tasks")
    summary.add_column("score", justify="right", style="bold")
    for group, group_tasks in TASK_GROUPS.get(benchmark, {}).items():
        summary.add_row(group, ", ".join(_display_name(t) for t in group_tasks), _fmt(result["groups"].get(group)))
    missing = result.get("missing", [])
    covered = "all tasks" if not missing else f"missing: {', '.join(missing)}"
    summary.add_row("overall", covered, _fmt(result["overall"]))
    console.print(summary)

    for folder, why in result.get("skipped", {}).items():
        console.print(Text(f"skipped {folder}: {why}", style="yellow"))
    for note in result.get("notes", []):
        console.print(Text(f"note: {note}", style="dim"))


def score_command(pred_dir: Path, label_dir: Path, benchmark: str, as_json: bool,
                  convention: str = "official") -> int:
    """`xstudy score`: score a submission and print it (JSON on stdout with `as_json`, tables otherwise).

    Exit codes: 0 scored; 1 the files cannot be scored (the message names file, line and rule);
    2 a bad argument (unknown benchmark or convention). `benchmark` "none" scores registered tasks of no
    benchmark (see the module docstring).
    """
    from study.console_progress import bar

    errors = Console(stderr=True, soft_wrap=True)
    try:
        known = benchmark in BENCHMARKS or (benchmark == NO_BENCHMARK and Path(label_dir).is_dir())
        files = sum(len(langs) for langs in task_languages(benchmark, label_dir).values()) if known else 0
        with bar("scoring", files, console=errors) as progress:
            result = score_submission(pred_dir, label_dir, benchmark, convention,
                                      on_file=lambda task, lang: progress.advance(1, f"{task} {lang}"))
    except ScoringError as err:
        errors.print(Text(f"error: {err}", style="red"), soft_wrap=True)
        return 1
    except ValueError as err:
        errors.print(Text(f"error: {err}", style="red"), soft_wrap=True)
        return 2
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    else:
        render_scores(result, Console(soft_wrap=True))
    return 0
