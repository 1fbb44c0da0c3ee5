"""Tiny XLM-R builds: offline loading, caching by fingerprint, and a tokenizer that keeps words whole."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import threading
import time

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from study.synthetic import pretraining
from study.synthetic.benchmark import BUILTIN_LANGUAGES, benchmark
from study.synthetic.pretraining import TINY_SIZES, TinyModelConfig, ensure_tiny_model

# Seconds-scale build: a 1-layer encoder, 30 MLM steps on 600 sentences per language.
SMALL = TinyModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, mlm_steps=30,
                        batch_size=16, seq_len=32, learning_rate=5e-3, corpus_sentences_per_language=600)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def built(cache):
    return ensure_tiny_model(SMALL, cache)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_build_loads_offline_as_an_xlmr_encoder_and_fast_tokenizer(built):
    model = AutoModel.from_pretrained(built)
    tokenizer = AutoTokenizer.from_pretrained(built)
    assert model.config.model_type == "xlm-roberta"
    assert type(model).__name__ == "XLMRobertaModel"
    assert model.config.hidden_size == SMALL.hidden_size and model.config.num_hidden_layers == SMALL.num_layers
    assert tokenizer.is_fast and model.config.vocab_size == len(tokenizer)
    enc = tokenizer(["Anna ate the apple .", "Boris read 3 books ."], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc).last_hidden_state
    assert out.shape == (2, enc["input_ids"].shape[1], SMALL.hidden_size) and torch.isfinite(out).all()
    # Weights are safetensors only: nothing that needs unpickling.
    suffixes = {p.suffix for p in built.iterdir()}
    assert ".safetensors" in suffixes and not suffixes & {".bin", ".pt", ".pkl", ".pth"}


def test_pretrain_record(built):
    info = json.loads((built / "pretrain.json").read_text())
    assert info["config"] == dataclasses.asdict(SMALL)
    assert info["fingerprint"] == SMALL.fingerprint() and SMALL.fingerprint()[:16] in built.name
    model = AutoModel.from_pretrained(built, add_pooling_layer=False)
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["parameters"] == pretraining.encoder_parameters(SMALL, AutoTokenizer.from_pretrained(built))
    assert info["wall_seconds"] > 0 and info["final_mlm_loss"] < info["initial_mlm_loss"]


def test_second_call_is_a_cache_hit(built, cache, monkeypatch):
    stamp = (built / "pretrain.json").stat().st_mtime_ns

    def no_rebuild(*args, **kwargs):
        raise AssertionError("a cached model was pretrained again")

    monkeypatch.setattr(pretraining, "build_model", no_rebuild)
    start = time.perf_counter()
    again = ensure_tiny_model(SMALL, cache)
    assert again == built and time.perf_counter() - start < 1.0
    assert (built / "pretrain.json").stat().st_mtime_ns == stamp


def test_fingerprint_follows_every_field():
    base = SMALL.fingerprint()
    assert base == dataclasses.replace(SMALL).fingerprint()
    changes = {"hidden_size": 64, "num_layers": 2, "mlm_steps": 31, "learning_rate": 1e-3, "seed": 1,
               "benchmark_seed": 1, "corpus_sentences_per_language": 601, "code_switch_rate": 0.0}
    prints = {dataclasses.replace(SMALL, **{k: v}).fingerprint() for k, v in changes.items()}
    assert base not in prints and len(prints) == len(changes)
    # The tokenizer is shared across architectures, and changes with its corpus.
    assert dataclasses.replace(SMALL, hidden_size=64).tokenizer_fingerprint() == SMALL.tokenizer_fingerprint()
    assert dataclasses.replace(SMALL, benchmark_seed=1).tokenizer_fingerprint() != SMALL.tokenizer_fingerprint()


def test_tokenizer_keeps_every_generated_word_one_token(built):
    tokenizer = AutoTokenizer.from_pretrained(built)
    bench = benchmark(SMALL.benchmark_seed)
    for lang in BUILTIN_LANGUAGES:
        words = sorted(bench.vocabulary(lang))
        enc = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
        assert len(enc["input_ids"]) == len(words), lang
        assert tokenizer.unk_token_id not in enc["input_ids"], lang
        assert enc.word_ids() == list(range(len(words)))


def test_tokenizer_offsets_pairs_and_special_tokens(built):
    tokenizer = AutoTokenizer.from_pretrained(built)
    text = "Anna never ate the red apple ."
    enc = tokenizer(text, return_offsets_mapping=True)
    words = [text[a:b] for a, b in enc["offset_mapping"] if b > a]
    assert words == text.split()
    assert tokenizer.convert_ids_to_tokens(enc["input_ids"])[0] == "<s>"
    assert tokenizer.convert_ids_to_tokens(enc["input_ids"])[-1] == "</s>"
    pair = tokenizer.convert_ids_to_tokens(tokenizer("Anna ate .", "Anna ate .")["input_ids"])
    assert pair.count("</s>") == 3  # XLM-R pairs: <s> A </s></s> B </s>
    assert (tokenizer.pad_token, tokenizer.unk_token, tokenizer.mask_token) == ("<pad>", "<unk>", "<mask>")
    # Unseen words fall back to characters instead of vanishing.
    assert tokenizer.unk_token_id not in tokenizer("Anna ate qqq .")["input_ids"]


def test_concurrent_builds_happen_once(cache, monkeypatch):
    calls = []
    real = pretraining.build_model

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pretraining, "build_model", counting)
    cfg = dataclasses.replace(SMALL, mlm_steps=5, seed=7)
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(ensure_tiny_model(cfg, cache))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(paths)) == 1 and (paths[0] / "pretrain.json").is_file()
    assert not [p for p in cache.iterdir() if ".tmp-" in p.name]  # no half-built leftovers


def _weights_digest(folder) -> str:
    import hashlib

    from safetensors.torch import load_file

    weights = load_file(str(folder / "model.safetensors"))
    return hashlib.sha256(b"".join(weights[k].numpy().tobytes() for k in sorted(weights))).hexdigest()


@pytest.mark.slow
def test_weights_do_not_depend_on_the_callers_threads_or_cpu_kernels(tmp_path, monkeypatch):
    # Unpinned, 2 threads instead of 1, or AVX2 kernels instead of the generic ones, each gave other weights
    # after a few steps. The build pins them in its own process: two callers that differ in both agree.
    import torch

    cfg = dataclasses.replace(SMALL, mlm_steps=20, seed=3)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        first = ensure_tiny_model(cfg, tmp_path / "a")
        monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        torch.set_num_threads(2)
        second = ensure_tiny_model(cfg, tmp_path / "b")
    finally:
        torch.set_num_threads(threads)
    assert _weights_digest(first) == _weights_digest(second)
    numerics = json.loads((second / "pretrain.json").read_text())["numerics"]
    assert numerics["torch_threads"] == 1 and numerics["cpu_capability"] == "DEFAULT" and not numerics["mkldnn"]


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("XSTUDY_CACHE_DIR", str(tmp_path))
    assert pretraining.default_cache_dir() == tmp_path / "models"
    monkeypatch.delenv("XSTUDY_CACHE_DIR")
    assert pretraining.default_cache_dir().parts[-3:] == (".cache", "xstudy", "models")


def test_the_default_sizes_get_the_same_pretraining_tokens_per_parameter():
    """A fair budget for each size: steps in proportion to parameters (the compute-optimal direction,
    tokens growing with parameters), over batches of one shape so that steps stand for tokens."""
    tiny, small = TINY_SIZES["tiny"], TINY_SIZES["small"]
    assert (tiny.batch_size, tiny.seq_len, tiny.corpus_sentences_per_language) == (
        small.batch_size, small.seq_len, small.corpus_sentences_per_language)
    tokenizer = AutoTokenizer.from_pretrained(str(pretraining.ensure_tokenizer(tiny)))
    parameters = {name: pretraining.encoder_parameters(cfg, tokenizer) for name, cfg in TINY_SIZES.items()}
    assert parameters["small"] > 3 * parameters["tiny"]
    steps_per_parameter = {name: TINY_SIZES[name].mlm_steps / parameters[name] for name in TINY_SIZES}
    assert steps_per_parameter["small"] == pytest.approx(steps_per_parameter["tiny"], rel=0.02)
    # The demo's spec states its budgets; they keep the same ratio.
    from study.model import builtin_config
    from study.spec import BuiltinSource, load_spec

    demo = load_spec(pathlib.Path(__file__).resolve().parents[3] / "search_spaces" / "smoke.yaml")
    stated = {m.source.builtin: builtin_config(m.source).mlm_steps / parameters[m.source.builtin]
              for m in demo.models if isinstance(m.source, BuiltinSource)}
    assert set(stated) == {"tiny", "small"}
    assert stated["small"] == pytest.approx(stated["tiny"], rel=0.02)


def test_default_sizes_differ_and_configs_are_validated():
    tiny, small = TINY_SIZES["tiny"], TINY_SIZES["small"]
    assert (tiny.hidden_size, tiny.num_layers) < (small.hidden_size, small.num_layers)
    with pytest.raises(ValueError, match="num_heads"):
        TinyModelConfig(hidden_size=30, num_heads=4)
    with pytest.raises(ValueError, match="seq_len"):
        TinyModelConfig(seq_len=1000)
