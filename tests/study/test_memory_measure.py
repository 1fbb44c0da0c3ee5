"""The memory plan against measurement: peak allocated tensor bytes of 2 gloo workers on CPU."""

from __future__ import annotations

import pytest

from study.memory_measure import measured_peaks
from study.memory_plan import Architecture, Setting, estimate

# Small enough for seconds of CPU, with embeddings, layer states and activations all of a similar size, so a
# wrong count of any of them shows.
ARCH = Architecture(hidden=128, layers=3, heads=4, intermediate=512, vocab=16000, max_positions=66)


@pytest.mark.slow  # two spawned workers import torch, transformers and study.distributed (~20 s on 2 cores)
def test_ddp_and_fsdp_peaks_are_within_a_quarter_of_the_plan():
    settings = [Setting(parallelism=p, workers=2, batch_size=16, max_length=64, device="cpu") for p in ("ddp", "fsdp")]
    peaks = measured_peaks(ARCH, settings, steps=2)
    for setting, measured in zip(settings, peaks, strict=True):
        planned = estimate(ARCH, setting).phases["intermediate"]
        for rank, peak in enumerate(measured):
            assert abs(peak / planned - 1) <= 0.25, (setting.parallelism, rank, peak / 2**20, planned / 2**20)
    ddp, fsdp = (max(m) for m in peaks)
    assert fsdp < 0.85 * ddp  # sharding shows in the measurement, not only in the plan


def test_measured_peaks_refuses_settings_it_cannot_run():
    with pytest.raises(ValueError, match="DDP or FSDP"):
        measured_peaks(ARCH, [Setting(parallelism="single")])
    with pytest.raises(ValueError, match="one number of workers"):
        measured_peaks(ARCH, [Setting(parallelism="ddp", workers=2), Setting(parallelism="fsdp", workers=4)])
