"""`xstudy plan SPEC`: what a study will cost, before anything is spent, counted as its trials count it.

Per model size, and for the whole grid, in both schedules (`branch` and `independent`):
- trials and milestones;
- per phase, the optimizer steps, non-padding tokens and training FLOPs the trials will spend: the
  intermediate trunk, the cooldown branches, and target fine-tuning. Steps are exact: they follow from the
  spec as a trial follows it (every milestone a trial fine-tunes at, in `independent` mode the earlier
  milestones it scores English dev at too; only targets whose format trains; XCOPA's SocialIQA pass first).
  Tokens are estimated per example from each training split tokenized as the trials do (the cached split
  when `prepare` or a trial made it, else a seeded sample of `SAMPLE_EXAMPLES` examples), times the batch
  size. Where the data or the tokenizer cannot be read, tokens fall back to the upper bound batch size x
  max length, and `token_estimates` says so for that split. FLOPs are the matmul FLOPs of `study.flops`,
  as the result rows count them. Evaluation (a forward pass over the dev and test sets, typically a few
  percent) is left out;
- GPU-hours at a given sustained device throughput, by default an H100 at 40% of its 989 TFLOP/s dense bf16
  peak, i.e. 400 TFLOP/s;
- the same with ASHA's expected savings: at each rung a fraction 1/rf of the configurations goes on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from study.flops import Shape
from study.grid import combinations, trial_counts
from study.spec import BuiltinSource, HubSource, ModelSpec, StudySpec
from study.train import cooldown_steps

H100_BF16_PEAK_TFLOPS = 989.0
DEFAULT_DEVICE_TFLOPS = 400.0  # sustained: an H100 at 40% MFU
SAMPLE_EXAMPLES = 2000  # examples tokenized per split when the split is not in the cache yet
MODES = ("branch", "independent")
PHASES = ("intermediate", "cooldown", "target")

# Parameters and FLOPs shape of the encoders a study names most, so planning needs no download. Counted on
# the meta device from each model's config (XLM-R without its pooler; mT5's encoder alone).
KNOWN_SHAPES: dict[str, tuple[int, Shape]] = {
    "FacebookAI/xlm-roberta-base": (277_453_056, Shape(85_056_000, 12, 768)),
    "FacebookAI/xlm-roberta-large": (558_840_832, Shape(302_311_424, 24, 1024)),
    "facebook/xlm-roberta-xl": (3_475_929_600, Shape(2_832_358_400, 36, 2560)),
    "facebook/xlm-roberta-xxl": (10_695_954_432, Shape(9_666_240_512, 48, 4096)),
    "google/mt5-small": (146_940_608, Shape(18_883_072, 8, 384)),
    "google/mt5-base": (277_040_256, Shape(84_953_856, 12, 768)),
    "google/mt5-large": (564_446_720, Shape(308_331_520, 24, 1024)),
    "google/mt5-xl": (1_669_958_656, Shape(1_157_728_256, 24, 2048)),
    "google/mt5-xxl": (5_655_173_120, Shape(4_630_712_320, 24, 4096)),
    "microsoft/mdeberta-v3-base": (278_218_752, Shape(85_057_536, 12, 768)),
    "google/rembert": (574_592_128, Shape(510_383_744, 32, 1152)),
}
KNOWN_SHAPES["xlm-roberta-base"] = KNOWN_SHAPES["FacebookAI/xlm-roberta-base"]
KNOWN_SHAPES["xlm-roberta-large"] = KNOWN_SHAPES["FacebookAI/xlm-roberta-large"]


# ------------------------------------------------------------------------------------------- models
def model_shape(model: ModelSpec) -> tuple[int, Shape]:
    """(encoder parameters, FLOPs shape) from the spec's source, without loading weights."""
    source = model.source
    if isinstance(source, BuiltinSource):
        from transformers import XLMRobertaConfig, XLMRobertaModel

        from study.model import builtin_config
        from study.synthetic.pretraining import MAX_LENGTH, ensure_tokenizer

        cfg = builtin_config(source)
        config = XLMRobertaConfig(vocab_size=len(_load_tokenizer(str(ensure_tokenizer(cfg)))), hidden_size=cfg.hidden_size,
                                  num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                                  intermediate_size=cfg.intermediate_size, max_position_embeddings=MAX_LENGTH + 2,
                                  type_vocab_size=1)
        return _count_on_meta(lambda: XLMRobertaModel(config, add_pooling_layer=False))
    if isinstance(source, HubSource) and source.hub in KNOWN_SHAPES:
        return KNOWN_SHAPES[source.hub]
    location = source.hub if isinstance(source, HubSource) else source.path
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(location, trust_remote_code=getattr(source, "trust_remote_code", False))
    if getattr(config, "is_encoder_decoder", False):
        from transformers import MT5EncoderModel

        return _count_on_meta(lambda: MT5EncoderModel(config))
    return _count_on_meta(lambda: AutoModel.from_config(config))


