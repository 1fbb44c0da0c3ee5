"""Kept as one module: one memory model: the docstring derives its terms (about 40 lines), and the estimate, the
alternatives it proposes and the launch check all read those same terms.

Per-GPU peak memory of a trial, before launch: what `xstudy plan` shows and `xstudy run` checks.

All figures are bytes on one worker's device. A trial's memory is the sum of:

- **weights** (fp32 master weights, 4 bytes/parameter), **gradients** (fp32, 4 bytes/parameter) and the
  **AdamW state** (two fp32 moments, 8 bytes/parameter), plus AdamW's temporaries during `step()`: with
  `foreach` (the default on CUDA) one fp32 copy of every parameter (`sqrt(exp_avg_sq)`), with the per-tensor
  loop (the CPU default) two copies of the largest tensor;
- **activations** saved for the backward pass, after Korthikanti et al. 2022 ("Reducing activation
  recomputation in large transformer models", eq. 2): per layer and per token, 16 elements of width h plus
  2 one-byte dropout masks (attention: QKV input, Q, K, V, softmax input of the output projection;
  two LayerNorm inputs; MLP: input, GELU input and output), and per attention head 2 elements of s plus a
  one-byte mask (softmax output, its dropout). With an FFN of 4h and 2-byte elements this is their
  s*b*h*(34 + 5*a*s/h) bytes per layer; 4-byte elements (fp32) double the element terms. Here the FFN
  terms scale with the real intermediate size (mT5's gated FFN keeps 3 of them), and the embeddings' output
  (element + mask) counts once. With gradient checkpointing a layer keeps only its input (s*b*h elements)
  and one layer's full activations are live at a time while it is recomputed;
- **evaluation**: a forward pass without gradients, which holds one layer's activations at the
  evaluation batch (every row shared among the workers);
- **model copies the trial keeps** (study.trial): a `branch` trial with a cooldown trains a copy of the
  trunk (weights, gradients, AdamW state) while the trunk keeps its own (the last step's gradients stay on
  the parameters: `zero_grad` runs after the forward); each target trains a copy of the branch with an
  optimizer of its own while trunk and branch (weights and gradients) stay alive; a target's scoring holds
  all three copies' weights and gradients, without optimizers;
- **DDP**: the reducer's buckets (25 MB each by default) together hold one more copy of the gradients
  (`gradient_as_bucket_view` is off), for as long as the phase's wrapper lives: the trunk's for the whole
  trial, the branch's and a target's during their phases;
- **FSDP** (FSDP2, `study.distributed.FullySharded`): weights, gradients and AdamW state are divided by the
  workers; unsharded units come on top: the root unit (everything outside the transformer layers) stays
  gathered from the start of the forward to the end of the backward, and two layers are gathered at a time
  (the one running and the one prefetched). In the backward, the root's unsharded gradient and its
  reduce-scatter input add two root-sized buffers, while the activations are gone (three on CPU: gloo's
  reduce-scatter reduces onto rank 0 first). With more than one worker the input word embeddings (vocab x
  hidden, most of the root) are not in the root: they are sharded by vocabulary rows and never gathered
  (`study.vocab_parallel`), so their weights, gradients and AdamW state are divided by the workers with
  the rest, and what the lookup adds is the exchange of activations: in the backward, every worker's output
  gradients (workers x tokens per worker x hidden fp32 elements), the rows of them this worker owns and
  their fp32 copy, three such buffers at most, counted with the root's gradients. With one worker the root
  keeps them, as before. Figures are the most loaded worker's.
- with bf16 or fp16 autocast, the cast copies of the weights (2 bytes/non-embedding parameter) live from
  the forward to the backward.

The peak is the largest of the phases (`intermediate`, `cooldown`, `target`, `evaluation`). Multiple-choice
formats run several sequences per example; the estimate counts one (the spec's batch of sequences).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from study.spec import BuiltinSource, HubSource, ModelSpec, PathSource, StudySpec

GB = 1e9
DDP_BUCKET_CAP_BYTES = 25 * 1024**2  # torch's default bucket_cap_mb; the buckets together cover every gradient
ELEMENT_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


# ------------------------------------------------------------------------------------------ architecture
@dataclass(frozen=True)
class Architecture:
    """The sizes that memory depends on. `kind` 'bert' is XLM-R-like (learned positions, biases, a GELU FFN),
    't5' is mT5's encoder (relative position buckets, no biases, a gated FFN, attention width heads x d_kv)."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int = 514
    type_vocab: int = 1
    kind: str = "bert"
    d_kv: int | None = None  # t5: per-head width; bert: hidden / heads
    relative_buckets: int = 32  # t5

    @property
    def attention_width(self) -> int:
        return self.heads * self.d_kv if self.d_kv else self.hidden

    @property
    def embedding_params(self) -> int:
        """Parameters of the nn.Embedding modules (as `study.flops.embedding_params` counts them)."""
        if self.kind == "t5":
            return self.vocab * self.hidden + self.relative_buckets * self.heads
        return (self.vocab + self.max_positions + self.type_vocab) * self.hidden

    @property
    def layer_params(self) -> int:
        h, a, i = self.hidden, self.attention_width, self.intermediate
        if self.kind == "t5":
            return 4 * h * a + 3 * h * i + 2 * h  # q, k, v, o; wi_0, wi_1, wo; two RMS norms
        return (3 * (h * a + a) + a * h + h) + 2 * h + (h * i + i + i * h + h) + 2 * h

    @property
    def input_embedding_params(self) -> int:
        """Parameters of the input word embeddings (vocab x hidden; tied ones once)."""
        return self.vocab * self.hidden

    @property
    def root_params(self) -> int:
        """Parameters outside the transformer layers: FSDP's root unit on one worker (on more, the input word
        embeddings leave it: `gathered_root_params`)."""
        return self.embedding_params + (self.hidden if self.kind == "t5" else 2 * self.hidden)  # final / embedding norm

    def gathered_root_params(self, workers: int) -> int:
        """Parameters FSDP gathers in the root unit: without the input word embeddings when they are sharded by
        vocabulary rows (`study.vocab_parallel`, more than one worker)."""
        return self.root_params - (self.input_embedding_params if workers > 1 else 0)

    @property
    def n_params(self) -> int:
        return self.root_params + self.layers * self.layer_params

    @property
    def non_embedding_params(self) -> int:
        return self.n_params - self.embedding_params

    @property
    def largest_tensor(self) -> int:
        """Elements of the largest parameter (the word embeddings)."""
        return max(self.vocab * self.hidden, self.hidden * self.intermediate)


