"""The submission scorer against the official evaluate.py on its own mock files, and its aggregation.

The expected numbers were produced by running google-research/xtreme `evaluate.py` (HEAD 838c13b, with
seqeval 1.2.2 as in requirements.lock) on `shared/data/xtreme_mock`, which holds its `mock_test_data`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from study.scoring import ScoringError, aggregate, render_scores, score_command, score_submission, task_score
from study.tasks.languages import XTREME_R_TASK_LANGUAGES

SHARED = Path(os.environ.get("XSTUDY_SHARED_DIR", Path(__file__).resolve().parents[2] / ".." / "shared"))
MOCK = SHARED / "data" / "xtreme_mock"


@pytest.fixture
def mock() -> Path:
    if not (MOCK / "predictions").is_dir() or not (MOCK / "labels").is_dir():
        pytest.skip(f"the official mock submission {MOCK} is absent (set XSTUDY_SHARED_DIR)")
    return MOCK


# ------------------------------------------------------------------------------ official numbers
# evaluate.py --xtreme_version xtreme on the mock files: every average it reports, per task.
OFFICIAL_XTREME_AVERAGES = {
    "pawsx": {"avg_accuracy": 51.42857142857143, "avg_metric": 51.42857142857143},
    "xnli": {"avg_accuracy": 30.666666666666668, "avg_metric": 30.666666666666668},
    "panx": {"avg_f1": 57.50793650793652, "avg_precision": 54.729166666666664, "avg_recall": 62.750000000000014,
             "avg_metric": 57.50793650793652},
    # evaluate_test.py in the same repository expects 70.21746048354693 (F1), 71.02232625883823 and
    # 69.54982073976082: those are seqeval 0.0.12's numbers; seqeval 1.2.2 chunks POS tags differently.
    "udpos": {"avg_f1": 70.39805810699043, "avg_precision": 71.21832908642001, "avg_recall": 69.71397801088123,
              "avg_metric": 70.39805810699043},
    "bucc2018": {"avg_f1": 55.0, "avg_precision": 55.0, "avg_recall": 55.0, "avg_metric": 55.0},
    "tatoeba": {"avg_accuracy": 53.611111111111114, "avg_metric": 53.611111111111114},
    "xquad": {"avg_exact_match": 77.27272727272727, "avg_f1": 79.9586776859504, "avg_metric": 78.61570247933884},
    "mlqa": {"avg_exact_match": 57.142857142857146, "avg_f1": 81.76870748299321, "avg_metric": 69.45578231292518},
    "tydiqa": {"avg_exact_match": 88.88888888888889, "avg_f1": 97.22222222222223, "avg_metric": 93.05555555555556},
}
OFFICIAL_XTREME_GROUPS = {
    "classification": 41.04761904761905,
    "tagging": 63.95299730746348,
    "qa": 80.37568011593986,
    "retrieval": 54.30555555555556,
}
OFFICIAL_XTREME_ALL_TASK = 62.1932649076773

# evaluate.py's per-language scores, for the tasks small enough to list whole.
OFFICIAL_PER_LANGUAGE = {
    "pawsx": {"accuracy": {"de": 50.0, "en": 40.0, "es": 50.0, "fr": 60.0, "ja": 60.0, "ko": 60.0, "zh": 40.0}},
    "xnli": {"accuracy": {"ar": 20.0, "bg": 40.0, "de": 20.0, "el": 40.0, "en": 30.0, "es": 30.0, "fr": 30.0,
                          "hi": 40.0, "ru": 70.0, "sw": 20.0, "th": 30.0, "tr": 20.0, "ur": 40.0, "vi": 20.0,
                          "zh": 10.0}},
    "bucc2018": {m: {"de": 50.0, "fr": 50.0, "ru": 50.0, "zh": 70.0} for m in ("f1", "precision", "recall")},
    "tatoeba": {"accuracy": {
        "ar": 30.0, "he": 70.0, "vi": 70.0, "id": 40.0, "jv": 20.0, "tl": 50.0, "eu": 40.0, "ml": 30.0, "ta": 40.0,
        "te": 30.0, "af": 70.0, "nl": 80.0, "de": 70.0, "el": 50.0, "bn": 60.0, "hi": 80.0, "mr": 70.0, "ur": 30.0,
        "fa": 50.0, "fr": 80.0, "it": 100.0, "pt": 60.0, "es": 80.0, "bg": 90.0, "ru": 70.0, "ja": 70.0, "ka": 20.0,
        "ko": 40.0, "th": 0.0, "sw": 20.0, "zh": 60.0, "kk": 40.0, "tr": 50.0, "et": 30.0, "fi": 70.0, "hu": 70.0}},
    "xquad": {
        "exact_match": {"en": 100.0, "es": 50.0, "de": 100.0, "el": 100.0, "ru": 100.0, "tr": 50.0, "ar": 100.0,
                        "vi": 100.0, "th": 50.0, "zh": 0.0, "hi": 100.0},
        "f1": {"en": 100.0, "es": 54.54545454545454, "de": 100.0, "el": 100.0, "ru": 100.0, "tr": 50.0, "ar": 100.0,
               "vi": 100.0, "th": 50.0, "zh": 25.0, "hi": 100.0}},
    "mlqa": {
        "exact_match": {"en": 0.0, "es": 0.0, "de": 0.0, "ar": 100.0, "hi": 100.0, "vi": 100.0, "zh": 100.0},
        "f1": {"en": 60.0, "es": 26.66666666666667, "de": 85.71428571428571, "ar": 100.0, "hi": 100.0, "vi": 100.0,
               "zh": 100.0}},
    "tydiqa": {
        "exact_match": {"en": 100.0, "ar": 100.0, "bn": 100.0, "fi": 100.0, "id": 0.0, "ko": 100.0, "ru": 100.0,
                        "sw": 100.0, "te": 100.0},
        "f1": {"en": 100.0, "ar": 100.0, "bn": 100.0, "fi": 100.0, "id": 74.99999999999999, "ko": 100.0, "ru": 100.0,
               "sw": 100.0, "te": 100.0}},
}
OFFICIAL_SPOT_CHECKS = {  # (task, metric, language) -> value, for the long tagging lists
    ("udpos", "f1", "de"): 81.57894736842104,
    ("udpos", "f1", "ja"): 54.83870967741935,
    ("udpos", "f1", "zh"): 61.11111111111113,
    ("udpos", "f1", "yo"): 53.73134328358209,
    ("panx", "f1", "de"): 57.14285714285715,
    ("panx", "f1", "ja"): 33.33333333333333,
    ("panx", "f1", "yo"): 28.571428571428577,
}

# evaluate.py --xtreme_version xtreme-r stops with FileNotFoundError at panx/test-qu.tsv. Run on a copy
# of the mock that holds only xnli, mewslix, mlqa and tydiqa, it gives these task scores and no group.
OFFICIAL_XTREME_R_SUBSET = {
    "xnli": OFFICIAL_PER_LANGUAGE["xnli"] | OFFICIAL_XTREME_AVERAGES["xnli"],
    "mewslix": {
        "map@20": {"ar": 6.25, "de": 50.0, "en": 8.333333333333332, "es": 8.333333333333332, "fa": 25.0,
                   "ja": 7.142857142857142, "pl": 5.263157894736842, "ro": 16.666666666666664,
                   "ta": 7.6923076923076925, "tr": 12.5, "uk": 11.11111111111111},
        "avg_map@20": 14.39025156130419, "avg_metric": 14.39025156130419},
    "mlqa": OFFICIAL_PER_LANGUAGE["mlqa"] | OFFICIAL_XTREME_AVERAGES["mlqa"],
    "tydiqa": OFFICIAL_PER_LANGUAGE["tydiqa"] | OFFICIAL_XTREME_AVERAGES["tydiqa"],
}


# ------------------------------------------------------------------------------ against evaluate.py
def test_xtreme_mock_gives_the_official_numbers(mock):
    result = score_submission(mock / "predictions", mock / "labels", "xtreme")
    assert list(result["tasks"]) == list(OFFICIAL_XTREME_AVERAGES)
    for task, averages in OFFICIAL_XTREME_AVERAGES.items():
        entry = result["tasks"][task]
        assert {k: v for k, v in entry.items() if k.startswith("avg_")} == averages, task
        assert list(entry)[-1] == "avg_metric"
    for task, per_metric in OFFICIAL_PER_LANGUAGE.items():
        for metric, by_lang in per_metric.items():
            assert result["tasks"][task][metric] == by_lang, (task, metric)
            assert list(result["tasks"][task][metric]) == list(by_lang)  # the official language order
    for (task, metric, lang), value in OFFICIAL_SPOT_CHECKS.items():
        assert result["tasks"][task][metric][lang] == value
    assert result["groups"] == OFFICIAL_XTREME_GROUPS
    # evaluate.py sums the task scores over a set; 62.1932649076773 is the correctly rounded sum, which
    # most set orders give (see study.scoring); ours is that exact value.
    assert result["overall"] == OFFICIAL_XTREME_ALL_TASK
    assert result["missing"] == []
    assert "mewslix" in result["skipped"]  # an XTREME-R task folder, not scored for XTREME


def test_xtreme_r_mock_fails_where_the_official_script_fails(mock):
    # The mock has no files for XTREME-R's added PAN-X languages; evaluate.py raises FileNotFoundError.
    with pytest.raises(ScoringError, match=r"panx/test-qu\.tsv: file missing.*48 languages"):
        score_submission(mock / "predictions", mock / "labels", "xtreme-r")


def test_xtreme_r_mock_tasks_the_official_script_can_score(mock):
    tasks = list(OFFICIAL_XTREME_R_SUBSET)
    result = score_submission(mock / "predictions", mock / "labels", "xtreme-r", tasks=tasks)
    assert result["tasks"] == OFFICIAL_XTREME_R_SUBSET
    assert result["groups"] == {}
    assert result["overall"] is None
    assert set(result["missing"]) == set(XTREME_R_TASK_LANGUAGES) - set(tasks)


def test_f1_only_convention_changes_only_the_qa_task_scores(mock):
    result = score_submission(mock / "predictions", mock / "labels", "xtreme", convention="f1_only")
    for task, averages in OFFICIAL_XTREME_AVERAGES.items():
        expected = averages.get("avg_f1") if task in ("xquad", "mlqa", "tydiqa") else averages["avg_metric"]
        assert result["tasks"][task]["avg_metric"] == expected, task
    assert result["groups"]["qa"] == (79.9586776859504 + 81.76870748299321 + 97.22222222222223) / 3
    assert result["groups"]["tagging"] == OFFICIAL_XTREME_GROUPS["tagging"]
    assert result["overall"] == pytest.approx(math.fsum(
        [51.42857142857143, 30.666666666666668, 57.50793650793652, 70.39805810699043, 55.0, 53.611111111111114,
         79.9586776859504, 81.76870748299321, 97.22222222222223]) / 9, rel=1e-15)


# ------------------------------------------------------------------------------------- aggregation
def test_aggregate_reproduces_xlmr_base_xtreme_r_average_with_f1_only():
    # REFERENCE.md: XLM-R base on XTREME-R, F1 only for QA (the mGTE paper's table) -> 62.02
    per_task = {
        "xnli": {"accuracy": 74.50}, "xcopa": {"accuracy": 50.45}, "udpos": {"f1": 73.84}, "panx": {"f1": 61.23},
        "xquad": {"f1": 72.83}, "mlqa": {"f1": 61.54}, "tydiqa": {"f1": 53.09}, "mewslix": {"map@20": 42.09},
        "lareqa": {"map@20": 63.43}, "tatoeba": {"accuracy": 67.20},
    }
    result = aggregate(per_task, "xtreme-r", convention="f1_only")
    assert round(result["overall"], 2) == 62.02
    assert result["missing"] == []
    assert result["groups"]["retrieval"] == pytest.approx((67.20 + 42.09 + 63.43) / 3)
    assert set(result["groups"]) == {"classification", "tagging", "qa", "retrieval"}
    with pytest.raises(ValueError, match="exact_match"):
        aggregate(per_task, "xtreme-r", convention="official")  # the official convention needs EM too


def test_aggregate_of_the_official_task_averages_gives_the_official_groups():
    result = aggregate(OFFICIAL_XTREME_AVERAGES, "xtreme")
    assert result["groups"] == OFFICIAL_XTREME_GROUPS
    assert result["overall"] == OFFICIAL_XTREME_ALL_TASK
    partial = aggregate({"xnli": 80.0, "pawsx": {"accuracy": 90.0}, "mlqa": {"exact_match": 50.0, "f1": 70.0}},
                        "xtreme")
    assert partial["tasks"] == {"pawsx": 90.0, "xnli": 80.0, "mlqa": 60.0}
    assert partial["groups"] == {"classification": 85.0}
    assert partial["overall"] is None
    assert partial["missing"] == ["panx", "udpos", "bucc2018", "tatoeba", "xquad", "tydiqa"]


def test_aggregate_names_bad_input():
    with pytest.raises(ValueError, match="xcopa"):
        aggregate({"xcopa": 50.0}, "xtreme")
    with pytest.raises(ValueError, match="benchmark"):
        aggregate({}, "xtreme-x")
    with pytest.raises(ValueError, match="convention"):
        aggregate({}, "xtreme", convention="em_only")
    with pytest.raises(ValueError, match="'f1'"):
        task_score("xquad", {"exact_match": 50.0}, "f1_only")


# ------------------------------------------------------------------------------ errors on bad files
def _copy_tasks(mock: Path, tmp: Path, tasks: list[str]) -> tuple[Path, Path]:
    for side in ("predictions", "labels"):
        for task in tasks:
            shutil.copytree(mock / side / task, tmp / side / task)
    return tmp / "predictions", tmp / "labels"


def test_a_missing_prediction_line_names_the_file_and_rule(mock, tmp_path):
    preds, labels = _copy_tasks(mock, tmp_path, ["xnli"])
    path = preds / "xnli" / "test-de.tsv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(ScoringError, match=r"xnli/test-de\.tsv: 9 lines but .*labels/xnli/test-de\.tsv has 10 "
                                           r"\(rule: one prediction per label"):
        score_submission(preds, labels, "xtreme")


def test_a_tag_count_mismatch_names_the_sentence_and_lines(mock, tmp_path):
    preds, labels = _copy_tasks(mock, tmp_path, ["udpos"])
    path = preds / "udpos" / "test-en.tsv"
    lines = path.read_text().splitlines()
    assert lines[4] == ""  # sentence 2 starts on line 6
    path.write_text("\n".join(lines[:5] + ["NOUN"] + lines[5:]) + "\n")
    with pytest.raises(ScoringError, match=r"test-en\.tsv:6: sentence 2 has 5 tags, but in .* \(line 6\) it has 4"):
        score_submission(preds, labels, "xtreme")


def test_malformed_json_names_the_line(mock, tmp_path):
    preds, labels = _copy_tasks(mock, tmp_path, ["xquad"])
    (preds / "xquad" / "test-es.json").write_text('{\n  "a": "b",\n  "c": \n}\n')
    with pytest.raises(ScoringError, match=r"xquad/test-es\.json:4: not valid JSON"):
        score_submission(preds, labels, "xtreme")
    # What Python's json refuses besides syntax: an integer of over 4,300 digits, nesting past the recursion limit.
    (preds / "xquad" / "test-es.json").write_text('{"a": ' + "7" * 5000 + "}")
    with pytest.raises(ScoringError, match=r"test-es\.json: not valid JSON: Exceeds the limit \(4300 digits\)"):
        score_submission(preds, labels, "xtreme")
    (preds / "xquad" / "test-es.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ScoringError, match=r"test-es\.json: not valid JSON: nested too deeply"):
        score_submission(preds, labels, "xtreme")
    (preds / "xquad" / "test-es.json").write_text('{"a": ["not", "a", "string"]}')
    with pytest.raises(ScoringError, match=r"test-es\.json:a: bad value"):
        score_submission(preds, labels, "xtreme")


def test_a_missing_language_file_and_missing_folders(mock, tmp_path):
    preds, labels = _copy_tasks(mock, tmp_path, ["pawsx"])
    (labels / "pawsx" / "test-ko.tsv").unlink()
    with pytest.raises(ScoringError, match=r"labels/pawsx/test-ko\.tsv: file missing \(rule: xtreme scores pawsx on 7"):
        score_submission(preds, labels, "xtreme")
    with pytest.raises(ScoringError, match="no prediction folder"):
        score_submission(tmp_path / "nowhere", labels, "xtreme")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScoringError, match="no xtreme task folder"):
        score_submission(tmp_path / "empty", labels, "xtreme")


def test_unanswered_questions_score_zero_and_are_noted(mock, tmp_path):
    preds, labels = _copy_tasks(mock, tmp_path, ["tydiqa"])
    (preds / "tydiqa" / "test-en.json").write_text("{}")
    result = score_submission(preds, labels, "xtreme")
    assert result["tasks"]["tydiqa"]["f1"]["en"] == 0.0
    assert any("test-en.json: 1 of 1 questions have no prediction" in note for note in result["notes"])


# ----------------------------------------------------------------------------- XTREME-R additions
def _write_xtreme_r_task(root: Path, task: str, suffix: str, labels: str, predictions: str) -> tuple[Path, Path]:
    for side, text in (("labels", labels), ("predictions", predictions)):
        folder = root / side / task
        folder.mkdir(parents=True)
        for lang in XTREME_R_TASK_LANGUAGES[task]:
            (folder / f"test-{lang}.{suffix}").write_text(text, encoding="utf-8")
    return root / "predictions", root / "labels"


def test_lareqa_is_scored_with_map_at_20(tmp_path):
    labels = json.dumps({"q1": ["c1_de", "c1_en"], "q2": ["c2_en"]})
    predictions = json.dumps({"q1": ["c1_en", "x", "c1_de"], "q2": ["x", "c2_en"]})
    preds, gold = _write_xtreme_r_task(tmp_path, "lareqa", "json", labels, predictions)
    result = score_submission(preds, gold, "xtreme-r")
    expected = 100 * ((1 + 2 / 3) / 2 + 1 / 2) / 2
    assert result["tasks"]["lareqa"]["avg_map@20"] == pytest.approx(expected)
    assert result["tasks"]["lareqa"]["avg_metric"] == pytest.approx(expected)
    assert len(result["tasks"]["lareqa"]["map@20"]) == 11


def test_xcopa_reads_json_lines(tmp_path):
    labels = "".join(json.dumps({"premise": "p", "label": y}) + "\n" for y in (0, 1, 1, 0))
    predictions = "".join(json.dumps({"label": y}) + "\n" for y in (0, 1, 0, 0))
    preds, gold = _write_xtreme_r_task(tmp_path, "xcopa", "jsonl", labels, predictions)
    result = score_submission(preds, gold, "xtreme-r")
    assert result["tasks"]["xcopa"]["avg_accuracy"] == 75.0
    (preds / "xcopa" / "test-qu.jsonl").write_text('{"label": 0}\n{"lab": 1}\n')
    with pytest.raises(ScoringError, match=r"test-qu\.jsonl:2: no \"label\" field"):
        score_submission(preds, gold, "xtreme-r")


# ------------------------------------------------------------------------------------ the command
def test_score_command_prints_json_and_returns_zero(mock, capsys):
    assert score_command(mock / "predictions", mock / "labels", "xtreme", as_json=True) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["overall"] == OFFICIAL_XTREME_ALL_TASK
    assert printed["tasks"]["mlqa"]["avg_f1"] == 81.76870748299321


def test_score_command_exit_codes(mock, tmp_path, capsys):
    assert score_command(mock / "predictions", mock / "labels", "xtreme-r", as_json=True) == 1
    assert "panx/test-qu.tsv" in capsys.readouterr().err
    assert score_command(mock / "predictions", mock / "labels", "xtreme3", as_json=False) == 2
    assert "unknown benchmark" in capsys.readouterr().err


def test_render_scores_prints_tasks_languages_groups_and_overall(mock):
    result = score_submission(mock / "predictions", mock / "labels", "xtreme")
    console = Console(record=True, width=200)
    render_scores(result, console)
    text = console.export_text()
    assert "62.19" in text and "overall" in text
    assert "TyDiQA-GoldP" in text and "93.06" in text
    assert "100.00/100.00" in text  # QA cells show EM/F1