def parameter_count(model: ModelSpec) -> int:
    """Encoder parameters, embeddings included, from the spec's source without loading weights."""
    return model_shape(model)[0]


def _count_on_meta(build) -> tuple[int, Shape]:
    import torch

    from study.flops import shape_of

    with torch.device("meta"):
        module = build()
    return sum(p.numel() for p in module.parameters()), shape_of(module)


def _load_tokenizer(location: str, **kwargs: Any):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(location, **kwargs)


def plan_tokenizer(model: ModelSpec):
    """The tokenizer a trial of this size uses, from the cache or a local folder only (no download, no
    pretraining); raises OSError where it is not on this machine."""
    source = model.source
    if isinstance(source, BuiltinSource):
        from study.model import builtin_config
        from study.synthetic.pretraining import ensure_tokenizer

        return _load_tokenizer(str(ensure_tokenizer(builtin_config(source))))
    if isinstance(source, HubSource):
        kwargs: dict[str, Any] = {"trust_remote_code": source.trust_remote_code, "local_files_only": True}
        if source.revision:
            kwargs["revision"] = source.revision
        return _load_tokenizer(source.hub, **kwargs)
    return _load_tokenizer(source.path, trust_remote_code=source.trust_remote_code)


# ------------------------------------------------------------------------------------ token estimates
@dataclass(frozen=True)
class SplitProfile:
    """What one training feature (a row of a batch) holds, on average, for one model's tokenizer."""

    tokens: float  # non-padding tokens per feature (all choices of a multiple-choice example)
    pairs: float  # sum over the feature's sequences of length^2 (the attention term of `study.flops`)
    examples: int  # examples in the split (mixture shares are proportional to these)
    estimate: str  # how it was obtained: from the cached split, a sample, or the upper bound and why


_PROFILES: dict[tuple[Any, ...], SplitProfile] = {}  # per process: one tokenizer and length share the work


def split_profile(task_name: str, model: ModelSpec, tokenizer: Any, spec: StudySpec) -> SplitProfile:
    """The English training split of `task_name` as the trials of `model` tokenize it."""
    from study.data import tokenizer_fingerprint

    if tokenizer is None:
        return _upper_bound(model, "the tokenizer is not on this machine")
    key = (task_name, tokenizer_fingerprint(tokenizer), model.max_length, spec.study.data_dir)
    if key not in _PROFILES:
        _PROFILES[key] = _measure(task_name, model, tokenizer, spec)
    return _PROFILES[key]


def _measure(task_name: str, model: ModelSpec, tokenizer: Any, spec: StudySpec) -> SplitProfile:
    from study.data import split_folder
    from study.tasks import registry
    from study.tasks.base import pair_count, token_count
    from study.tasks.registry import LoadContext

    task = registry.get(task_name)
    ctx = LoadContext(data_dir=spec.study.data_dir)
    try:
        folder = split_folder(task, "train", task.train_language, tokenizer, model.max_length, ctx, True)
        if folder.exists():
            import datasets

            features = datasets.load_from_disk(str(folder / "features")).select_columns(["input_ids"]).to_dict()
            n = len(features["input_ids"])
            examples = datasets.load_from_disk(str(folder / "examples")).num_rows
            return SplitProfile(token_count(features) / n, pair_count(features) / n, examples,
                                f"the cached split ({n} features)")
        examples = task.load("train", task.train_language, ctx)
    except Exception as exc:  # noqa: BLE001 - any reader failure means: no estimate from the data
        return _upper_bound(model, f"the data cannot be read ({type(exc).__name__}: {exc})")
    if not examples:
        return _upper_bound(model, "the split has no examples")
    sample = random.Random(0).sample(examples, min(SAMPLE_EXAMPLES, len(examples)))
    features = task.format.features(sample, tokenizer, model.max_length, task, True)
    n = len(features["input_ids"])
    return SplitProfile(token_count(features) / n, pair_count(features) / n, len(examples),
                        f"a sample of {len(sample)} of {len(examples)} examples")


