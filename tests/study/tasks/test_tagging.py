"""Tagging with a real sentencepiece tokenizer: each word's first piece carries its label, and predictions
stay aligned with the words (a word without pieces, a sentence cut at max_length)."""

from __future__ import annotations

import torch

from study.tasks import registry
from study.tasks.tagging import IGNORE, Tagging


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
