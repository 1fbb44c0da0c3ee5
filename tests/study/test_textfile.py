"""The guarded UTF-8 and JSON reading shared by the dataset readers and the submission scorer."""

from __future__ import annotations

import pytest

from study.scoring import ScoringError
from study.tasks.readers import DataError, jsonl_rows, read_json, text_lines
from study.textfile import TextFileError, decode_utf8, parse_json, read_utf8, split_lines

RULE = "one JSON document"


def test_a_byte_order_mark_is_dropped_and_lines_split_as_text_mode(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": [1,\r\n 2]}\r\n')
    text = read_utf8(path)
    assert text.startswith("{")
    assert parse_json(text, path=path, rule=RULE) == {"a": [1, 2]}
    assert split_lines("a\r\nb\rc\n\nd\n") == ["a", "b", "c", "", "d"]
    assert split_lines("") == [] and split_lines("\n") == [""]
    assert decode_utf8("\ufeff\ufeffx".encode(), path=path) == "\ufeffx"  # only the leading mark


@pytest.mark.parametrize(("text", "line", "problem"), [
    ('{"a": 1', 1, r"not valid JSON: Expecting ',' delimiter \(column 8\)"),  # truncated
    ('{"a":\n  [1, 2', 2, r"not valid JSON: Expecting ',' delimiter"),
    ('{"a": ' + "1" * 5000 + "}", None, r"not valid JSON: Exceeds the limit \(4300 digits\)"),
    ("[" * 100_000 + "]" * 100_000, None, "not valid JSON: nested too deeply"),
    ("", 1, "not valid JSON: Expecting value"),
])
def test_every_json_failure_names_the_file_its_line_and_the_rule(tmp_path, text, line, problem):
    path = tmp_path / "x.json"
    with pytest.raises(TextFileError, match=problem) as err:
        parse_json(text, path=path, rule=RULE)
    assert (err.value.path, err.value.line, err.value.rule) == (path, line, RULE)
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(err.value).startswith(where) and str(err.value).endswith(f"(rule: {RULE})")
    with pytest.raises(TextFileError) as err:  # one line of a JSON-lines file: that line, whatever json says
        parse_json(text, path=path, rule=RULE, line=7)
    assert err.value.line == 7


def test_bad_utf8_names_the_line_of_the_first_bad_byte(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_bytes(b"ok\nfine\nbad \xe9 byte\n")
    with pytest.raises(TextFileError, match=r"x\.tsv:3: not valid UTF-8 \(invalid continuation byte\) "
                                            r"\(rule: UTF-8 text\)"):
        read_utf8(path)


def test_the_readers_and_the_scorer_raise_their_own_kind_of_the_same_error(tmp_path):
    """Dataset files raise DataError (its wording: "expected"), submissions ScoringError: both TextFileErrors,
    from the same guard, with the same decisions (a BOM is dropped by both)."""
    from study.tasks.submission import read_json as _read_json, read_jsonl_labels as _read_jsonl_labels, read_labels as _read_labels

    bad = tmp_path / "bad.json"
    bad.write_text('{"a": ' + "9" * 5000 + "}")
    with pytest.raises(DataError, match=r"bad\.json: not valid JSON: Exceeds the limit .* \(expected: squad\)"):
        read_json(bad, "squad")
    with pytest.raises(ScoringError, match=r"bad\.json: not valid JSON: Exceeds the limit .* \(rule: QA, Mewsli-X"):
        _read_json(bad)
    assert issubclass(DataError, TextFileError) and issubclass(ScoringError, TextFileError)
    lines = tmp_path / "x.jsonl"
    lines.write_text('{"label": 1}\n{"label": \n')
    with pytest.raises(DataError, match=r"x\.jsonl:2: not valid JSON"):
        list(jsonl_rows(lines, "rows"))
    with pytest.raises(ScoringError, match=r"x\.jsonl:2: not valid JSON"):
        _read_jsonl_labels(lines)
    bom = tmp_path / "bom.json"
    bom.write_bytes(b'\xef\xbb\xbf{"q": ["a"]}')
    assert read_json(bom, "x") == _read_json(bom) == {"q": ["a"]}
    labels = tmp_path / "labels.tsv"
    labels.write_bytes(b"\xef\xbb\xbfentailment\nneutral\n")
    assert _read_labels(labels) == text_lines(labels) == ["entailment", "neutral"]
    latin = tmp_path / "latin.tsv"
    latin.write_bytes(b"caf\xe9\n")
    with pytest.raises(DataError, match=r"latin\.tsv:1: not valid UTF-8 .*\(expected: UTF-8 text\)"):
        text_lines(latin)
    with pytest.raises(ScoringError, match=r"latin\.tsv:1: not valid UTF-8 .*\(rule: prediction and label files"):
        _read_labels(latin)
