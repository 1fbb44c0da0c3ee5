"""study.data: tokenized splits cached on disk, and the splits a trial keeps in memory (SplitMemory)."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from study import data as data_module
from study.data import SplitMemory, ensure_split, folder_bytes, load_split
from study.model import ensure_builtin
from study.spec import BuiltinSource
from study.tasks import registry
from study.tasks.registry import LoadContext
from helpers import TEST_MLM_STEPS


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(ensure_builtin(BuiltinSource(builtin="tiny", mlm_steps=TEST_MLM_STEPS)))


PARTS = [("builtin_pos", "test", "xa"), ("builtin_pos", "test", "xb"), ("builtin_xnli", "test", "xa")]


def _args(tokenizer, task, split, lang):
    return registry.get(task), split, lang, tokenizer, 32, LoadContext(), False


def test_a_kept_split_is_read_once_and_equals_what_the_disk_holds(tokenizer):
    memory = SplitMemory(limit_bytes=10**9)
    first = memory.load(*_args(tokenizer, *PARTS[0]))
    again = memory.load(*_args(tokenizer, *PARTS[0]))
    assert again is first and memory.reads == 1
    fresh = load_split(*_args(tokenizer, *PARTS[0]))
    assert first.examples == fresh.examples and first.features == fresh.features


def test_the_bound_drops_the_least_recently_used_and_a_split_above_it_is_read_each_time(tokenizer):
    sizes = [folder_bytes(ensure_split(*_args(tokenizer, *part))[0]) for part in PARTS]
    memory = SplitMemory(limit_bytes=sizes[0] + sizes[1])  # room for the first two only
    memory.load(*_args(tokenizer, *PARTS[0]))
    memory.load(*_args(tokenizer, *PARTS[1]))
    memory.load(*_args(tokenizer, *PARTS[0]))  # now the most recent: PARTS[1] goes first
    assert memory.reads == 2
    memory.load(*_args(tokenizer, *PARTS[2]))
    assert memory.used_bytes <= memory.limit_bytes
    memory.load(*_args(tokenizer, *PARTS[0]))
    assert memory.reads == 3, "PARTS[0] stayed"
    memory.load(*_args(tokenizer, *PARTS[1]))
    assert memory.reads == 4, "PARTS[1] was dropped"

    small = SplitMemory(limit_bytes=min(sizes) - 1)
    small.load(*_args(tokenizer, *PARTS[0]))
    small.load(*_args(tokenizer, *PARTS[0]))
    assert small.reads == 2 and small.used_bytes == 0


def test_the_bound_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("XSTUDY_SPLIT_MEMORY_MB", "0")
    assert SplitMemory().limit_bytes == 0
    monkeypatch.delenv("XSTUDY_SPLIT_MEMORY_MB")
    assert SplitMemory().limit_bytes == 1024 * 2**20


def test_tokenized_splits_are_cached_and_rebuilt_when_files_change(tmp_path, monkeypatch, tokenizer):
    monkeypatch.setenv("XSTUDY_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "data" / "tatoeba").mkdir(parents=True)
    src = tmp_path / "data" / "tatoeba" / "tatoeba.deu-eng.deu"
    src.write_text("Hallo Welt\nGuten Tag\n", encoding="utf-8")
    (tmp_path / "data" / "tatoeba" / "tatoeba.deu-eng.eng").write_text("Hello world\nGood day\n", encoding="utf-8")
    task, ctx = registry.get("tatoeba"), LoadContext(data_dir=str(tmp_path / "data"))
    first = load_split(task, "test", "de", tokenizer, 32, ctx, train=False)
    assert len(first) == 2 and len(first.features["input_ids"]) == 2

    def no_build(*args, **kwargs):
        raise AssertionError("tokenized again although nothing changed")

    monkeypatch.setattr(data_module, "_build", no_build)
    again = load_split(task, "test", "de", tokenizer, 32, ctx, train=False)
    assert again.features == first.features and again.examples == first.examples
    monkeypatch.undo()
    monkeypatch.setenv("XSTUDY_CACHE_DIR", str(tmp_path / "cache"))
    src.write_text("Hallo Welt\nGuten Abend\n", encoding="utf-8")
    changed = load_split(task, "test", "de", tokenizer, 32, ctx, train=False)
    assert changed.examples[1]["source"] == "Guten Abend"
    assert len(list((tmp_path / "cache" / "data").glob("tatoeba-test-de-*[!k]"))) == 2


def test_the_tokenizer_fingerprint_ignores_the_call_state_and_parses_each_definition_once(tokenizer, monkeypatch):
    import hashlib
    import json

    from study.data import tokenizer_fingerprint

    data_module._FINGERPRINTS.clear()
    parsed = []
    loads = json.loads
    monkeypatch.setattr(json, "loads", lambda s, *a, **k: parsed.append(len(s)) or loads(s, *a, **k))
    first = tokenizer_fingerprint(tokenizer)
    assert tokenizer_fingerprint(tokenizer) == first and len(parsed) == 1, "asked again: not parsed again"
    tokenizer(["a b c d e f g h"], truncation=True, max_length=4, padding="max_length")  # a call state in the JSON
    assert tokenizer_fingerprint(tokenizer) == first and len(parsed) == 2, "another JSON, the same definition"
    # The key the cache on disk had before the fingerprint was kept per JSON, so its splits are still found.
    definition = loads(tokenizer.backend_tokenizer.to_str())
    definition.pop("truncation", None)
    definition.pop("padding", None)
    assert first == hashlib.sha256(json.dumps(definition, sort_keys=True).encode("utf-8")).hexdigest()[:24]
