"""Token tagging (UD-POS, PAN-X/WikiANN, CCG): a label on the first sub-token of each word.

Words are tokenized with `is_split_into_words=True`, so sentencepiece tokenizers see each word with its
word-start marker, as they do in running text. Only a word's first sub-token carries a label and a
prediction; its other sub-tokens are ignored by the loss (-100).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from study.tasks.base import (
    Features, Format, Predictions, TokenHead, attention_mask, batches_by_length, encode, expect_count, pad, take,
)
from study.tasks.submission import tag_pairs

IGNORE = -100


def tag_blocks(sentences: Sequence[Sequence[str]]) -> str:
    """One tag per line, a blank line between sentences. evaluate.py reads every blank line as a sentence end,
    so there is no blank line after the last one."""
    return "\n\n".join("\n".join(tags) for tags in sentences) + "\n"


class Tagging(Format):
    name = "tagging"
    suffix = "tsv"  # one tag per line, a blank line between sentences
    chance_needs_train = True  # chance: the most frequent tag of the English training data

    def features(self, examples: Sequence[dict], tokenizer: Any, max_length: int, task, train: bool) -> Features:
        index = {label: i for i, label in enumerate(task.labels)}
        enc = tokenizer([list(ex["tokens"]) for ex in examples], is_split_into_words=True, truncation=True, max_length=max_length)
        input_ids, labels, first, words = [], [], [], []
        for n, ex in enumerate(examples):
            word_ids = enc.word_ids(n)
            tags = ex.get("tags") or [None] * len(ex["tokens"])
            row_labels, row_first, row_words, previous = [], [], [], None
            for pos, w in enumerate(word_ids):
                if w is not None and w != previous:
                    row_labels.append(index.get(tags[w], IGNORE))
                    row_first.append(pos)
                    row_words.append(w)
                else:
                    row_labels.append(IGNORE)
                previous = w
            input_ids.append(enc["input_ids"][n])
            labels.append(row_labels)
            # Position of each word's first sub-token, and which word it is: a word that tokenizes to
            # nothing (an empty or zero-width token) or is cut by truncation has no entry.
            first.append(row_first)
            words.append(row_words)
        return {"input_ids": input_ids, "labels": labels, "first_token": first, "first_word": words}

    def make_head(self, hidden: int, task) -> nn.Module:
        return TokenHead(hidden, len(task.labels))

    def collate(self, rows: Features, pad_id: int) -> dict[str, torch.Tensor]:
        ids = pad(rows["input_ids"], pad_id)
        return {
            "input_ids": ids,
            "attention_mask": attention_mask(ids, [len(x) for x in rows["input_ids"]]),
            "labels": pad(rows["labels"], IGNORE),
        }

    def logits(self, encoder, head, batch) -> torch.Tensor:
        return head(encode(encoder, batch["input_ids"], batch["attention_mask"]))

    def loss(self, encoder, head, batch) -> torch.Tensor:
        logits = self.logits(encoder, head, batch).float()
        return F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)

    @torch.no_grad()
    def predict(self, encoder, head, features, examples, task, batch_size, pad_id, layer=None) -> Predictions:
        # Words the encoder never saw (cut off by max_length, or tokenized to nothing) get the task's
        # fallback label ("O" for NER), so every word still has exactly one predicted tag.
        fallback = "O" if "O" in task.labels else task.labels[0]
        out: list[Any] = [None] * len(features["input_ids"])
        lengths = [len(x) for x in features["input_ids"]]
        for idx in batches_by_length(lengths, batch_size):
            rows = take(features, idx)
            best = self.logits(encoder, head, self.collate(rows, pad_id)).argmax(-1).cpu()
            for j, i in enumerate(idx):
                tags = [fallback] * len(examples[i]["tokens"])
                for p, w in zip(rows["first_token"][j], rows["first_word"][j]):
                    tags[w] = task.labels[best[j, p]]
                out[i] = tags
        return Predictions(out, sum(lengths))

    def gold(self, examples, task) -> list[Any]:
        return [list(ex["tags"]) for ex in examples]

    def prediction_text(self, task, examples, predictions) -> str:
        expect_count(task, len(predictions), len(examples), "examples")
        for ex, tags in zip(examples, predictions):
            if len(tags) != len(ex["tokens"]):
                raise ValueError(f"{task.name}: {len(tags)} tags for a sentence of {len(ex['tokens'])} tokens")
        return tag_blocks(predictions)

    def label_text(self, task, examples) -> str:
        return tag_blocks(self.gold(examples, task))

    def read_submission(self, task, pred_path, label_path, notes) -> tuple[list, list]:
        return tag_pairs(pred_path, label_path)

    def chance(self, task, examples, train, lang) -> float | None:
        """Every word tagged with the most frequent tag of the English training data."""
        gold = self.gold(examples, task)
        majority = Counter(t for ex in train for t in ex["tags"]).most_common(1)[0][0]
        return task.score(gold, [[majority] * len(g) for g in gold], lang)["score"]