def _xlmr(h: int, layers: int, heads: int, i: int, vocab: int = 250002) -> Architecture:
    return Architecture(hidden=h, layers=layers, heads=heads, intermediate=i, vocab=vocab)


def _mt5(d: int, layers: int, heads: int, ff: int) -> Architecture:
    return Architecture(hidden=d, layers=layers, heads=heads, intermediate=ff, vocab=250112, kind="t5", d_kv=64)


# From each model's config.json on the hub (XLM-R without its pooler; mT5's encoder alone).
KNOWN_ARCHITECTURES: dict[str, Architecture] = {
    "FacebookAI/xlm-roberta-base": _xlmr(768, 12, 12, 3072),
    "FacebookAI/xlm-roberta-large": _xlmr(1024, 24, 16, 4096),
    "facebook/xlm-roberta-xl": _xlmr(2560, 36, 32, 10240, vocab=250880),
    "facebook/xlm-roberta-xxl": _xlmr(4096, 48, 32, 16384, vocab=250880),
    "google/mt5-small": _mt5(512, 8, 6, 1024),
    "google/mt5-base": _mt5(768, 12, 12, 2048),
    "google/mt5-large": _mt5(1024, 24, 16, 2816),
    "google/mt5-xl": _mt5(2048, 24, 32, 5120),
    "google/mt5-xxl": _mt5(4096, 24, 64, 10240),
    "intfloat/multilingual-e5-small": Architecture(hidden=384, layers=12, heads=12, intermediate=1536, vocab=250037,
                                                   max_positions=512, type_vocab=2),
}
KNOWN_ARCHITECTURES["xlm-roberta-base"] = KNOWN_ARCHITECTURES["FacebookAI/xlm-roberta-base"]
KNOWN_ARCHITECTURES["xlm-roberta-large"] = KNOWN_ARCHITECTURES["FacebookAI/xlm-roberta-large"]


