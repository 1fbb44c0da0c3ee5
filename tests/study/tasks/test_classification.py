"""study.tasks.classification: label indices, single texts and pairs, and predictions in example order
however the length buckets regroup them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from study.tasks import registry
from study.tasks.classification import Classification
from word_models import PairTokenizer

TASK = registry.get("xnli")  # labels: entailment, neutral, contradiction


class SecondToken(nn.Module):
    """An encoder whose first position holds a one-hot of the second token id (mod 3): the class it 'reads'."""

    def forward(self, input_ids, attention_mask):
        states = torch.zeros(*input_ids.shape, 3)
        states[:, 0] = 10 * nn.functional.one_hot(input_ids[:, 1] % 3, 3).float()
        return SimpleNamespace(last_hidden_state=states)


def test_features_index_labels_and_join_pairs():
    examples = [{"text_a": "w1 w2", "text_b": "w3", "label": "neutral"},
                {"text_a": "w4", "text_b": None, "label": "contradiction"},
                {"text_a": "w5 w6 w7 w8", "text_b": "w9", "label": None}]
    feats = Classification().features(examples, PairTokenizer(), 5, TASK, train=True)
    assert feats["label"] == [1, 2, -1], "a label outside the task's (unlabelled) is -1"
    assert feats["input_ids"] == [[0, 4, 5, 2, 6], [0, 7, 2, 2], [0, 8, 9, 10, 11]]  # a missing text_b: ""
    single = Classification().features(examples[1:2], PairTokenizer(), 8, TASK, train=False)
    assert single["input_ids"] == [[0, 7, 2]], "no second text at all: a single sentence"


def test_predict_keeps_example_order_across_length_buckets():
    lengths = [7, 1, 4, 2, 9, 3, 1]
    firsts = [0, 1, 2, 4, 5, 7, 9]
    features = {"input_ids": [[0, f + 3, *([5] * n), 2] for f, n in zip(firsts, lengths)], "label": [0] * 7}
    examples = [{"label": "entailment"}] * 7
    preds = Classification().predict(SecondToken(), nn.Identity(), features, examples, TASK, 3, pad_id=1)
    assert preds.values == [TASK.labels[(f + 3) % 3] for f in firsts]
    assert preds.tokens == sum(len(x) for x in features["input_ids"])


def test_loss_is_cross_entropy_of_the_first_token_logits():
    fmt = Classification()
    rows = {"input_ids": [[0, 3, 2], [0, 4, 5, 2]], "label": [0, 2]}
    batch = fmt.collate(rows, pad_id=1)
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    # Token 3 -> class 0 (right), token 4 -> class 1 (wrong, the gold is 2): one near-zero and one large term.
    logits = torch.tensor([[10.0, 0, 0], [0, 10.0, 0]])
    expected = nn.functional.cross_entropy(logits, torch.tensor([0, 2]))
    assert fmt.loss(SecondToken(), nn.Identity(), batch).item() == pytest.approx(expected.item())
    assert fmt.make_head(16, TASK).out.out_features == 3
    assert fmt.gold([{"label": "neutral"}], TASK) == ["neutral"]
