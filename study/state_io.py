"""Checkpoint state without pickle: tensors in safetensors files, everything else in JSON.

Weights, optimizer moments and RNG states are tensors; step counters, data positions and param-group
settings are JSON. Nothing here unpickles data, so a checkpoint from elsewhere cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file


def save_optimizer(state: dict[str, Any], folder: Path, name: str) -> None:
    """An optimizer's `state_dict()` (state keyed by parameter index) as `<name>.safetensors` and `<name>.json`."""
    tensors = {f"{i}.{k}": v.detach().cpu().contiguous() for i, st in state["state"].items() for k, v in st.items() if torch.is_tensor(v)}
    scalars = {f"{i}.{k}": v for i, st in state["state"].items() for k, v in st.items() if not torch.is_tensor(v)}
    if tensors:
        save_file(tensors, str(folder / f"{name}.safetensors"))
    (folder / f"{name}.json").write_text(json.dumps({"param_groups": state["param_groups"], "scalars": scalars, "has_tensors": bool(tensors)}))


def load_optimizer(folder: Path, name: str) -> dict[str, Any]:
    """What `save_optimizer` wrote, as a `state_dict()` for `optimizer.load_state_dict`."""
    meta = json.loads((folder / f"{name}.json").read_text())
    tensors = load_file(str(folder / f"{name}.safetensors")) if meta["has_tensors"] else {}
    state: dict[int, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *meta["scalars"].items()]:
        i, k = key.split(".", 1)
        state.setdefault(int(i), {})[k] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_module(state: dict[str, torch.Tensor], path: Path) -> None:
    """A module's `state_dict()`; cloned so that tied or shared storage is saved as separate tensors
    (safetensors refuses aliasing)."""
    save_file({k: v.detach().cpu().clone().contiguous() for k, v in state.items()}, str(path))


def load_module(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def rng_devices(device: torch.device) -> list[int]:
    """The accelerator generators a process on `device` draws from: its CUDA device's, or none on CPU."""
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def forked_rng(device: torch.device):
    """A block whose random draws leave no trace: the CPU generator and `device`'s CUDA generator are saved
    on entry and restored on exit, even when the block reseeds them (`torch.manual_seed` seeds CUDA too).
    On a GPU, dropout draws from the CUDA generator, so forking the CPU one alone would not protect a trunk."""
    return torch.random.fork_rng(devices=rng_devices(device))


def rng_state(device: torch.device = torch.device("cpu")) -> dict[str, torch.Tensor]:
    """The random state a trial resumes from: the CPU generator's, and its CUDA device's when it has one."""
    state = {"torch_cpu": torch.get_rng_state()}
    for index in rng_devices(device):
        state["torch_cuda"] = torch.cuda.get_rng_state(index)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device = torch.device("cpu")) -> None:
    """Restore what `rng_state` saved; a CUDA state is restored on `device` (a checkpoint made on a CPU
    has none, and a CUDA state is ignored on a CPU)."""
    torch.set_rng_state(state["torch_cpu"])
    for index in rng_devices(device):
        if "torch_cuda" in state:
            torch.cuda.set_rng_state(state["torch_cuda"], index)


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))