def architecture_of_config(config: dict[str, Any]) -> Architecture:
    """From a transformers config.json (XLM-R/BERT-like or T5-like keys)."""
    if "d_model" in config:
        return Architecture(hidden=config["d_model"], layers=config["num_layers"], heads=config["num_heads"],
                            intermediate=config["d_ff"], vocab=config["vocab_size"], kind="t5", d_kv=config["d_kv"],
                            relative_buckets=config.get("relative_attention_num_buckets", 32))
    return Architecture(hidden=config["hidden_size"], layers=config["num_hidden_layers"],
                        heads=config["num_attention_heads"], intermediate=config["intermediate_size"],
                        vocab=config["vocab_size"], max_positions=config.get("max_position_embeddings", 512),
                        type_vocab=config.get("type_vocab_size", 1))


def architecture(model: ModelSpec) -> Architecture:
    """The size's architecture without loading weights: a known hub id, a local folder's config.json, a
    built-in tiny size, or the hub config in the local cache."""
    source = model.source
    if isinstance(source, BuiltinSource):
        from transformers import AutoTokenizer

        from study.model import builtin_config
        from study.synthetic.pretraining import MAX_LENGTH, ensure_tokenizer

        cfg = builtin_config(source)
        vocab = len(AutoTokenizer.from_pretrained(str(ensure_tokenizer(cfg))))
        return Architecture(hidden=cfg.hidden_size, layers=cfg.num_layers, heads=cfg.num_heads,
                            intermediate=cfg.intermediate_size, vocab=vocab, max_positions=MAX_LENGTH + 2)
    if isinstance(source, HubSource) and source.hub in KNOWN_ARCHITECTURES:
        return KNOWN_ARCHITECTURES[source.hub]
    if isinstance(source, PathSource):
        path = Path(source.path) / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"model {model.name}: {path} not found (the memory plan reads the architecture there)")
        return architecture_of_config(json.loads(path.read_text()))
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source.hub, revision=source.revision, trust_remote_code=source.trust_remote_code)
    return architecture_of_config(config.to_dict())


