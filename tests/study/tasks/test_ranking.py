"""Ranking (LAReQA, Mewsli-X): queries ranked against a candidate pool, scored by mean average precision at 20."""

from __future__ import annotations

import pytest

from study.tasks import registry
from study.tasks.ranking import Ranking
from word_models import BagOfWords, WordTokenizer


def test_ranking_map_at_20():
    task = registry.get("lareqa")
    examples = [{"kind": "query", "id": f"q{i}", "text": f"w{i}a w{i}b", "lang": "de", "relevant": [f"c{i}"]} for i in range(25)]
    examples += [{"kind": "candidate", "id": f"c{i}", "text": f"w{i}a w{i}b extra", "lang": "en", "relevant": []} for i in range(25)]
    fmt = Ranking()
    feats = fmt.features(examples, WordTokenizer(), 16, task, train=False)
    preds = fmt.predict(BagOfWords(), None, feats, examples, task, 8, 0, layer=1)
    assert fmt.count(examples) == 25 and len(preds.values) == 25 and all(len(r) == 20 for r in preds.values)
    assert [r[0] for r in preds.values] == [f"c{i}" for i in range(25)]
    assert task.score(fmt.gold(examples, task), preds.values, "de")["map@20"] == pytest.approx(100.0)
    mewslix = registry.get("mewslix").score([["c1"], ["c9"]], [["c1", "c2"], ["c2", "c9"]], "de")
    assert mewslix == {"map@20": pytest.approx(75.0), "score": pytest.approx(75.0)}
