"""Fuzzing the release-format readers: any file content gives examples of the format's shape or a DataError.

Each reader gets (a) raw bytes, and (b) its release format with random edits: fields removed, replaced by
any JSON value, lines cut into too few or too many columns, labels outside the label set. A KeyError,
TypeError, IndexError or UnicodeDecodeError from deep inside a reader would reach the user as a traceback
instead of a message naming the file, the line and the rule, so every one found here was fixed in the reader.
"""

from __future__ import annotations

import copy
import os
import json
import math
import tarfile
from pathlib import Path
from typing import Any, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzzing
from study.tasks import readers as R
from study.tasks.readers import DataError

# XSTUDY_FUZZ_EXAMPLES=5000 searches harder (minutes); the default keeps the suite fast.
FAST = settings(max_examples=int(os.environ.get("XSTUDY_FUZZ_EXAMPLES", 120)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

json_scalars = (st.none() | st.booleans() | st.integers(-3, 12) | st.integers() | st.floats()
                | st.text(max_size=8) | st.sampled_from(["A", "e", "n", "cause", "0", "1", "entailment", "de", "Q1"]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


def mutated(template: Any) -> st.SearchStrategy:
    """`template` with 0-3 random edits: a value replaced by any JSON value, a key or item removed, one added."""
    return fuzzing.mutated(template, values=json_values, keys=st.text(max_size=6), edits=(0, 3),
                           actions=["replace", "replace", "remove", "add"], root_odds=8)


def read_or_data_error(read: Callable[[], list[dict]], check: Callable[[dict], None]) -> None:
    try:
        rows = read()
    except DataError as err:
        assert str(err) and err.problem
        return
    assert isinstance(rows, list)
    for row in rows:
        check(row)


def write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", errors="surrogatepass")
    return path


# ------------------------------------------------------------------------- the shapes of the formats
def pair(labels) -> Callable[[dict], None]:
    def check(row: dict) -> None:
        assert isinstance(row["text_a"], str) and isinstance(row["text_b"], str) and row["label"] in labels

    return check


def choice(row: dict) -> None:
    assert isinstance(row["context"], str) and all(isinstance(c, str) for c in row["choices"])
    assert type(row["label"]) is int and 0 <= row["label"] < len(row["choices"])


def tagged(row: dict) -> None:
    assert len(row["tokens"]) == len(row["tags"]) > 0
    assert all(isinstance(t, str) for t in row["tokens"] + row["tags"])


def squad(row: dict) -> None:
    assert all(isinstance(row[k], str) for k in ("id", "title", "context", "question"))
    answers = row["answers"]
    assert all(isinstance(t, str) for t in answers["text"])
    assert all(type(s) is int and 0 <= s <= len(row["context"]) for s in answers["answer_start"])


def ranked(row: dict) -> None:
    assert row["kind"] in ("query", "candidate") and all(isinstance(row[k], str) for k in ("id", "text", "lang"))
    assert all(isinstance(r, str) for r in row["relevant"])


def aligned(row: dict) -> None:
    assert isinstance(row["source"], str) and isinstance(row["target"], str)


def mined(row: dict) -> None:
    assert row["side"] in ("src", "tgt", "gold") and isinstance(row["id"], str)


# ------------------------------------------------------------------------------------ JSON formats
ARTICLE = {"context": {"language": "de", "text": "Erster Satz. Angela Merkel sprach.",
                       "sentence_spans": [{"start": 0, "end": 12}, {"start": 13, "end": 34}]},
           "mentions": [{"example_id": "m1", "entity_id": "Q567", "mention_span": {"start": 13, "end": 26}}]}
JSONL = {  # reader, one valid line, the shape of an example
    "anli": (R.read_anli_jsonl, {"uid": "1", "context": "A", "hypothesis": "B", "label": "n"}, pair(R.NLI_LABELS)),
    "snli": (R.read_snli_jsonl, {"sentence1": "A", "sentence2": "B", "gold_label": "entailment"}, pair(R.NLI_LABELS)),
    "copa": (R.read_copa_jsonl, {"premise": "a", "choice1": "b", "choice2": "c", "question": "cause", "label": 0},
             choice),
    "hellaswag": (R.read_hellaswag_jsonl, {"ctx_a": "a", "ctx_b": "b", "endings": ["1", "2", "3", "4"], "label": 2},
                  choice),
    "commonsenseqa": (R.read_commonsenseqa_jsonl, {"answerKey": "B", "question": {"stem": "q", "choices": [
        {"label": "A", "text": "x"}, {"label": "B", "text": "y"}]}}, choice),
    "mewslix_mentions": (lambda p: R.read_mewslix_mentions(p, "de"), ARTICLE, ranked),
    "mewslix_entities": (R.read_mewslix_entities, {"entity_id": "Q567", "description": "Kanzlerin",
                                                   "description_language": "de"}, ranked),
}
SQUAD = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{
    "context": "One two. Three four.", "sentence_breaks": [[0, 8], [9, 20]],
    "qas": [{"id": "q1", "question": "Which?", "answers": [{"text": "Three", "answer_start": 9}]}]}]}]}
