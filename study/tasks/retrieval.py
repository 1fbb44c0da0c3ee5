"""Sentence retrieval (Tatoeba, BUCC, LAReQA): mean-pooled hidden states of one layer, nearest neighbour.

No training, as in XTREME: each source sentence is matched to the closest target by cosine similarity of
the mean of one layer's token states (padding excluded). The layer defaults to the middle of the encoder,
following XTREME's finding that middle layers align languages best (REFERENCE: layer 14 of 24 in jiant).
The prediction for source i is the index of its nearest target; the gold is i (the files are aligned).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from study.tasks.base import Features, OneValuePerLine, Predictions, attention_mask, batches_by_length, pad


def default_layer(encoder: nn.Module) -> int:
    return (encoder.config.num_hidden_layers + 1) // 2


@torch.no_grad()
def embed(encoder: nn.Module, ids: Sequence[Sequence[int]], batch_size: int, pad_id: int, layer: int | None) -> torch.Tensor:
    """Unit-norm mean-pooled states of `layer` (0 = embeddings), one row per sequence, in input order."""
    layer = default_layer(encoder) if layer is None else layer
    out = torch.empty(len(ids), encoder.config.hidden_size)
    for idx in batches_by_length([len(x) for x in ids], batch_size):
        batch_ids = pad([ids[i] for i in idx], pad_id)
        mask = attention_mask(batch_ids, [len(ids[i]) for i in idx])
        states = encoder(input_ids=batch_ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer]
        m = mask[..., None].to(states.device, states.dtype)
        out[idx] = ((states * m).sum(1) / m.sum(1).clamp(min=1)).float().cpu()
    return F.normalize(out, dim=-1)


class Retrieval(OneValuePerLine):
    name = "retrieval"
    trains = False

    def features(self, examples: Sequence[dict], tokenizer: Any, max_length: int, task, train: bool) -> Features:
        src = tokenizer([ex["source"] for ex in examples], truncation=True, max_length=max_length)["input_ids"]
        tgt = tokenizer([ex["target"] for ex in examples], truncation=True, max_length=max_length)["input_ids"]
        return {"input_ids": src, "target_ids": tgt}

    def make_head(self, hidden: int, task) -> None:
        return None

    @torch.no_grad()
    def predict(self, encoder, head, features, examples, task, batch_size, pad_id, layer=None) -> Predictions:
        sources = embed(encoder, features["input_ids"], batch_size, pad_id, layer)
        targets = embed(encoder, features["target_ids"], batch_size, pad_id, layer)
        nearest = (sources @ targets.T).argmax(-1).tolist()
        tokens = sum(len(x) for x in features["input_ids"]) + sum(len(x) for x in features["target_ids"])
        return Predictions(nearest, tokens)

    def gold(self, examples, task) -> list[Any]:
        return list(range(len(examples)))

    def chance(self, task, examples, train, lang) -> float | None:
        """The expected top-1 accuracy of a uniform guess among the targets."""
        return 100.0 / len(examples)


