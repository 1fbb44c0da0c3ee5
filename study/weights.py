"""Weights as the hub serves them: pickled PyTorch files, converted once to sharded safetensors.

`facebook/xlm-roberta-xxl` and `google/mt5-xxl` ship a single pickled `pytorch_model.bin` (43 and 52 GB)
and no safetensors. Loading such a file unpickles it, in every process that loads the model: each trial,
and each Ray Train worker of a trial. A model folder whose only weights are pickled (`pytorch_model.bin`,
or its shards with `pytorch_model.bin.index.json`) is therefore converted once, into the machine-wide cache
(`XSTUDY_CACHE_DIR/models/safetensors-<fingerprint>/`), to safetensors shards of at most `SHARD_SIZE` with
their index, beside copies of the folder's other files (config, tokenizer). Trials load the converted
folder, which safetensors memory-maps: nothing is unpickled there.

The conversion reads each pickle with `torch.load(weights_only=True, mmap=True)`: only tensors and plain
containers can come out of it (a pickle that holds anything else is refused, with the file named), and
the tensors stay memory-mapped on the file, so converting needs little more memory than one shard.
`xstudy prepare` converts; a trial that finds no conversion makes it itself under a file lock (the other
workers wait and reuse it), unless XSTUDY_REQUIRE_PREPARED forbids that. The fingerprint covers each
pickle's resolved path, size and modification time, so a replaced file is converted again.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from study.cache import REQUIRE_PREPARED_ENV, NotPrepared, cache_root, fingerprint, require_prepared

SHARD_SIZE = "5GB"  # the hub's usual shard size
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt")
CONVERTED_MARKER = "converted.json"  # written last: a folder without it is not a finished conversion


def pickled_weights(folder: str | Path) -> list[Path]:
    """The pickled PyTorch weight files of a model folder whose weights are only pickled; [] otherwise."""
    folder = Path(folder)
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return []
    return sorted(p for p in folder.glob("pytorch_model*.bin") if p.is_file())


def converted_folder(folder: str | Path) -> Path:
    """Where the cache keeps the safetensors conversion of `folder`'s pickled weights."""
    stats = []
    for p in pickled_weights(folder):
        st = p.stat()
        stats.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
    return cache_root() / "models" / f"safetensors-{fingerprint('safetensors', stats)}"


def is_converted(folder: str | Path) -> bool:
    return (converted_folder(folder) / CONVERTED_MARKER).is_file()


def load_pickled(path: Path) -> dict:
    """A pickled state dict, tensors only (`weights_only=True`), memory-mapped on the file where its format
    allows it (zip-based files, torch >= 1.6; older ones are read whole)."""
    import pickle

    import torch

    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)  # a legacy (not zip-based) file
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path}: not a file of tensors only, so it is not loaded (torch.load with "
                         f"weights_only=True refused it: {str(exc).splitlines()[0]})") from None


def convert(folder: str | Path, out: str | Path, shard_size: str | int = SHARD_SIZE) -> Path:
    """Write `folder`'s pickled weights as safetensors shards (with their index) and copy its other files."""
    import json

    from huggingface_hub import save_torch_state_dict

    folder, out = Path(folder), Path(out)
    pickles = pickled_weights(folder)
    if not pickles:
        raise FileNotFoundError(f"{folder}: no pickled weights (pytorch_model*.bin) to convert, or safetensors already")
    state: dict = {}
    for path in pickles:
        state.update(load_pickled(path))
    tmp = out.with_name(f".tmp-{uuid.uuid4().hex}")
    try:
        tmp.mkdir(parents=True)
        # Tensors that share memory (tied embeddings) are written once; transformers ties them again on load.
        save_torch_state_dict(state, tmp, max_shard_size=shard_size)
        for item in folder.iterdir():
            if item.is_file() and not item.name.endswith(WEIGHT_SUFFIXES) and item.name != "pytorch_model.bin.index.json":
                shutil.copy2(item, tmp / item.name)  # config, tokenizer, generation settings (symlinks resolved)
        (tmp / CONVERTED_MARKER).write_text(json.dumps({"from": [str(p) for p in pickles]}))
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def ensure_safetensors(folder: str | Path, build: bool | None = None) -> tuple[Path, bool]:
    """(the folder to load, whether a conversion was made now): `folder` itself unless its weights are only
    pickled, else their conversion in the cache, made here (once, under a lock) if missing.

    `build=None` converts unless XSTUDY_REQUIRE_PREPARED is set; then a missing conversion is NotPrepared."""
    from filelock import FileLock

    folder = Path(folder)
    if not pickled_weights(folder):
        return folder, False
    out = converted_folder(folder)
    if (out / CONVERTED_MARKER).is_file():
        return out, False
    if build is None:
        build = not require_prepared()
    if not build:
        raise NotPrepared(f"{folder} holds only pickled weights and their safetensors conversion is not in the cache "
                          f"(expected {out}); run `xstudy prepare SPEC` first, or unset {REQUIRE_PREPARED_ENV}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if (out / CONVERTED_MARKER).is_file():
            return out, False
        if out.exists():  # a conversion interrupted after its rename cannot happen; a stray folder can
            shutil.rmtree(out)
        convert(folder, out)
    return out, True
