"""The per-GPU memory plan (study.memory_plan) against measurement, for an e5-small-sized encoder.

An XLM-R-style encoder the size of multilingual-e5-small (hidden 384, 12 layers, 12 heads, FFN 1536, a
250k vocabulary: 117M parameters) trains a few steps on 2 gloo workers on CPU, with DDP and with FSDP2
(study.memory_measure), and each worker's peak of allocated tensor bytes is compared with the plan's
intermediate-training estimate for the same setting (device 'cpu': AdamW's per-tensor loop).

    nice -n 10 python bench/memory_plan.py [--batch 32] [--max-length 128] [--steps 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import sys
import time

from summary import emit  # bench/summary.py: scripts run as `python bench/NAME.py`

E5_SMALL = dict(hidden=384, layers=12, heads=12, intermediate=1536, vocab=250037, max_positions=514)


def main(argv: list[str]) -> int:
    from study.memory_measure import measured_peaks
    from study.memory_plan import Architecture, Setting, estimate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="global batch (each of the 2 workers trains half)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--json", dest="out", default=None)
    args = parser.parse_args(argv)
    arch = Architecture(**E5_SMALL)
    settings = [Setting(parallelism=p, workers=2, batch_size=args.batch, max_length=args.max_length, device="cpu")
                for p in ("ddp", "fsdp")]
    start = time.perf_counter()
    peaks = measured_peaks(arch, settings, steps=args.steps)
    rows = {}
    for setting, measured in zip(settings, peaks, strict=True):
        planned = estimate(arch, setting).phases["intermediate"]
        rows[setting.parallelism] = {"planned_mb": planned / 1e6, "measured_mb": [p / 1e6 for p in measured],
                                     "measured_over_planned": [p / planned for p in measured]}
    return emit({"parameters": arch.n_params, "workers": 2, "batch": args.batch, "max_length": args.max_length,
                 "steps": args.steps, "seconds": time.perf_counter() - start, "results": rows}, args.out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