SQUAD_V2 = copy.deepcopy(SQUAD)
SQUAD_V2["data"][0]["paragraphs"][0]["qas"].append(
    {"id": "q2", "question": "None?", "answers": [], "is_impossible": True})
JSON_DOCS = {
    "squad_v1": (lambda p: R.read_squad_json(p), SQUAD, squad),
    "squad_v2": (lambda p: R.read_squad_json(p, allow_no_answer=True), SQUAD_V2, squad),
    "tydiqa": (lambda p: R.read_squad_json(p, keep=lambda qid: qid.startswith("q1")), SQUAD, squad),
    "xquad_r": (lambda p: R.read_xquad_r(p, "de"), SQUAD, ranked),
    "ccg_tag_ids": (lambda p: [R.ccg_tag_ids(p)], {"N": 0, "NP/N": "1"},
                    lambda ids: all(isinstance(k, str) and v.isdigit() for k, v in ids.items())),
}


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # NaN and Infinity too: Python's json reads them back


@FAST
@given(st.sampled_from(sorted(JSONL)), st.data())
def test_json_lines_readers(tmp_path, name, data):
    read, template, check = JSONL[name]
    lines = data.draw(st.lists(mutated(template).map(dumps) | st.text(max_size=12), min_size=1, max_size=3))
    path = write(tmp_path, "fuzz.jsonl", "\n".join(lines) + "\n")
    read_or_data_error(lambda: read(path), check)


@FAST
@given(st.sampled_from(sorted(JSON_DOCS)), st.data())
def test_json_document_readers(tmp_path, name, data):
    read, template, check = JSON_DOCS[name]
    text = data.draw(mutated(template).map(dumps) | st.text(max_size=20))
    path = write(tmp_path, "fuzz.json", text)
    read_or_data_error(lambda: read(path), check)


@FAST
@given(st.data())
def test_socialiqa_questions_and_labels(tmp_path, data):
    q = {"context": "Tracy went home.", "question": "Why?", "answerA": "a", "answerB": "b", "answerC": "c"}
    lines = data.draw(st.lists(mutated(q).map(dumps), min_size=1, max_size=3))
    labels = data.draw(st.lists(st.sampled_from(["1", "2", "3", "0", "4", "x", "", "1.5", "Infinity"]), max_size=4))
    path = write(tmp_path, "dev.jsonl", "\n".join(lines) + "\n")
    write(tmp_path, "dev-labels.lst", "\n".join(labels) + "\n")
    read_or_data_error(lambda: R.read_socialiqa(path), choice)


