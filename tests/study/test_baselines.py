"""Chance levels: each format's own (`Format.chance`), scored with the task's metric."""

from __future__ import annotations

import pytest

from study import metrics
from study.baselines import chance_of, chance_score
from study.tasks import registry
from study.tasks.registry import LoadContext


def test_classification_predicts_the_english_majority_label():
    task = registry.get("xnli")
    train = [{"label": "neutral"}] * 3 + [{"label": "entailment"}] * 2
    examples = [{"label": "neutral"}, {"label": "entailment"}, {"label": "contradiction"}, {"label": "neutral"}]
    assert task.format.chance_needs_train
    assert chance_of(task, examples, train, "de") == 50.0


def test_tagging_tags_every_word_with_the_english_majority_tag():
    task = registry.get("udpos")
    train = [{"tags": ["NOUN", "VERB", "NOUN"]}]
    examples = [{"tokens": ["a", "b"], "tags": ["NOUN", "VERB"]}]
    assert chance_of(task, examples, train, "de") == metrics.seqeval_f1([["NOUN", "VERB"]], [["NOUN", "NOUN"]])
    assert chance_of(task, examples, [{"tags": ["VERB"]}], "de") == metrics.seqeval_f1([["NOUN", "VERB"]], [["VERB", "VERB"]])


def test_uniform_guesses():
    xcopa = registry.get("xcopa")
    examples = [{"choices": ["a", "b"], "label": 0}, {"choices": ["a", "b", "c", "d"], "label": 1}]
    assert not xcopa.format.chance_needs_train
    assert chance_of(xcopa, examples, [], "qu") == pytest.approx(100 * (0.5 + 0.25) / 2)
    assert chance_of(registry.get("tatoeba"), [{}] * 8, [], "de") == 12.5


@pytest.mark.parametrize("name", ["xquad", "bucc2018", "mewslix"])
def test_formats_without_a_constant_predictor_have_no_chance_level(name):
    task = registry.get(name)
    assert not task.format.chance_needs_train and chance_of(task, [], [], "de") is None


def test_chance_score_loads_the_training_data_only_where_it_is_needed():
    ctx = LoadContext(builtin_seed=0)
    nli, tatoeba = registry.get("builtin_xnli"), registry.get("builtin_tatoeba")
    assert 20 < chance_score(nli, "xa", ctx) < 50  # a majority label among three
    assert chance_score(tatoeba, "xa", ctx) == 100.0 / len(tatoeba.load("test", "xa", ctx))
