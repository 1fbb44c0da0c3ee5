"""Formats on real data and a real sentencepiece tokenizer: doc stride, no-answer, first sub-token labels,
BUCC mining against the official algorithm, ranking, and the Arrow cache of tokenized splits."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from study import data as data_module
from study.data import load_split
from study.tasks import registry
from study.tasks.bitext_mining import BitextMining, mine, optimize_threshold
from study.tasks.ranking import Ranking
from study.tasks.registry import LoadContext
from study.tasks.span_qa import SpanQA
from study.tasks.tagging import IGNORE, Tagging


# ------------------------------------------------------------------------------------- span QA
class PerfectQA(SpanQA):
    """Span QA whose 'model' points at the labelled start/end of each window, with a chosen first-token score."""

    def __init__(self, null_score: float):
        self.null_score = null_score

    def logits(self, encoder, head, batch):
        n, width = batch["input_ids"].shape
        start = torch.full((n, width), -10.0)
        end = torch.full((n, width), -10.0)
        rows = torch.arange(n)
        has = batch["start"] > 0
        start[rows[has], batch["start"][has]] = 5.0
        end[rows[has], batch["end"][has]] = 5.0
        start[:, 0] = end[:, 0] = self.null_score / 2
        return start.masked_fill(batch["attention_mask"] == 0, float("-inf")), end.masked_fill(batch["attention_mask"] == 0, float("-inf"))


def long_example(shared_data: Path) -> dict:
    """A real XQuAD paragraph whose answer sits near the end, so that only later windows hold it."""
    from study.tasks.readers import read_squad_json

    rows = read_squad_json(shared_data / "xquad" / "xquad.de.json")
    return max(rows, key=lambda r: r["answers"]["answer_start"][0])


def test_doc_stride_windows_on_a_real_paragraph(shared_data, real_tokenizer):
    ex = long_example(shared_data)
    task = dataclasses.replace(registry.get("xquad"), doc_stride=24)
    max_length = 100  # the question keeps at most 48 tokens, leaving at least 48 for the context: stride 24 fits
    feats = SpanQA().features([ex], real_tokenizer, max_length, task, train=True)
    n = len(feats["input_ids"])
    assert n >= 3, "a long context is split into several windows"
    answer, start = ex["answers"]["text"][0], ex["answers"]["answer_start"][0]
    holding = 0
    for f in range(n):
        assert len(feats["input_ids"][f]) <= max_length
        s, e, offsets = feats["start"][f], feats["end"][f], feats["offsets"][f]
        ctx = [o for o in offsets if o[0] >= 0]
        inside = ctx[0][0] <= start and ctx[-1][1] >= start + len(answer)
        if inside:
            holding += 1
            assert ex["context"][offsets[s][0] : offsets[e][1]] == answer
        else:
            assert (s, e) == (0, 0), "a window without the answer points at the first token"
    assert holding >= 1
    # Consecutive windows overlap by exactly the stride (in context tokens) and together cover the context.
    spans = [[tuple(o) for o in offsets if o[0] >= 0] for offsets in feats["offsets"]]
    for a, b in zip(spans, spans[1:]):
        assert a[-24:] == b[:24]
    assert spans[0][0][0] == 0 and spans[-1][-1][1] == len(ex["context"].rstrip())


def test_predict_picks_the_answer_across_windows_and_no_answer(shared_data, real_tokenizer):
    ex = long_example(shared_data)
    unanswerable = {**ex, "id": "none", "answers": {"text": [], "answer_start": []}}
    v1 = dataclasses.replace(registry.get("xquad"), doc_stride=24)
    v2 = dataclasses.replace(registry.get("squad_v2"), doc_stride=24)
    feats = SpanQA().features([ex, unanswerable], real_tokenizer, 96, v2, train=False)
    pad = real_tokenizer.pad_token_id
    # Spans score 10; a first-token score of 0 loses to them, one of 20 beats them.
    assert PerfectQA(0.0).predict(None, None, feats, [ex, unanswerable], v2, 4, pad).values[0] == ex["answers"]["text"][0]
    confident_null = PerfectQA(20.0).predict(None, None, feats, [ex, unanswerable], v2, 4, pad).values
    assert confident_null == ["", ""]
    # Without the no-answer option (SQuAD v1.1, XQuAD), the best span is returned whatever the first token says.
    assert PerfectQA(20.0).predict(None, None, feats, [ex, unanswerable], v1, 4, pad).values[0] == ex["answers"]["text"][0]
    scores = v2.score(SpanQA().gold([ex, unanswerable], v2), confident_null, "en")
    assert scores["exact_match"] == 50.0  # the unanswerable question is right, the answerable one wrong


# ------------------------------------------------------------------------------------- tagging
WORDS = ["Anton", "Wilhelm", "von", "Zuccalmaglio", "(", "Xi’an", ")", "中国", "1884", "", "\u200b", "don't", "."]
TAGS = ["B-PER", "I-PER", "I-PER", "I-PER", "O", "B-LOC", "O", "B-LOC", "O", "O", "O", "O", "O"]


def test_first_sub_token_labels_with_a_real_sentencepiece_tokenizer(real_tokenizer):
    task = registry.get("panx")
    feats = Tagging().features([{"tokens": WORDS, "tags": TAGS}], real_tokenizer, 128, task, train=True)
    ids, labels, first, words = (feats[k][0] for k in ("input_ids", "labels", "first_token", "first_word"))
    pieces = real_tokenizer.convert_ids_to_tokens(ids)
    # The same pieces as XTREME's preprocessing, which tokenizes word by word and labels each word's first piece.
    per_word = [real_tokenizer.tokenize(w) for w in WORDS]
    assert pieces[1:-1] == [p for word in per_word for p in word]
    expected_first = []
    position = 1
    for w, word_pieces in enumerate(per_word):
        if word_pieces:
            expected_first.append((position, w))
        position += len(word_pieces)
    assert list(zip(first, words)) == expected_first
    assert 9 not in words, "the empty word has no piece, so no label"
    for p, label in enumerate(labels):
        if p in first:
            assert task.labels[label] == TAGS[words[first.index(p)]]
            assert pieces[p].startswith("▁"), "a word's first piece carries the word-start marker"
        else:
            assert label == IGNORE


class OracleTagger(Tagging):
    """Tagging whose 'model' outputs the gold label at each labelled position."""

    def logits(self, encoder, head, batch):
        n_labels = len(registry.get("panx").labels)
        return torch.nn.functional.one_hot(batch["labels"].clamp(min=0), n_labels).float()


def test_tag_predictions_stay_aligned_with_words(real_tokenizer):
    task = registry.get("panx")
    examples = [{"tokens": WORDS, "tags": TAGS}, {"tokens": ["Paris", "", "Berlin"], "tags": ["B-LOC", "O", "B-LOC"]}]
    feats = Tagging().features(examples, real_tokenizer, 128, task, train=False)
    predicted = OracleTagger().predict(None, None, feats, examples, task, 8, real_tokenizer.pad_token_id).values
    # A word without pieces gets the fallback "O" in its own place; the words after it keep theirs.
    assert predicted == [TAGS, ["B-LOC", "O", "B-LOC"]]
    short = Tagging().features(examples[:1], real_tokenizer, 8, task, train=False)
    cut = OracleTagger().predict(None, None, short, examples[:1], task, 8, real_tokenizer.pad_token_id).values[0]
    assert len(cut) == len(WORDS) and cut[:3] == TAGS[:3] and set(cut[6:]) == {"O"}


# ------------------------------------------------------------------------------ BUCC mining
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


# ------------------------------------------------------------------------------------- ranking
def test_ranking_map_at_20():
    task = registry.get("lareqa")
    examples = [{"kind": "query", "id": f"q{i}", "text": f"w{i}a w{i}b", "lang": "de", "relevant": [f"c{i}"]} for i in range(25)]
    examples += [{"kind": "candidate", "id": f"c{i}", "text": f"w{i}a w{i}b extra", "lang": "en", "relevant": []} for i in range(25)]
    fmt = Ranking()
    feats = fmt.features(examples, WordTokenizer(), 16, task, train=False)
    preds = fmt.predict(BagOfWords(), None, feats, examples, task, 8, 0, layer=1)
    assert fmt.count(examples) == 25 and len(preds.values) == 25 and all(len(r) == 20 for r in preds.values)
    assert [r[0] for r in preds.values] == [f"c{i}" for i in range(25)]
    assert task.score(fmt.gold(examples, task), preds.values, "de")["map@20"] == pytest.approx(100.0)
    mewslix = registry.get("mewslix").score([["c1"], ["c9"]], [["c1", "c2"], ["c2", "c9"]], "de")
    assert mewslix == {"map@20": pytest.approx(75.0), "score": pytest.approx(75.0)}


# ------------------------------------------------------------------------------------ the cache
def test_tokenized_splits_are_cached_and_rebuilt_when_files_change(tmp_path, monkeypatch, real_tokenizer):
    monkeypatch.setenv("XSTUDY_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "data" / "tatoeba").mkdir(parents=True)
    src = tmp_path / "data" / "tatoeba" / "tatoeba.deu-eng.deu"
    src.write_text("Hallo Welt\nGuten Tag\n", encoding="utf-8")
    (tmp_path / "data" / "tatoeba" / "tatoeba.deu-eng.eng").write_text("Hello world\nGood day\n", encoding="utf-8")
    task, ctx = registry.get("tatoeba"), LoadContext(data_dir=str(tmp_path / "data"))
    first = load_split(task, "test", "de", real_tokenizer, 32, ctx, train=False)
    assert len(first) == 2 and len(first.features["input_ids"]) == 2

    def no_build(*args, **kwargs):
        raise AssertionError("tokenized again although nothing changed")

    monkeypatch.setattr(data_module, "_build", no_build)
    again = load_split(task, "test", "de", real_tokenizer, 32, ctx, train=False)
    assert again.features == first.features and again.examples == first.examples
    monkeypatch.undo()
    monkeypatch.setenv("XSTUDY_CACHE_DIR", str(tmp_path / "cache"))
    src.write_text("Hallo Welt\nGuten Abend\n", encoding="utf-8")
    changed = load_split(task, "test", "de", real_tokenizer, 32, ctx, train=False)
    assert changed.examples[1]["source"] == "Guten Abend"
    assert len(list((tmp_path / "cache" / "data").glob("tatoeba-test-de-*[!k]"))) == 2