# ----------------------------------------------------------------------------- line-based formats
def cells_line(pieces) -> st.SearchStrategy[str]:
    """A line of 0-12 tab-separated cells drawn from `pieces` (the format's own words) and any text."""
    return st.lists(st.sampled_from(pieces) | st.text(max_size=5), max_size=12).map("\t".join)


def lines_of(line: st.SearchStrategy[str], valid: list[str]) -> st.SearchStrategy[str]:
    return st.lists(line | st.sampled_from(valid), min_size=0, max_size=8).map(lambda ls: "\n".join(ls) + "\n")


TSV = {  # reader, header, a valid data line, label set
    "xnli": (lambda p: R.read_xnli_tsv(p, "de"), "language\tgold_label\tsentence1\tsentence2",
             "de\tneutral\ta\tb", R.NLI_LABELS),
    "xnli_mt": (R.read_xnli_mt_tsv, "premise\thypo\tlabel", "a\tb\tcontradictory", R.NLI_LABELS),
    "mnli": (R.read_glue_mnli_tsv, "index\tsentence1\tsentence2\tgold_label", "0\ta\tb\tentailment", R.NLI_LABELS),
    "qqp": (R.read_glue_qqp_tsv, "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate", "0\t1\t2\ta\tb\t1", ("0", "1")),
    "pawsx": (R.read_pawsx_tsv, "id\tsentence1\tsentence2\tlabel", "1\ta\tb\t0", ("0", "1")),
}


@FAST
@given(st.sampled_from(sorted(TSV)), st.data())
def test_tsv_readers(tmp_path, name, data):
    read, header, valid, labels = TSV[name]
    words = [*header.split("\t"), *valid.split("\t"), *labels, "de", "en"]
    first = data.draw(st.sampled_from([header, header, "", "\t".join(header.split("\t")[:-1])]) | cells_line(words))
    body = data.draw(lines_of(cells_line(words), [valid]))
    path = write(tmp_path, "fuzz.tsv", first + "\n" + body)
    read_or_data_error(lambda: read(path), pair(labels))


CSV = {
    "anli_analysis": (R.read_anli_csv, "uid,context,statement,gold_label", 'x,"A, a",B,c', pair(R.NLI_LABELS)),
    "cosmosqa": (R.read_cosmosqa_csv, "id,context,question,answer0,answer1,answer2,answer3,label",
                 'i,"c ""q""",q,a,b,c,d,3', choice),
}


@FAST
@given(st.sampled_from(sorted(CSV)), st.data())
def test_csv_readers(tmp_path, name, data):
    read, header, valid, check = CSV[name]
    pieces = st.sampled_from([*header.split(","), *valid.split(","), '"', '""', ",", "\n", "\r", "4", "-1", "e"])
    line = st.lists(pieces | st.text(max_size=4), max_size=10).map("".join)
    body = data.draw(lines_of(line, [valid]))
    first = data.draw(st.sampled_from([header, header, ""]) | line)
    path = write(tmp_path, "fuzz.csv", first + "\n" + body)
    read_or_data_error(lambda: read(path), check)


CONLLU_PIECES = ["1", "2", "1-2", "1.1", "x", "²", "_", "NOUN", "VERB", "noun", "0", "root", "# text = a"]


@FAST
@given(st.data())
def test_conllu(tmp_path, data):
    valid = "1\tIn\tin\tADP\t_\t_\t2\tcase\t_\t_"
    multiword = "2-3\tIm\t_\t_\t_\t_\t_\t_\t_\t_"
    text = data.draw(lines_of(cells_line(CONLLU_PIECES), [valid, "", "# sent_id = 1", multiword]))
    read_or_data_error(lambda: R.read_conllu(write(tmp_path, "x.conllu", text)), tagged)


