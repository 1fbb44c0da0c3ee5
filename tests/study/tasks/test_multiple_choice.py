"""study.tasks.multiple_choice: one sequence per (context, choice), batches of equal choice counts, and the
highest-scored choice per example, in example order."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from study.tasks import registry
from study.tasks.multiple_choice import MultipleChoice
from word_models import PairTokenizer

TASK = registry.get("xcopa")


class LastWord(nn.Module):
    """An encoder whose first position holds the id of the sequence's last word: the choice's score."""

    def forward(self, input_ids, attention_mask):
        last = attention_mask.sum(1) - 2  # the token before the final </s>
        states = torch.zeros(*input_ids.shape, 1)
        states[:, 0, 0] = input_ids[torch.arange(len(input_ids)), last].float()
        return SimpleNamespace(last_hidden_state=states)


def test_features_pair_the_context_with_each_choice():
    ex = {"context": "w1 w2", "choices": ["w3", "w4 w5"], "label": 1}
    feats = MultipleChoice().features([ex, {**ex, "label": "0"}], PairTokenizer(), 16, TASK, train=True)
    assert feats["input_ids"][0] == [[0, 4, 5, 2, 6, 2], [0, 4, 5, 2, 7, 8, 2]]
    assert feats["label"] == [1, 0]


def test_a_batch_of_mixed_choice_counts_is_refused():
    with pytest.raises(ValueError, match="same number of choices"):
        MultipleChoice().collate({"input_ids": [[[0, 2], [0, 2]], [[0, 2], [0, 2], [0, 2]]], "label": [0, 0]}, 1)


def test_predict_groups_by_choice_count_and_keeps_example_order():
    # Examples with 2, 3 and 4 choices, interleaved; the right choice is the one whose last word is largest.
    contexts = [[[0, 5, 2, 9, 2], [0, 5, 2, 4, 2]], [[0, 2, 7, 2], [0, 2, 8, 8, 11, 2], [0, 2, 3, 2]],
                [[0, 2, 4, 2], [0, 2, 6, 2]], [[0, 2, 3, 2], [0, 2, 5, 2], [0, 2, 20, 2], [0, 2, 1, 2]],
                [[0, 1, 1, 2, 12, 2], [0, 2, 6, 7, 2], [0, 2, 4, 2]]]
    features = {"input_ids": contexts, "label": [0] * len(contexts)}
    fmt = MultipleChoice()
    preds = fmt.predict(LastWord(), nn.Identity(), features, [{}] * len(contexts), TASK, batch_size=4, pad_id=1)
    assert preds.values == [0, 1, 1, 2, 0]
    assert preds.tokens == sum(len(s) for x in contexts for s in x)
    batch = fmt.collate({"input_ids": contexts[:1], "label": [1]}, pad_id=1)
    assert fmt.logits(LastWord(), nn.Identity(), batch).tolist() == [[9.0, 4.0]]
    assert fmt.loss(LastWord(), nn.Identity(), batch).item() == pytest.approx(5.0067, abs=1e-3)  # log(1 + e^5)
    assert fmt.gold([{"label": "2"}], TASK) == [2]
