"""Kept as one module: one small reader per release format over shared primitives; split by format, the shared
guards (`DataError` with file and line, label checks, UTF-8 handling) would be scattered.

Readers for each dataset's own release format, one small function per format.

Every reader returns examples in the shape of a task format (see the format modules): classification
`{"text_a", "text_b", "label"}`, multiple choice `{"context", "choices", "label"}`, span QA (SQuAD dicts),
tagging `{"tokens", "tags"}`, retrieval `{"source", "target"}`, plus the ranking and bitext-mining shapes
of `ranking.py` and `bitext_mining.py`.

A file that is missing or does not follow its release format raises `DataError`, which names the file,
the line (or the JSON path) and what was expected there. Readers check labels against the task's label
set as they read, so a wrong label is reported with its line, not later as a silent -1 in a loss.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import tarfile
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from study.textfile import TextFileError, decode_utf8, parse_json, split_lines

# Cosmos QA and ANLI contexts can be long; the default csv field limit (128 KiB) is too small for some rows.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

UPOS_TAGS: tuple[str, ...] = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
    "SCONJ", "SYM", "VERB", "X",
)
PANX_TAGS: tuple[str, ...] = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")


class DataError(TextFileError):
    """A data file that cannot be used: names the file, the line (or JSON path), the problem and what was
    expected. `context` (task, split, language) is prepended by the loader that called the reader. A
    `TextFileError`, as what `study.textfile` raises for bad UTF-8 or JSON: `rule` is another name for `expected`."""

    def __init__(self, problem: str, *, path: Path | str | None = None, line: int | str | None = None,
                 expected: str | None = None, context: str | None = None, rule: str | None = None) -> None:
        self.expected, self.context = expected if expected is not None else rule, context
        super().__init__(problem, path=path, line=line, rule=self.expected)

    def _message(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        head = f"{self.context}: " if self.context else ""
        tail = f" (expected: {self.expected})" if self.expected else ""
        return f"{head}{where}{self.problem}{tail}"

    def within(self, context: str) -> DataError:
        """The same error (of the same class) with a context (e.g. 'task xnli, split test, language de') in front."""
        return type(self)(self.problem, path=self.path, line=self.line, expected=self.expected,
                         context=f"{context}; {self.context}" if self.context else context)


class MissingData(DataError):
    """The data is not there at all (no release file of that name, no hub copy reachable), as opposed to a
    file that is there but malformed. `xstudy data inspect` shows such a split as missing."""


class TokenizationError(DataError):
    """Examples that a format could not turn into features with a model's tokenizer and max length."""


# ------------------------------------------------------------------------------------- primitives
def read_text(path: Path) -> str:
    """A file's text as UTF-8 (a leading byte-order mark dropped); errors name the line of a bad byte
    (`study.textfile`, shared with the scorer)."""
    path = Path(path)
    if not path.is_file():
        raise MissingData("file missing", path=path, expected="a readable file")
    return decode_utf8(path.read_bytes(), path=path, error=DataError)


def text_lines(path: Path) -> list[str]:
    """Lines without their line ends; a final line end does not start another line."""
    return split_lines(read_text(path))


def tsv_rows(path: Path, required: Sequence[str], what: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: cell}) for each data line of a tab-separated file with a header line.

    Fields are split on tabs only, never on quotes: GLUE, XNLI and PAWS-X files hold unbalanced quote
    characters, and their official readers use csv.QUOTE_NONE.
    """
    lines = text_lines(path)
    if not lines:
        raise DataError("empty file", path=path, expected=f"a header line with {', '.join(required)} ({what})")
    header = lines[0].split("\t")
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"header lacks column(s) {missing}; it has {header}", path=path, line=1,
                        expected=f"{what}: tab-separated columns including {list(required)}")
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise DataError(f"{len(cells)} tab-separated fields, but the header has {len(header)}", path=path,
                            line=number, expected=f"{what}: one field per header column")
        yield number, dict(zip(header, cells))


def csv_rows(path: Path, required: Sequence[str], what: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(first line of the record, {column: cell}) for each record of a comma-separated file with a header."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("empty file", path=path, expected=f"a CSV header with {list(required)} ({what})") from None
    except csv.Error as err:
        raise DataError(f"not valid CSV: {err}", path=path, line=1, expected=what) from None
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"header lacks column(s) {missing}; it has {header}", path=path, line=1,
                        expected=f"{what}: columns including {list(required)}")
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DataError(f"not valid CSV: {err}", path=path, line=start, expected=what) from None
        if not cells:
            continue
        if len(cells) != len(header):
            raise DataError(f"{len(cells)} fields, but the header has {len(header)}", path=path, line=start,
                            expected=f"{what}: one field per header column")
        yield start, dict(zip(header, cells))


def jsonl_rows(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON-lines file."""
    for number, line in enumerate(text_lines(path), start=1):
        if not line.strip():
            continue
        row = parse_json(line, path=path, line=number, rule=f"one JSON object per line ({what})", error=DataError)
        if not isinstance(row, dict):
            raise DataError(f"a JSON {type(row).__name__}, not an object", path=path, line=number,
                            expected=f"one JSON object per line ({what})")
        yield number, row


