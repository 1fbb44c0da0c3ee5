"""Encoders: any Hugging Face encoder by hub id or local path, or a built-in tiny XLM-R.

A model whose only weights are a pickled `pytorch_model.bin` (XLM-R XXL, mT5-XXL) is loaded from its
safetensors conversion in the cache (`study.weights`), so that no trial or worker unpickles it.

Heads are the formats' own small modules over the encoder's hidden states, so they work over XLM-R,
mT5's encoder, mDeBERTa or RemBERT alike.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.utils import logging as transformers_logging

from study.cache import REQUIRE_PREPARED_ENV, NotPrepared, require_prepared
from study.flops import Shape, shape_of
from study.spec import BuiltinSource, HubSource, ModelSpec, PathSource
from study.weights import ensure_safetensors, pickled_weights


PRETRAINING_HEADS = ("lm_head.", "cls.", "pooler.", "decoder.", "lm_loss", "shared.")  # weights an encoder leaves unused
_REPORT_ROW = re.compile(r"^\s*(\S+)\s*\|\s*([A-Z_ ]+?)\s*\|")


class PretrainingHeadReport(logging.Filter):
    """Drops transformers' load report when everything it lists is a pretraining head's weight left unused
    ("UNEXPECTED"): an encoder loaded from a masked-LM checkpoint leaves its LM head out by design, and the
    report, repeated by every trial and worker, buried a study's output. A report with any other entry (a
    missing or mismatched weight, an unexpected encoder weight) is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "LOAD REPORT" not in message:
            return True
        rows = [m.groups() for m in map(_REPORT_ROW.match, message.splitlines()) if m and m.group(1) != "Key"]
        return not rows or not all(status == "UNEXPECTED" and key.startswith(PRETRAINING_HEADS) for key, status in rows)


logging.getLogger("transformers.modeling_utils").addFilter(PretrainingHeadReport())
# Every trial (and every restart of one) loads its encoder: transformers' per-load progress bar, repeated
# by each of them, is noise in a study's output.
transformers_logging.disable_progress_bar()


@dataclass
class Encoder:
    module: nn.Module
    tokenizer: Any
    n_params: int  # encoder parameters, embeddings included
    location: str  # folder or hub id it was loaded from
    shape: Shape  # what its FLOPs depend on (non-embedding parameters, layers, attention width)


def model_location(spec: ModelSpec) -> tuple[str, dict[str, Any]]:
    """Where the weights are, and the from_pretrained keyword arguments that go with them."""
    source = spec.source
    if isinstance(source, BuiltinSource):
        return str(ensure_builtin(source)), {}
    if isinstance(source, HubSource):
        kwargs: dict[str, Any] = {"trust_remote_code": source.trust_remote_code}
        if source.revision:
            kwargs["revision"] = source.revision
        snapshot = hub_snapshot(source)
        if snapshot is not None and pickled_weights(snapshot):
            # Only a pickled pytorch_model.bin (XLM-R XXL, mT5-XXL): load its safetensors conversion instead.
            return str(ensure_safetensors(snapshot)[0]), {"trust_remote_code": source.trust_remote_code}
        if require_prepared():
            # Prepared: the files are in the Hugging Face cache (`xstudy prepare`); never ask the hub.
            if snapshot is None:
                raise NotPrepared(f"model {spec.name}: {source.hub} (revision {source.revision or 'main'}) is not in "
                                  f"the Hugging Face cache; run `xstudy prepare SPEC` first, or unset {REQUIRE_PREPARED_ENV}")
            kwargs["local_files_only"] = True
        return source.hub, kwargs
    if isinstance(source, PathSource):
        if not os.path.isdir(source.path):
            raise FileNotFoundError(f"model {spec.name}: source.path {source.path!r} is not a folder")
        return str(ensure_safetensors(source.path)[0]), {"trust_remote_code": source.trust_remote_code}
    raise TypeError(f"unknown model source {source!r}")


def builtin_config(source: BuiltinSource):
    """The TinyModelConfig a built-in source names."""
    import dataclasses

    from study.synthetic.pretraining import TINY_SIZES

    cfg = TINY_SIZES[source.builtin]
    if source.mlm_steps is not None:
        cfg = dataclasses.replace(cfg, mlm_steps=source.mlm_steps)
    if source.mlm_seed is not None:
        cfg = dataclasses.replace(cfg, seed=source.mlm_seed)
    return cfg


def ensure_builtin(source: BuiltinSource, build: bool | None = None) -> str:
    """Pretrain (once per machine, cached by fingerprint) the built-in tiny encoder a source names.

    `build=None` builds a missing model unless XSTUDY_REQUIRE_PREPARED is set (then a miss is an error)."""
    from study.synthetic.pretraining import ensure_tiny_model, tiny_model_built, tiny_model_folder

    cfg = builtin_config(source)
    if build is None:
        build = not require_prepared()
    if not build and not tiny_model_built(cfg):
        raise NotPrepared(f"the built-in model {source.builtin} (mlm_steps {cfg.mlm_steps}) is not built in the cache "
                          f"(expected {tiny_model_folder(cfg)}); run `xstudy prepare SPEC` first, or unset "
                          f"{REQUIRE_PREPARED_ENV}")
    return str(ensure_tiny_model(cfg))


def hub_snapshot(source: HubSource) -> Path | None:
    """The hub model's snapshot folder in the local Hugging Face cache (what `xstudy prepare` downloads), found
    by its config; None when it is not there."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(source.hub, "config.json", revision=source.revision)
    return Path(found).parent if isinstance(found, str) else None


def hub_model_cached(source: HubSource) -> bool:
    return hub_snapshot(source) is not None


def prepare_builtin(sources: list[BuiltinSource]) -> list[str]:
    """Pretrain several built-in sizes at once, side by side.

    Each build is its own single-threaded process (`study.synthetic.pretraining.build_model`), so building the sizes
    together takes about as long as the largest alone instead of their sum. The shared tokenizer is built
    first.
    """
    import concurrent.futures
    import functools

    from study.synthetic.pretraining import TINY_SIZES, ensure_tokenizer

    if not sources:
        return []
    ensure_tokenizer(TINY_SIZES[sources[0].builtin])
    with concurrent.futures.ThreadPoolExecutor(len(sources)) as pool:
        return list(pool.map(functools.partial(ensure_builtin, build=True), sources))


def load_encoder(spec: ModelSpec) -> Encoder:
    location, kwargs = model_location(spec)
    config = AutoConfig.from_pretrained(location, **kwargs)
    if getattr(config, "is_encoder_decoder", False):
        # mT5 and T5: only the encoder serves classification, tagging, QA and retrieval.
        from transformers import MT5EncoderModel

        module = MT5EncoderModel.from_pretrained(location, **kwargs)
    else:
        module = AutoModel.from_pretrained(location, add_pooling_layer=False, **kwargs) if _has_pooler(config) else AutoModel.from_pretrained(location, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
    if getattr(spec, "gradient_checkpointing", False):
        # Non-reentrant: works under DDP and FSDP, and with inputs that need no gradient.
        module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    n_params = sum(p.numel() for p in module.parameters())
    return Encoder(module, tokenizer, n_params, location, shape_of(module, config))


def _has_pooler(config: Any) -> bool:
    # BERT-like models carry an unused pooler; dropping it avoids unused-parameter errors under DDP.
    return config.model_type in {"xlm-roberta", "xlm-roberta-xl", "roberta", "bert", "rembert"}


def autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)
