"""Extractive span QA (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP): start and end logits over the context.

Long contexts are split into overlapping windows (doc stride, in tokens), as the reference SQuAD
implementations do; an answer is searched in every window and the best-scoring span wins. For tasks with
unanswerable questions (SQuAD v2.0), a window without the answer is trained to point at the first token,
and a question is answered with "" when the first token's score beats the best span's.

Every window holds the question, the special tokens and a piece of the context, so the question's length
decides the room left for the context. As the reference SQuAD scripts do (XTREME: max_query_length 64 at
max_seq_length 384), the question is cut to a maximum number of tokens: 64, and never more than half of
what the special tokens leave, so that at short max lengths the context keeps at least half of the window.
The stride is then computed from the room that is left for the context (at most half of it, so windows
advance by at least half the room); `tokenizers` refuses a stride that is not strictly less than that
room, with a panic. Below `SpanQA.min_length` tokens a window is too small for the task, and
`xstudy validate` rejects such a max_length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from study.tasks.base import (
    Features, Format, Predictions, TokenHead, attention_mask, batches_by_length, encode, expect_count, json_document, pad, take,
)
from study.tasks.submission import qa_pairs

MAX_ANSWER_TOKENS = 30  # the reference SQuAD post-processing's max_answer_length
N_BEST = 20
MAX_QUERY_TOKENS = 64  # the reference SQuAD scripts' max_query_length (XTREME: 64 at max_seq_length 384)
# The shortest max_length: with up to 4 special tokens (XLM-R's pair template), 32 leaves a question of up to 14
# tokens, a context room of at least 14 and a stride of 7, so every answer of up to 8 tokens lies whole in a window.
MIN_MAX_LENGTH = 32


def query_limit(max_length: int, specials: int) -> int:
    """Question tokens kept in a window of `max_length` tokens with `specials` special tokens."""
    return max(1, min(MAX_QUERY_TOKENS, (max_length - specials) // 2))


def window_stride(doc_stride: int, max_length: int, specials: int) -> int:
    """Context tokens shared by consecutive windows: the task's doc stride, at most half of the room a question
    of the longest kept length leaves (strictly less than that room, as `tokenizers` requires)."""
    room = max_length - specials - query_limit(max_length, specials)
    return max(0, min(doc_stride, room // 2))


def truncate_questions(questions: Sequence[str], tokenizer: Any, limit: int) -> list[str]:
    """Each question cut after its `limit`-th token (at that token's last character), so that it tokenizes to at
    most `limit` tokens; shorter questions are returned as they are."""
    out = list(questions)
    pending = list(range(len(out)))
    for attempt in range(limit):
        if not pending:
            break
        enc = tokenizer([out[i] for i in pending], add_special_tokens=False, return_offsets_mapping=True)
        longer = []
        for i, ids, offsets in zip(pending, enc["input_ids"], enc["offset_mapping"]):
            if len(ids) > limit:
                # Where a cut text tokenizes into more pieces than the prefix it came from, cut one token earlier.
                out[i] = out[i][: offsets[limit - 1 - attempt][1]]
                longer.append(i)
        pending = longer
    return out


def _trim(context: str, offset: Sequence[int]) -> list[int]:
    """A token's character span without leading whitespace: sentencepiece tokenizers count the space that
    their word-start marker stands for as part of the token, which would put a space in front of answers."""
    start, end = offset
    while start < end and context[start].isspace():
        start += 1
    return [start, end]


class SpanQA(Format):
    name = "span_qa"
    suffix = "json"  # {question id: answer text}; labels: SQuAD-format JSON

    min_length = MIN_MAX_LENGTH

    def features(self, examples: Sequence[dict], tokenizer: Any, max_length: int, task, train: bool) -> Features:
        if max_length < self.min_length:
            raise ValueError(f"task {task.name}: max_length {max_length} is too short for span QA "
                             f"(at least {self.min_length} tokens: question, context window and special tokens)")
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        limit = query_limit(max_length, specials)
        questions = truncate_questions([ex["question"].lstrip() for ex in examples], tokenizer, limit)
        enc = tokenizer(
            questions,
            [ex["context"] for ex in examples],
            truncation="only_second",
            max_length=max_length,
            stride=window_stride(task.doc_stride, max_length, specials),
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

    def prediction_text(self, task, examples, predictions) -> str:
        expect_count(task, len(predictions), len(examples), "examples")
        return json_document({ex["id"]: p for ex, p in zip(examples, predictions)})

    def label_text(self, task, examples) -> str:
        paragraphs = [{"context": ex["context"], "qas": [{
            "id": ex["id"], "question": ex["question"],
            "answers": [{"text": t, "answer_start": s} for t, s in zip(ex["answers"]["text"], ex["answers"]["answer_start"])],
        }]} for ex in examples]
        return json_document({"version": "xstudy", "data": [{"title": task.name, "paragraphs": paragraphs}]})

    def read_submission(self, task, pred_path, label_path, notes) -> tuple[list, list]:
        # A question without a prediction (noted) is scored as answered with "": 0 where it has an answer.
        answers, predicted = qa_pairs(pred_path, label_path, notes)
        return list(answers.values()), [predicted.get(qid, "") for qid in answers]
