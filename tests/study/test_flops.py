"""FLOPs as the matmuls count them: checked by hand on XLM-R's shapes (built on the meta device, no weights)."""

from __future__ import annotations

import pytest
import torch
from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaXLConfig, XLMRobertaXLModel

from study.flops import Shape, embedding_params, shape_of

VOCAB, POSITIONS = 250_002, 514


def _on_meta(build):
    with torch.device("meta"):
        return build()


def xlmr_large():
    config = XLMRobertaConfig(vocab_size=VOCAB, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                              intermediate_size=4096, max_position_embeddings=POSITIONS, type_vocab_size=1)
    return _on_meta(lambda: XLMRobertaModel(config, add_pooling_layer=False))


def xlmr_xl():
    config = XLMRobertaXLConfig(vocab_size=250_880, hidden_size=2560, num_hidden_layers=36, num_attention_heads=32,
                                intermediate_size=10240, max_position_embeddings=POSITIONS, type_vocab_size=1)
    return _on_meta(lambda: XLMRobertaXLModel(config, add_pooling_layer=False))


def test_xlmr_large_counts_by_hand():
    model = xlmr_large()
    d, f, layers = 1024, 4096, 24
    # Per layer: Q, K, V and output projections (4 d^2 + 4 d), the feed-forward (2 d f + f + d) and two
    # LayerNorms (4 d); plus the embeddings' LayerNorm (2 d), the only non-table parameters outside the layers.
    per_layer = 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d
    hand_non_embedding = layers * per_layer + 2 * d
    hand_embedding = (VOCAB + POSITIONS + 1) * d  # word, position and token-type tables
    shape = shape_of(model)
    assert shape == Shape(non_embedding_params=hand_non_embedding, n_layers=24, d_attn=1024)
    assert embedding_params(model) == hand_embedding
    total = sum(p.numel() for p in model.parameters())
    assert total == hand_embedding + hand_non_embedding
    assert hand_embedding / total == pytest.approx(0.46, abs=0.005)  # embeddings: 46% of XLM-R large
    # One 256-token sequence, trained: 6 N tokens + 6 n_layer d_attn length^2 (Kaplan et al. 2020, table 1).
    assert shape.training(256, 256**2) == 6 * hand_non_embedding * 256 + 6 * 24 * 1024 * 256**2
    assert shape.forward(256, 256**2) == shape.training(256, 256**2) / 3


def test_large_to_xl_costs_9_times_more_not_6():
    large, xl = xlmr_large(), xlmr_xl()
    tokens, pairs = 32 * 256, 32 * 256**2  # one batch of 32 full 256-token sequences
    ratio = shape_of(xl).training(tokens, pairs) / shape_of(large).training(tokens, pairs)
    assert ratio == pytest.approx(9.3, abs=0.1)
    all_params = sum(p.numel() for p in xl.parameters()) / sum(p.numel() for p in large.parameters())
    assert all_params == pytest.approx(6.2, abs=0.1), "6 x all parameters would read about 6.2x"
    assert embedding_params(xl) / sum(p.numel() for p in xl.parameters()) == pytest.approx(0.185, abs=0.005)
