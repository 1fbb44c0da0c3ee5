"""The generated benchmark: determinism, real differences between languages, and exact formats."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from study.synthetic import benchmark as builtin
from study.synthetic.benchmark import BUILTIN_LANGUAGES, BUILTIN_TASKS, Benchmark, benchmark

SHARED = set(builtin.NAMES) | set(builtin.NUMBERS) | set(builtin.PUNCTUATION)


def _all_splits():
    for task, info in BUILTIN_TASKS.items():
        for split, langs in info["splits"].items():
            for lang in langs:
                yield task, split, lang


def test_everything_generates_fast_and_in_the_declared_sizes():
    # CPU time of this process, so that other work on the machine does not fail the test.
    start = time.process_time()
    bench = Benchmark(seed=123)  # not the cached one: time a cold build
    sizes = {"train": builtin.TRAIN_SIZE, "dev": builtin.DEV_SIZE, "test": builtin.TEST_SIZE}
    for task, split, lang in _all_splits():
        assert len(bench.examples(task, split, lang)) == sizes[split], (task, split, lang)
    assert time.process_time() - start < 2.0


def test_task_table_is_well_formed():
    formats = {"builtin_nli": "classification", "builtin_squad": "span_qa", "builtin_swag": "multiple_choice",
               "builtin_xnli": "classification", "builtin_pos": "tagging", "builtin_tatoeba": "retrieval"}
    assert {t: i["format"] for t, i in BUILTIN_TASKS.items()} == formats
    for task, info in BUILTIN_TASKS.items():
        assert info["splits"]["train"] == ("en",) and info["splits"]["dev"] == ("en",)
        if info["role"] == "intermediate":
            assert set(info["splits"]) == {"train", "dev"}
        else:
            assert info["role"] == "target" and info["splits"]["test"] == BUILTIN_LANGUAGES
        assert bool(info["labels"]) == (info["format"] in ("classification", "tagging"))
    assert BUILTIN_LANGUAGES[0] == "en" and len(BUILTIN_LANGUAGES) == 5


def test_same_seed_same_examples_and_different_seed_different_examples():
    fresh = Benchmark(seed=0)
    cached = benchmark(0)
    other = benchmark(1)
    for task, split, lang in _all_splits():
        assert fresh.examples(task, split, lang) == cached.examples(task, split, lang)
    assert fresh.corpus("xc", 200) == cached.corpus("xc", 200)
    assert other.examples("builtin_xnli", "train", "en") != cached.examples("builtin_xnli", "train", "en")
    assert other.lexicon("xa") != cached.lexicon("xa")
    assert other.corpus("en", 50) != cached.corpus("en", 50)


def test_examples_are_copies_that_callers_cannot_corrupt():
    bench = benchmark(0)
    first = bench.examples("builtin_pos", "test", "xb")
    first[0]["tokens"].append("junk")
    assert "junk" not in bench.examples("builtin_pos", "test", "xb")[0]["tokens"]


@pytest.mark.parametrize(
    ("task", "split", "lang", "named"),
    [("nope", "train", "en", "nope"), ("builtin_nli", "test", "en", "test"),
     ("builtin_xnli", "train", "xa", "xa"), ("builtin_pos", "test", "zz", "zz")],
)
def test_missing_task_split_or_language_is_named(task, split, lang, named):
    with pytest.raises(KeyError, match=repr(named)):
        benchmark(0).examples(task, split, lang)


def test_languages_have_disjoint_vocabularies_but_share_names_and_digits():
    bench = benchmark(0)
    vocabularies = {lang: bench.vocabulary(lang) - SHARED for lang in BUILTIN_LANGUAGES}
    for a in BUILTIN_LANGUAGES:
        for b in BUILTIN_LANGUAGES:
            if a < b:
                assert not vocabularies[a] & vocabularies[b], (a, b)
    # The lexicon is a bijection from English word types.
    for lang in BUILTIN_LANGUAGES[1:]:
        lexicon = bench.lexicon(lang)
        assert set(lexicon) == set(builtin.english_vocabulary())
        assert len(set(lexicon.values())) == len(lexicon)
    # Names and digits survive translation unchanged: the shared anchors.
    en = bench.examples("builtin_pos", "test", "en")
    for lang in BUILTIN_LANGUAGES[1:]:
        other = bench.examples("builtin_pos", "test", lang)
        for a, b in zip(en, other):
            assert Counter(w for w in a["tokens"] if w in SHARED) == Counter(w for w in b["tokens"] if w in SHARED)
            assert not (set(b["tokens"]) - SHARED) & set(builtin.english_vocabulary())


def test_word_orders_differ_as_declared():
    bench = benchmark(0)
    tags = {lang: [ex["tags"] for ex in bench.examples("builtin_pos", "test", lang)] for lang in BUILTIN_LANGUAGES}

    def first_index(seq, tag):
        return seq.index(tag) if tag in seq else None

    # Same multiset of tags in every language (parallel sentences), in different orders.
    for lang in BUILTIN_LANGUAGES[1:]:
        assert all(Counter(a) == Counter(b) for a, b in zip(tags["en"], tags[lang]))
    assert tags["xa"] == tags["en"]  # xa keeps English order: only the words differ
    for lang in ("xb", "xc", "xd"):
        assert sum(a != b for a, b in zip(tags["en"], tags[lang])) > len(tags["en"]) // 3, lang
    # The verb closes an SOV clause and opens a VSO clause (after any hedge / negation / adverb).
    xc_last = Counter(seq[-2] for seq in tags["xc"])
    assert xc_last.most_common(1)[0][0] == "VERB"
    xd_first_content = Counter(next(t for t in seq if t not in ("ADV", "PART")) for seq in tags["xd"])
    assert xd_first_content.most_common(1)[0][0] == "VERB"
    # Adjectives follow their noun in xb and xd, precede it in en, xa and xc.
    for lang, after in (("en", False), ("xa", False), ("xb", True), ("xc", False), ("xd", True)):
        pairs = Counter()
        for seq in tags[lang]:
            for x, y in zip(seq, seq[1:]):
                if {x, y} == {"ADJ", "NOUN"}:
                    pairs[(x, y)] += 1
        assert (pairs[("NOUN", "ADJ")] > pairs[("ADJ", "NOUN")]) == after, lang


def test_tagging_examples_are_aligned_and_use_the_declared_tags():
    bench = benchmark(0)
    labels = set(BUILTIN_TASKS["builtin_pos"]["labels"])
    for split in ("train", "dev"):
        for ex in bench.examples("builtin_pos", split, "en"):
            assert set(ex) == {"tokens", "tags"} and len(ex["tokens"]) == len(ex["tags"]) > 2
            assert set(ex["tags"]) <= labels
    for lang in BUILTIN_LANGUAGES:
        for ex in bench.examples("builtin_pos", "test", lang):
            assert len(ex["tokens"]) == len(ex["tags"]) and set(ex["tags"]) <= labels
            assert all(w and " " not in w for w in ex["tokens"])
            for w, t in zip(ex["tokens"], ex["tags"]):
                if w in builtin.NAMES:
                    assert t == "PROPN"
                if w in builtin.NUMBERS:
                    assert t == "NUM"


def test_span_answers_match_their_offsets():
    bench = benchmark(0)
    ids = set()
    for split in ("train", "dev"):
        for ex in bench.examples("builtin_squad", split, "en"):
            assert set(ex) == {"id", "context", "question", "answers"}
            assert set(ex["answers"]) == {"text", "answer_start"}
            (text,), (start,) = ex["answers"]["text"], ex["answers"]["answer_start"]
            assert isinstance(start, int) and text and ex["context"][start: start + len(text)] == text
            assert ex["question"].split()[0] in ("who", "what", "where") and ex["question"].endswith("?")
            ids.add(ex["id"])
    assert len(ids) == builtin.TRAIN_SIZE + builtin.DEV_SIZE


def test_squad_who_answers_are_the_subject_of_the_questioned_verb():
    for ex in benchmark(0).examples("builtin_squad", "dev", "en")[:100]:
        words = ex["question"].split()
        if words[0] != "who":
            continue
        start = ex["answers"]["answer_start"][0]
        after = ex["context"][start + len(ex["answers"]["text"][0]):].split()
        assert after[0] == words[1]  # the questioned verb follows the answer span


def test_classification_and_multiple_choice_formats():
    bench = benchmark(0)
    for task in ("builtin_nli", "builtin_xnli"):
        labels = BUILTIN_TASKS[task]["labels"]
        train = bench.examples(task, "train", "en")
        assert set(Counter(ex["label"] for ex in train)) == set(labels)
        assert min(Counter(ex["label"] for ex in train).values()) > len(train) // 5  # roughly balanced
        for ex in train:
            assert set(ex) == {"text_a", "text_b", "label"} and ex["text_a"] and ex["text_b"]
    for ex in bench.examples("builtin_swag", "train", "en"):
        assert set(ex) == {"context", "choices", "label"}
        assert len(ex["choices"]) == 4 and len(set(ex["choices"])) == 4 and ex["label"] in range(4)
    labels = Counter(ex["label"] for ex in bench.examples("builtin_swag", "train", "en"))
    assert len(labels) == 4 and min(labels.values()) > builtin.TRAIN_SIZE // 6


def test_xnli_label_is_decided_by_the_cue_class_in_every_language():
    bench = benchmark(0)
    negations = {w for g in builtin.NEGATIONS for w in g}
    hedges = {w for g in builtin.HEDGES for w in g}
    en = bench.examples("builtin_xnli", "test", "en")
    for lang in BUILTIN_LANGUAGES:
        lexicon = bench.lexicon(lang)
        neg = {lexicon[w] for w in negations}
        hedge = {lexicon[w] for w in hedges}
        examples = bench.examples("builtin_xnli", "test", lang)
        for ex, ref in zip(examples, en):
            words = set(ex["text_b"].split())
            expected = "contradiction" if words & neg else "neutral" if words & hedge else "entailment"
            assert ex["label"] == expected == ref["label"]
            assert not set(ex["text_a"].split()) & (neg | hedge)


def test_tatoeba_pairs_are_translations_or_paraphrases():
    bench = benchmark(0)
    en = bench.examples("builtin_tatoeba", "test", "en")
    for ex in en:
        assert ex["source"] != ex["target"] and len(ex["source"].split()) == len(ex["target"].split())
    for lang in BUILTIN_LANGUAGES[1:]:
        examples = bench.examples("builtin_tatoeba", "test", lang)
        assert [ex["target"] for ex in examples] == [ex["source"] for ex in en]
        lexicon = bench.lexicon(lang)
        for ex in examples:
            assert Counter(ex["source"].split()) == Counter(lexicon.get(w, w) for w in ex["target"].split())
    for ex in bench.examples("builtin_tatoeba", "train", "en"):
        assert set(ex) == {"source", "target"}


def test_dev_and_test_do_not_repeat_training_examples():
    bench = benchmark(0)
    train = {(ex["text_a"], ex["text_b"]) for ex in bench.examples("builtin_xnli", "train", "en")}
    dev = {(ex["text_a"], ex["text_b"]) for ex in bench.examples("builtin_xnli", "dev", "en")}
    test = {(ex["text_a"], ex["text_b"]) for ex in bench.examples("builtin_xnli", "test", "en")}
    assert not train & dev and not train & test and not dev & test
    pos_train = {tuple(ex["tokens"]) for ex in bench.examples("builtin_pos", "train", "en")}
    assert not pos_train & {tuple(ex["tokens"]) for ex in bench.examples("builtin_pos", "test", "en")}


def test_corpus_is_monolingual_apart_from_code_switching():
    bench = benchmark(0)
    for lang in BUILTIN_LANGUAGES:
        own = bench.vocabulary(lang)
        pure = bench.corpus(lang, 300, code_switch_rate=0.0)
        assert all(set(s.split()) <= own for s in pure)
        mixed = bench.corpus(lang, 300, code_switch_rate=1.0, code_switch_word_rate=0.5)
        foreign = sum(len(set(s.split()) - own) for s in mixed)
        assert foreign > 300  # every sentence switched, about half its words
    default = bench.corpus("xa", 2000)
    switched = sum(bool(set(s.split()) - bench.vocabulary("xa")) for s in default)
    assert 0.5 * builtin.CODE_SWITCH_RATE < switched / 2000 < 1.5 * builtin.CODE_SWITCH_RATE
