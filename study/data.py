"""Load a task's examples and tokenize them once, cached as Arrow by fingerprint.

The fingerprint covers the task, split, language, the tokenizer's full definition, the max length and the
format code's version, so trials, retries and restarts read the cache instead of tokenizing again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from filelock import FileLock

from study.cache import REQUIRE_PREPARED_ENV, NotPrepared, cache_root, fingerprint, require_prepared
from study.tasks.base import Features
from study.tasks.readers import TokenizationError
from study.tasks.registry import LoadContext, Task

FEATURES_VERSION = 3  # bump when a format's feature code changes, to invalidate cached features

datasets.disable_progress_bars()


@dataclass
class Split:
    """A task's examples in one (split, language) and their tokenized features."""

    task: Task
    split: str
    lang: str
    examples: list[dict]
    features: Features

    def __len__(self) -> int:
        return len(self.examples)


_FINGERPRINTS: dict[str, str] = {}  # sha256 of a backend tokenizer's JSON as serialised -> its fingerprint


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """The tokenizer's definition without its call state: a fast tokenizer stores the truncation and
    padding settings of its last call in the same JSON, which would otherwise change the fingerprint
    after the first tokenization and miss the cache.

    Worked out once per distinct JSON (`_FINGERPRINTS`, keyed by its hash): every split a trial reads asks
    for it (`split_folder`), and for a 250k-piece vocabulary (XLM-R's, 7.9 MB of JSON) parsing and sorting
    the definition takes about 1.2 s, against 0.1 s to serialise and hash it."""
    serialised = tokenizer.backend_tokenizer.to_str()
    key = hashlib.sha256(serialised.encode("utf-8")).hexdigest()
    if key not in _FINGERPRINTS:
        definition = json.loads(serialised)
        definition.pop("truncation", None)
        definition.pop("padding", None)
        _FINGERPRINTS[key] = hashlib.sha256(json.dumps(definition, sort_keys=True).encode("utf-8")).hexdigest()[:24]
    return _FINGERPRINTS[key]


def data_fingerprint(task: Task, split: str, lang: str, ctx: LoadContext) -> Any:
    """What identifies the raw data.

    Real tasks (a `DataSource` loader) say it themselves: for local release files, each file's resolved
    path, size and modification time, so an edited or replaced file is tokenized again; for the hub, the
    dataset id, config and split. The built-in benchmark is identified by its seed.
    """
    source = getattr(task.loader, "fingerprint", None)
    if source is not None:
        return {"source": source(split, lang, ctx)}
    return {"builtin_seed": ctx.builtin_seed, "data_dir": ctx.data_dir}


def split_folder(task: Task, split: str, lang: str, tokenizer: Any, max_length: int, ctx: LoadContext, train: bool) -> Path:
    """Where the cache keeps this (task, split, language) tokenized for this tokenizer and max length."""
    key = fingerprint(
        "split", task.name, split, lang, tokenizer_fingerprint(tokenizer), max_length, train,
        data_fingerprint(task, split, lang, ctx), FEATURES_VERSION,
    )
    return cache_root() / "data" / f"{task.name}-{split}-{lang}-{key}"


