"""FSDP loads an encoder without materialising it (study.model.load_empty_encoder,
study.distributed.FullySharded.place_pretrained): built on the meta device, sharded, and each worker's shards
read from the safetensors files, rows [r*c, min((r+1)*c, rows)) only.

Compared, on 2 gloo workers and on 1, with today's path (the whole model loaded by `from_pretrained`, then
sharded): every local shard and buffer is equal bit for bit, and so is a forward pass's output. Over the real
multilingual-e5-small (118M parameters, BERT, keys without prefix), and over two tiny folders that exercise
what a hub checkpoint may be: a BERT with its pooler, every key under `bert.`, stored in bf16 in two files
with `model.safetensors.index.json` (config dtype fp32, so cast); and an mT5 saved as the whole
encoder-decoder, sharded, with `shared` tied to `encoder.embed_tokens`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

REAL_MODEL = Path(__file__).resolve().parents[2] / ".cache" / "real-model"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join(rank: int, world: int, port: int) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)


def _tokenizer_into(folder: Path) -> None:
    """A tokenizer for a tiny folder: the built-in one, which every machine can build offline (the loaders read
    it, the forward passes use random ids), so these folders do not need the real model."""
    from study.synthetic.pretraining import TINY_SIZES, ensure_tokenizer

    source = ensure_tokenizer(TINY_SIZES["tiny"])
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, folder / name)


def _prefixed_bert(folder: Path) -> str:
    """A tiny BERT with its pooler, keys under `bert.`, bf16, in two safetensors files with an index."""
    import transformers
    from safetensors.torch import save_file

    folder.mkdir()
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=1001, hidden_size=24, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=40, max_position_embeddings=67)
    model = transformers.BertModel(config, add_pooling_layer=True)
    state = {f"bert.{k}": v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    keys = sorted(state)
    halves = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2], "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    for name, part in halves.items():
        save_file({k: state[k] for k in part}, str(folder / name), metadata={"format": "pt"})
    index = {"metadata": {}, "weight_map": {k: name for name, part in halves.items() for k in part}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    config.dtype = torch.float32
    config.save_pretrained(folder)
    _tokenizer_into(folder)
    assert any(k.startswith("bert.pooler.") for k in keys)
    return str(folder)


def _sharded_mt5(folder: Path) -> str:
    """A tiny mT5 saved whole (encoder and decoder), in several files, `shared` tied to the embeddings."""
    import transformers

    torch.manual_seed(0)
    config = transformers.MT5Config(vocab_size=1001, d_model=24, d_kv=6, d_ff=40, num_layers=2, num_heads=4,
                                    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    transformers.MT5ForConditionalGeneration(config).save_pretrained(folder, max_shard_size="100KB")
    _tokenizer_into(folder)
    assert (folder / "model.safetensors.index.json").is_file()
    return str(folder)


class _FullLoadRefused(AssertionError):
    pass


FULL_READERS = ("from_pretrained", "load_file", "torch.load")  # what `_watch_state_files` calls a read


def _where(file: Any) -> str:
    """The file a state function was given: a path as it is; a stream by its file's name, through the
    wrappers torch.distributed.checkpoint puts around it (`raw`, `base_stream`); an in-memory buffer as
    `<BytesIO>`."""
    given = file
    for _ in range(8):
        if isinstance(file, (str, os.PathLike)):
            return str(file)
        name = getattr(file, "name", None)
        if isinstance(name, (str, os.PathLike)):
            return str(name)
        file = getattr(file, "raw", None) or getattr(file, "base_stream", None)
        if file is None:
            break
    return f"<{type(given).__name__}>"


def _watch_state_files(seen: Callable[[str, str], None]):
    """Patches every function that reads or writes a whole model's state in one call to call
    `seen(function, file)` (`_where`) first, then do its work: from_pretrained (a model's and AutoModel's),
    safetensors.torch's load_file and save_file (and study.state_io's names for them), torch.load and
    torch.save (which torch.distributed.checkpoint calls too, once per tensor, on its own shard files).
    `seen` may raise, to refuse the call."""
    import contextlib
    from unittest import mock

    import safetensors.torch
    import transformers

    from study import state_io

    def watched(function: str, original: Callable, index: int, keyword: str) -> Callable:
        def call(*args, **kwargs):
            seen(function, _where(args[index] if len(args) > index else kwargs.get(keyword)))
            return original(*args, **kwargs)
        return call

    load_file, save_file = safetensors.torch.load_file, safetensors.torch.save_file
    model_load = watched("from_pretrained", transformers.PreTrainedModel.from_pretrained.__func__, 1,
                         "pretrained_model_name_or_path")
    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(transformers.PreTrainedModel, "from_pretrained", classmethod(model_load)))
    stack.enter_context(mock.patch.object(transformers.AutoModel, "from_pretrained", watched(
        "from_pretrained", transformers.AutoModel.from_pretrained, 0, "pretrained_model_name_or_path")))
    for owner in (safetensors.torch, state_io):
        stack.enter_context(mock.patch.object(owner, "load_file", watched("load_file", load_file, 0, "filename")))
        stack.enter_context(mock.patch.object(owner, "save_file", watched("save_file", save_file, 1, "filename")))
    stack.enter_context(mock.patch.object(torch, "load", watched("torch.load", torch.load, 0, "f")))
    stack.enter_context(mock.patch.object(torch, "save", watched("torch.save", torch.save, 1, "f")))
    return stack


def _refuse_full_loads():
    """Patches what reads a whole model (`FULL_READERS`) to fail, for the new path."""

    def refuse(function: str, file: str) -> None:
        if function in FULL_READERS:
            raise _FullLoadRefused(f"a full-state read on the meta-device path: {function}({file})")

    return _watch_state_files(refuse)


def _compare_worker(rank: int, world: int, port: int, folders: list[str], out: str) -> None:
    import torch.distributed as dist

    from study.distributed import FullySharded
    from study.model import load_empty_encoder, load_encoder
    from study.spec import ModelSpec

    _join(rank, world, port)
    try:
        got = {}
        for folder in folders:
            spec = ModelSpec(name="m", source={"path": folder}, steps=[0])
            ref = load_encoder(spec)
            FullySharded(torch.device("cpu"), "fp32").place(ref.module)
            with _refuse_full_loads():
                new = load_empty_encoder(spec)
                assert new is not None, folder
                weights = new.weights
                sharded = FullySharded(torch.device("cpu"), "fp32")
                sharded.place_pretrained(new.module, weights)
            report = {"n_params": (ref.n_params, new.n_params), "bytes_read": weights.bytes_read,
                      "training": (ref.module.training, new.module.training)}
            ref_params, new_params = dict(ref.module.named_parameters()), dict(new.module.named_parameters())
            report["names"] = list(ref_params) == list(new_params)
            report["params_differ"] = [n for n in ref_params if not (
                ref_params[n].dtype == new_params[n].dtype and ref_params[n].placements == new_params[n].placements
                and torch.equal(ref_params[n].to_local(), new_params[n].to_local()))]
            report["param_bytes"] = sum(p.numel() * p.element_size() for p in ref_params.values())
            ref_buffers, new_buffers = dict(ref.module.named_buffers()), dict(new.module.named_buffers())
            report["buffers_differ"] = [n for n in ref_buffers if n not in new_buffers or not torch.equal(ref_buffers[n], new_buffers[n])]
            report["buffers"] = sorted(ref_buffers)
            g = torch.Generator().manual_seed(1)
            ids = torch.randint(5, 1000, (3, 11), generator=g)
            mask = torch.ones_like(ids)
            mask[1, 7:] = 0
            with torch.no_grad():
                a = ref.module(input_ids=ids, attention_mask=mask).last_hidden_state
                b = new.module(input_ids=ids, attention_mask=mask).last_hidden_state
                FullySharded.reshard(new.module)
                copy = sharded.clone(new.module)  # a copy of the filled module (a cooldown branch)
                c = copy(input_ids=ids, attention_mask=mask).last_hidden_state
            report["forward_equal"] = torch.equal(a, b)
            report["clone_equal"] = torch.equal(a, c)
            got[Path(folder).name] = report
        torch.save(got, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    if not (REAL_MODEL / "model.safetensors").is_file():
        pytest.skip(f"no real model at {REAL_MODEL}")
    root = tmp_path_factory.mktemp("models")
    return [str(REAL_MODEL), _prefixed_bert(root / "prefixed-bert"), _sharded_mt5(root / "sharded-mt5")]


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 1])
def test_meta_load_equals_full_load_then_shard(folders, tmp_path, world):
    import torch.multiprocessing as mp

    out = str(tmp_path / "got.pt")
    mp.spawn(_compare_worker, args=(world, _free_port(), folders, out), nprocs=world)
    for rank in range(world):
        for name, r in torch.load(f"{out}.{rank}").items():
            where = f"{name}, rank {rank} of {world}"
            assert r["names"], where
            assert r["params_differ"] == [], where
            assert r["buffers_differ"] == [], where
            assert r["n_params"][0] == r["n_params"][1], where
            assert r["training"][0] == r["training"][1], where
            assert r["forward_equal"] and r["clone_equal"], where
            # Each worker read only its rows: 1/world of the weights, and the (few) buffers it needs.
            assert r["bytes_read"] <= r["param_bytes"] / world * 1.02 + 64 * 1024, (where, r["bytes_read"], r["param_bytes"])
    real = torch.load(f"{out}.0")["real-model"]
    assert "embeddings.position_ids" in real["buffers"]  # a non-persistent buffer, put back after to_empty


def test_no_safetensors_keeps_the_full_load(tmp_path):
    """A folder whose weights are not in safetensors (here: none at all) is not loaded empty."""
    from study.model import safetensors_files

    (tmp_path / "config.json").write_text("{}")
    assert safetensors_files(str(tmp_path)) is None
    assert safetensors_files("some/hub-id-not-cached") is None


def test_empty_encoder_is_on_the_meta_device_with_real_buffers(tmp_path):
    """No process group needed: the module's parameters are meta, its buffers real, and every parameter
    is found in the files; a parameter stored under another name (an old `LayerNorm.gamma`) makes the
    caller load the model whole."""
    from safetensors.torch import load_file, save_file

    from study.model import load_empty_encoder
    from study.spec import ModelSpec

    folder = Path(_prefixed_bert(tmp_path / "bert"))
    encoder = load_empty_encoder(ModelSpec(name="m", source={"path": str(folder)}, steps=[0]))
    assert encoder is not None and not encoder.module.training
    assert {p.device.type for p in encoder.module.parameters()} == {"meta"}
    assert {b.device.type for b in encoder.module.buffers()} == {"cpu"}
    assert set(dict(encoder.module.named_parameters())) <= set(encoder.weights.where)
    assert encoder.n_params == sum(p.numel() for p in encoder.module.parameters())
    # Keys under `bert.`; the pooler is in the files, not in the model (load_encoder drops it too).
    read = {key for _, key in encoder.weights.where.values()}
    assert all(k.startswith("bert.") for k in read) and not any(k.startswith("bert.pooler.") for k in read)

    first = folder / "model-00001-of-00002.safetensors"
    state = load_file(str(first))
    renamed = next(k for k in state if k.endswith("LayerNorm.weight"))
    state[renamed.replace("LayerNorm.weight", "LayerNorm.gamma")] = state.pop(renamed)
    save_file(state, str(first), metadata={"format": "pt"})
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    index["weight_map"][renamed.replace("LayerNorm.weight", "LayerNorm.gamma")] = index["weight_map"].pop(renamed)
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert load_empty_encoder(ModelSpec(name="m", source={"path": str(folder)}, steps=[0])) is None
