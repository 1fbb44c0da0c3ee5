"""Multiple choice (HellaSwag, CommonsenseQA, Cosmos QA, SocialIQA, XCOPA): one score per (context, choice)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from study.tasks.base import (
    ClassifierHead, Features, Format, Predictions, attention_mask, batches_by_length, encode, expect_count, json_label_lines, pad,
    take,
)
from study.tasks.submission import jsonl_label_pairs


class MultipleChoice(Format):
    name = "multiple_choice"
    suffix = "jsonl"  # {"label": choice index} per line

    def features(self, examples: Sequence[dict], tokenizer: Any, max_length: int, task, train: bool) -> Features:
        ids = []
        for ex in examples:
            n = len(ex["choices"])
            enc = tokenizer([ex["context"]] * n, list(ex["choices"]), truncation="longest_first", max_length=max_length)
            ids.append(enc["input_ids"])
        return {"input_ids": ids, "label": [int(ex.get("label", -1)) for ex in examples]}

    def make_head(self, hidden: int, task) -> nn.Module:
        return ClassifierHead(hidden, 1)

    def collate(self, rows: Features, pad_id: int) -> dict[str, torch.Tensor]:
        n_choices = len(rows["input_ids"][0])
        if any(len(x) != n_choices for x in rows["input_ids"]):
            raise ValueError("a batch of multiple-choice examples must have the same number of choices")
        flat = [seq for ex in rows["input_ids"] for seq in ex]
        ids = pad(flat, pad_id)
        return {
            "input_ids": ids,
            "attention_mask": attention_mask(ids, [len(x) for x in flat]),
            "label": torch.as_tensor(rows["label"]),
            "n_choices": torch.tensor(n_choices),
        }

    def logits(self, encoder, head, batch) -> torch.Tensor:
        scores = head(encode(encoder, batch["input_ids"], batch["attention_mask"])[:, 0]).squeeze(-1)
        return scores.view(-1, int(batch["n_choices"]))

    def loss(self, encoder, head, batch) -> torch.Tensor:
        return F.cross_entropy(self.logits(encoder, head, batch).float(), batch["label"])

    @torch.no_grad()
    def predict(self, encoder, head, features, examples, task, batch_size, pad_id, layer=None) -> Predictions:
        out: list[Any] = [None] * len(features["input_ids"])
        lengths = [max(len(s) for s in x) for x in features["input_ids"]]
        # Group by number of choices too, since a batch reshapes to (examples, choices).
        groups: dict[int, list[int]] = {}
        for i, x in enumerate(features["input_ids"]):
            groups.setdefault(len(x), []).append(i)
        for members in groups.values():
            for sub in batches_by_length([lengths[i] for i in members], max(1, batch_size // len(features["input_ids"][members[0]]))):
                idx = [members[j] for j in sub]
                batch = self.collate(take(features, idx), pad_id)
                for i, p in zip(idx, self.logits(encoder, head, batch).argmax(-1).tolist()):
                    out[i] = p
        return Predictions(out, sum(len(s) for x in features["input_ids"] for s in x))

    def gold(self, examples, task) -> list[Any]:
        return [int(ex["label"]) for ex in examples]

    def prediction_text(self, task, examples, predictions) -> str:
        expect_count(task, len(predictions), len(examples), "examples")
        return json_label_lines(predictions)

    def label_text(self, task, examples) -> str:
        return json_label_lines(self.gold(examples, task))

    def read_submission(self, task, pred_path, label_path, notes) -> tuple[list, list]:
        return jsonl_label_pairs(pred_path, label_path)

    def chance(self, task, examples, train, lang) -> float | None:
        """The expected accuracy of a uniform guess among each example's choices."""
        return 100.0 * sum(1 / len(ex["choices"]) for ex in examples) / len(examples)
