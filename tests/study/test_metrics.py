"""The metrics against hand-worked cases and against what the official XTREME scripts give."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from study import metrics
from study.metrics import (
    METRICS,
    accuracy,
    bucc_f1,
    map_at_k,
    mewslix_mrr,
    mlqa_normalize_answer,
    mlqa_scores,
    mrr_at_k,
    retrieval_top1_accuracy,
    seqeval_f1,
    seqeval_scores,
    squad_normalize_answer,
    squad_scores,
    squad_v2_scores,
)


# ------------------------------------------------------------------------------------------ accuracy
def test_accuracy_is_a_percentage():
    assert accuracy(["a", "b", "c", "a"], ["a", "b", "a", "a"]) == 75.0


def test_accuracy_refuses_mismatched_or_empty_inputs():
    with pytest.raises(ValueError, match="one prediction per label"):
        accuracy(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no examples"):
        accuracy([], [])


# ------------------------------------------------------------------------------------------- seqeval
def test_seqeval_counts_entities_not_tokens():
    labels = [["B-PER", "I-PER", "O", "B-LOC"]]
    predictions = [["B-PER", "I-PER", "O", "O"]]
    assert seqeval_scores(labels, predictions) == {"f1": 66.66666666666666, "precision": 100.0, "recall": 50.0}
    assert seqeval_f1(labels, predictions) == 66.66666666666666


def test_seqeval_default_mode_accepts_a_chunk_that_starts_with_i():
    # conlleval-like default mode: I-PER after O opens a chunk, so both spell the same PER entity
    assert seqeval_f1([["I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]]) == 100.0


def test_seqeval_on_pos_tags_merges_runs_of_equal_tags():
    # UD-POS is scored by seqeval too: "NOUN NOUN" is one chunk, so two of three right tags give F1 0
    assert seqeval_f1([["NOUN", "NOUN", "VERB"]], [["NOUN", "VERB", "VERB"]]) == 0.0
    assert seqeval_f1([["NOUN", "VERB"]], [["NOUN", "VERB"]]) == 100.0


def test_seqeval_without_entities_scores_zero_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert seqeval_scores([["O", "O"]], [["O", "O"]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
        assert seqeval_f1([["PRON", "AUX"]], [["PRON", "AUX"]]) == 100.0


def test_seqeval_takes_tuples_and_refuses_nothing():
    assert seqeval_f1((("B-LOC",),), (("B-LOC",),)) == 100.0
    with pytest.raises(ValueError, match="empty"):
        seqeval_f1([], [])


# ---------------------------------------------------------------------------------------- SQuAD v1.1
def test_squad_normalisation_drops_case_ascii_punctuation_and_english_articles():
    assert squad_normalize_answer("The  Big, Cat!") == "big cat"
    assert squad_normalize_answer("«Anne»") == "«anne»"  # only ASCII punctuation goes


def test_squad_takes_the_best_gold_answer_and_scores_unanswered_questions_zero():
    answers = {"q1": ["the Eiffel Tower", "Eiffel"], "q2": ["1889"], "q3": ["Paris"]}
    predictions = {"q1": "Eiffel tower.", "q2": "in 1889", "extra": "ignored"}
    scores = squad_scores(answers, predictions)
    # q1 exact; q2 F1 = 2 * (1/2 * 1) / (1/2 + 1) = 2/3; q3 unanswered counts 0 in the total of 3
    assert scores == {"exact_match": 100.0 * 1 / 3, "f1": 100.0 * (1 + 2 / 3) / 3}


def test_squad_refuses_a_question_without_gold():
    with pytest.raises(ValueError, match="no gold answer"):
        squad_scores({"q": []}, {"q": "x"})


# ---------------------------------------------------------------------------------------------- MLQA
def test_mlqa_zh_segments_each_han_character():
    assert mlqa_normalize_answer("Python是一种语言。", "zh") == "python 是 一 种 语 言"
    # 电化电池 vs 电池: 2 of 4 predicted characters, both gold ones -> F1 2/3; SQuAD's whitespace tokens give 0
    assert mlqa_scores({"q": ["电池"]}, {"q": "电化电池"}, "zh") == {"exact_match": 0.0, "f1": 66.66666666666666}
    assert squad_scores({"q": ["电池"]}, {"q": "电化电池"})["f1"] == 0.0


def test_mlqa_removes_the_articles_of_the_answer_language():
    assert mlqa_normalize_answer("Der Hund", "de") == "hund"
    assert mlqa_normalize_answer("die Katze und das Haus", "de") == "katze und haus"
    assert mlqa_normalize_answer("Der Hund", "en") == "der hund"
    assert mlqa_normalize_answer("la casa de los libros", "es") == "casa de libros"
    assert mlqa_normalize_answer("của tôi", "vi") == "tôi"
    assert mlqa_normalize_answer("a an the", "hi") == "a an the"  # Hindi: no article rule at all
    assert mlqa_scores({"q": ["Hund"]}, {"q": "der Hund"}, "de")["exact_match"] == 100.0
    assert mlqa_scores({"q": ["Hund"]}, {"q": "der Hund"}, "en")["exact_match"] == 0.0


def test_mlqa_arabic_rule_removes_al_anywhere_as_the_official_pattern_does():
    assert mlqa_normalize_answer("الكتاب", "ar") == "كتاب"
    assert mlqa_normalize_answer("مال", "ar") == "م"  # also inside a word: MLQA's regex, kept as it is


def test_mlqa_drops_unicode_punctuation():
    assert mlqa_normalize_answer("«Hallo» – sagte er…", "de") == "hallo sagte er"
    assert mlqa_normalize_answer("¿Qué?", "es") == "qué"
    assert mlqa_normalize_answer("“北京”", "zh") == "北 京"
    assert mlqa_normalize_answer("5$ + 3", "en") == "5 3"  # ASCII symbols count as punctuation too
    assert mlqa_scores({"q": ["Hallo"]}, {"q": "«Hallo»"}, "de")["exact_match"] == 100.0
    assert squad_scores({"q": ["Hallo"]}, {"q": "«Hallo»"})["exact_match"] == 0.0


def test_mlqa_refuses_a_language_without_rules():
    with pytest.raises(ValueError, match="fr"):
        mlqa_scores({"q": ["a"]}, {"q": "a"}, "fr")


# ---------------------------------------------------------------------------------------- SQuAD v2.0
def test_squad_v2_empty_prediction_is_the_right_answer_to_an_unanswerable_question():
    answers = {"none": [], "cat": ["the cat"], "dog": ["dog"]}
    predictions = {"none": "", "cat": "cat", "dog": ""}
    assert squad_v2_scores(answers, predictions) == {"exact_match": 100.0 * 2 / 3, "f1": 100.0 * 2 / 3}
    detail = squad_v2_scores(answers, predictions, breakdown=True)
    assert detail["HasAns_exact_match"] == 50.0 and detail["HasAns_total"] == 2
    assert detail["NoAns_f1"] == 100.0 and detail["NoAns_total"] == 1


def test_squad_v2_no_answer_threshold_and_missing_predictions():
    answers = {"none": [], "cat": ["cat"]}
    predictions = {"none": "something", "cat": "cat"}
    # "none" is predicted unanswerable by its probability, "cat" is not: both right
    scores = squad_v2_scores(answers, predictions, na_probs={"none": 0.9, "cat": 0.1}, na_prob_thresh=0.5)
    assert scores == {"exact_match": 100.0, "f1": 100.0}
    with pytest.raises(ValueError, match="no prediction"):
        squad_v2_scores(answers, {"cat": "cat"})


# ----------------------------------------------------------------------------------------- retrieval
def test_retrieval_top1_accuracy_from_a_similarity_matrix_uses_the_diagonal():
    similarity = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.8], [0.0, 0.1, 0.7]])
    assert retrieval_top1_accuracy(similarity) == pytest.approx(100 * 2 / 3)
    assert retrieval_top1_accuracy(similarity, gold=[0, 2, 2]) == 100.0
    assert retrieval_top1_accuracy([3, 1, 4], gold=[3, 1, 5]) == pytest.approx(100 * 2 / 3)
    with pytest.raises(ValueError, match="gold"):
        retrieval_top1_accuracy([1, 2])


def test_bucc_f1_of_mined_pairs():
    gold = ["de-1\ten-1", "de-2\ten-2", "de-3\ten-3", "de-4\ten-4"]
    mined = [("de-1", "en-1"), ("de-2", "en-2"), ("de-3", "en-9")]
    scores = bucc_f1(gold, mined)
    assert scores["precision"] == pytest.approx(100 * 2 / 3)
    assert scores["recall"] == 50.0
    assert scores["f1"] == pytest.approx(100 * 4 / 7)
    assert bucc_f1(gold, []) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_map_at_20_cases():
    # one relevant at rank 3 -> 1/3
    assert map_at_k([{"x"}], [["a", "b", "x"]]) == pytest.approx(100 / 3)
    # two relevant at ranks 1 and 3 -> (1/1 + 2/3) / 2
    assert map_at_k([{"x", "y"}], [["x", "b", "y"]]) == pytest.approx(100 * (1 + 2 / 3) / 2)
    # beyond the top 20 nothing counts
    assert map_at_k([{"x"}], [[*map(str, range(20)), "x"]]) == 0.0
    assert map_at_k([{"x"}], [[*map(str, range(20)), "x"]], k=None) == pytest.approx(100 / 21)
    # more relevant candidates than k: the divisor is k
    relevant = {str(i) for i in range(30)}
    assert map_at_k([relevant], [[str(i) for i in range(30)]]) == 100.0
    # a repeated candidate is a hit once
    assert map_at_k([{"x", "y"}], [["x", "x", "y"]]) == pytest.approx(100 * (1 + 2 / 3) / 2)
    # the mean over queries
    assert map_at_k([{"x"}, {"y"}], [["x"], ["a", "y"]]) == pytest.approx(100 * (1 + 1 / 2) / 2)
    with pytest.raises(ValueError, match="query 0"):
        map_at_k([set()], [["x"]])


def test_mrr_at_20_equals_map_at_20_with_one_gold_item():
    ranked = [["a", "x", "b"], ["y"], ["c"] * 25 + ["z"]]
    gold = ["x", "y", "z"]
    assert mrr_at_k(gold, ranked) == pytest.approx(100 * (1 / 2 + 1) / 3)
    assert mrr_at_k(gold, ranked) == pytest.approx(map_at_k([{g} for g in gold], ranked))


def test_mewslix_mrr_from_its_file_layout():
    gold = {"m1": ["Q1 "], "m2": ["Q2"], "m3": ["Q3"]}  # gold ids are stripped, as Mewsli-X's scorer does
    predictions = {"m1": ["Q9", "Q1"], "m2": [f"Q{i}" for i in range(10, 40)] + ["Q2"], "other": ["Q3"]}
    # m1 at rank 2; m2 beyond 20; m3 unpredicted
    assert mewslix_mrr(gold, predictions) == pytest.approx(100 * 0.5 / 3)


# ------------------------------------------------------------------------------------------ registry
def test_every_metric_is_registered_once_with_its_direction():
    assert set(METRICS) == {
        "accuracy", "seqeval_f1", "squad_exact_match", "squad_f1", "mlqa_exact_match", "mlqa_f1",
        "squad_v2_exact_match", "squad_v2_f1", "retrieval_top1_accuracy", "bucc_f1", "map@20", "mrr@20",
    }
    for name, metric in METRICS.items():
        assert metric.name == name
        assert metric.higher_is_better is True
    assert METRICS["mlqa_f1"]({"q": ["der Hund"]}, {"q": "Hund"}, "de") == 100.0
    assert METRICS["map@20"]([{"x"}], [["a", "x"]]) == 50.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        metrics.Metric("m", True, accuracy).name = "other"


def test_every_task_scores_through_a_registered_family_of_registered_metrics():
    from study.tasks import registry

    families = metrics.METRIC_FAMILIES
    assert registry.METRIC_FAMILIES is families  # one registry
    for name in registry.names():
        assert registry.get(name).metric in families, name
    for name, family in families.items():
        assert family.name == name
        assert all(m in METRICS for m in family.reports.values())
        assert family.higher_is_better is all(METRICS[m].higher_is_better for m in family.reports.values())
    assert families["squad"]([["the cat"]], ["a cat"], "en") == {"exact_match": 100.0, "f1": 100.0}
    assert families["mrr@20"]([["e1"]], [["e0", "e1"]], "en") == {"map@20": 50.0}


def test_a_family_takes_its_direction_from_the_metrics_it_reports(monkeypatch):
    monkeypatch.setitem(METRICS, "error_rate", metrics.Metric("error_rate", False, accuracy))
    lower = metrics.MetricFamily("errors", {"error": "error_rate"}, lambda g, p, lang: {"error": 1.0})
    assert lower.higher_is_better is False
    assert metrics.MetricFamily("acc", {"accuracy": "accuracy"}, lambda g, p, lang: {}).higher_is_better is True
    with pytest.raises(ValueError, match="mixes higher- and lower-is-better"):
        metrics.MetricFamily("both", {"accuracy": "accuracy", "error": "error_rate"}, lambda g, p, lang: {})
    with pytest.raises(ValueError, match=r"unregistered metric\(s\) \['nope'\]"):
        metrics.MetricFamily("x", {"v": "nope"}, lambda g, p, lang: {})
    with pytest.raises(ValueError, match="reports no metric"):
        metrics.MetricFamily("x", {}, lambda g, p, lang: {})
    with pytest.raises(ValueError, match=r"returned \['other'\], but reports \['error'\]"):
        metrics.MetricFamily("x", {"error": "error_rate"}, lambda g, p, lang: {"other": 1.0})([], [], "en")
    with pytest.raises(ValueError, match="registered twice"):
        metrics.register_family(metrics.MetricFamily("accuracy", {"accuracy": "accuracy"}, lambda g, p, lang: {}))


def test_the_signal_mode_is_its_families_direction_and_mixed_directions_are_refused(monkeypatch):
    monkeypatch.setitem(METRICS, "error_rate", metrics.Metric("error_rate", False, accuracy))
    monkeypatch.setitem(metrics.METRIC_FAMILIES, "errors",
                        metrics.MetricFamily("errors", {"error": "error_rate"}, lambda g, p, lang: {"error": 1.0}))
    assert metrics.signal_mode({"xnli": "accuracy", "xquad": "squad"}) == "max"
    assert metrics.signal_mode({"a": "errors", "b": "errors"}) == "min"
    assert metrics.signal_mode({}) == "max"
    with pytest.raises(ValueError, match=r"higher-is-better scores \(xnli\) with lower-is-better ones \(a, b\)"):
        metrics.signal_mode({"xnli": "accuracy", "a": "errors", "b": "errors"})
    with pytest.raises(ValueError, match="unknown metric family"):
        metrics.signal_mode({"a": "nope"})
