"""study.tasks.base: the helpers every format shares (padding per batch, masks, token and pair counts,
length buckets) and the two heads."""

from __future__ import annotations

import random

import pytest
import torch

from study.tasks import base


def test_pad_to_the_batch_longest_and_mask_exactly_the_tokens():
    ids = base.pad([[5, 6, 7], [8], [9, 10]], value=1)
    assert ids.tolist() == [[5, 6, 7], [8, 1, 1], [9, 10, 1]] and ids.dtype == torch.long
    mask = base.attention_mask(ids, [3, 1, 2])
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    # A pad id that also occurs as a real token is still masked by length, not by value.
    assert base.attention_mask(base.pad([[1, 1], [1]], 1), [2, 1]).tolist() == [[1, 1], [1, 0]]


def test_token_and_pair_counts_flat_and_nested():
    flat = {"input_ids": [[1, 2, 3], [4], []]}
    assert base.token_count(flat) == 4 and base.pair_count(flat) == 9 + 1
    nested = {"input_ids": [[[1, 2], [3, 4, 5]], [[6]]]}  # multiple choice: one sequence per choice
    assert base.token_count(nested) == 6 and base.pair_count(nested) == 4 + 9 + 1


def test_take_keeps_every_column_in_the_given_order():
    features = {"input_ids": [[0], [1], [2], [3]], "label": [10, 11, 12, 13]}
    assert base.take(features, [2, 0]) == {"input_ids": [[2], [0]], "label": [12, 10]}


def test_heads_map_hidden_states_to_their_outputs():
    torch.manual_seed(0)
    head = base.ClassifierHead(8, 3).eval()
    assert head(torch.randn(4, 8)).shape == (4, 3)
    tokens = base.TokenHead(8, 5).eval()
    states = torch.randn(2, 7, 8)
    out = tokens(states)
    assert out.shape == (2, 7, 5)
    assert torch.allclose(out[1, 3], tokens.out(states[1, 3])), "each token is projected on its own"


def test_the_base_format_implements_nothing_but_count():
    fmt = base.Format()
    assert fmt.count([{}, {}, {}]) == 3
    with pytest.raises(NotImplementedError):
        fmt.gold([], None)


def test_buckets_cover_every_index_once_and_group_similar_lengths():
    rng = random.Random(0)
    lengths = [rng.randrange(1, 100) for _ in range(101)]
    batches = base.batches_by_length(lengths, 16)
    assert sorted(i for b in batches for i in b) == list(range(101))
    assert [len(b) for b in batches] == [16] * 6 + [5]
    widths = [max(lengths[i] for i in b) for b in batches]
    assert widths == sorted(widths)
    # Padding to each batch's longest costs far fewer positions than padding to the longest overall.
    assert sum(len(b) * w for b, w in zip(batches, widths)) < 0.7 * len(lengths) * max(lengths)
