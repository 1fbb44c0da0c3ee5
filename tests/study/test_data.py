"""study.data: tokenized splits cached on disk, and the splits a trial keeps in memory (SplitMemory)."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

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
