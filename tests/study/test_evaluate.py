"""Length-bucketed evaluation gives exactly what unbatched and max-length-padded evaluation give, per format."""

from __future__ import annotations

import random

import pytest
import torch

from study.data import Split
from study.evaluate import score_split
from study.tasks.registry import Task

PAD, VOCAB, WIDTH, N = 1, 60, 48, 37  # 37 examples: the last batch is short
FORMAT_MODULES = ["classification", "tagging", "span_qa", "multiple_choice", "retrieval"]


def ids(rng: random.Random, n_tokens: int) -> list[int]:
    return [0, *(rng.randrange(4, VOCAB) for _ in range(n_tokens)), 2]


def task(fmt: str, metric: str, labels: tuple[str, ...] = ()) -> Task:
    return Task(name=f"synthetic_{fmt}", format_name=fmt, metric=metric, roles=frozenset({"target"}),
                test_languages=("xa",), loader=lambda *a: [], labels=labels)


def synthetic(fmt: str) -> Split:
    """A split of N examples of varied lengths, built directly as features (no tokenizer needed)."""
    rng = random.Random(fmt)
    lengths = [rng.randrange(2, 40) for _ in range(N)]
    if fmt == "classification":
        t = task(fmt, "accuracy", ("a", "b", "c"))
        gold = [rng.randrange(3) for _ in range(N)]
        # A random first token: the head reads the first position, which would otherwise barely vary.
        return Split(t, "test", "xa", [{"label": t.labels[g]} for g in gold],
                     {"input_ids": [[rng.randrange(4, VOCAB), *ids(rng, n)[1:]] for n in lengths], "label": gold})
    if fmt == "tagging":
        t = task(fmt, "seqeval_f1", ("NOUN", "VERB", "DET"))
        examples = [{"tokens": [f"w{j}" for j in range(n)], "tags": [rng.choice(t.labels) for _ in range(n)]} for n in lengths]
        return Split(t, "test", "xa", examples, {
            "input_ids": [ids(rng, n) for n in lengths],
            "labels": [[-100, *(t.labels.index(tag) for tag in ex["tags"]), -100] for ex in examples],
            "first_token": [list(range(1, n + 1)) for n in lengths],
            "first_word": [list(range(n)) for n in lengths],
        })
    if fmt == "span_qa":
        t = task(fmt, "squad")
        examples, feats = [], {"input_ids": [], "start": [], "end": [], "example": [], "offsets": []}
        for e, n in enumerate(lengths):
            words = [f"w{rng.randrange(50)}" for _ in range(n + 3)]
            context = " ".join(words)
            starts = [sum(len(w) + 1 for w in words[:j]) for j in range(len(words))]
            a = rng.randrange(len(words))
            examples.append({"context": context, "answers": {"text": [words[a]], "answer_start": [starts[a]]}})
            # <s> q q </s> context words </s>: the context's tokens carry character offsets
            feats["input_ids"].append([0, rng.randrange(4, VOCAB), rng.randrange(4, VOCAB), 2, *ids(rng, len(words))[1:]])
            feats["offsets"].append([[-1, -1]] * 4 + [[s, s + len(w)] for s, w in zip(starts, words)] + [[-1, -1]])
            feats["start"].append(4 + a)
            feats["end"].append(4 + a)
            feats["example"].append(e)
        return Split(t, "test", "xa", examples, feats)
    if fmt == "multiple_choice":
        t = task(fmt, "accuracy")
        gold = [rng.randrange(4) for _ in range(N)]
        return Split(t, "test", "xa", [{"label": g} for g in gold],
                     {"input_ids": [[ids(rng, max(1, n + rng.randrange(-2, 3))) for _ in range(4)] for n in lengths], "label": gold})
    t = task(fmt, "retrieval_accuracy")
    return Split(t, "test", "xa", [{} for _ in range(N)],
                 {"input_ids": [ids(rng, n) for n in lengths], "target_ids": [ids(rng, max(1, n - 1)) for n in lengths]})


@pytest.fixture(scope="module")
def encoder():
    from transformers import XLMRobertaConfig, XLMRobertaModel

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small gains nothing from threads, and a busy machine makes them slow
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=WIDTH + 4, pad_token_id=PAD)
    yield XLMRobertaModel(config, add_pooling_layer=False).eval()
    torch.set_num_threads(threads)


def unbucketed(monkeypatch) -> None:
    """Batches in file order, each padded to WIDTH tokens: the naive scheme."""
    import importlib

    def in_order(lengths, batch_size):
        return [list(range(i, min(i + batch_size, len(lengths)))) for i in range(0, len(lengths), batch_size)]

    def pad_to_width(seqs, value):
        out = torch.full((len(seqs), WIDTH), value, dtype=torch.long)
        for i, s in enumerate(seqs):
            out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        return out

    for name in FORMAT_MODULES:
        module = importlib.import_module(f"study.tasks.{name}")
        monkeypatch.setattr(module, "batches_by_length", in_order)
        if hasattr(module, "pad"):
            monkeypatch.setattr(module, "pad", pad_to_width)


@pytest.mark.parametrize("fmt", FORMAT_MODULES)
def test_bucketed_evaluation_equals_unbatched_and_max_length_padded(fmt, encoder, monkeypatch):
    data = synthetic(fmt)
    torch.manual_seed(1)
    head = data.task.format.make_head(encoder.config.hidden_size, data.task)
    if head is not None:
        for p in head.parameters():  # larger than the default init: varied predictions, clear margins
            torch.nn.init.normal_(p, std=1.0)
        head.eval()
    bucketed = score_split(data, encoder, head, 8, PAD, None)
    alone = score_split(data, encoder, head, 1, PAD, None)  # no batching, no padding at all
    unbucketed(monkeypatch)
    naive = score_split(data, encoder, head, 8, PAD, None)
    assert bucketed.predictions == alone.predictions == naive.predictions
    assert bucketed.values == alone.values == naive.values
    assert bucketed.cost.tokens == naive.cost.tokens, "tokens count the input, not the padding"
    assert len(set(map(str, bucketed.predictions))) > 1, "a constant prediction would prove nothing"
