"""`xstudy plan SPEC`: what a study will cost, before anything is spent.

Estimates, per model size and for the whole grid:
- trials and milestones;
- intermediate-training steps in `branch` and in `independent` mode (the saving of branching);
- FLOPs of training (6 x parameters x tokens), intermediate and target fine-tuning alike. Tokens per step
  are bounded above by batch size x max length (real batches pad less), so FLOPs and GPU-hours are upper
  bounds; evaluation (2 x parameters x tokens, typically a few percent) is left out;
- GPU-hours at a given sustained device throughput, by default an H100 at 40% of its 989 TFLOP/s dense bf16
  peak, i.e. 400 TFLOP/s;
- the same with ASHA's expected savings: at each rung a fraction 1/rf of the configurations goes on.
"""

from __future__ import annotations

import math
from typing import Any

from study.spec import BuiltinSource, HubSource, ModelSpec, PathSource, StudySpec

H100_BF16_PEAK_TFLOPS = 989.0
DEFAULT_DEVICE_TFLOPS = 400.0  # sustained: an H100 at 40% MFU

# Encoder parameters of the models a study names most (REFERENCE.md), so planning needs no download.
KNOWN_PARAMS = {
    "FacebookAI/xlm-roberta-base": 278_000_000,
    "FacebookAI/xlm-roberta-large": 560_000_000,
    "xlm-roberta-base": 278_000_000,
    "xlm-roberta-large": 560_000_000,
    "facebook/xlm-roberta-xl": 3_480_000_000,
    "facebook/xlm-roberta-xxl": 10_700_000_000,
    "google/mt5-small": 147_000_000,
    "google/mt5-base": 277_000_000,
    "google/mt5-large": 564_000_000,
    "google/mt5-xl": 1_670_000_000,
    "google/mt5-xxl": 5_660_000_000,
    "microsoft/mdeberta-v3-base": 278_000_000,
    "google/rembert": 575_000_000,
}


def parameter_count(model: ModelSpec) -> int:
    """Encoder parameters, from the spec's source without loading weights."""
    source = model.source
    if isinstance(source, BuiltinSource):
        from transformers import XLMRobertaConfig, XLMRobertaModel

        from study.tiny_models import TINY_SIZES, ensure_tokenizer

        cfg = TINY_SIZES[source.builtin]
        vocab = _tokenizer_vocab(ensure_tokenizer(cfg))
        config = XLMRobertaConfig(vocab_size=vocab, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
                                  num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
                                  max_position_embeddings=cfg.seq_len + 2)
        return _count_on_meta(lambda: XLMRobertaModel(config, add_pooling_layer=False))
    if isinstance(source, HubSource) and source.hub in KNOWN_PARAMS:
        return KNOWN_PARAMS[source.hub]
    location = source.hub if isinstance(source, HubSource) else source.path
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(location, trust_remote_code=getattr(source, "trust_remote_code", False))
    if getattr(config, "is_encoder_decoder", False):
        from transformers import MT5EncoderModel

        return _count_on_meta(lambda: MT5EncoderModel(config))
    return _count_on_meta(lambda: AutoModel.from_config(config))


def _tokenizer_vocab(folder) -> int:
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(str(folder)))


def _count_on_meta(build) -> int:
    import torch

    with torch.device("meta"):
        module = build()
    return sum(p.numel() for p in module.parameters())


def _model_plan(spec: StudySpec, model: ModelSpec, params: int, device_tflops: float) -> dict[str, Any]:
    grid = [s for s in model.milestones if s > 0]
    tasks = [t for t in spec.intermediate if t != "none"]
    seeds = len(spec.seeds) * spec.search.num_samples
    cf = spec.intermediate_training.cooldown_fraction
    rf = spec.asha.reduction_factor if spec.asha.enabled else 1.0
    tokens_per_step = model.batch_size * model.max_length
    tt = spec.target_training
    target_steps = sum(t.train_steps if t.train_steps is not None else tt.steps for t in spec.targets)
    target_tokens = target_steps * tt.batch_size * model.max_length  # one fine-tuning of every target

    # Branch: one trunk per configuration through every milestone, a cooldown and the targets at each.
    branch_steps = (grid[-1] + sum(math.ceil(cf * m) for m in grid)) if grid else 0
    # Independent: one run per step count; the targets run once, at its end.
    independent_steps = sum(grid)
    n_configs = len(tasks) * seeds

    def flops(steps: float, target_runs: float) -> float:
        return 6.0 * params * (steps * tokens_per_step + target_runs * target_tokens)

    branch_full = n_configs * flops(branch_steps, len(grid)) + seeds * flops(0, 1)
    independent_full = n_configs * flops(independent_steps, len(grid)) + seeds * flops(0, 1)
    # ASHA: the segment before rung i is trained by the share that survived i earlier rungs.
    survive = [rf ** -i for i in range(len(grid))]
    branch_asha_steps = sum(
        (m - prev) * s + math.ceil(cf * m) * s for m, prev, s in zip(grid, [0, *grid[:-1]], survive)
    )
    branch_asha = n_configs * flops(branch_asha_steps, sum(survive)) + seeds * flops(0, 1)
    independent_asha = 0.0
    for b_index, budget in enumerate(grid):
        # A run to `budget` meets the rungs below it; it trains each segment while it survives.
        segments = [m for m in grid if m <= budget]
        steps = sum((m - prev) * survive[i] for i, (m, prev) in enumerate(zip(segments, [0, *segments[:-1]])))
        independent_asha += n_configs * flops(steps, survive[len(segments) - 1])
    independent_asha += seeds * flops(0, 1)

    def gpu_hours(f: float) -> float:
        return f / (device_tflops * 1e12) / 3600.0

    return {
        "parameters": params,
        "milestones": model.milestones,
        "trials": {"branch": n_configs + seeds, "independent": n_configs * len(grid) + seeds},
        "intermediate_steps": {"branch": n_configs * branch_steps, "independent": n_configs * independent_steps},
        "tokens_per_step_upper_bound": tokens_per_step,
        "flops": {"branch": branch_full, "independent": independent_full,
                  "branch_with_asha": branch_asha, "independent_with_asha": independent_asha},
        "gpu_hours": {"branch": gpu_hours(branch_full), "independent": gpu_hours(independent_full),
                      "branch_with_asha": gpu_hours(branch_asha), "independent_with_asha": gpu_hours(independent_asha)},
    }


def plan(spec: StudySpec, device_tflops: float = DEFAULT_DEVICE_TFLOPS, params: dict[str, int] | None = None) -> dict[str, Any]:
    models = {}
    for m in spec.models:
        n = (params or {}).get(m.name) or parameter_count(m)
        models[m.name] = _model_plan(spec, m, n, device_tflops)

    def total(path: tuple[str, str]) -> float:
        return sum(v[path[0]][path[1]] for v in models.values())

    steps = {"branch": int(total(("intermediate_steps", "branch"))), "independent": int(total(("intermediate_steps", "independent")))}
    return {
        "study": spec.study.name,
        "schedule": spec.intermediate_training.schedule,
        "device_tflops": device_tflops,
        "models": models,
        "trials": {"branch": int(total(("trials", "branch"))), "independent": int(total(("trials", "independent")))},
        "intermediate_steps": steps,
        "branch_saving": 1.0 - steps["branch"] / steps["independent"] if steps["independent"] else 0.0,
        "flops": {k: total(("flops", k)) for k in ("branch", "independent", "branch_with_asha", "independent_with_asha")},
        "gpu_hours": {k: total(("gpu_hours", k)) for k in ("branch", "independent", "branch_with_asha", "independent_with_asha")},
    }
