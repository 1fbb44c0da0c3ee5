"""Reading the files of an XTREME submission (`TASK/test-LANG.EXT`) the way the official `evaluate.py` does.

The readers of `study.scoring`'s official per-task scorers, and of each format's own submission reader
(`Format.read_submission`, which scores a task the official scorer does not know). Every problem is a
`ScoringError` that names the file, the line (or JSON path) and the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from study.textfile import TextFileError, parse_json, read_utf8, split_lines


class ScoringError(TextFileError):
    """A submission or label file that cannot be scored: names the file, the line (or JSON path) and the rule.
    A `TextFileError`, as what `study.textfile` raises for bad UTF-8 or JSON."""


# ------------------------------------------------------------------------------------------ readers
def read_text_lines(path: Path) -> list[str]:
    """The file's lines without their line ends, split as Python's text mode splits them (\\n, \\r\\n, \\r).
    UTF-8, a leading byte-order mark dropped (`study.textfile`: the same decoding as the dataset readers')."""
    return split_lines(read_utf8(path, rule="prediction and label files are UTF-8 text", error=ScoringError))


def read_labels(path: Path) -> list[str]:
    """One label per line, surrounding whitespace removed (evaluate.py's `read_label`)."""
    return [line.strip() for line in read_text_lines(path)]


@dataclass
class Sentence:
    first_line: int  # 1-based line of its first tag (or of the blank line that ends an empty sentence)
    tags: list[str]


def read_tag_sentences(path: Path) -> list[Sentence]:
    """One tag per line, sentences separated by blank lines (evaluate.py's `read_tag`). As there, every
    blank line ends a sentence, so two blank lines in a row make an empty sentence."""
    sentences: list[Sentence] = []
    tags: list[str] = []
    start = 1
    for number, line in enumerate(read_text_lines(path), start=1):
        line = line.strip()
        if line:
            if not tags:
                start = number
            tags.append(line)
        else:
            sentences.append(Sentence(start if tags else number, tags))
            tags = []
    if tags:
        sentences.append(Sentence(start, tags))
    return sentences


def read_json(path: Path) -> Any:
    lines = read_text_lines(path)  # reports bad UTF-8 with its line
    return parse_json("\n".join(lines), path=path, rule="QA, Mewsli-X and LAReQA files are one JSON document",
                      error=ScoringError)


def read_jsonl_labels(path: Path) -> list[tuple[int, Any]]:
    """XCOPA: one JSON object per line with a "label" field (evaluate.py's `read_xcopa`)."""
    out = []
    for number, line in enumerate(read_text_lines(path), start=1):
        row = parse_json(line, path=path, line=number, rule="XCOPA files hold one JSON object per line",
                         error=ScoringError)
        if not isinstance(row, dict) or "label" not in row:
            raise ScoringError('no "label" field', path=path, line=number,
                               rule='every XCOPA line is an object with a "label"')
        out.append((number, row["label"]))
    return out


def squad_answers(path: Path) -> dict[str, list[str]]:
    """Question id -> gold answer texts, in file order, from a SQuAD-format label file."""
    document = read_json(path)
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


def id_map(path: Path, value_rule: str, check: Callable[[Any], bool]) -> dict[str, Any]:
    document = read_json(path)
    if not isinstance(document, dict):
        raise ScoringError("not a JSON object", path=path, line=1, rule=value_rule)
    for key, value in document.items():
        if not check(value):
            raise ScoringError(f"bad value for {key!r}: {str(value)[:80]}", path=path, line=key, rule=value_rule)
    return document


def is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def same_count(pred_path: Path, label_path: Path, n_pred: int, n_label: int, unit: str) -> None:
    if n_pred != n_label:
        raise ScoringError(f"{n_pred} {unit} but {label_path} has {n_label}", path=pred_path,
                           rule=f"one prediction per label, so the same number of {unit}")


def qa_predictions(pred_path: Path, answers: Mapping[str, Any], notes: list[str]) -> dict[str, str]:
    predictions = id_map(pred_path, "QA predictions are {question_id: answer text}", lambda v: isinstance(v, str))
    unanswered = sum(1 for qid in answers if qid not in predictions)
    if unanswered:
        notes.append(f"{pred_path}: {unanswered} of {len(answers)} questions have no prediction and score 0")
    extra = sum(1 for qid in predictions if qid not in answers)
    if extra:
        notes.append(f"{pred_path}: {extra} predictions for question ids not in the labels were ignored")
    return predictions


def ranking_files(pred_path: Path, label_path: Path, what: str, notes: list[str]) -> tuple[dict, dict]:
    gold = id_map(label_path, f"{what} labels are {{id: [gold ids]}}, at least one gold id each",
                   lambda v: is_str_list(v) and len(v) > 0)
    if not gold:
        raise ScoringError("no queries", path=label_path, rule="a language has at least one example")
    ranked = id_map(pred_path, f"{what} predictions are {{id: [ids, best first]}}", is_str_list)
    missing = sum(1 for key in gold if key not in ranked)
    if missing:
        notes.append(f"{pred_path}: {missing} of {len(gold)} queries have no ranking and score 0")
    return gold, ranked


# ------------------------------------------------------------------------- (gold, predictions) pairs
# What a scorer reads from one language's label and prediction files, checked as evaluate.py needs them:
# the official per-task scorers (`study.scoring`) and the formats' own readers share these.
def _not_empty(label_path: Path, n: int, unit: str) -> None:
    if not n:
        raise ScoringError(f"no {unit}", path=label_path, rule="a language has at least one example")


def line_pairs(pred_path: Path, label_path: Path) -> tuple[list[str], list[str]]:
    """(gold, predicted): one value per line on both sides (evaluate.py's `read_label`), as many on each."""
    predictions, labels = read_labels(pred_path), read_labels(label_path)
    same_count(pred_path, label_path, len(predictions), len(labels), "lines")
    _not_empty(label_path, len(labels), "lines")
    return labels, predictions


def jsonl_label_pairs(pred_path: Path, label_path: Path) -> tuple[list[Any], list[Any]]:
    """(gold, predicted): the "label" of each JSON line on both sides (evaluate.py's `read_xcopa`)."""
    predictions, labels = read_jsonl_labels(pred_path), read_jsonl_labels(label_path)
    same_count(pred_path, label_path, len(predictions), len(labels), "lines")
    _not_empty(label_path, len(labels), "lines")
    return [v for _, v in labels], [v for _, v in predictions]


def tag_pairs(pred_path: Path, label_path: Path) -> tuple[list[list[str]], list[list[str]]]:
    """(gold, predicted) tag sentences (evaluate.py's `read_tag`): as many sentences, as many tags in each."""
    predictions, labels = read_tag_sentences(pred_path), read_tag_sentences(label_path)
    same_count(pred_path, label_path, len(predictions), len(labels), "sentences (blank-line separated)")
    _not_empty(label_path, len(labels), "sentences")
    for i, (pred, gold) in enumerate(zip(predictions, labels), start=1):
        if len(pred.tags) != len(gold.tags):
            raise ScoringError(
                f"sentence {i} has {len(pred.tags)} tags, but in {label_path} (line {gold.first_line}) it has "
                f"{len(gold.tags)}", path=pred_path, line=pred.first_line, rule="one tag per token, one token per line")
    return [s.tags for s in labels], [s.tags for s in predictions]


def qa_pairs(pred_path: Path, label_path: Path, notes: list[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(question id -> gold answer texts, question id -> predicted answer) from a SQuAD-format label file and a
    {question id: answer} prediction file; unanswered and unknown questions are noted."""
    answers = squad_answers(label_path)
    _not_empty(label_path, len(answers), "questions")
    return answers, qa_predictions(pred_path, answers, notes)
