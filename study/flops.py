"""FLOPs as an encoder's matmuls count them (Kaplan et al. 2020, table 1).

Per token, a transformer's forward pass does about 2 x N FLOPs in its weight matmuls, N being the
*non-embedding* parameters: an embedding is a table lookup, and an encoder without an output softmax never
multiplies by its vocabulary matrix. Embeddings are about 46% of XLM-R large's parameters and 18% of XL's,
so counting them would make the large-to-XL cost ratio read about 6.2x instead of about 9.4x, and tilt every
comparison across sizes. Attention adds 2 x n_layer x n_ctx x d_attn per token (the attention scores, as
Kaplan's table counts them), where n_ctx is the length of the sequence the token attends over. Training
(forward and backward) is 3x the forward pass:

    forward  = 2 x N x tokens + 2 x n_layer x d_attn x sum over sequences of length^2
    training = 3 x forward

Lengths and tokens are non-padding (what a padding-free kernel computes); the sum of squared lengths is
`Cost.pairs`. Task heads are left out: a few thousand parameters beside the encoder's millions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn


@dataclass(frozen=True)
class Shape:
    """What FLOPs depend on: non-embedding parameters, layers, and the attention width (heads x head size)."""

    non_embedding_params: int
    n_layers: int
    d_attn: int

    def forward(self, tokens: float, pairs: float) -> float:
        """Forward FLOPs over `tokens` non-padding tokens whose sequences' squared lengths sum to `pairs`."""
        return 2.0 * self.non_embedding_params * tokens + 2.0 * self.n_layers * self.d_attn * pairs

    def training(self, tokens: float, pairs: float) -> float:
        """Training FLOPs (forward and backward: 3x the forward pass)."""
        return 3.0 * self.forward(tokens, pairs)


def embedding_params(module: nn.Module) -> int:
    """Parameters held in `nn.Embedding` tables (word, position, token type; T5's relative position bias),
    each counted once even where two modules share it (mT5's `shared` and `embed_tokens`)."""
    tables = {id(p): p for m in module.modules() if isinstance(m, nn.Embedding) for p in m.parameters(recurse=False)}
    return sum(p.numel() for p in tables.values())


def shape_of(module: nn.Module, config: Any | None = None) -> Shape:
    """The `Shape` of an encoder module (its config is `module.config` unless given)."""
    config = config if config is not None else module.config
    total = sum(p.numel() for p in module.parameters())
    return Shape(total - embedding_params(module), _layers(config), _attention_width(config))


def _layers(config: Any) -> int:
    for name in ("num_hidden_layers", "num_layers", "n_layer"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    raise ValueError(f"cannot tell the number of layers of a {type(config).__name__}")


def _attention_width(config: Any) -> int:
    """d_attn = heads x head size: T5's d_kv x num_heads, otherwise the hidden size."""
    if getattr(config, "d_kv", None) and getattr(config, "num_heads", None):
        return int(config.d_kv * config.num_heads)
    for name in ("hidden_size", "d_model"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    raise ValueError(f"cannot tell the attention width of a {type(config).__name__}")
