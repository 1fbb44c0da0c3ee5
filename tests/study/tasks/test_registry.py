"""study.tasks.registry: what registration refuses, the official per-language score, and which targets share
one fine-tuned model."""

from __future__ import annotations

import dataclasses

import pytest

from study import metrics
from study.tasks import registry
from study.tasks.registry import LoadContext, Task, fine_tune_key, task_score


def _task(name: str, fmt: str = "classification", metric: str = "accuracy", **kw) -> Task:
    return Task(name=name, format_name=fmt, metric=metric, roles=frozenset({"target"}), test_languages=("de",),
                loader=lambda split, lang, ctx: [{"split": split, "lang": lang, "seed": ctx.builtin_seed}], **kw)


@pytest.fixture
def scratch(monkeypatch):
    """A copy of the registry, so that the tasks a test registers vanish with it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "METRIC_FAMILIES", dict(registry.METRIC_FAMILIES))
    monkeypatch.setattr(registry, "FORMATS", dict(registry.FORMATS))


def test_registration_refuses_duplicates_and_unknown_names(scratch):
    registry.register(_task("t_one"))
    with pytest.raises(ValueError, match="'t_one' is registered twice"):
        registry.register(_task("t_one"))
    with pytest.raises(ValueError, match=r"unknown format 'essay'; known: \[.*'classification'"):
        registry.register(_task("t_fmt", fmt="essay"))
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        registry.register(_task("t_metric", metric="bleu"))
    with pytest.raises(ValueError, match="metric family 'accuracy' is registered twice"):
        metrics.register_family(metrics.MetricFamily("accuracy", {"accuracy": "accuracy"}, lambda g, p, lang: {}))
    with pytest.raises(ValueError, match="format 'tagging' is registered twice"):
        registry.register_format(registry.FORMATS["tagging"])
    assert "t_fmt" not in registry.names() and "t_one" in registry.names("target")
    assert "t_one" not in registry.names("intermediate")


def test_train_data_must_be_an_earlier_task_of_the_same_format(scratch):
    with pytest.raises(ValueError, match="train_data 'nowhere' must be a task registered before it"):
        registry.register(_task("t_a", train_data="nowhere"))
    with pytest.raises(ValueError, match=r"of the same format \(classification\)"):
        registry.register(_task("t_b", train_data="squad_v1"))  # span QA data for a classifier
    shared = registry.register(_task("t_c", train_data="xnli", labels=registry.get("xnli").labels))
    assert shared.training_set == "xnli" and registry.get("xnli").training_set == "xnli"


def test_get_lookup_and_load_pass_the_context():
    assert registry.get("nope", None) is None
    with pytest.raises(KeyError, match="unknown task 'nope'; known: .*'xnli'"):
        registry.get("nope")
    task = _task("t_load")
    assert task.load("dev", "de", LoadContext(builtin_seed=7)) == [{"split": "dev", "lang": "de", "seed": 7}]
    assert task.format is registry.FORMATS["classification"]


def test_the_task_score_averages_exact_match_and_f1_and_is_the_single_metric_otherwise():
    assert task_score({"exact_match": 40.0, "f1": 60.0}, ("exact_match", "f1")) == 50.0
    assert task_score({"accuracy": 72.5, "loss": 0.3}, ("accuracy",)) == 72.5
    with pytest.raises(ValueError):
        task_score({"precision": 1.0, "recall": 2.0}, ("precision", "recall"))  # two metrics, neither QA's pair: no single score
    scored = registry.get("xquad").score([["Berlin"], ["in Paris"]], ["Berlin", "Paris"], "de")
    assert scored["exact_match"] == 50.0 and scored["f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert scored["score"] == pytest.approx((scored["exact_match"] + scored["f1"]) / 2)
    assert registry.get("xnli").score(["neutral", "entailment"], ["neutral", "neutral"], "de") == {
        "accuracy": 50.0, "score": 50.0}


def test_targets_that_train_on_one_set_share_a_fine_tune_key():
    xquad, mlqa, tydiqa = (registry.get(n) for n in ("xquad", "mlqa", "tydiqa"))
    assert fine_tune_key(xquad, 10) == fine_tune_key(mlqa, 10) == (("squad_v1",), "span_qa", (), 10)
    assert fine_tune_key(xquad, 10) != fine_tune_key(xquad, 20), "another milestone, another model"
    assert fine_tune_key(tydiqa, 10) != fine_tune_key(xquad, 10)
    # XCOPA fine-tunes on SocialIQA first, then on its own (COPA) data, in that order.
    assert fine_tune_key(registry.get("xcopa"), 3)[0] == ("socialiqa", "xcopa")
    # Equal labels do not make one model of two training sets.
    same_labels = dataclasses.replace(registry.get("xnli"), name="builtin_nli")
    assert fine_tune_key(same_labels, 1) != fine_tune_key(registry.get("xnli"), 1)
