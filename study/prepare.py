"""`xstudy prepare SPEC`: download and tokenize, once, everything the study's trials will read.

Trials load their encoder and their tokenized data from the machine-wide cache (`XSTUDY_CACHE_DIR`, else
`~/.cache/xstudy`) and the Hugging Face cache (`HF_HOME`); whatever is missing there, each trial would
otherwise download or tokenize on its own, many trials at once. `prepare` fills both caches first:

- built-in tiny models: pretrained (the sizes side by side), as `ensure_builtin` would in a trial;
- hub models: a snapshot of the repository into the Hugging Face cache (PyTorch weights only: safetensors
  when the repository has them, else `*.bin`; no TensorFlow, Flax or ONNX files); local `path` models are
  checked to exist. A model whose only weights are pickled (`pytorch_model.bin`: XLM-R XXL, mT5-XXL) is
  converted once to sharded safetensors in the cache (`study.weights`), which every trial then loads;
- data: every (task, split, language) the trials read (`inspect_data.study_splits`: intermediate tasks'
  English train and dev, each target's English train and dev and its test languages), loaded (from
  release files or the hub) and tokenized for each model's tokenizer and `max_length`, exactly as a trial
  asks for it, so the trial's `load_split` finds it by the same fingerprint.

Everything is keyed by fingerprint, so running it again only makes what is missing. With the environment
variable `XSTUDY_REQUIRE_PREPARED=1`, trials never make anything: a miss is an error naming the item.

On a cluster the caches must be where the trials look: set `XSTUDY_CACHE_DIR` (and `HF_HOME`) to a
shared file system on every node, and run `xstudy prepare` once on one of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from study.cache import cache_root
from study.spec import BuiltinSource, HubSource, ModelSpec, StudySpec
from study.weights import ensure_safetensors

# Files of other frameworks that a PyTorch trial never reads.
HUB_IGNORE = ["*.h5", "*.msgpack", "*.onnx", "*.onnx_data", "onnx/*", "*.tflite", "*.ot", "*.mlmodel", "coreml/*",
              "openvino/*", "tf_model*", "flax_model*", "rust_model*"]
TORCH_PICKLES = ["*.bin", "*.pt", "*.pth"]  # skipped when the repository has safetensors weights

CACHED, BUILT, DOWNLOADED, MISSING = "cached", "built", "downloaded", "missing"


@dataclass
class Item:
    """One thing the trials need: a model, or one (task, split, language) tokenized for one model."""

    kind: str  # "model" or "data"
    what: str  # e.g. "tiny (builtin tiny, mlm_steps 60)" or "builtin_pos train en"
    model: str  # the spec's model name (for data: the model whose tokenizer and max_length it is for)
    status: str  # cached, built, downloaded or missing
    where: str = ""  # the folder (or hub id) it is in
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------- what is needed
def data_needs(spec: StudySpec) -> list[tuple[str, str, str, bool]]:
    """Every (task, split, language, train) a trial reads. `train` is what the trial passes to `load_split`
    (True for training splits only), and is part of the cache's fingerprint."""
    from study.inspect_data import study_splits

    return [(task, split, lang, split == "train") for task, split, lang in study_splits(spec)]


def _describe(model: ModelSpec) -> str:
    source = model.source
    if isinstance(source, BuiltinSource):
        from study.model import builtin_config

        return f"{model.name} (builtin {source.builtin}, mlm_steps {builtin_config(source).mlm_steps})"
    if isinstance(source, HubSource):
        return f"{model.name} (hub {source.hub}{'@' + source.revision if source.revision else ''})"
    return f"{model.name} (path {source.path})"


def _tokenizer_key(model: ModelSpec) -> tuple:
    """Models whose tokenizer comes from the same place share their tokenized data (at equal max_length)."""
    return (model.source.model_dump_json(), model.max_length)


# ------------------------------------------------------------------------------------------------ models
def fetch_hub_model(source: HubSource) -> str:
    """Snapshot a hub model into the Hugging Face cache (PyTorch weights, config, tokenizer); its folder."""
    from huggingface_hub import HfApi, snapshot_download

    ignore = list(HUB_IGNORE)
    try:
        files = HfApi().list_repo_files(source.hub, revision=source.revision)
    except Exception:  # noqa: BLE001 - offline, or no listing: download what the snapshot has
        files = []
    if any(f.endswith(".safetensors") for f in files):
        ignore += TORCH_PICKLES
    return snapshot_download(source.hub, revision=source.revision, ignore_patterns=ignore)


def _model_status(model: ModelSpec) -> tuple[str, str]:
    """(cached or missing, where) without making anything."""
    source = model.source
    if isinstance(source, BuiltinSource):
        from study.model import builtin_config
        from study.synthetic.pretraining import tiny_model_built, tiny_model_folder

        cfg = builtin_config(source)
        return (CACHED if tiny_model_built(cfg) else MISSING), str(tiny_model_folder(cfg))
    if isinstance(source, HubSource):
        from study.model import hub_model_cached

        return (CACHED if hub_model_cached(source) else MISSING), source.hub
    import os

    return (CACHED if os.path.isdir(source.path) else MISSING), source.path


