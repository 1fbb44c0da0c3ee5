"""study.baselines: chance levels (each format's own, `Format.chance`) scored with each task's own metric (majority label from the English training
data, the expected accuracy of a uniform guess), and none for span QA."""

from __future__ import annotations

import pytest

from study import metrics
from study.baselines import chance_of, chance_score
from study.tasks import registry
from study.tasks.registry import LoadContext


def test_classification_predicts_the_english_training_majority():
    task = registry.get("xnli")
    train = [{"label": "neutral"}] * 3 + [{"label": "entailment"}] * 2
    examples = [{"label": label} for label in ("neutral", "contradiction", "neutral", "entailment")]
    assert chance_of(task, examples, train, "de") == 50.0
    other_majority = [{"label": "contradiction"}] * 4
    assert chance_of(task, examples, other_majority, "de") == 25.0


def test_tagging_predicts_the_majority_tag_everywhere_and_scores_it_with_seqeval():
    task = registry.get("panx")
    train = [{"tokens": ["a", "b", "c"], "tags": ["B-PER", "B-PER", "O"]}]
    examples = [{"tokens": ["x", "y"], "tags": ["B-PER", "O"]}, {"tokens": ["z"], "tags": ["B-PER"]}]
    # Every word B-PER: 3 entities predicted, the 2 gold ones among them: precision 2/3, recall 1, F1 80.
    assert chance_of(task, examples, train, "de") == pytest.approx(80.0)
    mostly_o = [{"tokens": ["a", "b"], "tags": ["O", "O"]}]
    assert chance_of(task, examples, mostly_o, "de") == 0.0, "all O finds no entity"


def test_uniform_guesses_for_multiple_choice_and_retrieval():
    mc = registry.get("xcopa")
    examples = [{"choices": ["a", "b"], "label": 0}, {"choices": ["a", "b", "c", "d"], "label": 1}]
    assert chance_of(mc, examples, [], "et") == pytest.approx(100 * (1 / 2 + 1 / 4) / 2)
    assert chance_of(registry.get("tatoeba"), [{}] * 8, [], "de") == 12.5
    assert chance_of(registry.get("xquad"), [{"answers": {"text": ["x"]}}], [], "de") is None


def test_chance_score_loads_the_split_and_the_english_training_data():
    ctx = LoadContext(builtin_seed=0)
    xnli = registry.get("builtin_xnli")
    test, train = xnli.load("test", "xa", ctx), xnli.load("train", "en", ctx)
    assert chance_score(xnli, "xa", ctx) == pytest.approx(chance_of(xnli, test, train, "xa"))
    assert 20 < chance_score(xnli, "xa", ctx) < 50, "about a third for three balanced labels"
    swag = registry.get("builtin_swag")
    assert chance_score(swag, "en", ctx, split="dev") == pytest.approx(100 / len(swag.load("dev", "en", ctx)[0]["choices"]))


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
