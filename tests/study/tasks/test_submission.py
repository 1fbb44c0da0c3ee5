"""study.tasks.submission: the submission files read as the official evaluate.py reads them, and every problem
named by its file, line (or JSON path) and rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.tasks import submission as S


def write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_lines_split_as_text_mode_splits_them_and_a_final_line_end_starts_no_line(tmp_path):
    assert S.read_text_lines(write(tmp_path, "a.tsv", "x\r\ny\rz\n")) == ["x", "y", "z"]
    assert S.read_text_lines(write(tmp_path, "b.tsv", "x\n\n")) == ["x", ""]
    assert S.read_labels(write(tmp_path, "c.tsv", " entailment \t\nneutral\n")) == ["entailment", "neutral"]


def test_bad_utf8_names_its_line(tmp_path):
    path = write(tmp_path, "bad.tsv", b"ok\nok\n\xff\n")
    with pytest.raises(S.ScoringError) as err:
        S.read_text_lines(path)
    assert err.value.line == 3 and f"{path}:3:" in str(err.value) and "UTF-8" in str(err.value)


def test_every_blank_line_ends_a_tag_sentence_as_in_evaluate_py(tmp_path):
    sentences = S.read_tag_sentences(write(tmp_path, "t.tsv", "B-PER\nO\n\n\nO\n"))
    assert [s.tags for s in sentences] == [["B-PER", "O"], [], ["O"]]
    assert [s.first_line for s in sentences] == [1, 4, 5]


def test_tag_pairs_name_the_sentence_whose_tag_count_differs(tmp_path):
    gold = write(tmp_path, "gold.tsv", "B-PER\nO\n\nO\n")
    pred = write(tmp_path, "pred.tsv", "B-PER\nO\n\nO\nO\n")
    with pytest.raises(S.ScoringError) as err:
        S.tag_pairs(pred, gold)
    assert "sentence 2 has 2 tags" in str(err.value) and "(line 4) it has 1" in str(err.value)
    assert S.tag_pairs(gold, gold) == ([["B-PER", "O"], ["O"]], [["B-PER", "O"], ["O"]])


def test_line_pairs_need_as_many_lines_and_at_least_one(tmp_path):
    gold, pred = write(tmp_path, "g.tsv", "a\nb\n"), write(tmp_path, "p.tsv", "a\n")
    with pytest.raises(S.ScoringError, match="1 lines but .*g.tsv has 2"):
        S.line_pairs(pred, gold)
    empty = write(tmp_path, "e.tsv", "")
    with pytest.raises(S.ScoringError, match="no lines"):
        S.line_pairs(empty, empty)
    assert S.line_pairs(gold, gold) == (["a", "b"], ["a", "b"])


def test_xcopa_lines_are_objects_with_a_label(tmp_path):
    good = write(tmp_path, "g.jsonl", '{"label": 1}\n{"label": 0}\n')
    assert S.jsonl_label_pairs(good, good) == ([1, 0], [1, 0])
    with pytest.raises(S.ScoringError) as err:
        S.read_jsonl_labels(write(tmp_path, "b.jsonl", '{"label": 1}\n{"choice": 0}\n'))
    assert err.value.line == 2 and "label" in str(err.value)
    with pytest.raises(S.ScoringError) as err:
        S.read_jsonl_labels(write(tmp_path, "c.jsonl", '{"label": 1\n'))
    assert err.value.line == 1 and "not valid JSON" in str(err.value)


def squad(qas: list[dict]) -> str:
    return json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]})


def test_squad_answers_in_file_order_and_their_json_path_on_error(tmp_path):
    labels = write(tmp_path, "l.json", squad([
        {"id": "q1", "answers": [{"text": "Paris"}, {"text": "paris"}]}, {"id": "q2", "answers": [{"text": "4"}]}]))
    assert S.squad_answers(labels) == {"q1": ["Paris", "paris"], "q2": ["4"]}
    twice = write(tmp_path, "d.json", squad([{"id": "q", "answers": [{"text": "a"}]}] * 2))
    with pytest.raises(S.ScoringError) as err:
        S.squad_answers(twice)
    assert err.value.line == "data[0].paragraphs[0].qas[1]" and "appears twice" in str(err.value)
    no_text = write(tmp_path, "n.json", squad([{"id": "q", "answers": []}]))
    with pytest.raises(S.ScoringError, match="no gold answer text"):
        S.squad_answers(no_text)


def test_qa_pairs_note_unanswered_and_unknown_questions(tmp_path):
    labels = write(tmp_path, "l.json", squad([{"id": "q1", "answers": [{"text": "a"}]},
                                             {"id": "q2", "answers": [{"text": "b"}]}]))
    preds = write(tmp_path, "p.json", json.dumps({"q1": "a", "zz": "x"}))
    notes: list[str] = []
    gold, predicted = S.qa_pairs(preds, labels, notes)
    assert gold == {"q1": ["a"], "q2": ["b"]} and predicted == {"q1": "a", "zz": "x"}
    assert any("1 of 2 questions have no prediction" in n for n in notes)
    assert any("1 predictions for question ids not in the labels" in n for n in notes)
    with pytest.raises(S.ScoringError, match="bad value for 'q1'"):
        S.qa_pairs(write(tmp_path, "bad.json", json.dumps({"q1": 3})), labels, [])


def test_ranking_files_need_a_gold_id_per_query(tmp_path):
    gold = write(tmp_path, "g.json", json.dumps({"a": ["e1"], "b": ["e2", "e3"]}))
    ranked = write(tmp_path, "r.json", json.dumps({"a": ["e1", "e2"]}))
    notes: list[str] = []
    assert S.ranking_files(ranked, gold, "Mewsli-X", notes) == ({"a": ["e1"], "b": ["e2", "e3"]}, {"a": ["e1", "e2"]})
    assert notes and "1 of 2 queries have no ranking" in notes[0]
    with pytest.raises(S.ScoringError, match="at least one gold id"):
        S.ranking_files(ranked, write(tmp_path, "e.json", json.dumps({"a": []})), "Mewsli-X", [])
