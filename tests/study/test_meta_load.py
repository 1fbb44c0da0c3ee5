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
from pathlib import Path

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


def _refuse_full_loads():
    """Patches what reads a whole model (from_pretrained, safetensors' load_file) to fail, for the new path."""
    import contextlib
    from unittest import mock

    import safetensors.torch
    import transformers

    def refuse(*args, **kwargs):
        raise _FullLoadRefused("a full-state read on the meta-device path")

    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(transformers.PreTrainedModel, "from_pretrained", classmethod(refuse)))
    stack.enter_context(mock.patch.object(transformers.AutoModel, "from_pretrained", refuse))
    stack.enter_context(mock.patch.object(safetensors.torch, "load_file", refuse))
    stack.enter_context(mock.patch.object(torch, "load", refuse))
    return stack


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
