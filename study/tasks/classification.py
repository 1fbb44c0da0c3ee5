"""Sentence and sentence-pair classification (MNLI, XNLI, PAWS-X, QQP): the first token's state -> label."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from study.tasks.base import (
    ClassifierHead, Features, OneValuePerLine, Predictions, attention_mask, batches_by_length, encode, pad, take,
)


class Classification(OneValuePerLine):
    name = "classification"
    chance_needs_train = True  # chance: the majority label of the English training data

    def features(self, examples: Sequence[dict], tokenizer: Any, max_length: int, task, train: bool) -> Features:
        a = [ex["text_a"] for ex in examples]
        b = [ex.get("text_b") for ex in examples]
        if all(x is None for x in b):
            enc = tokenizer(a, truncation=True, max_length=max_length)
        else:
            enc = tokenizer(a, [x or "" for x in b], truncation="longest_first", max_length=max_length)
        index = {label: i for i, label in enumerate(task.labels)}
        return {"input_ids": enc["input_ids"], "label": [index.get(ex.get("label"), -1) for ex in examples]}

    def make_head(self, hidden: int, task) -> nn.Module:
        return ClassifierHead(hidden, len(task.labels))

    def collate(self, rows: Features, pad_id: int) -> dict[str, torch.Tensor]:
        ids = pad(rows["input_ids"], pad_id)
        return {
            "input_ids": ids,
            "attention_mask": attention_mask(ids, [len(x) for x in rows["input_ids"]]),
            "label": torch.as_tensor(rows["label"]),
        }

    def logits(self, encoder: nn.Module, head: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return head(encode(encoder, batch["input_ids"], batch["attention_mask"])[:, 0])

    def loss(self, encoder, head, batch) -> torch.Tensor:
        return F.cross_entropy(self.logits(encoder, head, batch).float(), batch["label"])

    @torch.no_grad()
    def predict(self, encoder, head, features, examples, task, batch_size, pad_id, layer=None) -> Predictions:
        out: list[Any] = [None] * len(features["input_ids"])
        lengths = [len(x) for x in features["input_ids"]]
        for idx in batches_by_length(lengths, batch_size):
            batch = self.collate(take(features, idx), pad_id)
            for i, p in zip(idx, self.logits(encoder, head, batch).argmax(-1).tolist()):
                out[i] = task.labels[p]
        return Predictions(out, sum(lengths))

    def gold(self, examples, task) -> list[Any]:
        return [ex["label"] for ex in examples]

    def chance(self, task, examples, train, lang) -> float | None:
        """Always the most frequent label of the English training data."""
        gold = self.gold(examples, task)
        majority = Counter(ex["label"] for ex in train).most_common(1)[0][0]
        return task.score(gold, [majority] * len(examples), lang)["score"]