def _upper_bound(model: ModelSpec, why: str) -> SplitProfile:
    """Every feature max_length tokens long: what `plan` counts where it cannot read the data."""
    return SplitProfile(float(model.max_length), float(model.max_length) ** 2, 1, f"upper bound (max_length): {why}")


# ---------------------------------------------------------------------------------------------- plan
@dataclass
class PhaseCost:
    steps: float = 0.0
    tokens: float = 0.0
    pairs: float = 0.0

    def add(self, steps: float, batch: int, profile: SplitProfile, times: float = 1.0) -> None:
        self.steps += times * steps
        self.tokens += times * steps * batch * profile.tokens
        self.pairs += times * steps * batch * profile.pairs

    def scaled(self, factor: float) -> PhaseCost:
        return PhaseCost(self.steps * factor, self.tokens * factor, self.pairs * factor)

    def plus(self, other: PhaseCost) -> PhaseCost:
        return PhaseCost(self.steps + other.steps, self.tokens + other.tokens, self.pairs + other.pairs)


def fine_tuned_targets(spec: StudySpec) -> list[tuple[Any, int]]:
    """(task, steps) of each fine-tuning run in one milestone's round of targets: the targets whose format
    trains, for more than 0 steps; targets that train alike share one run (registry.fine_tune_key), listed once."""
    from study.tasks import registry

    runs, seen = [], set()
    for target in spec.targets:
        task = registry.get(target.task)
        steps = target.train_steps if target.train_steps is not None else spec.target_training.steps
        key = registry.fine_tune_key(task, steps)
        if task.format.trains and steps > 0 and key not in seen:
            seen.add(key)
            runs.append((task, steps))
    return runs


def _model_plan(spec: StudySpec, model: ModelSpec, params: int, shape: Shape, profile, device_tflops: float) -> dict[str, Any]:
    grid = [s for s in model.milestones if s > 0]
    tasks = [t for t in spec.intermediate if t != "none"]
    repeats = len(spec.seeds) * spec.search.num_samples * combinations(spec)  # trials per (task, budget)
    cf = spec.intermediate_training.cooldown_fraction
    rf = spec.asha.reduction_factor if spec.asha.enabled else 1.0
    tt = spec.target_training
    survive = [rf**-i for i in range(len(grid))]  # the share of configurations still running at milestone i

    # One round of target fine-tuning: every target whose format trains, on the tasks it trains on first too.
    from study.tasks import registry

    round_cost = PhaseCost()
    for task, steps in fine_tuned_targets(spec):
        for data in (*task.train_first, task.name):
            round_cost.add(steps, tt.batch_size, profile(registry.get(data).training_set))

    def intermediate_step(task: str) -> PhaseCost:
        """One intermediate step of `task`; a mixture's step is its members' steps weighted by share."""
        members = spec.members(task)
        mixture = spec.mixture(task)
        shares = mixture.shares({m: profile(m).examples for m in members}) if mixture else {members[0]: 1.0}
        step = PhaseCost()
        for member, share in shares.items():
            step.add(1, model.batch_size, profile(member), times=share)
        return step

    phases = {mode: {phase: PhaseCost() for phase in PHASES} for mode in MODES}
    asha = {mode: {phase: PhaseCost() for phase in PHASES} for mode in MODES}
    for task in tasks:
        step = intermediate_step(task)
        # Branch: one trunk through every milestone; at each, a cooldown branch and a round of targets.
        for i, (m, prev) in enumerate(zip(grid, [0, *grid[:-1]], strict=True)):
            for costs, share in ((phases, 1.0), (asha, survive[i])):
                costs["branch"]["intermediate"] = costs["branch"]["intermediate"].plus(step.scaled((m - prev) * share))
                costs["branch"]["cooldown"] = costs["branch"]["cooldown"].plus(step.scaled(cooldown_steps(cf, m) * share))
                costs["branch"]["target"] = costs["branch"]["target"].plus(round_cost.scaled(share))
        # Independent: one run per budget, which fine-tunes the targets at every milestone up to its budget.
        for budget in grid:
            reached = [m for m in grid if m <= budget]
            for i, (m, prev) in enumerate(zip(reached, [0, *reached[:-1]], strict=True)):
                for costs, share in ((phases, 1.0), (asha, survive[i])):
                    costs["independent"]["intermediate"] = costs["independent"]["intermediate"].plus(step.scaled((m - prev) * share))
                    costs["independent"]["target"] = costs["independent"]["target"].plus(round_cost.scaled(share))
    for costs in (phases, asha):  # the baseline: one round of targets at step 0, per repeat
        for mode in MODES:
            costs[mode] = {phase: cost.scaled(repeats) for phase, cost in costs[mode].items()}
            costs[mode]["target"] = costs[mode]["target"].plus(round_cost.scaled(repeats))

    def flops(cost: PhaseCost) -> float:
        return shape.training(cost.tokens, cost.pairs)

    def gpu_hours(f: float) -> float:
        return f / (device_tflops * 1e12) / 3600.0

    total = {mode: sum(flops(c) for c in phases[mode].values()) for mode in MODES}
    total.update({f"{mode}_with_asha": sum(flops(c) for c in asha[mode].values()) for mode in MODES})
    names = sorted({*(m for t in tasks for m in spec.members(t)),
                    *(registry.get(d).training_set for t in spec.targets for d in (*registry.get(t.task).train_first, t.task)
                      if registry.get(t.task).format.trains)})
    return {
        "parameters": params,
        "non_embedding_parameters": shape.non_embedding_params,
        "milestones": model.milestones,
        "trials": {mode: trial_counts(spec, mode)[model.name]["trials"] for mode in MODES},
        "intermediate_steps": {mode: int(round(phases[mode]["intermediate"].steps + phases[mode]["cooldown"].steps))
                               for mode in MODES},
        "phases": {mode: {phase: {"steps": int(round(c.steps)), "tokens": c.tokens, "flops": flops(c)}
                          for phase, c in phases[mode].items()} for mode in MODES},
        "token_estimates": {name: profile(name).estimate for name in names},
        "flops": total,
        "gpu_hours": {key: gpu_hours(value) for key, value in total.items()},
    }


