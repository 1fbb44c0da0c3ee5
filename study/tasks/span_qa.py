"""Extractive span QA (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP): start and end logits over the context.

Long contexts are split into overlapping windows (doc stride, in tokens), as the reference SQuAD
implementations do; an answer is searched in every window and the best-scoring span wins. For tasks with
unanswerable questions (SQuAD v2.0), a window without the answer is trained to point at the first token,
and a question is answered with "" when the first token's score beats the best span's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from study.tasks.base import Features, Format, Predictions, TokenHead, attention_mask, batches_by_length, encode, pad, take

MAX_ANSWER_TOKENS = 30  # the reference SQuAD post-processing's max_answer_length
N_BEST = 20


def _trim(context: str, offset: Sequence[int]) -> list[int]:
    """A token's character span without leading whitespace: sentencepiece tokenizers count the space that
    their word-start marker stands for as part of the token, which would put a space in front of answers."""
    start, end = offset
    while start < end and context[start].isspace():
        start += 1
    return [start, end]


class SpanQA(Format):
    name = "span_qa"

    def features(self, examples: Sequence[dict], tokenizer: Any, max_length: int, task, train: bool) -> Features:
        # The stride must leave room for the question; on tiny max lengths it is capped at half the window.
        stride = min(task.doc_stride, max_length // 2)
        enc = tokenizer(
            [ex["question"].lstrip() for ex in examples],
            [ex["context"] for ex in examples],
            truncation="only_second",
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        cols: Features = {"input_ids": [], "start": [], "end": [], "example": [], "offsets": []}
        for f, ex_index in enumerate(enc["overflow_to_sample_mapping"]):
            ex = examples[ex_index]
            seq_ids = enc.sequence_ids(f)
            offsets = enc["offset_mapping"][f]
            ctx = [i for i, s in enumerate(seq_ids) if s == 1]
            start_tok = end_tok = 0  # the first token: "no answer in this window"
            answers = ex.get("answers") or {"text": [], "answer_start": []}
            if answers["text"] and ctx:
                a_start = answers["answer_start"][0]
                a_end = a_start + len(answers["text"][0])
                if offsets[ctx[0]][0] <= a_start and offsets[ctx[-1]][1] >= a_end:
                    start_tok = next(i for i in ctx if offsets[i][1] > a_start)
                    end_tok = next(i for i in reversed(ctx) if offsets[i][0] < a_end)
            cols["input_ids"].append(enc["input_ids"][f])
            cols["start"].append(start_tok)
            cols["end"].append(end_tok)
            cols["example"].append(ex_index)
            cols["offsets"].append([_trim(ex["context"], o) if s == 1 else [-1, -1] for o, s in zip(offsets, seq_ids)])
        return cols

    def make_head(self, hidden: int, task) -> nn.Module:
        return TokenHead(hidden, 2)

    def collate(self, rows: Features, pad_id: int) -> dict[str, torch.Tensor]:
        ids = pad(rows["input_ids"], pad_id)
        return {
            "input_ids": ids,
            "attention_mask": attention_mask(ids, [len(x) for x in rows["input_ids"]]),
            "start": torch.as_tensor(rows["start"]),
            "end": torch.as_tensor(rows["end"]),
        }

    def logits(self, encoder, head, batch) -> tuple[torch.Tensor, torch.Tensor]:
        out = head(encode(encoder, batch["input_ids"], batch["attention_mask"])).float()
        # Padding positions must never be chosen as a start or an end.
        out = out.masked_fill(batch["attention_mask"][..., None] == 0, float("-inf"))
        return out[..., 0], out[..., 1]

    def loss(self, encoder, head, batch) -> torch.Tensor:
        start, end = self.logits(encoder, head, batch)
        return (F.cross_entropy(start, batch["start"]) + F.cross_entropy(end, batch["end"])) / 2

    @torch.no_grad()
    def predict(self, encoder, head, features, examples, task, batch_size, pad_id, layer=None) -> Predictions:
        best: list[tuple[float, str]] = [(float("-inf"), "") for _ in examples]
        null: list[float] = [float("inf")] * len(examples)  # lowest first-token score over windows
        lengths = [len(x) for x in features["input_ids"]]
        for idx in batches_by_length(lengths, batch_size):
            rows = take(features, idx)
            starts, ends = (x.cpu() for x in self.logits(encoder, head, self.collate(rows, pad_id)))
            for j in range(len(idx)):
                e = rows["example"][j]
                offsets = rows["offsets"][j]
                # Only this window's own tokens: a batch pads shorter windows to its longest one.
                s_log, e_log = starts[j, : len(offsets)], ends[j, : len(offsets)]
                null[e] = min(null[e], float(s_log[0] + e_log[0]))
                top_s = torch.topk(s_log, min(N_BEST, s_log.numel())).indices.tolist()
                top_e = torch.topk(e_log, min(N_BEST, e_log.numel())).indices.tolist()
                for s in top_s:
                    for t in top_e:
                        if offsets[s][0] < 0 or offsets[t][0] < 0 or t < s or t - s + 1 > MAX_ANSWER_TOKENS:
                            continue
                        score = float(s_log[s] + e_log[t])
                        if score > best[e][0]:
                            best[e] = (score, examples[e]["context"][offsets[s][0] : offsets[t][1]])
        out = []
        for e in range(len(examples)):
            score, text = best[e]
            if task.allow_no_answer and null[e] > score:
                text = ""
            out.append(text)
        return Predictions(out, sum(lengths))

    def gold(self, examples, task) -> list[Any]:
        return [list(ex["answers"]["text"]) for ex in examples]
