"""Score an XTREME / XTREME-R submission folder the way the official `evaluate.py` does.

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
from study.textfile import TextFileError, parse_json, read_utf8, split_lines
from study.tasks.languages import (
    BENCHMARKS,
    QA_TASKS,
    TASK_DISPLAY_NAMES,
    TASK_GROUPS,
    TASK_LANGUAGES,
    TASK_METRIC_KEYS,
)

CONVENTIONS: tuple[str, ...] = ("official", "f1_only")
TOP_K = 20  # Mewsli-X and LAReQA are scored on each query's 20 best candidates


class ScoringError(TextFileError):
    """A submission or label file that cannot be scored: names the file, the line (or JSON path) and the rule.
    A `TextFileError`, as what `study.textfile` raises for bad UTF-8 or JSON."""


# ------------------------------------------------------------------------------------------ readers
def _read_text_lines(path: Path) -> list[str]:
    """The file's lines without their line ends, split as Python's text mode splits them (\\n, \\r\\n, \\r).
    UTF-8, a leading byte-order mark dropped (`study.textfile`: the same decoding as the dataset readers')."""
    return split_lines(read_utf8(path, rule="prediction and label files are UTF-8 text", error=ScoringError))


def _read_labels(path: Path) -> list[str]:
    """One label per line, surrounding whitespace removed (evaluate.py's `read_label`)."""
    return [line.strip() for line in _read_text_lines(path)]


@dataclass
class _Sentence:
    first_line: int  # 1-based line of its first tag (or of the blank line that ends an empty sentence)
    tags: list[str]


def _read_tag_sentences(path: Path) -> list[_Sentence]:
    """One tag per line, sentences separated by blank lines (evaluate.py's `read_tag`). As there, every
    blank line ends a sentence, so two blank lines in a row make an empty sentence."""
    sentences: list[_Sentence] = []
    tags: list[str] = []
    start = 1
    for number, line in enumerate(_read_text_lines(path), start=1):
        line = line.strip()
        if line:
            if not tags:
                start = number
            tags.append(line)
        else:
            sentences.append(_Sentence(start if tags else number, tags))
            tags = []
    if tags:
        sentences.append(_Sentence(start, tags))
    return sentences


def _read_json(path: Path) -> Any:
    lines = _read_text_lines(path)  # reports bad UTF-8 with its line
    return parse_json("\n".join(lines), path=path, rule="QA, Mewsli-X and LAReQA files are one JSON document",
                      error=ScoringError)


def _read_jsonl_labels(path: Path) -> list[tuple[int, Any]]:
    """XCOPA: one JSON object per line with a "label" field (evaluate.py's `read_xcopa`)."""
    out = []
    for number, line in enumerate(_read_text_lines(path), start=1):
        row = parse_json(line, path=path, line=number, rule="XCOPA files hold one JSON object per line",
                         error=ScoringError)
        if not isinstance(row, dict) or "label" not in row:
            raise ScoringError('no "label" field', path=path, line=number,
                               rule='every XCOPA line is an object with a "label"')
        out.append((number, row["label"]))
    return out


def _squad_answers(path: Path) -> dict[str, list[str]]:
    """Question id -> gold answer texts, in file order, from a SQuAD-format label file."""
    document = _read_json(path)
    articles = document["data"] if isinstance(document, dict) and "data" in document else document
    rule = 'SQuAD format: {"data": [{"paragraphs": [{"qas": [{"id", "answers": [{"text"}]}]}]}]}'
    if not isinstance(articles, list):
        raise ScoringError("no list of articles", path=path, line="data", rule=rule)
    answers: dict[str, list[str]] = {}
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise ScoringError('no "paragraphs" list', path=path, line=f"data[{a}]", rule=rule)
        for p, paragraph in enumerate(paragraphs):
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(qas, list):
                raise ScoringError('no "qas" list', path=path, line=f"data[{a}].paragraphs[{p}]", rule=rule)
            for q, qa in enumerate(qas):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                if not (isinstance(qa, dict) and isinstance(qa.get("id"), str) and isinstance(qa.get("answers"), list)):
                    raise ScoringError('no string "id" and "answers" list', path=path, line=where, rule=rule)
                texts = [ans.get("text") if isinstance(ans, dict) else None for ans in qa["answers"]]
                if not texts or not all(isinstance(t, str) for t in texts):
                    raise ScoringError("no gold answer text", path=path, line=where,
                                       rule="every question has at least one answer with a string \"text\"")
                if qa["id"] in answers:
                    raise ScoringError(f"question id {qa['id']!r} appears twice", path=path, line=where,
                                       rule="question ids are unique within a file")
                answers[qa["id"]] = texts
    return answers


def _id_map(path: Path, value_rule: str, check: Callable[[Any], bool]) -> dict[str, Any]:
    document = _read_json(path)
    if not isinstance(document, dict):
        raise ScoringError("not a JSON object", path=path, line=1, rule=value_rule)
    for key, value in document.items():
        if not check(value):
            raise ScoringError(f"bad value for {key!r}: {str(value)[:80]}", path=path, line=key, rule=value_rule)
    return document


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# ----------------------------------------------------------------------------------- per-task scorers
# Each scorer: (prediction file, label file, language, notes) -> {metric: value on 0-100}. `notes`
# collects what the official script passes over silently (unanswered questions, ignored ids).
Scorer = Callable[[Path, Path, str, list[str]], dict[str, float]]


def _same_count(pred_path: Path, label_path: Path, n_pred: int, n_label: int, unit: str) -> None:
    if n_pred != n_label:
        raise ScoringError(f"{n_pred} {unit} but {label_path} has {n_label}", path=pred_path,
                           rule=f"one prediction per label, so the same number of {unit}")


def _score_accuracy(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    predictions, labels = _read_labels(pred_path), _read_labels(label_path)
    _same_count(pred_path, label_path, len(predictions), len(labels), "lines")
    if not labels:
        raise ScoringError("no lines", path=label_path, rule="a language has at least one example")
    return {"accuracy": metrics.accuracy(labels, predictions)}


def _score_xcopa(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    predictions, labels = _read_jsonl_labels(pred_path), _read_jsonl_labels(label_path)
    _same_count(pred_path, label_path, len(predictions), len(labels), "lines")
    if not labels:
        raise ScoringError("no lines", path=label_path, rule="a language has at least one example")
    return {"accuracy": metrics.accuracy([v for _, v in labels], [v for _, v in predictions])}


def _score_tags(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    predictions, labels = _read_tag_sentences(pred_path), _read_tag_sentences(label_path)
    _same_count(pred_path, label_path, len(predictions), len(labels), "sentences (blank-line separated)")
    if not labels:
        raise ScoringError("no sentences", path=label_path, rule="a language has at least one example")
    for i, (pred, gold) in enumerate(zip(predictions, labels), start=1):
        if len(pred.tags) != len(gold.tags):
            raise ScoringError(
                f"sentence {i} has {len(pred.tags)} tags, but in {label_path} (line {gold.first_line}) it has "
                f"{len(gold.tags)}", path=pred_path, line=pred.first_line, rule="one tag per token, one token per line")
    return metrics.seqeval_scores([s.tags for s in labels], [s.tags for s in predictions])


def _score_bucc(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    # Pair sets, so no count check (as evaluate.py): a miner may output any number of pairs.
    return metrics.bucc_f1(_read_labels(label_path), _read_labels(pred_path))


def _qa_predictions(pred_path: Path, answers: Mapping[str, Any], notes: list[str]) -> dict[str, str]:
    predictions = _id_map(pred_path, "QA predictions are {question_id: answer text}", lambda v: isinstance(v, str))
    unanswered = sum(1 for qid in answers if qid not in predictions)
    if unanswered:
        notes.append(f"{pred_path}: {unanswered} of {len(answers)} questions have no prediction and score 0")
    extra = sum(1 for qid in predictions if qid not in answers)
    if extra:
        notes.append(f"{pred_path}: {extra} predictions for question ids not in the labels were ignored")
    return predictions


def _score_squad(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    answers = _squad_answers(label_path)
    if not answers:
        raise ScoringError("no questions", path=label_path, rule="a language has at least one example")
    return metrics.squad_scores(answers, _qa_predictions(pred_path, answers, notes))


def _score_mlqa(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    answers = _squad_answers(label_path)
    if not answers:
        raise ScoringError("no questions", path=label_path, rule="a language has at least one example")
    return metrics.mlqa_scores(answers, _qa_predictions(pred_path, answers, notes), lang)


def _ranking_files(pred_path: Path, label_path: Path, what: str, notes: list[str]) -> tuple[dict, dict]:
    gold = _id_map(label_path, f"{what} labels are {{id: [gold ids]}}, at least one gold id each",
                   lambda v: _is_str_list(v) and len(v) > 0)
    if not gold:
        raise ScoringError("no queries", path=label_path, rule="a language has at least one example")
    ranked = _id_map(pred_path, f"{what} predictions are {{id: [ids, best first]}}", _is_str_list)
    missing = sum(1 for key in gold if key not in ranked)
    if missing:
        notes.append(f"{pred_path}: {missing} of {len(gold)} queries have no ranking and score 0")
    return gold, ranked


def _score_mewslix(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    gold, ranked = _ranking_files(pred_path, label_path, "Mewsli-X", notes)
    return {"map@20": metrics.mewslix_mrr(gold, ranked, k=TOP_K)}


def _score_lareqa(pred_path: Path, label_path: Path, lang: str, notes: list[str]) -> dict[str, float]:
    gold, ranked = _ranking_files(pred_path, label_path, "LAReQA", notes)
    return {"map@20": metrics.map_at_k(list(gold.values()), [ranked.get(q, []) for q in gold], k=TOP_K)}


@dataclass(frozen=True)
class _TaskFiles:
    suffix: str
    score: Scorer


TASK_FILES: Mapping[str, _TaskFiles] = {
    "pawsx": _TaskFiles("tsv", _score_accuracy),
    "xnli": _TaskFiles("tsv", _score_accuracy),
    "xcopa": _TaskFiles("jsonl", _score_xcopa),
    "udpos": _TaskFiles("tsv", _score_tags),
    "panx": _TaskFiles("tsv", _score_tags),
    "bucc2018": _TaskFiles("tsv", _score_bucc),
    "tatoeba": _TaskFiles("tsv", _score_accuracy),
    "mewslix": _TaskFiles("json", _score_mewslix),
    "lareqa": _TaskFiles("json", _score_lareqa),
    "xquad": _TaskFiles("json", _score_squad),
    "mlqa": _TaskFiles("json", _score_mlqa),
    "tydiqa": _TaskFiles("json", _score_squad),
}


# -------------------------------------------------------------------------------------- aggregation
def _check_benchmark(benchmark: str, convention: str) -> None:
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; choose one of {list(BENCHMARKS)}")
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose one of {list(CONVENTIONS)}")


def task_score(task: str, values: Mapping[str, float] | float, convention: str = "official") -> float:
    """A task's score from its language-averaged metrics (keys with or without the "avg_" prefix).

    QA tasks: (EM + F1) / 2 under "official", F1 under "f1_only"; other tasks: their one metric
    (`TASK_METRIC_KEYS`). A plain number is taken as the task score itself.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose one of {list(CONVENTIONS)}")
    if isinstance(values, numbers.Real):
        return float(values)
    if task not in TASK_METRIC_KEYS:
        raise ValueError(f"unknown task {task!r}; known: {list(TASK_METRIC_KEYS)}")
    keys = ("f1",) if task in QA_TASKS and convention == "f1_only" else TASK_METRIC_KEYS[task]

    def get(key: str) -> float:
        for name in (f"avg_{key}", key):
            if name in values:
                return values[name]
        raise ValueError(f"{task}: no {key!r} (or 'avg_{key}') among {sorted(values)}; its {convention} score "
                         f"needs {list(keys)}")

    if len(keys) == 2:
        return (get("exact_match") + get("f1")) / 2
    return get(keys[0])


def aggregate(task_scores: Mapping[str, Mapping[str, float] | float], benchmark: str,
              convention: str = "official") -> dict[str, Any]:
    """Group and overall scores from per-task scores, without files.

    `task_scores` maps a task to its language-averaged metrics, e.g. {"xquad": {"exact_match": 61.6,
    "f1": 77.2}} (the "avg_" keys of `score_submission` also work), or to its task score as a number.
    Returns {"tasks": {task: score}, "groups": {group: mean of its tasks}, "overall": mean of all task
    scores or None, "missing": [tasks not given], "benchmark", "convention"}. A group, and the overall
    score, appear only when all their tasks are given.
    """
    _check_benchmark(benchmark, convention)
    all_tasks = list(TASK_LANGUAGES[benchmark])
    unknown = [t for t in task_scores if t not in all_tasks]
    if unknown:
        raise ValueError(f"{unknown} are not {benchmark} tasks; its tasks: {all_tasks}")
    scores = {t: task_score(t, task_scores[t], convention) for t in all_tasks if t in task_scores}
    groups = {
        group: sum(scores[t] for t in tasks) / len(tasks)
        for group, tasks in TASK_GROUPS[benchmark].items()
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
def score_submission(pred_dir: Path | str, label_dir: Path | str, benchmark: str, convention: str = "official",
                     tasks: Iterable[str] | None = None, on_file=None) -> dict[str, Any]:
    """Score a submission folder against a label folder, as evaluate.py does (see the module docstring).

    `tasks` limits scoring to some of the benchmark's tasks (default: all that both folders have).
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
    task_langs = TASK_LANGUAGES[benchmark]
    wanted = list(task_langs) if tasks is None else list(tasks)
    unknown = [t for t in wanted if t not in task_langs]
    if unknown:
        raise ValueError(f"{unknown} are not {benchmark} tasks; its tasks: {list(task_langs)}")

    pred_tasks = {p.name for p in pred_dir.iterdir() if p.is_dir()}
    label_tasks = {p.name for p in label_dir.iterdir() if p.is_dir()}
    skipped: dict[str, str] = {}
    for name in sorted(pred_tasks - set(task_langs)):
        skipped[name] = f"{pred_dir / name}: not a task of {benchmark}; ignored"
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
        files = TASK_FILES[task]
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


def render_scores(result: Mapping[str, Any], console: Console) -> None:
    """Print a `score_submission` result as rich tables: tasks, per-language scores, groups and overall."""
    benchmark, convention = result["benchmark"], result["convention"]
    tasks: Mapping[str, Mapping[str, Any]] = result["tasks"]
    qa_rule = "QA = (EM + F1) / 2" if convention == "official" else "QA = F1"

    overview = Table(title=f"{benchmark.upper()} task scores ({convention} convention: {qa_rule})")
    overview.add_column("task")
    overview.add_column("languages", justify="right")
    overview.add_column("averages")
    overview.add_column("score", justify="right", style="bold")
    for task, entry in tasks.items():
        averages = ", ".join(
            f"{k[4:]} {_fmt(v)}" for k, v in entry.items() if k.startswith("avg_") and k != "avg_metric"
        )
        n_langs = max((len(v) for v in entry.values() if isinstance(v, dict)), default=0)
        overview.add_row(TASK_DISPLAY_NAMES.get(task, task), str(n_langs), averages, _fmt(entry["avg_metric"]))
    console.print(overview)

    per_lang = Table(title="Per-language scores (QA: EM/F1)")
    per_lang.add_column("lang")
    languages: list[str] = []
    for task, entry in tasks.items():
        per_lang.add_column(TASK_DISPLAY_NAMES.get(task, task), justify="right")
        for by_lang in (v for v in entry.values() if isinstance(v, dict)):
            languages.extend(lang for lang in by_lang if lang not in languages)
    for lang in sorted(languages):
        cells = []
        for task, entry in tasks.items():
            keys = TASK_METRIC_KEYS.get(task, ())
            values = [entry.get(k, {}).get(lang) for k in keys]
            cells.append("" if any(v is None for v in values) or not values else "/".join(_fmt(v) for v in values))
        per_lang.add_row(lang, *cells)
    console.print(per_lang)

    summary = Table(title=f"{benchmark.upper()} groups and overall")
    summary.add_column("group")
    summary.add_column("tasks")
    summary.add_column("score", justify="right", style="bold")
    for group, group_tasks in TASK_GROUPS[benchmark].items():
        summary.add_row(group, ", ".join(TASK_DISPLAY_NAMES[t] for t in group_tasks), _fmt(result["groups"].get(group)))
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
    2 a bad argument (unknown benchmark or convention).
    """
    from study.console_progress import bar

    errors = Console(stderr=True)
    try:
        files = sum(len(langs) for langs in TASK_LANGUAGES.get(benchmark, {}).values())
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
        render_scores(result, Console())
    return 0
