"""study.tasks.retrieval: mean-pooled states of one layer without the padding, the middle layer by default,
and each source's nearest target."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from study.tasks import registry
from study.tasks.retrieval import Retrieval, default_layer, embed
from word_models import BagOfWords, WordTokenizer

TASK = registry.get("tatoeba")


class Layers(nn.Module):
    """hidden_states[k] is k + the token id, so a mean pools to k + the mean id of the real tokens."""

    def __init__(self, layers: int):
        super().__init__()
        self.config = SimpleNamespace(num_hidden_layers=layers, hidden_size=2)

    def forward(self, input_ids, attention_mask, output_hidden_states=True):
        base = torch.stack([input_ids.float(), torch.ones_like(input_ids, dtype=torch.float)], -1)
        return SimpleNamespace(hidden_states=tuple(base + torch.tensor([k, 0.0]) for k in range(self.config.num_hidden_layers + 1)))


def test_the_default_layer_is_the_middle_one():
    assert [default_layer(Layers(n)) for n in (1, 2, 12, 24, 25)] == [1, 1, 6, 12, 13]


def test_embed_pools_without_padding_and_keeps_input_order():
    ids = [[4, 4, 4, 4, 4, 4], [2], [8, 0]]
    out = embed(Layers(2), ids, batch_size=2, pad_id=100, layer=0)
    expected = torch.nn.functional.normalize(torch.tensor([[4.0, 1], [2, 1], [4, 1]]), dim=-1)
    assert torch.allclose(out, expected), "a padded position (id 100) would pull the mean up"
    middle = embed(Layers(2), ids, batch_size=2, pad_id=100, layer=None)
    assert torch.allclose(middle, torch.nn.functional.normalize(torch.tensor([[5.0, 1], [3, 1], [5, 1]]), dim=-1))


def test_each_source_finds_its_translation():
    words = [f"w{i}a w{i}b w{i}c" for i in range(12)]
    examples = [{"source": w, "target": w.upper() + " shared"} for w in words]
    fmt = Retrieval()
    feats = fmt.features(examples, WordTokenizer(), 16, TASK, train=False)
    preds = fmt.predict(BagOfWords(), None, feats, examples, TASK, 5, 0, layer=1)
    assert preds.values == fmt.gold(examples, TASK) == list(range(12))
    assert preds.tokens == 12 * 3 + 12 * 4
    assert fmt.make_head(8, TASK) is None and not fmt.trains
    # Targets in another order: the prediction follows the target, not the position.
    shuffled = [{"source": w, "target": words[(i + 5) % 12].upper()} for i, w in enumerate(words)]
    feats = fmt.features(shuffled, WordTokenizer(), 16, TASK, train=False)
    assert fmt.predict(BagOfWords(), None, feats, shuffled, TASK, 5, 0, layer=1).values == [(i - 5) % 12 for i in range(12)]
