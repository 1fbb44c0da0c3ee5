"""Scoring a model on one (task, split, language): predictions, the official metrics, and what it cost."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from study.data import Split
from study.tasks.base import pair_count
from study.train import Cost


class OnDevice(nn.Module):
    """An encoder as the formats call it in evaluation: they build batches on the CPU, and this moves them to
    the encoder's device. Outputs stay there, where the head is."""

    def __init__(self, encoder: nn.Module, device: torch.device):
        super().__init__()
        self.encoder = encoder
        self.device = device

    @property
    def config(self):
        return self.encoder.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs):
        return self.encoder(input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device), **kwargs)


@dataclass
class SplitScore:
    task: str
    split: str
    lang: str
    values: dict[str, float]  # metric name -> 0-100, plus "score" (the official per-language task score)
    predictions: list
    cost: Cost


@torch.no_grad()
def score_split(
    data: Split, encoder: nn.Module, head: nn.Module | None, batch_size: int, pad_id: int, layer: int | None,
    autocast=None,
) -> SplitScore:
    start = time.perf_counter()
    encoder.eval()
    if head is not None:
        head.eval()
    fmt = data.task.format
    if autocast is None:
        autocast = torch.autocast("cpu", enabled=False)
    with autocast:
        preds = fmt.predict(encoder, head, data.features, data.examples, data.task, batch_size, pad_id, layer)
    values = data.task.score(fmt.gold(data.examples, data.task), preds.values, data.lang)
    cost = Cost(steps=0, examples=len(data.examples), tokens=preds.tokens, seconds=time.perf_counter() - start,
                pairs=pair_count(data.features))
    return SplitScore(data.task.name, data.split, data.lang, values, preds.values, cost)
