"""Ranking retrieval (LAReQA, Mewsli-X): each query ranks a candidate pool; scored by mAP@20 (MRR@20).

Examples are queries and candidates in one list: {"kind": "query"|"candidate", "id", "text", "lang",
"relevant": [candidate ids]} (candidates have no relevant ids). Queries and candidates are embedded as
in `retrieval.py` (unit-norm mean of one layer's token states, no training) and ranked by cosine
similarity. The prediction for a query is its 20 best candidate ids, best first, which is what the
official scorer reads from `test-LANG.json`.

XTREME-R fine-tunes a dual encoder for these tasks (LAReQA on SQuAD v1.1, Mewsli-X on Wikipedia
mention-entity pairs); here they are evaluated without training, as BUCC and Tatoeba are in XTREME.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from study.tasks.base import Features, Format, Predictions, expect_count, json_document
from study.tasks.retrieval import embed
from study.tasks.submission import ranking_files

TOP_K = 20  # the official scorer reads each query's 20 best candidates
SIMILARITY_BLOCK = 2**25  # floats per block of the query x candidate similarity matrix (128 MiB)


def queries(examples: Sequence[dict]) -> list[dict]:
    return [ex for ex in examples if ex.get("kind") == "query"]


class Ranking(Format):
    name = "ranking"
    trains = False
    suffix = "json"  # {query id: [candidate ids, best first]}; labels: {query id: [relevant ids]}

    def features(self, examples: Sequence[dict], tokenizer: Any, max_length: int, task, train: bool) -> Features:
        ids = tokenizer([ex["text"] for ex in examples], truncation=True, max_length=max_length)["input_ids"]
        return {"input_ids": ids, "is_query": [int(ex["kind"] == "query") for ex in examples]}

    def make_head(self, hidden: int, task) -> None:
        return None

    @torch.no_grad()
    def predict(self, encoder, head, features, examples, task, batch_size, pad_id, layer=None) -> Predictions:
        q_rows = [i for i, q in enumerate(features["is_query"]) if q]
        c_rows = [i for i, q in enumerate(features["is_query"]) if not q]
        if not q_rows or not c_rows:
            raise ValueError(f"{task.name}: ranking needs queries and candidates, got {len(q_rows)} and {len(c_rows)}")
        q_emb = embed(encoder, [features["input_ids"][i] for i in q_rows], batch_size, pad_id, layer)
        c_emb = embed(encoder, [features["input_ids"][i] for i in c_rows], batch_size, pad_id, layer)
        candidate_ids = [examples[i]["id"] for i in c_rows]
        k = min(TOP_K, len(c_rows))
        block = max(1, SIMILARITY_BLOCK // len(c_rows))
        ranked: list[list[str]] = []
        for start in range(0, len(q_rows), block):
            top = (q_emb[start : start + block] @ c_emb.T).topk(k, dim=-1).indices.tolist()
            ranked.extend([candidate_ids[j] for j in row] for row in top)
        tokens = sum(len(x) for x in features["input_ids"])
        return Predictions(ranked, tokens)

    def gold(self, examples, task) -> list[Any]:
        return [list(ex["relevant"]) for ex in queries(examples)]

    def count(self, examples) -> int:
        return len(queries(examples))

    def prediction_text(self, task, examples, predictions) -> str:
        asked = queries(examples)
        expect_count(task, len(predictions), len(asked), "queries")
        return json_document({q["id"]: list(p) for q, p in zip(asked, predictions)})

    def label_text(self, task, examples) -> str:
        return json_document({q["id"]: list(g) for q, g in zip(queries(examples), self.gold(examples, task))})

    def read_submission(self, task, pred_path, label_path, notes) -> tuple[list, list]:
        gold, ranked = ranking_files(pred_path, label_path, task.display_name, notes)
        return list(gold.values()), [ranked.get(q, []) for q in gold]