def ensure_split(task: Task, split: str, lang: str, tokenizer: Any, max_length: int, ctx: LoadContext, train: bool) -> tuple[Path, bool]:
    """Load and tokenize into the cache unless it is there already; (its folder, whether it was built now).

    With XSTUDY_REQUIRE_PREPARED set, a miss is an error naming the item (`xstudy prepare` makes it)."""
    folder = split_folder(task, split, lang, tokenizer, max_length, ctx, train)
    if folder.exists():
        return folder, False
    if require_prepared():
        raise NotPrepared(
            f"task {task.name}, split {split}, language {lang} is not tokenized in the cache for this model's "
            f"tokenizer ({getattr(tokenizer, 'name_or_path', '?')}) at max_length {max_length} (expected "
            f"{folder}); run `xstudy prepare SPEC` with the same XSTUDY_CACHE_DIR first, or unset "
            f"{REQUIRE_PREPARED_ENV} to let trials tokenize"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if folder.exists():
            return folder, False
        _build(folder, task, split, lang, tokenizer, max_length, ctx, train)
    return folder, True


def load_split(task: Task, split: str, lang: str, tokenizer: Any, max_length: int, ctx: LoadContext, train: bool) -> Split:
    folder, _ = ensure_split(task, split, lang, tokenizer, max_length, ctx, train)
    return _read(folder, task, split, lang)


SPLIT_MEMORY_ENV = "XSTUDY_SPLIT_MEMORY_MB"
SPLIT_MEMORY_MB = 1024  # default bound on the Arrow size of the splits a trial keeps in memory, MiB


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


class SplitMemory:
    """The splits one trial has read, kept for the trial's life, so that each milestone's evaluation does
    not read its ~20 target splits from the Arrow cache again.

    Bounded by the splits' Arrow size on disk: `XSTUDY_SPLIT_MEMORY_MB`, default 1024 MiB; 0 turns the
    memory off. As Python lists and dicts a split takes about 4-5x its Arrow size (tracemalloc on the
    built-in POS and NLI splits: 4.9x and 4.3x), so the default holds up to about 5 GiB of host memory per
    trial. A real study's target test sets are several hundred MiB of Arrow at max_length 128 (PAN-X's 40
    languages about 600 MiB, XNLI's 15 about 120 MiB). The least recently used split is dropped first; a
    split larger than the whole bound is read each time it is needed, as without the memory.
    Callers must not modify a Split they get: the next caller gets the same object.
    """

    def __init__(self, limit_bytes: int | None = None):
        if limit_bytes is None:
            limit_bytes = int(float(os.environ.get(SPLIT_MEMORY_ENV, SPLIT_MEMORY_MB)) * 2**20)
        self.limit_bytes = limit_bytes
        self.used_bytes = 0
        self._kept: OrderedDict[Path, tuple[Split, int]] = OrderedDict()
        self.loads = 0  # splits asked for
        self.reads = 0  # splits read from disk

    def load(self, task: Task, split: str, lang: str, tokenizer: Any, max_length: int, ctx: LoadContext, train: bool) -> Split:
        self.loads += 1
        folder, _ = ensure_split(task, split, lang, tokenizer, max_length, ctx, train)
        if folder in self._kept:
            self._kept.move_to_end(folder)
            return self._kept[folder][0]
        loaded = _read(folder, task, split, lang)
        self.reads += 1
        size = folder_bytes(folder)
        if size <= self.limit_bytes:
            while self.used_bytes + size > self.limit_bytes:
                _, (_, dropped) = self._kept.popitem(last=False)
                self.used_bytes -= dropped
            self._kept[folder] = (loaded, size)
            self.used_bytes += size
        return loaded


def _read(folder: Path, task: Task, split: str, lang: str) -> Split:
    examples = datasets.load_from_disk(str(folder / "examples")).to_list()
    features = datasets.load_from_disk(str(folder / "features")).to_dict()
    return Split(task, split, lang, examples, features)


def _build(folder: Path, task: Task, split: str, lang: str, tokenizer: Any, max_length: int, ctx: LoadContext, train: bool) -> None:
    examples = task.load(split, lang, ctx)
    if not examples:
        raise ValueError(f"task {task.name}: split {split!r} in language {lang!r} has no examples")
    features = tokenize(task, split, lang, examples, tokenizer, max_length, train)
    tmp = folder.with_name(f".tmp-{uuid.uuid4().hex}")
    try:
        datasets.Dataset.from_list(examples).save_to_disk(str(tmp / "examples"))
        datasets.Dataset.from_dict(features).save_to_disk(str(tmp / "features"))
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tokenize(task: Task, split: str, lang: str, examples: list[dict], tokenizer: Any, max_length: int, train: bool) -> Features:
    """The format's features of `examples`; any failure is a `TokenizationError` naming the task, split,
    language, tokenizer and max length. It would recur on every retry, so a trial does not retry it."""
    try:
        return task.format.features(examples, tokenizer, max_length, task, train)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a Rust panic in `tokenizers` is a BaseException (pyo3's PanicException)
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise TokenizationError(
            f"tokenization failed: {type(exc).__name__}: {str(exc)[:300]}",
            context=f"task {task.name}, split {split}, language {lang}",
            expected=f"examples that {task.format.name} features can be made of with the tokenizer "
                     f"{getattr(tokenizer, 'name_or_path', '?')!r} at max_length {max_length}") from exc
