"""BUCC bitext mining against XTREME's official algorithm (margin scores, the tuned threshold), and predict's
tuning on the dev corpus and scoring of the test corpus."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from study.tasks import registry
from study.tasks.bitext_mining import BitextMining, mine, optimize_threshold
from word_models import BagOfWords, WordTokenizer


def official_mine(x: np.ndarray, y: np.ndarray, k: int = 4) -> list[tuple[float, int, int]]:
    """XTREME's utils_retrieve.mine_bitext(mode="mine", retrieval="max", margin="ratio", threshold=0), with
    its per-candidate loops, and exact kNN instead of faiss."""
    def knn(a, b, kk):
        sims = a @ b.T
        ind = np.argsort(-sims, axis=1, kind="stable")[:, :kk]
        return np.take_along_axis(sims, ind, 1), ind

    x2y_sim, x2y_ind = knn(x, y, min(len(y), k))
    y2x_sim, y2x_ind = knn(y, x, min(len(x), k))
    x2y_mean, y2x_mean = x2y_sim.mean(1), y2x_sim.mean(1)

    def score_candidates(a, b, cand, fwd_mean, bwd_mean):
        scores = np.zeros(cand.shape)
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                c = cand[i, j]
                scores[i, j] = a[i].dot(b[c]) / ((fwd_mean[i] + bwd_mean[c]) / 2)
        return scores

    fwd = score_candidates(x, y, x2y_ind, x2y_mean, y2x_mean)
    bwd = score_candidates(y, x, y2x_ind, y2x_mean, x2y_mean)
    fwd_best = x2y_ind[np.arange(len(x)), fwd.argmax(1)]
    bwd_best = y2x_ind[np.arange(len(y)), bwd.argmax(1)]
    indices = np.stack((np.concatenate((np.arange(len(x)), bwd_best)), np.concatenate((fwd_best, np.arange(len(y))))), 1)
    scores = np.concatenate((fwd.max(1), bwd.max(1)))
    out, seen_src, seen_trg = [], set(), set()
    for i in np.argsort(-scores, kind="stable"):
        s, t = indices[i]
        if s not in seen_src and t not in seen_trg:
            seen_src.add(s)
            seen_trg.add(t)
            if scores[i] > 0:
                out.append((scores[i], s, t))
    return out


def official_optimize(candidates: dict, gold: set) -> float:
    items = sorted(candidates.items(), key=lambda x: -x[1])
    nextract = ncorrect = 0
    threshold, best_f1 = 0, 0
    for i in range(len(items)):
        nextract += 1
        if items[i][0] in gold:
            ncorrect += 1
        if ncorrect > 0:
            precision, recall = ncorrect / nextract, ncorrect / len(gold)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (items[i][1] + items[i + 1][1]) / 2
    return threshold


def test_mining_and_threshold_match_the_official_algorithm():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 8))
    y = np.concatenate([x[:20] + 0.3 * rng.normal(size=(20, 8)), rng.normal(size=(15, 8))])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    ours = mine(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    theirs = official_mine(x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64))
    assert [(s, t) for _, s, t in ours] == [(int(s), int(t)) for _, s, t in theirs]
    assert np.allclose([sc for sc, _, _ in ours], [sc for sc, _, _ in theirs], atol=1e-5)
    candidates = {(f"s{s}", f"t{t}"): sc for sc, s, t in ours}
    gold = {(f"s{i}", f"t{i}") for i in range(20)}
    assert optimize_threshold(candidates, gold) == pytest.approx(official_optimize(candidates, gold))


def bucc_corpus(part: str, n: int, offset: int) -> list[dict]:
    rows = []
    for i in range(n):
        words = f"w{offset + i}a w{offset + i}b w{offset + i}c"
        rows.append({"part": part, "side": "src", "id": f"de-{part}-{i}", "text": words, "target_id": ""})
        rows.append({"part": part, "side": "tgt", "id": f"en-{part}-{i}", "text": words.upper(), "target_id": ""})
        rows.append({"part": part, "side": "gold", "id": f"de-{part}-{i}", "text": "", "target_id": f"en-{part}-{i}"})
    for j in range(n):  # sentences without a translation, on both sides
        rows.append({"part": part, "side": "tgt", "id": f"en-{part}-x{j}", "text": f"z{offset + j}a z{offset + j}b", "target_id": ""})
        rows.append({"part": part, "side": "src", "id": f"de-{part}-y{j}", "text": f"y{offset + j}a y{offset + j}b", "target_id": ""})
    return rows


def test_bucc_predict_tunes_on_dev_and_scores_test():
    task = registry.get("bucc2018")
    examples = bucc_corpus("tune", 12, 0) + bucc_corpus("eval", 15, 100)
    fmt = BitextMining()
    feats = fmt.features(examples, WordTokenizer(), 16, task, train=False)
    preds = fmt.predict(BagOfWords(), None, feats, examples, task, 8, 0, layer=1)
    gold = fmt.gold(examples, task)
    assert len(gold) == fmt.count(examples) == 15 and all(g.startswith("de-eval-") for g in gold)
    assert sorted(preds.values) == sorted(gold)
    assert task.score(gold, preds.values, "de") == {"f1": 100.0, "score": 100.0}


def test_bucc_drops_pairs_with_a_repeated_sentence_as_read_sent2id_does():
    task = registry.get("bucc2018")
    examples = bucc_corpus("tune", 12, 0) + bucc_corpus("eval", 15, 100)
    # Source sentence 3 of the scored corpus occurs twice, under two ids, and its translation once.
    twin = next(ex for ex in examples if ex["part"] == "eval" and ex["id"] == "de-eval-3" and ex["side"] == "src")
    examples.append({**twin, "id": "de-eval-3b"})
    fmt = BitextMining()
    feats = fmt.features(examples, WordTokenizer(), 16, task, train=False)
    preds = fmt.predict(BagOfWords(), None, feats, examples, task, 8, 0, layer=1)
    mined = set(preds.values)
    # The repeated sentence has no id: neither of its ids is paired, every other gold pair still is.
    assert not {p for p in mined if p.startswith(("de-eval-3\t", "de-eval-3b\t"))}
    assert mined == set(fmt.gold(examples, task)) - {"de-eval-3\ten-eval-3"}
