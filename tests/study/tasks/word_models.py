"""Stand-ins for an encoder and a tokenizer, for the retrieval-like formats' tests (bitext mining, ranking):
sentences with the same words get close mean-pooled states."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn


class BagOfWords(nn.Module):
    """A stand-in encoder: each token's state is a fixed random vector, so a sentence's mean-pooled state
    is close to that of another sentence with the same words."""

    def __init__(self, vocab: int = 512, hidden: int = 32):
        super().__init__()
        self.config = SimpleNamespace(num_hidden_layers=1, hidden_size=hidden)
        self.table = nn.Embedding(vocab, hidden)
        torch.nn.init.normal_(self.table.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, input_ids, attention_mask, output_hidden_states=False):
        states = self.table(input_ids)
        return SimpleNamespace(hidden_states=(states, states), last_hidden_state=states)


class WordTokenizer:
    def __init__(self):
        self.vocab: dict[str, int] = {"<pad>": 0}

    def __call__(self, texts, truncation=True, max_length=64):
        ids = [[self.vocab.setdefault(w.lower().strip(".?"), len(self.vocab)) for w in t.split()][:max_length] for t in texts]
        return {"input_ids": ids}


class PairTokenizer:
    """Words "wN" -> id N + 3, between <s> (0) and </s> (2), with a second text after its own </s>; cut at
    max_length as a real tokenizer would (an id of a cut position is dropped, <s> is kept)."""

    def __call__(self, a, b=None, truncation=True, max_length=64):
        def words(text):
            return [int(w[1:]) + 3 for w in text.split()]

        out = []
        for i, text in enumerate(a):
            ids = [0, *words(text), 2] + ([*words(b[i]), 2] if b is not None else [])
            out.append(ids[:max_length])
        return {"input_ids": out}
