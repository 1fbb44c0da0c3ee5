"""Fixtures shared by the tests of study/."""

from study_fixtures import live_study  # noqa: F401 - a pytest fixture


import pytest  # noqa: E402


@pytest.fixture
def lower_is_better_xnli(monkeypatch):
    """`error_xnli`: builtin_xnli's data and format scored by a registered lower-is-better metric (its values are
    accuracies, so its results stay comparable), registered for the test and removed after it."""
    from dataclasses import replace

    from study import metrics
    from study.tasks import registry

    monkeypatch.setitem(metrics.METRICS, "error_rate", metrics.Metric("error_rate", False, metrics.accuracy))
    family = metrics.MetricFamily("error_rate", {"accuracy": "error_rate"},
                                  lambda g, p, lang: {"accuracy": metrics.accuracy(g, p)})
    monkeypatch.setitem(metrics.METRIC_FAMILIES, family.name, family)
    task = replace(registry.get("builtin_xnli"), name="error_xnli", metric=family.name)
    monkeypatch.setitem(registry._REGISTRY, task.name, task)
    return task.name
