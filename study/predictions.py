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

Each `Format` owns its row of this table: its `suffix` (a task may set another, `Task.suffix`),
`prediction_text` and `label_text`; this module places and writes the files. Files are written atomically
(a temporary file renamed into place), so a scorer never reads half a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from study import storage
from study.tasks.registry import Task


def prediction_path(pred_dir: str | Path, task: Task, lang: str) -> Path | str:
    """`pred_dir/TASK/test-LANG.EXT`, with the extension of the task's entry (`Task.suffix`: the one the official
    scorer expects, by default its format's).

    A cloud URI (s3://, gs://) stays a string: its writes go through pyarrow's filesystems."""
    if storage.is_uri(str(pred_dir)):
        return storage.join(str(pred_dir), task.name, f"test-{lang}.{task.suffix}")
    return Path(pred_dir) / task.name / f"test-{lang}.{task.suffix}"


def _write(path: Path | str, text: str) -> str:
    storage.write_text_atomic(str(path), text)
    return str(path)


def render_predictions(task: Task, examples: Sequence[dict], predictions: Sequence[Any]) -> str:
    """The text of a prediction file (see the module docstring); checks one prediction per scored unit."""
    return task.format.prediction_text(task, examples, predictions)


def render_labels(task: Task, examples: Sequence[dict]) -> str:
    """The text of a label file with the examples' gold answers, as the official label files hold them."""
    return task.format.label_text(task, examples)


def write_predictions(pred_dir: str, task: Task, lang: str, examples: list[dict], predictions: list) -> str:
    """Write one language's test predictions as `pred_dir/TASK/test-LANG.EXT`; returns the file's path.

    `examples` are the split's examples (`Split.examples`) and `predictions` the format's predictions for
    them (`SplitScore.predictions`), in the same order.
    """
    return _write(prediction_path(pred_dir, task, lang), render_predictions(task, examples, predictions))


def write_labels(label_dir: str, task: Task, lang: str, examples: list[dict]) -> str:
    """Write one language's gold labels in the official label layout (for scoring with `xstudy score`)."""
    return _write(prediction_path(label_dir, task, lang), render_labels(task, examples))
