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
    # Set only by `load_empty_encoder`: the module's parameters are on the meta device, to be filled from these.
    weights: PretrainedWeights | None = None


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
    """The pretrained encoder, whole, on this process's CPU (`from_pretrained`)."""
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


def load_empty_encoder(spec: ModelSpec) -> Encoder | None:
    """The encoder `load_encoder` gives, with every parameter on the meta device (no memory) and its buffers
    real (position ids and the like, as its constructor makes them), and `weights` to fill it from: for FSDP,
    which shards the empty module and fills each worker's shards from the safetensors files, reading only the
    rows that worker owns (`study.distributed.FullySharded.place_pretrained`), so that no worker holds the
    whole model, even on its host.

    None when the weights cannot be read that way: no safetensors file in the model's folder (a hub model not
    in the local cache), or a model parameter the files do not hold under its name (with or without the
    model's `base_model_prefix`; a tied parameter under any of its names), which `from_pretrained` would
    rename or initialise. The caller then uses `load_encoder`."""
    from accelerate import init_empty_weights

    location, kwargs = model_location(spec)
    files = safetensors_files(location, spec)
    if files is None:
        return None
    config = AutoConfig.from_pretrained(location, **kwargs)
    # As from_pretrained's dtype="auto": the config's dtype, else the checkpoint's.
    dtype = getattr(config, "dtype", None) or _checkpoint_dtype(files)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    with init_empty_weights(include_buffers=False):
        if getattr(config, "is_encoder_decoder", False):
            from transformers import MT5EncoderModel

            module = MT5EncoderModel._from_config(config, dtype=dtype)
        else:
            extra = {"add_pooling_layer": False} if _has_pooler(config) else {}
            module = AutoModel.from_config(config, dtype=dtype, trust_remote_code=kwargs.get("trust_remote_code", False), **extra)
    # accelerate's empty parameters are new objects at each registration, which unties what the constructor
    # tied (mT5's shared and encoder.embed_tokens): tie them again, as from_pretrained does.
    module.tie_weights()
    module.eval()  # as from_pretrained leaves it
    weights = PretrainedWeights.resolve(module, files)
    if weights is None:
        return None
    tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
    if getattr(spec, "gradient_checkpointing", False):
        module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    n_params = sum(p.numel() for p in module.parameters())
    return Encoder(module, tokenizer, n_params, location, shape_of(module, config), weights)


SAFETENSORS_INDEX = "model.safetensors.index.json"


def safetensors_files(location: str, spec: ModelSpec | None = None) -> list[Path] | None:
    """The safetensors files of the model at `location` (a folder, or a hub id found in the local cache):
    the files `model.safetensors.index.json` names, else `model.safetensors`; None when there are none."""
    import json

    folder = Path(location)
    if not folder.is_dir():
        source = spec.source if spec is not None else None
        folder = hub_snapshot(source) if isinstance(source, HubSource) else None
        if folder is None:
            return None
    if (folder / SAFETENSORS_INDEX).is_file():
        names = sorted(set(json.loads((folder / SAFETENSORS_INDEX).read_text())["weight_map"].values()))
        return [folder / n for n in names]
    return [folder / "model.safetensors"] if (folder / "model.safetensors").is_file() else None


def _checkpoint_dtype(files: list[Path]) -> torch.dtype:
    from safetensors import safe_open

    with safe_open(str(files[0]), "pt") as f:
        for key in f.keys():
            dtype = f.get_slice(key).get_dtype()
            if dtype in _SAFETENSORS_FLOATS:
                return _SAFETENSORS_FLOATS[dtype]
    return torch.get_default_dtype()


_SAFETENSORS_FLOATS = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64}


class PretrainedWeights:
    """Where each of a module's parameters (and persistent buffers) is in a checkpoint's safetensors files,
    read a slice of rows at a time (`rows`): only the bytes of those rows are read from the files."""

    def __init__(self, files: list[Path], where: dict[str, tuple[Path, str]]):
        self.files = files
        self.where = where  # module name -> (file, key in it); every name of a tied parameter
        self.bytes_read = 0

    @classmethod
    def resolve(cls, module: nn.Module, files: list[Path]) -> PretrainedWeights | None:
        """The names of `module`'s state found in `files` under the name, with the model's
        `base_model_prefix` added or removed; None when a parameter is not found."""
        from safetensors import safe_open

        keys: dict[str, Path] = {}
        for file in files:
            with safe_open(str(file), "pt") as f:
                keys.update({k: file for k in f.keys()})
        prefix = getattr(module, "base_model_prefix", "") or ""
        prefix = prefix + "." if prefix else ""

        def find(name: str) -> str | None:
            for key in (name, prefix + name, name[len(prefix):] if prefix and name.startswith(prefix) else None):
                if key is not None and key in keys:
                    return key
            return None

        names: dict[int, list[str]] = {}
        for name, p in module.named_parameters(remove_duplicate=False):
            names.setdefault(id(p), []).append(name)
        where: dict[str, tuple[Path, str]] = {}
        for group in names.values():
            found = next((k for k in map(find, group) if k is not None), None)
            if found is None:
                logging.getLogger(__name__).info("%s not in %s: the model is loaded whole", group[0], files[0].parent)
                return None
            where.update({n: (keys[found], found) for n in group})
        for name, _ in module.named_buffers():
            found = find(name)
            if found is not None:  # a persistent buffer the checkpoint holds; others keep their constructed values
                where[name] = (keys[found], found)
        return cls(files, where)

    def __contains__(self, name: str) -> bool:
        return name in self.where

    def rows(self, name: str, lo: int | None = None, hi: int | None = None) -> torch.Tensor:
        """Rows [lo, hi) (dim 0) of the named tensor, all of it when lo and hi are None."""
        from safetensors import safe_open

        file, key = self.where[name]
        # Opened for each read: safetensors maps the file, and the pages a read touched stay resident (and
        # count in the process's RSS) until the file is closed.
        with safe_open(str(file), "pt") as f:
            t = f.get_slice(key)[lo:hi] if lo is not None or hi is not None else f.get_tensor(key)
        self.bytes_read += t.numel() * t.element_size()
        return t


def _has_pooler(config: Any) -> bool:
    # BERT-like models carry an unused pooler; dropping it avoids unused-parameter errors under DDP.
    return config.model_type in {"xlm-roberta", "xlm-roberta-xl", "roberta", "bert", "rembert"}


def autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)