@FAST
@given(st.data(), st.sampled_from(["file", "folder", "archive"]))
def test_panx(tmp_path, data, layout):
    pieces = ["de:Anton", "Anton", "B-PER", "I-LOC", "O", "B-XYZ", "", " "]
    text = data.draw(lines_of(cells_line(pieces), ["de:Anton\tB-PER", "", "de:.\tO"]))
    member = write(tmp_path, "dev", text)
    source = member
    if layout == "folder":
        (tmp_path / "de").mkdir(exist_ok=True)
        source = tmp_path / "de"
        write(source, "dev", text)
    elif layout == "archive":
        source = tmp_path / "de.tar.gz"
        with tarfile.open(source, "w:gz") as archive:
            archive.add(member, arcname=data.draw(st.sampled_from(["dev", "train", "de/dev"])))
    read_or_data_error(lambda: R.read_panx(source, "dev", "de"), tagged)


@FAST
@given(st.data())
def test_ccg(tmp_path, data):
    cells = st.sampled_from(["The cat", "N NP", "N", "", " ", "a  b"]) | st.text(max_size=5)
    line = st.lists(cells, max_size=3).map("\t".join)
    text = data.draw(lines_of(line, ["The cat\tNP/N N"]))
    read_or_data_error(lambda: R.read_ccg(write(tmp_path, "ccg.train", text), {"N": "1"}), tagged)


@FAST
@given(st.text(max_size=40), st.text(max_size=40))
def test_tatoeba(tmp_path, source, english):
    a, b = write(tmp_path, "tatoeba.deu-eng.deu", source), write(tmp_path, "tatoeba.deu-eng.eng", english)
    read_or_data_error(lambda: R.read_tatoeba(a, b), aligned)


@FAST
@given(st.data())
def test_bucc(tmp_path, data):
    pieces = ["de-1", "de-2", "en-1", "en-2", "Hallo", ""]
    src = write(tmp_path, "de-en.sample.de", data.draw(lines_of(cells_line(pieces), ["de-1\tHallo"])))
    write(tmp_path, "de-en.sample.en", data.draw(lines_of(cells_line(pieces), ["en-1\tHello"])))
    write(tmp_path, "de-en.sample.gold", data.draw(lines_of(cells_line(pieces), ["de-1\ten-1"])))
    read_or_data_error(lambda: R.read_bucc(src, "de"), mined)


# ------------------------------------------------------------------------------------- raw bytes
BYTE_READERS = {
    **{name: read for name, (read, _, _) in JSONL.items()},
    **{name: read for name, (read, _, _) in JSON_DOCS.items()},
    **{name: read for name, (read, _, _, _) in TSV.items()},
    **{name: read for name, (read, _, _, _) in CSV.items()},
    "conllu": R.read_conllu,
    "panx": lambda p: R.read_panx(p, "dev", "de"),
    "ccg": lambda p: R.read_ccg(p, {}),
    "tatoeba": lambda p: R.read_tatoeba(p, p),
}


@FAST
@given(st.sampled_from(sorted(BYTE_READERS)), st.binary(max_size=80) | st.sampled_from(
    [b"\xef\xbb\xbf", b"\xff\xfe{}", b"\x00", b'{"a": 1}\n\xe9', b"1" * 5000, b"[" * 5000, b"\r\r\n"]))
def test_any_bytes(tmp_path, name, raw):
    path = write(tmp_path, "fuzz", raw)
    read_or_data_error(lambda: BYTE_READERS[name](path), lambda row: None)


def test_json_numbers_python_cannot_hold_are_data_errors(tmp_path):
    """Python's json reads NaN and Infinity, and refuses integers over 4300 digits with a bare ValueError."""
    path = write(tmp_path, "x.jsonl", '{"ctx_a": "a", "ctx_b": "b", "endings": ["1", "2"], "label": Infinity}\n')
    for text in (path.read_text(), '{"label": ' + "1" * 5000 + "}\n"):
        try:
            R.read_hellaswag_jsonl(write(tmp_path, "x.jsonl", text))
        except DataError as err:
            assert "x.jsonl:1" in str(err)
        else:  # pragma: no cover
            raise AssertionError("read")
    assert math.isinf(json.loads("Infinity"))
