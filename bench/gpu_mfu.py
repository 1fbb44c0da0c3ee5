"""Training throughput and MFU of an XLM-R-shaped encoder with random weights (for a GPU; smoke-runs on CPU).

Builds the architecture from its shape alone (no download), trains it on random token ids with a
classification head for `--steps` timed steps after `--warmup` untimed ones, and reports tokens/s, peak
accelerator memory and model FLOPs utilisation:

    MFU = 6 x parameters x tokens/s / peak FLOP/s

(the 6ND estimate over all parameters; parameters with and without the embeddings are both given, since
the embedding lookup costs no matmul FLOPs: the study's rows and plan count non-embedding parameters plus
attention, `study.flops`). `--peak-tflops` defaults to 989, an H100 SXM's dense
bf16 peak; pass the right figure for another device. Variants to compare: `--attn sdpa|eager`,
`--fused-adamw`, `--compile`, `--precision bf16|fp32`.

    python bench/gpu_mfu.py --arch xlmr-large --batch 32 --seq 256 --precision bf16 --fused-adamw
    python bench/gpu_mfu.py --arch tiny --device cpu --steps 5      # a smoke check of the script itself
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from summary import emit  # bench/summary.py: scripts run as `python bench/NAME.py`

# (hidden, layers, heads, intermediate, vocab, model_type): the public configurations, and the built-in tiny one.
ARCHS = {
    "tiny": (64, 2, 2, 256, 1125, "xlm-roberta"),
    "xlmr-base": (768, 12, 12, 3072, 250002, "xlm-roberta"),
    "xlmr-large": (1024, 24, 16, 4096, 250002, "xlm-roberta"),
    "xlmr-xl": (2560, 36, 32, 10240, 250880, "xlm-roberta-xl"),
    "xlmr-xxl": (4096, 48, 32, 16384, 250880, "xlm-roberta-xl"),
}


def build(arch: str, attn: str, seq: int):
    from transformers import (XLMRobertaConfig, XLMRobertaForSequenceClassification, XLMRobertaXLConfig,
                              XLMRobertaXLForSequenceClassification)

    hidden, layers, heads, inter, vocab, kind = ARCHS[arch]
    common = dict(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  intermediate_size=inter, max_position_embeddings=max(514, seq + 2), num_labels=3)
    if kind == "xlm-roberta":
        config, cls = XLMRobertaConfig(**common), XLMRobertaForSequenceClassification
    else:
        config, cls = XLMRobertaXLConfig(**common), XLMRobertaXLForSequenceClassification
    config._attn_implementation = attn
    return cls(config)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), default="xlmr-large")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    parser.add_argument("--fused-adamw", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense peak of the device at --precision")
    parser.add_argument("--json", dest="out", default=None)
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build(args.arch, args.attn, args.seq).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    n_embed = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=args.fused_adamw or None)
    step_fn = model
    if args.compile:
        step_fn = torch.compile(model)
    vocab = ARCHS[args.arch][4]
    ids = torch.randint(5, vocab, (args.batch, args.seq), device=device)
    mask = torch.ones_like(ids)
    labels = torch.randint(0, 3, (args.batch,), device=device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

    def step() -> None:
        with amp:
            loss = step_fn(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    seconds = time.perf_counter() - start
    tokens_per_s = args.steps * args.batch * args.seq / seconds
    peak = args.peak_tflops * 1e12
    summary = {
        "arch": args.arch, "device": str(device), "precision": args.precision, "attn": args.attn,
        "fused_adamw": args.fused_adamw, "compile": args.compile, "batch": args.batch, "seq": args.seq,
        "params": n_params, "params_without_embeddings": n_params - n_embed,
        "steps_per_second": args.steps / seconds, "tokens_per_second": tokens_per_s,
        "mfu": 6 * n_params * tokens_per_s / peak,
        "mfu_without_embeddings": 6 * (n_params - n_embed) * tokens_per_s / peak,
        "peak_tflops": args.peak_tflops,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
    }
    return emit(summary, args.out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