def read_json(path: Path, what: str) -> Any:
    """One JSON document (`study.textfile.parse_json`: syntax, huge integers and deep nesting are DataErrors)."""
    return parse_json(read_text(path), path=path, rule=what, error=DataError)


def field(row: Any, key: str, kind: type | tuple[type, ...], path: Path, line: int | str, what: str) -> Any:
    """row[key], checked for presence and type (and `row` checked to be an object)."""
    if not isinstance(row, dict):
        raise DataError(f"a JSON {type(row).__name__} where an object with {key!r} belongs", path=path, line=line,
                        expected=what)
    if key not in row:
        raise DataError(f"no {key!r} field", path=path, line=line, expected=what)
    value = row[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DataError(f"field {key!r} is {value!r}", path=path, line=line, expected=what)
    return value


def check_label(label: str, labels: Collection[str] | None, path: Path, line: int | str, column: str) -> str:
    if labels is not None and label not in labels:
        raise DataError(f"label {label!r} in {column!r} is not in the task's label set", path=path, line=line,
                        expected=f"one of {sorted(labels)}")
    return label


# ------------------------------------------------------------------------------ sentence pairs
def read_xnli_tsv(path: Path, lang: str, labels: Collection[str] = NLI_LABELS) -> list[dict]:
    """XNLI-1.0 `xnli.{dev,test}.tsv` (all languages in one file): the rows of one language."""
    what = "XNLI-1.0 tsv: language, gold_label, sentence1, sentence2"
    out = []
    for number, row in tsv_rows(path, ("language", "gold_label", "sentence1", "sentence2"), what):
        if row["language"] == lang:
            out.append({"text_a": row["sentence1"], "text_b": row["sentence2"],
                        "label": check_label(row["gold_label"], labels, path, number, "gold_label")})
    if not out:
        raise DataError(f"no rows with language {lang!r}", path=path, expected=what)
    return out


# XNLI-MT's machine-translated MNLI spells one label "contradictory"; MNLI itself says "contradiction".
_XNLI_MT_LABELS = {"contradictory": "contradiction"}


def read_xnli_mt_tsv(path: Path, labels: Collection[str] = NLI_LABELS) -> list[dict]:
    """XNLI-MT-1.0 `multinli.train.{lang}.tsv`: premise, hypo, label."""
    out = []
    for number, row in tsv_rows(path, ("premise", "hypo", "label"), "XNLI-MT tsv: premise, hypo, label"):
        label = _XNLI_MT_LABELS.get(row["label"], row["label"])
        out.append({"text_a": row["premise"], "text_b": row["hypo"],
                    "label": check_label(label, labels, path, number, "label")})
    return out


def read_glue_mnli_tsv(path: Path, labels: Collection[str] = NLI_LABELS) -> list[dict]:
    """GLUE `MNLI/{train,dev_matched,dev_mismatched}.tsv`: sentence1, sentence2, gold_label."""
    what = "GLUE MNLI tsv: sentence1, sentence2, gold_label"
    return [{"text_a": row["sentence1"], "text_b": row["sentence2"],
             "label": check_label(row["gold_label"], labels, path, number, "gold_label")}
            for number, row in tsv_rows(path, ("sentence1", "sentence2", "gold_label"), what)]


def read_glue_qqp_tsv(path: Path, labels: Collection[str] = ("0", "1")) -> list[dict]:
    """GLUE `QQP/{train,dev}.tsv`: question1, question2, is_duplicate (0/1)."""
    what = "GLUE QQP tsv: id, qid1, qid2, question1, question2, is_duplicate"
    return [{"text_a": row["question1"], "text_b": row["question2"],
             "label": check_label(row["is_duplicate"], labels, path, number, "is_duplicate")}
            for number, row in tsv_rows(path, ("question1", "question2", "is_duplicate"), what)]


def read_pawsx_tsv(path: Path, labels: Collection[str] = ("0", "1")) -> list[dict]:
    """PAWS-X `x-final/{lang}/{train,dev_2k,test_2k,translated_train}.tsv`: id, sentence1, sentence2, label."""
    what = "PAWS-X tsv: id, sentence1, sentence2, label"
    return [{"text_a": row["sentence1"], "text_b": row["sentence2"],
             "label": check_label(row["label"], labels, path, number, "label")}
            for number, row in tsv_rows(path, ("sentence1", "sentence2", "label"), what)]


# ANLI's own release abbreviates its labels; the task's labels are MNLI's words.
_ANLI_LABELS = {"e": "entailment", "n": "neutral", "c": "contradiction"}


def read_anli_jsonl(path: Path, labels: Collection[str] = NLI_LABELS) -> list[dict]:
    """ANLI v1.0 `R{1,2,3}/{train,dev,test}.jsonl`: context, hypothesis, label (e/n/c)."""
    what = 'ANLI jsonl: {"context", "hypothesis", "label": "e"|"n"|"c"}'
    out = []
    for number, row in jsonl_rows(path, what):
        label = field(row, "label", str, path, number, what)
        out.append({"text_a": field(row, "context", str, path, number, what),
                    "text_b": field(row, "hypothesis", str, path, number, what),
                    "label": check_label(_ANLI_LABELS.get(label, label), labels, path, number, "label")})
    return out


def read_anli_csv(path: Path, labels: Collection[str] = NLI_LABELS) -> list[dict]:
    """ANLI analysis release `ANLI_analysis_r{1,2,3}_dev.csv`: context, statement, gold_label (e/n/c)."""
    what = "ANLI analysis csv: context, statement, gold_label"
    out = []
    for number, row in csv_rows(path, ("context", "statement", "gold_label"), what):
        label = _ANLI_LABELS.get(row["gold_label"], row["gold_label"])
        out.append({"text_a": row["context"], "text_b": row["statement"],
                    "label": check_label(label, labels, path, number, "gold_label")})
    return out


def read_snli_jsonl(path: Path, labels: Collection[str] = NLI_LABELS) -> list[dict]:
    """SNLI 1.0 `snli_1.0_{train,dev,test}.jsonl`: sentence1, sentence2, gold_label.

    Pairs whose annotators reached no consensus have gold_label "-" and are dropped, as in every SNLI
    training setup (they have no label to learn)."""
    what = 'SNLI jsonl: {"sentence1", "sentence2", "gold_label"}'
    out = []
    for number, row in jsonl_rows(path, what):
        label = field(row, "gold_label", str, path, number, what)
        if label == "-":
            continue
        out.append({"text_a": field(row, "sentence1", str, path, number, what),
                    "text_b": field(row, "sentence2", str, path, number, what),
                    "label": check_label(label, labels, path, number, "gold_label")})
    return out


# ------------------------------------------------------------------------------ multiple choice
# COPA's question word becomes a question, as in jiant's COPA task: the model reads premise + question.
COPA_QUESTIONS = {"cause": "What was the cause of this?", "effect": "What happened as a result?"}


def read_copa_jsonl(path: Path) -> list[dict]:
    """XCOPA `{val,test}.{lang}.jsonl` and SuperGLUE COPA `{train,val}.jsonl`: premise, choice1, choice2,
    question (cause/effect), label (0/1)."""
    what = 'COPA jsonl: {"premise", "choice1", "choice2", "question": "cause"|"effect", "label": 0|1}'
    out = []
    for number, row in jsonl_rows(path, what):
        question = field(row, "question", str, path, number, what)
        if question not in COPA_QUESTIONS:
            raise DataError(f"question {question!r}", path=path, line=number, expected="'cause' or 'effect'")
        label = field(row, "label", int, path, number, what)
        if label not in (0, 1):
            raise DataError(f"label {label!r} is not in the task's label set", path=path, line=number,
                            expected="0 or 1 (the index of the right choice)")
        out.append({"context": f"{field(row, 'premise', str, path, number, what)} {COPA_QUESTIONS[question]}",
                    "choices": [field(row, "choice1", str, path, number, what),
                                field(row, "choice2", str, path, number, what)],
                    "label": label, "idx": row.get("idx", number - 1)})
    return out


def _choice_index(label: Any, n: int, path: Path, line: int | str, base: int = 0) -> int:
    # An integer, its digits as a string, or an integral float; never a bool, NaN or infinity.
    index = -1
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    if isinstance(label, (int, str)) and not isinstance(label, bool):
        try:
            index = int(label) - base
        except ValueError:
            pass
    if not 0 <= index < n:
        raise DataError(f"label {label!r} is not in the task's label set", path=path, line=line,
                        expected=f"a choice index {base}..{n - 1 + base}")
    return index


def read_hellaswag_jsonl(path: Path) -> list[dict]:
    """HellaSwag `hellaswag_{train,val}.jsonl`: ctx_a, ctx_b, endings (4), label.

    As jiant: the context is ctx_a and each choice is ctx_b followed by an ending. The test file has no
    labels and is not read."""
    what = 'HellaSwag jsonl: {"ctx_a", "ctx_b", "endings": [4 strings], "label"}'
    out = []
    for number, row in jsonl_rows(path, what):
        endings = field(row, "endings", list, path, number, what)
        if not all(isinstance(e, str) for e in endings):
            raise DataError(f"an ending that is not a string in {endings!r}"[:200], path=path, line=number,
                            expected=what)
        ctx_b = field(row, "ctx_b", str, path, number, what)
        out.append({"context": field(row, "ctx_a", str, path, number, what),
                    "choices": [f"{ctx_b} {e}".strip() for e in endings],
                    "label": _choice_index(row.get("label"), len(endings), path, number)})
    return out


def read_commonsenseqa_jsonl(path: Path) -> list[dict]:
    """CommonsenseQA `{train,dev}_rand_split.jsonl`: question.stem, question.choices[{label, text}], answerKey."""
    what = 'CommonsenseQA jsonl: {"answerKey", "question": {"stem", "choices": [{"label", "text"}]}}'
    out = []
    for number, row in jsonl_rows(path, what):
        question = field(row, "question", dict, path, number, what)
        choices = field(question, "choices", list, path, number, what)
        keys = [c.get("label") for c in choices if isinstance(c, dict)]
        texts = [c.get("text") for c in choices if isinstance(c, dict)]
        if len(keys) != len(choices) or not all(isinstance(t, str) for t in texts):
            raise DataError("a choice without a label and a text", path=path, line=number, expected=what)
        answer = field(row, "answerKey", str, path, number, what)
        if answer not in keys:
            raise DataError(f"answerKey {answer!r} is not in the task's label set", path=path, line=number,
                            expected=f"one of the choice labels {keys}")
        out.append({"context": field(question, "stem", str, path, number, what), "choices": texts,
                    "label": keys.index(answer)})
    return out


def read_cosmosqa_csv(path: Path) -> list[dict]:
    """Cosmos QA `{train,valid}.csv`: context, question, answer0..answer3, label (0-3).

    As jiant: the prompt is the context followed by the question."""
    what = "Cosmos QA csv: id, context, question, answer0, answer1, answer2, answer3, label"
    columns = ("context", "question", "answer0", "answer1", "answer2", "answer3", "label")
    return [{"context": f"{row['context']} {row['question']}",
             "choices": [row[f"answer{i}"] for i in range(4)],
             "label": _choice_index(row["label"], 4, path, number)}
            for number, row in csv_rows(path, columns, what)]


def read_socialiqa(path: Path) -> list[dict]:
    """SocialIQA `{train,dev}.jsonl` with the line-aligned `{train,dev}-labels.lst` (1-3) beside it.

    As jiant: the prompt is the context followed by the question."""
    what = 'SocialIQA jsonl: {"context", "question", "answerA", "answerB", "answerC"}'
    label_path = path.with_name(path.name.replace(".jsonl", "-labels.lst"))
    rows = list(jsonl_rows(path, what))
    labels = [line.strip() for line in text_lines(label_path)]
    if len(labels) != len(rows):
        raise DataError(f"{len(labels)} labels for {len(rows)} questions in {path}", path=label_path,
                        expected="one label line (1, 2 or 3) per line of the questions file")
    out = []
    for (number, row), label in zip(rows, labels):
        out.append({"context": f"{field(row, 'context', str, path, number, what)} "
                               f"{field(row, 'question', str, path, number, what)}",
                    "choices": [field(row, k, str, path, number, what) for k in ("answerA", "answerB", "answerC")],
                    "label": _choice_index(label, 3, label_path, number, base=1)})
    return out


# ------------------------------------------------------------------------------------- span QA
_SQUAD_RULE = 'SQuAD format: {"data": [{"paragraphs": [{"context", "qas": [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]}'


def read_squad_json(path: Path, allow_no_answer: bool = False, keep: Callable[[str], bool] | None = None) -> list[dict]:
    """SQuAD v1.1/v2.0-format JSON (SQuAD, XQuAD, MLQA, TyDiQA-GoldP): one example per question.

    `keep(question_id)` selects questions (TyDiQA-GoldP: one language's id prefix). Without
    `allow_no_answer`, every question needs an answer (SQuAD v1.1's rule)."""
    document = read_json(path, _SQUAD_RULE)
    articles = document.get("data") if isinstance(document, dict) else None
    if not isinstance(articles, list):
        raise DataError('no "data" list of articles', path=path, line="data", expected=_SQUAD_RULE)
    out = []
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError('no "paragraphs" list', path=path, line=f"data[{a}]", expected=_SQUAD_RULE)
        title = article.get("title", "")
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            context = field(paragraph, "context", str, path, where, _SQUAD_RULE) if isinstance(paragraph, dict) else None
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(qas, list):
                raise DataError('no "qas" list', path=path, line=where, expected=_SQUAD_RULE)
            for q, qa in enumerate(qas):
                at = f"{where}.qas[{q}]"
                if not isinstance(qa, dict):
                    raise DataError("a question that is not an object", path=path, line=at, expected=_SQUAD_RULE)
                qid = field(qa, "id", str, path, at, _SQUAD_RULE)
                if keep is not None and not keep(qid):
                    continue
                answers = field(qa, "answers", list, path, at, _SQUAD_RULE)
                texts, starts = [], []
                for i, ans in enumerate(answers):
                    if not (isinstance(ans, dict) and isinstance(ans.get("text"), str)
                            and type(ans.get("answer_start")) is int):
                        raise DataError("an answer without a string text and an integer answer_start", path=path,
                                        line=f"{at}.answers[{i}]", expected=_SQUAD_RULE)
                    if not 0 <= ans["answer_start"] <= len(context):
                        raise DataError(f"answer_start {ans['answer_start']} lies outside the context "
                                        f"({len(context)} characters)", path=path, line=f"{at}.answers[{i}]",
                                        expected="a character offset into the paragraph's context")
                    texts.append(ans["text"])
                    starts.append(ans["answer_start"])
                if not texts and not (allow_no_answer or qa.get("is_impossible")):
                    raise DataError(f"question {qid!r} has no answer", path=path, line=at,
                                    expected="at least one answer per question (SQuAD v1.1; only SQuAD v2.0 "
                                             "has unanswerable questions)")
                if texts and not allow_no_answer and qa.get("is_impossible"):
                    raise DataError(f"question {qid!r} is marked impossible", path=path, line=at,
                                    expected="answerable questions only (this task has no no-answer option)")
                out.append({"id": qid, "title": title if isinstance(title, str) else "", "context": context,
                            "question": field(qa, "question", str, path, at, _SQUAD_RULE),
                            "answers": {"text": texts, "answer_start": starts}})
    return out


# --------------------------------------------------------------------------------------- tagging
def read_conllu(path: Path, labels: Collection[str] = UPOS_TAGS) -> list[dict]:
    """Universal Dependencies CoNLL-U: one sentence per block, UPOS (column 4) as the tag of each word.

    Multiword-token lines (ID "1-2") and empty nodes (ID "1.1") are skipped: the tagged units are the
    syntactic words, as in XTREME's UD-POS."""
    what = "CoNLL-U: 10 tab-separated columns ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC"
    out: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(text_lines(path) + [""], start=1):
        if not line.strip():
            if tokens:
                out.append({"tokens": tokens, "tags": tags})
                tokens, tags = [], []
            continue
        if line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != 10:
            raise DataError(f"{len(cells)} tab-separated columns", path=path, line=number, expected=what)
        token_id = cells[0]
        if "-" in token_id or "." in token_id:
            continue
        if not token_id.isdigit():
            raise DataError(f"word ID {token_id!r}", path=path, line=number, expected="an integer ID in column 1")
        tokens.append(cells[1])
        tags.append(check_label(cells[3], labels, path, number, "UPOS"))
    return out


def _panx_lines(source: Path, split: str) -> tuple[str, list[str]]:
    """The lines of one split of a PAN-X language: from `{lang}.tar.gz` (the release archive, or a folder
    of that name as unpacked by some tools) or from a plain file."""
    if source.is_dir():
        return str(source / split), text_lines(source / split)
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as archive:
            members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
            if split not in members:
                raise DataError(f"the archive has no member {split!r}; it has {sorted(members)}", path=source,
                                expected="PAN-X archive members train, dev, test")
            raw = archive.extractfile(members[split]).read()
        name = f"{source}!{members[split].name}"
        text = decode_utf8(raw, path=name, error=DataError)
        lines = text.replace("\r\n", "\n").split("\n")
        return name, lines[:-1] if lines and lines[-1] == "" else lines
    return str(source), text_lines(source)


def read_panx(source: Path, split: str, lang: str, labels: Collection[str] = PANX_TAGS) -> list[dict]:
    """PAN-X (WikiANN, Pan et al. 2017) release: lines `{lang}:token<TAB>TAG`, sentences separated by
    blank lines. `source` is the language's archive or folder (then `split` names the member) or the file."""
    what = "PAN-X: 'LANG:token<TAB>TAG' per line, a blank line between sentences"
    name, lines = _panx_lines(source, split)
    prefix = f"{lang}:"
    out: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(lines + [""], start=1):
        if not line.strip():
            if tokens:
                out.append({"tokens": tokens, "tags": tags})
                tokens, tags = [], []
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            raise DataError(f"{len(cells)} tab-separated columns", path=name, line=number, expected=what)
        token = cells[0][len(prefix):] if cells[0].startswith(prefix) else cells[0]
        tokens.append(token)
        tags.append(check_label(cells[1].strip(), labels, name, number, "tag"))
    return out


def read_ccg(path: Path, tag_ids: dict[str, str]) -> list[dict]:
    """CCG supertags in jiant's format: `space-separated words<TAB>space-separated tags` per line.

    `tag_ids` maps a supertag to its class id (jiant's `tags_to_id.json`); a tag missing from it keeps
    its own name, cannot be predicted, and so counts as an error in accuracy."""
    what = "CCG (jiant): 'words<TAB>tags', as many tags as words"
    out = []
    for number, line in enumerate(text_lines(path), start=1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            raise DataError(f"{len(cells)} tab-separated fields", path=path, line=number, expected=what)
        words, tags = cells[0].split(" "), cells[1].split()
        if len(words) != len(tags):
            raise DataError(f"{len(words)} words but {len(tags)} tags", path=path, line=number, expected=what)
        out.append({"tokens": words, "tags": [tag_ids.get(t, t) for t in tags]})
    return out


def ccg_tag_ids(path: Path) -> dict[str, str]:
    """jiant's `tags_to_id.json` ({supertag: id}) as {supertag: str(id)}."""
    mapping = read_json(path, "a JSON object {supertag: integer id}")
    if not isinstance(mapping, dict):
        raise DataError("not an object of supertag ids", path=path, line=1, expected="{supertag: integer id}")
    ids = {}
    for tag, i in mapping.items():
        try:  # an integer, or its digits as a string (never a bool, a float or other text)
            ids[tag] = str(int(i)) if type(i) is int or (isinstance(i, str) and i.isascii() and i.isdigit()) else None
        except ValueError:  # more digits than Python converts
            ids[tag] = None
        if ids[tag] is None:
            raise DataError(f"supertag {tag!r} has the id {i!r}"[:200], path=path, expected="{supertag: integer id}")
    return ids


# ------------------------------------------------------------------------------------- retrieval
def read_tatoeba(source_path: Path, english_path: Path) -> list[dict]:
    """LASER Tatoeba `tatoeba.{xxx}-eng.{xxx}` and `.eng`: line i of one translates line i of the other."""
    source, english = text_lines(source_path), text_lines(english_path)
    if len(source) != len(english):
        raise DataError(f"{len(source)} lines, but {english_path} has {len(english)}", path=source_path,
                        line=min(len(source), len(english)) + 1,
                        expected="line-aligned files: the same number of lines in both")
    return [{"source": s, "target": e} for s, e in zip(source, english)]


def _bucc_sentences(path: Path) -> list[tuple[str, str]]:
    out = []
    for number, line in enumerate(text_lines(path), start=1):
        cells = line.split("\t")
        if len(cells) != 2 or not cells[0]:
            raise DataError(f"{len(cells)} tab-separated fields", path=path, line=number,
                            expected="BUCC: 'SENTENCE_ID<TAB>sentence' per line")
        out.append((cells[0], cells[1]))
    return out


def read_bucc(source_path: Path, lang: str) -> list[dict]:
    """BUCC 2018 `{lang}-en.{split}.{lang}`, with `.en` and `.gold` beside it: sentences with ids, and the
    gold (source id, English id) pairs. Rows: {"side": "src"|"tgt", "id", "text"} and
    {"side": "gold", "id": source id, "target_id": English id}."""
    stem = source_path.name[: -len(f".{lang}")]
    english_path, gold_path = source_path.with_name(f"{stem}.en"), source_path.with_name(f"{stem}.gold")
    rows = [{"side": "src", "id": i, "text": t, "target_id": ""} for i, t in _bucc_sentences(source_path)]
    rows += [{"side": "tgt", "id": i, "text": t, "target_id": ""} for i, t in _bucc_sentences(english_path)]
    known_src = {r["id"] for r in rows if r["side"] == "src"}
    known_tgt = {r["id"] for r in rows if r["side"] == "tgt"}
    for number, line in enumerate(text_lines(gold_path), start=1):
        cells = line.split("\t")
        if len(cells) != 2 or cells[0] not in known_src or cells[1] not in known_tgt:
            raise DataError(f"not a pair of known sentence ids: {line[:80]!r}", path=gold_path, line=number,
                            expected=f"'{lang.upper()}_ID<TAB>EN_ID' with ids from {source_path.name} and {english_path.name}")
        rows.append({"side": "gold", "id": cells[0], "text": "", "target_id": cells[1]})
    return rows


def _spans(value: Any, text: str, path: Path, line: int | str, what: str) -> list[tuple[int, int]]:
    """Character spans into `text`, given as [start, end] pairs or {"start", "end"} objects, checked."""
    if not isinstance(value, list):
        raise DataError(f"sentence spans {value!r}"[:200], path=path, line=line, expected=f"a list of spans ({what})")
    spans = []
    for i, span in enumerate(value):
        pair = (span.get("start"), span.get("end")) if isinstance(span, dict) else span
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(type(x) is int for x in pair)
                and 0 <= pair[0] <= pair[1] <= len(text)):
            raise DataError(f"sentence span {i} is {span!r}"[:200], path=path, line=line,
                            expected=f"[start, end] or {{'start', 'end'}} character offsets with "
                                     f"0 <= start <= end <= {len(text)}, the text's length ({what})")
        spans.append((pair[0], pair[1]))
    return spans


def _sentence_of(spans: Sequence[Sequence[int]], offset: int) -> int:
    for i, (start, end) in enumerate(spans):
        if start <= offset < end:
            return i
    return max(0, len(spans) - 1) if spans and offset >= spans[-1][1] else -1


# Sentence ends for contexts that come without sentence breaks (the hub's XQuAD-R): final punctuation of
# the scripts of XQuAD-R's 11 languages, followed by a space or the end.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？।؟])\s+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def read_xquad_r(path: Path, lang: str) -> list[dict]:
    """LAReQA's XQuAD-R `{lang}.json` (SQuAD format with "sentence_breaks" per paragraph): each sentence is
    a candidate answer, each question a query whose answer sentence holds its answer_start.

    Rows: {"kind": "candidate", "id", "text", "lang", "relevant": []} and {"kind": "query", "id": question
    id, "text", "lang", "relevant": [id of its answer sentence]}. XQuAD-R is 11-way parallel with the same
    question ids in every language; the task's loader joins the languages into one pool."""
    document = read_json(path, _SQUAD_RULE)
    articles = document.get("data") if isinstance(document, dict) else None
    if not isinstance(articles, list):
        raise DataError('no "data" list of articles', path=path, line="data", expected=_SQUAD_RULE)
    rows: list[dict] = []
    for a, article in enumerate(articles):
        paragraphs = field(article, "paragraphs", list, path, f"data[{a}]", _SQUAD_RULE)
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            context = field(paragraph, "context", str, path, where, _SQUAD_RULE)
            breaks = paragraph.get("sentence_breaks")
            spans = (_spans(breaks, context, path, f"{where}.sentence_breaks", _SQUAD_RULE) if breaks
                     else sentence_spans(context))
            for s, (start, end) in enumerate(spans):
                rows.append({"kind": "candidate", "id": f"{lang}-{a}-{p}-{s}", "text": context[start:end].strip(),
                             "lang": lang, "relevant": []})
            for q, qa in enumerate(field(paragraph, "qas", list, path, where, _SQUAD_RULE)):
                at = f"{where}.qas[{q}]"
                answers = field(qa, "answers", list, path, at, _SQUAD_RULE)
                if not answers or not isinstance(answers[0], dict) or not isinstance(answers[0].get("answer_start"), int):
                    raise DataError("no answer with an integer answer_start", path=path, line=at, expected=_SQUAD_RULE)
                s = _sentence_of(spans, answers[0]["answer_start"])
                if s < 0:
                    raise DataError("the answer_start lies in no sentence", path=path, line=at,
                                    expected="an answer_start inside one of the paragraph's sentence_breaks")
                rows.append({"kind": "query", "id": field(qa, "id", str, path, at, _SQUAD_RULE),
                             "text": field(qa, "question", str, path, at, _SQUAD_RULE), "lang": lang,
                             "relevant": [f"{lang}-{a}-{p}-{s}"]})
    return rows


def read_mewslix_mentions(path: Path, lang: str) -> list[dict]:
    """Mewsli-X `wikinews_mentions-{dev,test}.jsonl`: the mentions of one article language as queries.

    The query text is the sentence that holds the mention (its `sentence_spans` entry), the relevant
    candidate is the gold WikiData QID. Rows: {"kind": "query", "id": example_id, "text", "lang",
    "relevant": [QID]}."""
    what = ('Mewsli-X jsonl: {"context": {"language", "text", "sentence_spans"}, '
            '"mentions": [{"example_id", "entity_id", "mention_span": {"start", "end"}}]}')
    rows = []
    for number, row in jsonl_rows(path, what):
        context = field(row, "context", dict, path, number, what)
        if context.get("language") != lang:
            continue
        text = field(context, "text", str, path, number, what)
        if not text:
            raise DataError("empty context text", path=path, line=number,
                            expected="article text filled in by Mewsli-X's get-mewsli-x.sh (the no_text files lack it)")
        spans = _spans(context.get("sentence_spans") or [], text, path, number, what) or [(0, len(text))]
        for mention in field(row, "mentions", list, path, number, what):
            span = field(mention, "mention_span", dict, path, number, what)
            s = _sentence_of(spans, field(span, "start", int, path, number, what))
            start, end = spans[s] if s >= 0 else (0, len(text))
            rows.append({"kind": "query", "id": field(mention, "example_id", str, path, number, what),
                         "text": text[start:end].strip(), "lang": lang,
                         "relevant": [field(mention, "entity_id", str, path, number, what)]})
    return rows


def read_mewslix_entities(path: Path) -> list[dict]:
    """Mewsli-X `candidate_set_entities.jsonl`: every entity description is a candidate.
    Rows: {"kind": "candidate", "id": QID, "text": description, "lang": its language, "relevant": []}."""
    what = 'Mewsli-X entities jsonl: {"entity_id", "description", "description_language"}'
    return [{"kind": "candidate", "id": field(row, "entity_id", str, path, number, what),
             "text": field(row, "description", str, path, number, what),
             "lang": str(row.get("description_language", "")), "relevant": []}
            for number, row in jsonl_rows(path, what)]
