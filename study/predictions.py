"""Test predictions (and labels) in the XTREME submission layout, which the official scorer reads.

A submission folder holds `TASK/test-LANG.EXT`, with the file formats of the official `evaluate.py`
(google-research/xtreme; `study.scoring` reads them the same way):

| format          | tasks                      | EXT   | prediction file                            | label file |
|-----------------|----------------------------|-------|--------------------------------------------|------------|
| classification  | xnli, pawsx                | tsv   | one label per line                         | same |
| multiple choice | xcopa                      | jsonl | {"label": choice index} per line           | same |
| tagging         | udpos, panx                | tsv   | one tag per line, a blank line between sentences | same |
| retrieval       | tatoeba                    | tsv   | index of the retrieved English sentence per line | the gold index |
| bitext mining   | bucc2018                   | tsv   | "source_id<TAB>target_id" per mined pair   | the gold pairs |
| span QA         | xquad, mlqa, tydiqa        | json  | {question id: answer text}                 | SQuAD-format JSON |
| ranking         | mewslix, lareqa            | json  | {query id: [candidate ids, best first]}    | {query id: [relevant ids]} |

Files are written atomically (a temporary file renamed into place), so a scorer never reads half a file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from study.scoring import TASK_FILES
from study import storage
from study.tasks.registry import Task

# The extension of each format's files, for tasks the official scorer does not know (e.g. built-in ones).
FORMAT_SUFFIX = {
    "classification": "tsv", "multiple_choice": "jsonl", "tagging": "tsv", "retrieval": "tsv",
    "bitext_mining": "tsv", "span_qa": "json", "ranking": "json",
}


def prediction_path(pred_dir: str | Path, task: Task, lang: str) -> Path | str:
    """`pred_dir/TASK/test-LANG.EXT`, with the extension the official scorer expects for the task.

    A cloud URI (s3://, gs://) stays a string: its writes go through pyarrow's filesystems."""
    suffix = TASK_FILES[task.name].suffix if task.name in TASK_FILES else FORMAT_SUFFIX[task.format_name]
    if storage.is_uri(str(pred_dir)):
        return storage.join(str(pred_dir), task.name, f"test-{lang}.{suffix}")
    return Path(pred_dir) / task.name / f"test-{lang}.{suffix}"


def _write(path: Path | str, text: str) -> str:
    storage.write_text_atomic(str(path), text)
    return str(path)


def _lines(values: Sequence[Any]) -> str:
    return "".join(f"{v}\n" for v in values)


def _tag_blocks(sentences: Sequence[Sequence[str]]) -> str:
    # evaluate.py reads every blank line as a sentence end, so there is no blank line after the last one.
    return "\n\n".join("\n".join(tags) for tags in sentences) + "\n"


def _queries(examples: Sequence[dict]) -> list[dict]:
    return [ex for ex in examples if ex.get("kind") == "query"]


def _expect(task: Task, n_pred: int, n_examples: int, unit: str) -> None:
    if n_pred != n_examples:
        raise ValueError(f"{task.name}: {n_pred} predictions for {n_examples} {unit}; the scorer needs one per {unit[:-1]}")


def render_predictions(task: Task, examples: Sequence[dict], predictions: Sequence[Any]) -> str:
    """The text of a prediction file (see the module docstring); checks one prediction per scored unit."""
    fmt = task.format_name
    if fmt == "ranking":
        queries = _queries(examples)
        _expect(task, len(predictions), len(queries), "queries")
        return json.dumps({q["id"]: list(p) for q, p in zip(queries, predictions)}, ensure_ascii=False, indent=1) + "\n"
    if fmt == "bitext_mining":
        return _lines(predictions)  # mined pairs: any number
    _expect(task, len(predictions), len(examples), "examples")
    if fmt in ("classification", "retrieval"):
        return _lines(predictions)
    if fmt == "multiple_choice":
        return "".join(json.dumps({"label": int(p)}) + "\n" for p in predictions)
    if fmt == "tagging":
        for ex, tags in zip(examples, predictions):
            if len(tags) != len(ex["tokens"]):
                raise ValueError(f"{task.name}: {len(tags)} tags for a sentence of {len(ex['tokens'])} tokens")
        return _tag_blocks(predictions)
    if fmt == "span_qa":
        return json.dumps({ex["id"]: p for ex, p in zip(examples, predictions)}, ensure_ascii=False, indent=1) + "\n"
    raise ValueError(f"{task.name}: no submission layout for format {fmt!r}")


def render_labels(task: Task, examples: Sequence[dict]) -> str:
    """The text of a label file with the examples' gold answers, as the official label files hold them."""
    fmt = task.format_name
    gold = task.format.gold(examples, task)
    if fmt in ("classification", "retrieval", "bitext_mining"):
        return _lines(gold)
    if fmt == "multiple_choice":
        return "".join(json.dumps({"label": int(g)}) + "\n" for g in gold)
    if fmt == "tagging":
        return _tag_blocks(gold)
    if fmt == "ranking":
        return json.dumps({q["id"]: list(g) for q, g in zip(_queries(examples), gold)}, ensure_ascii=False, indent=1) + "\n"
    if fmt == "span_qa":
        paragraphs = [{"context": ex["context"], "qas": [{
            "id": ex["id"], "question": ex["question"],
            "answers": [{"text": t, "answer_start": s} for t, s in zip(ex["answers"]["text"], ex["answers"]["answer_start"])],
        }]} for ex in examples]
        return json.dumps({"version": "xstudy", "data": [{"title": task.name, "paragraphs": paragraphs}]},
                          ensure_ascii=False, indent=1) + "\n"
    raise ValueError(f"{task.name}: no submission layout for format {fmt!r}")


def write_predictions(pred_dir: str, task: Task, lang: str, examples: list[dict], predictions: list) -> str:
    """Write one language's test predictions as `pred_dir/TASK/test-LANG.EXT`; returns the file's path.

    `examples` are the split's examples (`Split.examples`) and `predictions` the format's predictions for
    them (`SplitScore.predictions`), in the same order.
    """
    return _write(prediction_path(pred_dir, task, lang), render_predictions(task, examples, predictions))


def write_labels(label_dir: str, task: Task, lang: str, examples: list[dict]) -> str:
    """Write one language's gold labels in the official label layout (for scoring with `xstudy score`)."""
    return _write(prediction_path(label_dir, task, lang), render_labels(task, examples))