def plan(
    spec: StudySpec,
    device_tflops: float = DEFAULT_DEVICE_TFLOPS,
    shapes: dict[str, tuple[int, Shape]] | None = None,
    profiles: dict[tuple[str, str], SplitProfile] | None = None,
    architectures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The plan of `spec` as a JSON-able dict (what `xstudy plan --json` prints).

    `shapes` (model name -> (parameters, Shape)) and `profiles` ((model name, task) -> SplitProfile) replace
    what would otherwise be read from the models' configs and the data; `architectures` (model name ->
    `study.memory_plan.Architecture`) those of the per-GPU memory plan (`memory`).
    """
    models = {}
    for m in spec.models:
        params, shape = (shapes or {}).get(m.name) or model_shape(m)
        tokenizer = None
        if not profiles:
            try:
                tokenizer = plan_tokenizer(m)
            except (OSError, ValueError):  # not on this machine: the estimates fall back, and say why
                tokenizer = None
        cache: dict[str, SplitProfile] = {}

        def profile(task: str, m=m, tokenizer=tokenizer, cache=cache) -> SplitProfile:
            if profiles is not None and (m.name, task) in profiles:
                return profiles[(m.name, task)]
            if task not in cache:
                cache[task] = split_profile(task, m, tokenizer, spec)
            return cache[task]

        models[m.name] = _model_plan(spec, m, params, shape, profile, device_tflops)

    def total(*path: str) -> float:
        return sum(_get(v, path) for v in models.values())

    steps = {mode: int(total("intermediate_steps", mode)) for mode in MODES}
    from study.memory_plan import memory_plan

    return {
        "memory": memory_plan(spec, architectures),
        "study": spec.study.name,
        "schedule": spec.intermediate_training.schedule,
        "device_tflops": device_tflops,
        "models": models,
        "trials": {mode: int(total("trials", mode)) for mode in MODES},
        "intermediate_steps": steps,
        "branch_saving": 1.0 - steps["branch"] / steps["independent"] if steps["independent"] else 0.0,
        "phases": {mode: {phase: {key: total("phases", mode, phase, key) for key in ("steps", "tokens", "flops")}
                          for phase in PHASES} for mode in MODES},
        "flops": {k: total("flops", k) for k in (*MODES, *(f"{m}_with_asha" for m in MODES))},
        "gpu_hours": {k: total("gpu_hours", k) for k in (*MODES, *(f"{m}_with_asha" for m in MODES))},
    }


def _get(tree: dict[str, Any], path: tuple[str, ...]) -> float:
    for key in path:
        tree = tree[key]
    return tree  # type: ignore[return-value]
