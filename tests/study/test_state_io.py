"""Random state a trial forks and checkpoints, on the CPU and on a CUDA device (simulated here: no GPU)."""

from __future__ import annotations

import pytest
import torch

from study import state_io

CUDA0 = torch.device("cuda", 0)


class FakeCuda:
    """A CUDA generator per device, as torch.cuda keeps them: a state that reseeding and drawing change."""

    def __init__(self):
        self.states = {0: torch.tensor([7], dtype=torch.uint8)}

    def install(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device=0: self.states[_index(device)].clone())
        monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device=0: self.states.__setitem__(_index(device), state.clone()))
        monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: self.states.__setitem__(0, torch.tensor([seed % 256], dtype=torch.uint8)))
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "_is_in_bad_fork", lambda: False, raising=False)
        return self

    def draw(self):  # what a dropout mask on the GPU does to its generator
        self.states[0] = self.states[0] + 1


def _index(device) -> int:
    return device if isinstance(device, int) else (torch.device(device).index or 0)


def test_a_forked_block_leaves_the_cuda_generator_as_it_found_it(monkeypatch):
    cuda = FakeCuda().install(monkeypatch)
    cpu_before = torch.get_rng_state()
    with state_io.forked_rng(CUDA0):
        torch.manual_seed(123)  # as target fine-tuning does at every milestone: seeds CPU and CUDA alike
        cuda.draw()
        torch.rand(3)
    assert cuda.states[0].item() == 7, "the trunk's CUDA stream is untouched"
    assert torch.equal(torch.get_rng_state(), cpu_before)
    # On a CPU trial nothing of CUDA is forked (and CUDA need not exist).
    assert state_io.rng_devices(torch.device("cpu")) == []


def test_a_checkpoint_holds_and_restores_the_cuda_state(monkeypatch):
    cuda = FakeCuda().install(monkeypatch)
    saved = state_io.rng_state(CUDA0)
    assert set(saved) == {"torch_cpu", "torch_cuda"} and saved["torch_cuda"].item() == 7
    cuda.draw()
    torch.rand(2)
    state_io.set_rng_state(saved, CUDA0)
    assert cuda.states[0].item() == 7
    assert torch.equal(torch.get_rng_state(), saved["torch_cpu"])


def test_cpu_checkpoints_stay_as_they_were(tmp_path):
    saved = state_io.rng_state()
    assert set(saved) == {"torch_cpu"}
    state_io.save_tensors(saved, tmp_path / "rng.safetensors")
    expected = torch.rand(4)
    state_io.set_rng_state(state_io.load_tensors(tmp_path / "rng.safetensors"))
    assert torch.equal(torch.rand(4), expected)
    # A CPU checkpoint resumed on a GPU restores what it has, and leaves the CUDA generator to its seed.
    with pytest.raises(KeyError):
        state_io.set_rng_state({})