# ----------------------------------------------------------------------------------------------- setting
@dataclass(frozen=True)
class Setting:
    """How a trial of one size runs, as far as memory is concerned. Batch sizes are global (all workers)."""

    parallelism: str = "single"  # single | ddp | fsdp
    workers: int = 1
    batch_size: int = 32  # intermediate training
    max_length: int = 128
    gradient_checkpointing: bool = False
    precision: str = "fp32"
    target_batch_size: int = 32
    eval_batch_size: int = 128
    cooldown: bool = False  # a cooldown branch is trained at milestones (branch mode, cooldown_fraction > 0)
    trains: bool = True  # the trial has an intermediate task (else only the `none` baseline)
    device: str = "cuda"  # AdamW's temporaries differ: foreach on CUDA, per tensor on CPU

    def per_worker(self, batch: int) -> int:
        return -(-batch // self.workers)

    def label(self) -> str:
        parts = [self.parallelism, f"{self.workers} worker{'s' if self.workers > 1 else ''}", f"batch {self.batch_size}"]
        if self.gradient_checkpointing:
            parts.append("gradient checkpointing")
        return ", ".join(parts)


def setting_of(spec: StudySpec, model: ModelSpec | str, device: str = "cuda") -> Setting:
    """The Setting of a size as the spec runs it (study.distributed: parallelism is single for one process)."""
    from study.distributed import parallelism_of
    from study.resources import uses_train

    model = spec.model(model) if isinstance(model, str) else model
    tt = spec.target_training
    it = spec.intermediate_training
    return Setting(
        parallelism=parallelism_of(model) if uses_train(model) else "single",
        workers=model.resources.workers, batch_size=model.batch_size, max_length=model.max_length,
        gradient_checkpointing=model.gradient_checkpointing, precision=model.precision,
        target_batch_size=tt.batch_size, eval_batch_size=tt.eval_batch_size,
        cooldown=it.schedule == "branch" and it.cooldown_fraction > 0,
        trains=any(t != "none" for t in spec.intermediate), device=device,
    )


# ------------------------------------------------------------------------------------------------ estimate
def layer_activations(arch: Architecture, tokens: int, seq: int, element: int) -> int:
    """Bytes one layer saves for its backward over `tokens` tokens in sequences of `seq` (Korthikanti eq. 2)."""
    h, a_w, i = arch.hidden, arch.attention_width, arch.intermediate
    ffn = 3 * i if arch.kind == "t5" else 2 * i  # GELU input and output; a gated FFN also its gate
    elements = h + 3 * a_w + a_w + 2 * h + h + ffn  # QKV input; Q, K, V; out-proj input; 2 norms; MLP input; FFN
    masks = 2 * h  # attention-output and MLP dropout
    attention = arch.heads * seq * (2 * element + 1)  # softmax output, its dropout output and mask
    return tokens * (elements * element + masks + attention)


def activations(arch: Architecture, batch: int, seq: int, element: int, checkpointing: bool) -> int:
    """Bytes saved by one forward pass of `batch` sequences of `seq` tokens, embeddings included."""
    tokens = batch * seq
    embeddings = tokens * (arch.hidden * element + arch.hidden)  # embedding LayerNorm output + dropout mask
    one_layer = layer_activations(arch, tokens, seq, element)
    if checkpointing:  # each layer keeps its input; one layer is recomputed at a time in the backward
        return embeddings + arch.layers * tokens * arch.hidden * element + one_layer
    return embeddings + arch.layers * one_layer


@dataclass(frozen=True)
class Estimate:
    """Per-worker bytes: the components, each phase's total and the peak."""

    weights: int
    gradients: int
    optimizer: int  # AdamW's two moments
    optimizer_temporaries: int
    activations: int  # intermediate training, as the setting runs it
    activations_without_checkpointing: int
    activations_with_checkpointing: int
    evaluation_activations: int
    ddp_buckets: int
    fsdp_gathered: int  # unsharded root (without vocabulary-parallel embeddings) + two layers (parameters)
    fsdp_gathered_gradients: int  # the root's unsharded gradient and reduce-scatter input, the lookup's, in the backward
    autocast_copies: int
    phases: dict[str, int]

    @property
    def peak(self) -> int:
        return max(self.phases.values())

    @property
    def peak_phase(self) -> str:
        return max(self.phases, key=self.phases.get)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "peak": self.peak, "peak_phase": self.peak_phase}


def estimate(arch: Architecture, s: Setting) -> Estimate:
    if s.parallelism not in ("single", "ddp", "fsdp"):
        raise ValueError(f"parallelism must be single, ddp or fsdp, got {s.parallelism!r}")
    n = arch.n_params
    e = ELEMENT_BYTES[s.precision]
    fsdp = s.parallelism == "fsdp"
    share = s.workers if fsdp else 1
    weights, gradients, optimizer = 4 * n // share, 4 * n // share, 8 * n // share
    temporaries = 4 * n // share if s.device == "cuda" else 2 * 4 * arch.largest_tensor // share
    acts = {gc: activations(arch, s.per_worker(s.batch_size), s.max_length, e, gc) for gc in (False, True)}
    target_acts = activations(arch, s.per_worker(s.target_batch_size), s.max_length, e, s.gradient_checkpointing)
    eval_rows = s.per_worker(s.eval_batch_size)
    eval_acts = eval_rows * s.max_length * arch.hidden * e + layer_activations(arch, eval_rows * s.max_length, s.max_length, e)
    ddp = 4 * n if s.parallelism == "ddp" else 0
    root = arch.gathered_root_params(s.workers)
    gathered = 4 * (root + 2 * arch.layer_params) if fsdp else 0
    # The root's unsharded gradient and its reduce-scatter input; on CPU, gloo's reduce-scatter also reduces the
    # whole unit onto rank 0 first (measured: rank 0 holds one more root-sized buffer than rank 1). With
    # vocabulary-parallel embeddings, the lookup's backward buffers: every worker's output gradients, the rows
    # of them this worker owns, their fp32 copy.
    lookup = 3 * 4 * s.workers * s.per_worker(s.batch_size) * s.max_length * arch.hidden if s.workers > 1 else 0
    gathered_grads = (3 if s.device == "cpu" else 2) * 4 * root + lookup if fsdp else 0
    autocast = 2 * arch.non_embedding_params // share if e < 4 else 0

    def training(copies_trained: int, copies_kept: int, act: int, buckets: int) -> int:
        """`copies_trained` with optimizer, `copies_kept` with weights and gradients only, one training."""
        states = copies_trained * (weights + gradients + optimizer) + copies_kept * (weights + gradients)
        live = max(act + autocast, gathered_grads, temporaries)  # forward end, backward end, optimizer step
        return states + buckets * ddp + gathered + live

    act = acts[s.gradient_checkpointing]
    phases: dict[str, int] = {}
    if s.trains:
        phases["intermediate"] = training(1, 0, act, 1)
        if s.cooldown:
            phases["cooldown"] = training(2, 0, act, 2)
        kept = 1 if s.cooldown else 0  # the branch's weights and gradients (its optimizer is gone)
        phases["target"] = training(2, kept, target_acts, 2)
        phases["evaluation"] = (weights + gradients + optimizer) + (kept + 1) * (weights + gradients) + ddp + gathered + eval_acts
    else:  # the baseline: the pretrained encoder (no gradients) and one target copy at a time
        phases["target"] = weights + training(1, 0, target_acts, 1)
        phases["evaluation"] = 2 * weights + gradients + gathered + eval_acts
    return Estimate(weights, gradients, optimizer, temporaries, act, acts[False], acts[True], eval_acts, ddp,
                    gathered, gathered_grads, autocast, phases)


