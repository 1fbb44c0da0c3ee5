"""Pickled weights as the hub serves XLM-R XXL and mT5-XXL (one `pytorch_model.bin`, no safetensors): read with
weights_only and memory-mapped, converted once to sharded safetensors in the cache, and loaded from there by
trials without unpickling anything. Tested with a tiny model saved the same way: a .bin-only folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from helpers import TEST_MLM_STEPS, small_spec
from study import prepare as preparing
from study import weights
from study.cache import REQUIRE_PREPARED_ENV, NotPrepared
from study.spec import BuiltinSource, ModelSpec


@pytest.fixture(scope="module")
def tiny_folder() -> Path:
    from study.model import ensure_builtin

    return Path(ensure_builtin(BuiltinSource(builtin="tiny", mlm_steps=TEST_MLM_STEPS)))


@pytest.fixture
def pickled(tiny_folder, tmp_path, monkeypatch) -> Path:
    """The tiny model as the XXL repositories ship theirs: config, tokenizer, and one torch.save'd state dict."""
    folder = tmp_path / "xxl-like"
    folder.mkdir()
    for item in tiny_folder.iterdir():
        if item.is_file() and item.suffix != ".safetensors":
            shutil.copy2(item, folder / item.name)
    torch.save(load_file(tiny_folder / "model.safetensors"), folder / "pytorch_model.bin")
    monkeypatch.setenv("XSTUDY_CACHE_DIR", str(tmp_path / "cache"))  # conversions go to this test's own cache
    return folder


@pytest.fixture
def loads(monkeypatch) -> list[dict]:
    """Every torch.load call's keyword arguments (the calls go through)."""
    calls, real = [], torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    return calls


def no_unpickling(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(torch, "load", refuse)


def test_a_pickled_folder_is_converted_once_with_weights_only_and_mmap(pickled, loads, tiny_folder):
    assert weights.pickled_weights(pickled) == [pickled / "pytorch_model.bin"]
    assert weights.pickled_weights(tiny_folder) == [], "a folder with safetensors is loaded as it is"
    out, made = weights.ensure_safetensors(pickled)
    assert made and out.parent == Path(weights.cache_root()) / "models"
    assert loads == [{"map_location": "cpu", "weights_only": True, "mmap": True}]
    assert {"config.json", "tokenizer.json", "model.safetensors"} <= {p.name for p in out.iterdir()}
    assert not list(out.glob("*.bin"))
    original = load_file(tiny_folder / "model.safetensors")
    converted = load_file(out / "model.safetensors")
    assert converted.keys() <= original.keys()  # tied copies are written once
    for name, tensor in converted.items():
        assert torch.equal(tensor, original[name]), name
    assert weights.ensure_safetensors(pickled) == (out, False) and len(loads) == 1, "converted once"


def test_trials_load_the_conversion_without_unpickling(pickled, tiny_folder, monkeypatch):
    from study.model import load_encoder

    spec = ModelSpec(name="xxl", source={"path": str(pickled)}, steps=[0])
    weights.ensure_safetensors(pickled)
    no_unpickling(monkeypatch)
    encoder = load_encoder(spec)
    assert encoder.location == str(weights.converted_folder(pickled))
    reference = load_encoder(ModelSpec(name="ref", source={"path": str(tiny_folder)}, steps=[0])).module.state_dict()
    for name, tensor in encoder.module.state_dict().items():
        assert torch.equal(tensor, reference[name]), name
    assert encoder.tokenizer("Hallo")["input_ids"]


def test_shards_and_their_index_load_as_one_model(pickled):
    from transformers import AutoModel

    out = weights.convert(pickled, pickled.parent / "sharded", shard_size="100KB")
    shards = sorted(p.name for p in out.glob("model-*.safetensors"))
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(shards) > 2 and sorted(set(index["weight_map"].values())) == shards
    model = AutoModel.from_pretrained(out, add_pooling_layer=False)
    reference = torch.load(pickled / "pytorch_model.bin", weights_only=True)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, reference.get(name, reference.get(f"roberta.{name}"))), name


class NotATensor:
    pass


def test_a_pickle_with_other_objects_is_refused_with_its_name(pickled):
    torch.save({"embeddings.weight": torch.zeros(2), "extra": NotATensor()}, pickled / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"pytorch_model\.bin: not a file of tensors only.*weights_only=True"):
        weights.ensure_safetensors(pickled)
    assert not weights.converted_folder(pickled).exists()


def test_require_prepared_refuses_to_convert_in_a_trial(pickled, monkeypatch):
    from study.model import model_location

    monkeypatch.setenv(REQUIRE_PREPARED_ENV, "1")
    with pytest.raises(NotPrepared, match="xstudy prepare"):
        model_location(ModelSpec(name="xxl", source={"path": str(pickled)}, steps=[0]))


def test_prepare_converts_and_run_finds_it_prepared(pickled):
    spec = small_spec(str(pickled.parent / "out"), intermediate_tasks=["none"],
                      target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}],
                      models=[{"name": "xxl", "source": {"path": str(pickled)}, "max_length": 48, "steps": [0]}])
    lacking = preparing.missing(spec)
    assert lacking[0].kind == "model" and lacking[0].what.endswith("as safetensors") and lacking[0].status == "missing"
    assert not weights.converted_folder(pickled).exists(), "missing() makes nothing"
    items = preparing.prepare(spec)
    converted = [i for i in items if i.what.endswith("as safetensors")]
    assert [i.status for i in converted] == ["built"] and converted[0].where == str(weights.converted_folder(pickled))
    assert preparing.missing(spec) == []
    assert not [i for i in preparing.prepare(spec) if i.what.endswith("as safetensors")], "converted once"


def test_a_hub_snapshot_with_only_a_pickle_loads_its_conversion(pickled, tmp_path, monkeypatch):
    import huggingface_hub

    from study.model import model_location

    hub_cache = tmp_path / "hf"
    snapshot = hub_cache / "models--facebook--xlm-roberta-xxl" / "snapshots" / "abc123"
    shutil.copytree(pickled, snapshot)
    (hub_cache / "models--facebook--xlm-roberta-xxl" / "refs").mkdir()
    (hub_cache / "models--facebook--xlm-roberta-xxl" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    spec = ModelSpec(name="xxl", source={"hub": "facebook/xlm-roberta-xxl"}, steps=[0])
    monkeypatch.setenv(REQUIRE_PREPARED_ENV, "1")
    with pytest.raises(NotPrepared, match="pickled weights"):
        model_location(spec)
    monkeypatch.delenv(REQUIRE_PREPARED_ENV)
    location, kwargs = model_location(spec)
    assert location == str(weights.converted_folder(snapshot)) and "local_files_only" not in kwargs