def _prepare_models(spec: StudySpec, report: Callable[[Item], None]) -> list[Item]:
    from study.model import builtin_config, prepare_builtin
    from study.synthetic.pretraining import tiny_model_folder

    items: list[Item] = []
    to_build: dict[Any, tuple[BuiltinSource, list[ModelSpec]]] = {}
    for model in spec.models:
        status, where = _model_status(model)
        source = model.source
        if status == MISSING and isinstance(source, BuiltinSource):
            to_build.setdefault(builtin_config(source), (source, []))[1].append(model)
            continue
        if status == CACHED:
            items.append(Item("model", _describe(model), model.name, CACHED, where))
        elif isinstance(source, HubSource):
            start = time.perf_counter()
            folder = fetch_hub_model(source)
            items.append(Item("model", _describe(model), model.name, DOWNLOADED, folder, time.perf_counter() - start))
        else:
            raise FileNotFoundError(f"model {model.name}: source.path {source.path!r} is not a folder")
        report(items[-1])
        if isinstance(source, BuiltinSource):
            continue
        start = time.perf_counter()
        converted, made = ensure_safetensors(_folder(model), build=True)
        if made:  # pickled weights only: converted once, so that no trial unpickles them
            items.append(Item("model", f"{_describe(model)} as safetensors", model.name, BUILT, str(converted),
                              time.perf_counter() - start))
            report(items[-1])
    if to_build:
        # Built side by side, one process per size (prepare_builtin); each model's time is the batch's wall time.
        start = time.perf_counter()
        prepare_builtin([source for source, _ in to_build.values()])
        seconds = time.perf_counter() - start
        for cfg, (_, models) in to_build.items():
            for model in models:
                items.append(Item("model", _describe(model), model.name, BUILT, str(tiny_model_folder(cfg)), seconds))
                report(items[-1])
    order = {m.name: i for i, m in enumerate(spec.models)}
    return sorted(items, key=lambda item: order[item.model])


def _folder(model: ModelSpec) -> str:
    """The local folder of a hub or path model (a hub model's snapshot in the Hugging Face cache)."""
    from study.model import hub_snapshot

    return str(hub_snapshot(model.source)) if isinstance(model.source, HubSource) else model.source.path


def _unconverted(model: ModelSpec) -> str | None:
    """Where a model's safetensors conversion belongs, when its folder has only pickled weights and the
    conversion is not made yet; None otherwise (nothing is made)."""
    from study.weights import converted_folder, is_converted, pickled_weights

    if isinstance(model.source, BuiltinSource) or not pickled_weights(_folder(model)) or is_converted(_folder(model)):
        return None
    return str(converted_folder(_folder(model)))


def _tokenizer(model: ModelSpec):
    """The tokenizer exactly as a trial loads it (`load_encoder`), without the weights."""
    from transformers import AutoTokenizer

    from study.model import model_location

    location, kwargs = model_location(model)
    if isinstance(model.source, HubSource):
        kwargs["local_files_only"] = True  # in the cache by now: no request to the hub
    return AutoTokenizer.from_pretrained(location, **kwargs)


# -------------------------------------------------------------------------------------------------- data
def prepare(spec: StudySpec, report: Callable[[Item], None] | None = None) -> list[Item]:
    """Make everything the study's trials read; returns one Item per model and per (model, data item).

    `report` is called with each item as soon as it is done (the command prints progress with it)."""
    from study.data import ensure_split
    from study.tasks import registry
    from study.tasks.registry import LoadContext

    report = report or (lambda item: None)
    items = _prepare_models(spec, report)
    ctx = LoadContext(data_dir=spec.study.data_dir)
    needs = data_needs(spec)
    done: dict[str, str] = {}  # folder -> status, shared by models with the same tokenizer and max_length
    tokenizers: dict[tuple, Any] = {}
    for model in spec.models:
        key = _tokenizer_key(model)
        if key not in tokenizers:
            tokenizers[key] = _tokenizer(model)
        tokenizer = tokenizers[key]
        for task, split, lang, train in needs:
            start = time.perf_counter()
            folder, built = ensure_split(registry.get(task), split, lang, tokenizer, model.max_length, ctx, train)
            status = done.setdefault(str(folder), BUILT if built else CACHED)
            items.append(Item("data", f"{task} {split} {lang}", model.name, status, str(folder),
                              time.perf_counter() - start))
            report(items[-1])
    return items


def missing(spec: StudySpec) -> list[Item]:
    """What `prepare` would still have to make (nothing is made; for `xstudy run` to say so before it starts).

    A model that is missing makes its data items missing too: their fingerprint needs its tokenizer."""
    from study.data import split_folder
    from study.tasks import registry
    from study.tasks.registry import LoadContext

    ctx = LoadContext(data_dir=spec.study.data_dir)
    needs = data_needs(spec)
    out: list[Item] = []
    tokenizers: dict[tuple, Any] = {}
    for model in spec.models:
        status, where = _model_status(model)
        described = _describe(model)
        if status == CACHED and _unconverted(model):
            status, where, described = MISSING, _unconverted(model), f"{described} as safetensors"
        if status == MISSING:
            out.append(Item("model", described, model.name, MISSING, where))
            out += [Item("data", f"{t} {s} {lang}", model.name, MISSING, "") for t, s, lang, _ in needs]
            continue
        key = _tokenizer_key(model)
        if key not in tokenizers:
            tokenizers[key] = _tokenizer(model)
        for task, split, lang, train in needs:
            folder = split_folder(registry.get(task), split, lang, tokenizers[key], model.max_length, ctx, train)
            if not folder.exists():
                out.append(Item("data", f"{task} {split} {lang}", model.name, MISSING, str(folder)))
    return out


def summary(items: list[Item]) -> dict[str, Any]:
    """Counts by kind and status, and the cache folder: what `xstudy prepare --json` prints with the items."""
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        by = counts.setdefault(item.kind, {})
        by[item.status] = by.get(item.status, 0) + 1
    return {"cache_dir": str(cache_root()), "counts": counts, "items": [i.to_json() for i in items]}
