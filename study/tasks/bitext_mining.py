"""Bitext mining (BUCC 2018): find the translation pairs between two corpora, with a threshold tuned on dev.

As XTREME (`third_party/utils_retrieve.py`, `run_retrieval.py`): sentences are embedded without training
(mean-pooled layer, `retrieval.embed`), identical sentences are embedded once, and every source and
target sentence proposes its best partner by the ratio margin of Artetxe & Schwenk (2019):

    margin(x, y) = cos(x, y) / ((mean cos of x's 4 nearest targets + mean cos of y's 4 nearest sources) / 2)

The proposals of both directions are taken best first, each sentence used once ("max" retrieval). A mined
pair names its sentences by id, and a sentence that occurs more than once in its corpus (after stripping
whitespace) has no id: pairs with it are dropped, as the official `read_sent2id` drops repeated sentences,
rather than counted once for every id of the duplicate. The score threshold is the one that maximises F1 on the dev corpus ("sample" in the BUCC release) of the
same language pair, and is then applied to the test corpus ("training" in the release, the one XTREME
scores). A test split therefore carries its dev corpus too: examples have "part": "tune" or "eval".

Examples: {"part", "side": "src"|"tgt", "id", "text"} for sentences and {"part", "side": "gold", "id":
source id, "target_id": target id} for gold pairs. Predictions are the mined "source_id<TAB>target_id"
pairs of the eval corpus, the lines of the official prediction file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from study.tasks.base import Features, Format, Predictions, text_lines
from study.tasks.retrieval import embed
from study.tasks.submission import read_labels

NEIGHBORHOOD = 4  # k of the margin's k-nearest-neighbour means (XTREME: 4)
SIMILARITY_BLOCK = 2**25  # floats per block of a similarity matrix (128 MiB)


def _part(ex: dict) -> str:
    return ex.get("part") or "eval"


def _parts(examples: Sequence[dict]) -> tuple[str, str]:
    """(tuning part, scored part): a split without a separate dev corpus tunes on what it scores."""
    parts = {_part(ex) for ex in examples}
    return ("tune" if "tune" in parts else "eval"), "eval" if "eval" in parts else "tune"


def gold_pairs(examples: Sequence[dict], part: str) -> list[str]:
    return [f"{ex['id']}\t{ex['target_id']}" for ex in examples if ex["side"] == "gold" and _part(ex) == part]


def knn(x: torch.Tensor, y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities and indices of each row of x's k nearest rows of y (unit-norm inputs)."""
    block = max(1, SIMILARITY_BLOCK // max(1, y.shape[0]))
    sims, inds = [], []
    for start in range(0, x.shape[0], block):
        s, i = (x[start : start + block] @ y.T).topk(k, dim=-1)
        sims.append(s)
        inds.append(i)
    return torch.cat(sims), torch.cat(inds)


def mine(x: torch.Tensor, y: torch.Tensor, neighborhood: int = NEIGHBORHOOD) -> list[tuple[float, int, int]]:
    """(margin score, source row, target row) of mined pairs, best first, each row used once, score > 0."""
    kx, ky = min(y.shape[0], neighborhood), min(x.shape[0], neighborhood)
    x2y_sim, x2y_ind = knn(x, y, kx)
    y2x_sim, y2x_ind = knn(y, x, ky)
    x2y_mean, y2x_mean = x2y_sim.mean(1), y2x_sim.mean(1)
    # Margin of each candidate: cos / ((fwd mean of the query + bwd mean of the candidate) / 2).
    fwd = x2y_sim / ((x2y_mean[:, None] + y2x_mean[x2y_ind]) / 2)
    bwd = y2x_sim / ((y2x_mean[:, None] + x2y_mean[y2x_ind]) / 2)
    fwd_best = x2y_ind[torch.arange(x.shape[0]), fwd.argmax(1)]
    bwd_best = y2x_ind[torch.arange(y.shape[0]), bwd.argmax(1)]
    src = np.concatenate([np.arange(x.shape[0]), bwd_best.numpy()])
    trg = np.concatenate([fwd_best.numpy(), np.arange(y.shape[0])])
    scores = np.concatenate([fwd.max(1).values.double().numpy(), bwd.max(1).values.double().numpy()])
    out, seen_src, seen_trg = [], set(), set()
    for i in np.argsort(-scores, kind="stable"):
        s, t = int(src[i]), int(trg[i])
        if s not in seen_src and t not in seen_trg:
            seen_src.add(s)
            seen_trg.add(t)
            if scores[i] > 0:
                out.append((float(scores[i]), s, t))
    return out


def optimize_threshold(candidates: dict[tuple[str, str], float], gold: set[tuple[str, str]]) -> float:
    """The score threshold with the best F1 against gold: midway between the last accepted candidate and
    the next (XTREME's `bucc_optimize`; the last candidate's own score when it is the best cut)."""
    items = sorted(candidates.items(), key=lambda kv: -kv[1])
    n_extract = n_correct = 0
    best_f1, threshold = 0.0, 0.0
    for i, (pair, score) in enumerate(items):
        n_extract += 1
        n_correct += pair in gold
        if n_correct:
            precision, recall = n_correct / n_extract, n_correct / len(gold)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
    return threshold


class BitextMining(Format):
    name = "bitext_mining"
    trains = False
    suffix = "tsv"  # "source_id<TAB>target_id" per mined pair; labels: the gold pairs

    def features(self, examples: Sequence[dict], tokenizer: Any, max_length: int, task, train: bool) -> Features:
        rows = [i for i, ex in enumerate(examples) if ex["side"] in ("src", "tgt")]
        ids = tokenizer([examples[i]["text"] for i in rows], truncation=True, max_length=max_length)["input_ids"]
        return {"input_ids": ids, "row": rows}

    def make_head(self, hidden: int, task) -> None:
        return None

    def _candidates(self, encoder, features, examples, part, batch_size, pad_id, layer) -> dict[tuple[str, str], float]:
        """Mined (source id, target id) -> margin score of one corpus; pairs with a repeated sentence are left out."""
        texts: dict[str, dict[str, list]] = {"src": {}, "tgt": {}}  # side -> text -> [feature index, ids...]
        for f, row in enumerate(features["row"]):
            ex = examples[row]
            if _part(ex) == part:
                texts[ex["side"]].setdefault(ex["text"].strip(), [f]).append(ex["id"])
        src, tgt = list(texts["src"].values()), list(texts["tgt"].values())
        if not src or not tgt:
            raise ValueError(f"the {part} corpus needs source and target sentences, got {len(src)} and {len(tgt)}")
        x = embed(encoder, [features["input_ids"][v[0]] for v in src], batch_size, pad_id, layer)
        y = embed(encoder, [features["input_ids"][v[0]] for v in tgt], batch_size, pad_id, layer)
        candidates: dict[tuple[str, str], float] = {}
        for score, s, t in mine(x, y):
            if len(src[s]) == 2 and len(tgt[t]) == 2:  # [feature, id]: a sentence that occurs once
                candidates[(src[s][1], tgt[t][1])] = score
        return candidates

    @torch.no_grad()
    def predict(self, encoder, head, features, examples, task, batch_size, pad_id, layer=None) -> Predictions:
        tune, scored = _parts(examples)
        tune_candidates = self._candidates(encoder, features, examples, tune, batch_size, pad_id, layer)
        gold = {tuple(p.split("\t")) for p in gold_pairs(examples, tune)}
        threshold = optimize_threshold(tune_candidates, gold)
        candidates = tune_candidates if scored == tune else self._candidates(
            encoder, features, examples, scored, batch_size, pad_id, layer)
        mined = [f"{s}\t{t}" for (s, t), score in candidates.items() if score >= threshold]
        return Predictions(mined, sum(len(x) for x in features["input_ids"]))

    def gold(self, examples, task) -> list[Any]:
        return gold_pairs(examples, _parts(examples)[1])

    def count(self, examples) -> int:
        return len(self.gold(examples, None))

    def prediction_text(self, task, examples, predictions) -> str:
        return text_lines(predictions)  # mined pairs: any number

    def label_text(self, task, examples) -> str:
        return text_lines(self.gold(examples, task))

    def read_submission(self, task, pred_path, label_path, notes) -> tuple[list, list]:
        # Pair sets, so no count check (as evaluate.py): a miner may output any number of pairs.
        return read_labels(label_path), read_labels(pred_path)