# ------------------------------------------------------------------------------------------ what fits
def alternatives(s: Setting) -> list[tuple[str, Setting]]:
    """The settings to try when the spec's does not fit, in the order a user would reach for them: what keeps
    the science (gradient checkpointing, FSDP, more FSDP workers: `fsdp xN`), then a smaller batch, which
    changes it. With FSDP over more workers the global batch stays; each worker trains a smaller share."""
    out = [("as in the spec", s)]
    if not s.gradient_checkpointing:
        out.append(("checkpointing", replace(s, gradient_checkpointing=True)))
    if s.workers > 1 and s.parallelism != "fsdp":
        out.append(("fsdp", replace(s, parallelism="fsdp")))
        out.append(("fsdp + checkpointing", replace(s, parallelism="fsdp", gradient_checkpointing=True)))
    for workers in (2, 4, 8, 16, 32, 64):
        if workers > s.workers and workers <= s.batch_size:
            out.append((f"fsdp x{workers}", replace(s, parallelism="fsdp", workers=workers)))
            out.append((f"fsdp x{workers} + checkpointing",
                        replace(s, parallelism="fsdp", workers=workers, gradient_checkpointing=True)))
    if s.batch_size >= 2:
        half = replace(s, batch_size=s.batch_size // 2, target_batch_size=max(1, s.target_batch_size // 2),
                       eval_batch_size=max(1, s.eval_batch_size // 2))
        out.append((f"batch {half.batch_size} (changes the study)", half))
    return out


def first_that_fits(arch: Architecture, s: Setting, capacity: int) -> tuple[str, Setting, Estimate] | None:
    for label, alt in alternatives(s):
        est = estimate(arch, alt)
        if est.peak <= capacity:
            return label, alt, est
    return None


def gpu_capacity(model: ModelSpec) -> int | None:
    """Bytes one trial of this size may use on one GPU: `resources.gpu_memory_gb`, else the memory of this
    machine's first CUDA device when the size asks for GPUs, else None (nothing to check). A trial that asks
    for a fraction of a GPU gets that fraction of its memory."""
    r = model.resources
    fraction = r.gpu if 0 < r.gpu < 1 else 1.0
    if r.gpu_memory_gb is not None:
        return int(r.gpu_memory_gb * GB * fraction)
    if r.gpu > 0:
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.get_device_properties(0).total_memory * fraction)
    return None


def memory_plan(spec: StudySpec, architectures: dict[str, Architecture] | None = None) -> dict[str, Any]:
    """Per size: the architecture, the spec's setting and its estimate, every alternative's estimate, the GPU
    capacity (or None) and the first setting that fits it."""
    out: dict[str, Any] = {}
    for m in spec.models:
        try:
            arch = (architectures or {}).get(m.name) or architecture(m)
        except (OSError, ValueError, KeyError) as exc:  # a config not on this machine: no estimate, and why
            out[m.name] = {"error": f"the architecture cannot be read: {type(exc).__name__}: {exc}"}
            continue
        setting = setting_of(spec, m)
        capacity = gpu_capacity(m)
        fit = first_that_fits(arch, setting, capacity) if capacity is not None else None
        out[m.name] = {
            "parameters": arch.n_params,
            "setting": asdict(setting),
            "estimate": estimate(arch, setting).as_dict(),
            "alternatives": [{"label": label, "setting": asdict(alt), "estimate": estimate(arch, alt).as_dict()}
                             for label, alt in alternatives(setting)],
            "gpu_capacity": capacity,
            "first_that_fits": None if fit is None else {"label": fit[0], "setting": asdict(fit[1]), "peak": fit[2].peak},
        }
    return out


def fit_problems(spec: StudySpec, architectures: dict[str, Architecture] | None = None) -> list[str]:
    """One message per size whose trial cannot fit its GPU: the estimate, and the setting that would fit."""
    problems = []
    for i, m in enumerate(spec.models):
        capacity = gpu_capacity(m)
        if capacity is None:
            continue
        try:
            arch = (architectures or {}).get(m.name) or architecture(m)
        except (OSError, ValueError, KeyError) as exc:
            if m.resources.gpu_memory_gb is None:
                continue  # only a detected GPU: a config not on this machine does not stop the launch
            problems.append(f"models[{i}] ({m.name}): resources.gpu_memory_gb is set, but the memory plan cannot "
                            f"read the architecture ({type(exc).__name__}: {exc})")
            continue
        setting = setting_of(spec, m)
        est = estimate(arch, setting)
        if est.peak <= capacity:
            continue
        fit = first_that_fits(arch, setting, capacity)
        advice = (f"{fit[0]} would fit ({fit[2].peak / GB:.1f} GB)" if fit else
                  "no alternative tried fits (more workers, FSDP, gradient checkpointing, half the batch)")
        problems.append(
            f"models[{i}] ({m.name}): a trial needs about {est.peak / GB:.1f} GB per GPU at its peak "
            f"({est.peak_phase}: weights {est.weights / GB:.1f}, gradients {est.gradients / GB:.1f}, AdamW "
            f"{est.optimizer / GB:.1f}, activations {est.activations / GB:.1f} GB) with {setting.label()}, "
            f"the GPU has {capacity / GB:.1f} GB; {advice}"
        )
    return problems


def _gb(x: float) -> str:
    return f"{x / GB:.2f}" if x < 10 * GB else f"{x / GB:.1f}"


def table_rows(entry: dict[str, Any], max_workers: int = 8) -> list[list[str]]:
    """Rows of the `xstudy plan` memory table for one size (GB): the spec's setting, then the alternatives
    with up to `max_workers` workers (the JSON has them all)."""
    rows = []
    for alt in entry["alternatives"]:
        est, setting = alt["estimate"], Setting(**alt["setting"])
        if setting.workers > max(max_workers, entry["setting"]["workers"]):
            continue
        label = f"spec: {setting.label()}" if alt["label"] == "as in the spec" else alt["label"]
        rows.append([label, _gb(est["weights"]), _gb(est["gradients"]), _gb(est["optimizer"]),
                     _gb(est["activations_without_checkpointing"]), _gb(est["activations_with_checkpointing"]),
                     _gb(est["phases"]["evaluation"]), f"{_gb(est['peak'])} ({est['peak_phase']})"])
    return rows


TABLE_COLUMNS = ("setting", "weights", "grads", "AdamW", "activations", "checkpointed", "evaluation", "peak")


__all__ = ["Architecture", "Estimate", "KNOWN_ARCHITECTURES", "Setting", "alternatives", "architecture", "estimate",
           "first_that_fits", "fit_problems", "gpu_capacity", "memory_plan", "setting_of"]
