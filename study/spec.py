"""Kept as one module: one typed schema; its models nest in one another, and the cross-field checks (registry,
lengths) read the whole spec.

The study spec: a search-space YAML validated by a typed schema.

Every model has `extra="forbid"`, so a typo'd key is an error, not a silently ignored setting. Errors are
reported with their field path (`models[1].steps`) and the rule they broke, before any compute is spent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------- models
class BuiltinSource(Strict):
    """A tiny XLM-R encoder pretrained here on the built-in corpus (see study.synthetic.pretraining.TINY_SIZES)."""

    builtin: str
    mlm_steps: int | None = Field(None, ge=1, description="overrides the size's masked-LM pretraining steps")
    mlm_seed: int | None = Field(None, ge=0, description="overrides the pretraining seed (weights, masking, batches)")


class HubSource(Strict):
    """A Hugging Face hub id, for example FacebookAI/xlm-roberta-large."""

    hub: str
    revision: str | None = None
    trust_remote_code: bool = False


class PathSource(Strict):
    """A local transformers folder (config.json, weights, tokenizer)."""

    path: str
    trust_remote_code: bool = False


def _source_kind(value: Any) -> str | None:
    keys = set(value) if isinstance(value, dict) else {type(value).__name__}
    kinds = [k for k in ("builtin", "hub", "path") if k in keys or f"{k.capitalize()}Source" in keys]
    return kinds[0] if len(kinds) == 1 else None


Source = Annotated[
    Annotated[BuiltinSource, Tag("builtin")] | Annotated[HubSource, Tag("hub")] | Annotated[PathSource, Tag("path")],
    Discriminator(
        _source_kind,
        custom_error_type="source_kind",
        custom_error_message="a model source needs exactly one of the keys 'builtin', 'hub' or 'path'",
    ),
]


class Resources(Strict):
    """What one trial asks Ray for. Fractions let several small trials share a CPU or a GPU."""

    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)
    workers: int = Field(1, ge=1, description="Ray Train workers per trial; each gets cpu and gpu above")
    gpu_memory_gb: float | None = Field(
        None, gt=0,
        description="memory of one GPU in GB (1e9 bytes); `xstudy run` refuses a size whose estimated peak "
        "(study.memory_plan) exceeds it. Unset: the detected CUDA device's, when the size asks for GPUs",
    )


class ModelSpec(Strict):
    name: str = Field(pattern=NAME_RE)
    source: Source
    resources: Resources = Resources()
    batch_size: int = Field(32, ge=1, description="intermediate-training batch size, in examples")
    max_length: int = Field(128, ge=8, description="tokens per sequence")
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    steps: list[int] = Field(description="intermediate-training step milestones; 0 is the baseline")
    retrieval_layer: int | None = Field(None, description="hidden layer mean-pooled for retrieval; default middle")
    parallelism: Literal["ddp", "fsdp"] | None = Field(
        None,
        description="how a trial's workers share intermediate training (study.distributed): 'ddp' (data "
        "parallel, the default when workers > 1) or 'fsdp' (also shards parameters, gradients and optimizer "
        "state; for sizes one GPU cannot train). Set, it runs the trial as a Ray Train job even with 1 worker",
    )
    gradient_checkpointing: bool = Field(False, description="recompute activations in the backward pass (less memory)")

    @model_validator(mode="after")
    def _batch_covers_workers(self) -> ModelSpec:
        if self.batch_size < self.resources.workers:
            raise ValueError(
                f"batch_size {self.batch_size} is smaller than resources.workers {self.resources.workers}: "
                "each worker trains on its share of every batch, so each needs at least one example"
            )
        return self

    @field_validator("steps")
    @classmethod
    def _steps_sorted(cls, steps: list[int]) -> list[int]:
        if not steps:
            raise ValueError("the step grid is empty: give at least one milestone, for example [0, 1000]")
        if any(s < 0 for s in steps):
            raise ValueError(f"step milestones must be >= 0, got {steps}")
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"step milestones must be strictly increasing, got {steps}")
        return steps

    @property
    def milestones(self) -> list[int]:
        """The grid with the step-0 baseline always included."""
        return sorted(set([0, *self.steps]))


# ---------------------------------------------------------------------------------------------- tasks
class TargetSpec(Strict):
    task: str
    languages: list[str] | None = Field(None, description="zero-shot test languages; default all of the task's")
    train_steps: int | None = Field(None, ge=0, description="overrides target_training.steps for this task")


class TargetTraining(Strict):
    """Fine-tuning on each target task's English training data, from the intermediate checkpoint."""

    steps: int = Field(200, ge=0, description="optimizer steps per target task")
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(128, ge=1)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)


class StopWhenFlat(Strict):
    """End a trunk once its fitted curve has flattened (`study.scheduler.GroupedASHA`, `analysis.curves.flat_check`).

    From its 3rd milestone on, a trunk's ASHA signal (English dev, chance-normalised points) is fitted against
    its steps; the trunk stops when, with `confidence`, the next milestone would add less than `min_gain` points.
    """

    min_gain: float = Field(0.5, gt=0, description="points of ASHA's signal the next milestone must be able to add")
    confidence: float = Field(0.9, gt=0, lt=1, description="one-sided confidence that the gain is below min_gain")


class IntermediateTraining(Strict):
    schedule: Literal["branch", "independent"] = Field(
        "branch",
        description="'branch': one warmup-stable run per configuration passes every milestone, with a cooldown "
        "branch at each; 'independent': one run per step count, with linear warmup and decay to that count",
    )
    warmup_steps: int = Field(0, ge=0, description="linear warmup at the start of intermediate training")
    cooldown_fraction: float = Field(
        0.0,
        ge=0,
        le=1,
        description="at each milestone, a branch decays the learning rate to zero over this fraction of "
        "the steps so far; the targets fine-tune from the end of the branch (0: fine-tune from the trunk)",
    )
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    group_by_length: bool = Field(
        True,
        description="batch intermediate examples of similar length together, within shuffled windows of 50 "
        "batches (study.train.DataStream): far less padding on real data, the same examples per epoch",
    )
    stop_when_flat: StopWhenFlat | None = Field(
        None, description="optional: stop a trunk whose fitted curve has flattened (off when absent)",
    )

    @model_validator(mode="after")
    def _flat_needs_a_trunk(self) -> IntermediateTraining:
        if self.stop_when_flat is not None and self.schedule != "branch":
            raise ValueError(
                "stop_when_flat needs schedule 'branch': it ends a trunk that passes every milestone, and an "
                "'independent' run trains to one step count"
            )
        return self


class MixtureSpec(Strict):
    """Multi-task intermediate training: one shared encoder, one head per task, tasks sampled per step."""

    name: str = Field(pattern=NAME_RE)
    tasks: list[str] | Literal["all"] = Field("all", description="'all' = every single intermediate task of the study")
    sampling: Literal["proportional", "capped", "temperature"] = Field(
        "proportional", description="shares proportional to training-set size, to min(size, cap), or to size^(1/T)"
    )
    cap: int | None = Field(None, ge=1, description="examples; required by 'capped'")
    temperature: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _cap_given(self) -> MixtureSpec:
        if self.sampling == "capped" and self.cap is None:
            raise ValueError("sampling 'capped' needs cap (examples)")
        return self

    def shares(self, sizes: dict[str, int]) -> dict[str, float]:
        """Sampling probability of each member task, given its number of training examples."""
        if self.sampling == "proportional":
            raw = {t: float(n) for t, n in sizes.items()}
        elif self.sampling == "capped":
            raw = {t: float(min(n, self.cap)) for t, n in sizes.items()}
        else:
            raw = {t: float(n) ** (1.0 / self.temperature) for t, n in sizes.items()}
        total = sum(raw.values())
        return {t: v / total for t, v in sorted(raw.items())}


# ---------------------------------------------------------------------------------------------- search
HP_NAMES = {
    "intermediate_lr": "learning rate of intermediate training",
    "target_lr": "learning rate of target fine-tuning",
    "weight_decay": "AdamW weight decay in both phases",
    "warmup_ratio": "target fine-tuning warmup, as a fraction of its steps",
}


class Choice(Strict):
    choice: list[Any] = Field(min_length=1)


class Grid(Strict):
    grid: list[Any] = Field(min_length=1)


class LogUniform(Strict):
    loguniform: tuple[float, float]

    @field_validator("loguniform")
    @classmethod
    def _positive(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0 < v[0] < v[1]):
            raise ValueError(f"loguniform needs 0 < low < high, got {list(v)}")
        return v


class Uniform(Strict):
    uniform: tuple[float, float]

    @field_validator("uniform")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not v[0] < v[1]:
            raise ValueError(f"uniform needs low < high, got {list(v)}")
        return v


def _hp_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return type(value).__name__.lower()
    if not isinstance(value, dict):
        return "constant"
    kinds = [k for k in ("choice", "grid", "loguniform", "uniform") if k in value]
    return kinds[0] if len(kinds) == 1 else None


HyperParam = Annotated[
    Annotated[float | int | str, Tag("constant")]
    | Annotated[Choice, Tag("choice")]
    | Annotated[Grid, Tag("grid")]
    | Annotated[LogUniform, Tag("loguniform")]
    | Annotated[Uniform, Tag("uniform")],
    Discriminator(
        _hp_kind,
        custom_error_type="hyperparameter_kind",
        custom_error_message="a hyperparameter is a constant or a mapping with exactly one of the keys "
        "'choice', 'grid', 'loguniform' or 'uniform'",
    ),
]


class AshaSpec(Strict):
    """ASHA over the step milestones, ranking trials only within one model size."""

    enabled: bool = True
    reduction_factor: float = Field(2.0, gt=1)
    signal: str = Field(
        "targets_mean",
        description="'targets_mean' (English dev, mean over target tasks), 'task:NAME' (one target task), "
        "or 'intermediate' (the intermediate task's own English dev score)",
    )

    @field_validator("signal")
    @classmethod
    def _signal(cls, v: str) -> str:
        if v in ("targets_mean", "intermediate") or re.fullmatch(r"task:[A-Za-z0-9_.-]+", v):
            return v
        raise ValueError(f"signal must be 'targets_mean', 'intermediate' or 'task:NAME', got {v!r}")


class SearchSpec(Strict):
    algorithm: Literal["grid", "random", "optuna"] = "grid"
    num_samples: int = Field(1, ge=1, description="samples of the non-grid hyperparameters per grid point")
    max_concurrent_trials: int | None = Field(None, ge=1)
    seed: int = 0


class StudyMeta(Strict):
    name: str = Field(pattern=NAME_RE)
    storage: str = Field("./results", description="local folder or cloud URI (s3://, gs://)")
    data_dir: str | None = Field(None, description="release-format data files; XSTUDY_DATA_DIR otherwise")
    max_failures: int = Field(2, ge=0, description="retries of a crashed trial from its last checkpoint")
    checkpoints_to_keep: int = Field(
        2, ge=1, description="checkpoints kept per trial (the latest holds the trunk a branch resumes from)"
    )
    loggers: list[Literal["mlflow", "wandb", "tensorboard"]] = Field(
        default_factory=list,
        description="experiment trackers that receive every trial's reports through Ray Tune's logger callbacks "
        "(study.trackers); the results table stays the record",
    )


class StudySpec(Strict):
    study: StudyMeta
    benchmark: Literal["xtreme", "xtreme-r"] = Field(
        "xtreme-r",
        description="whose convention the overall score follows: each target's default languages are this "
        "benchmark's list for the task, and a task of the other benchmark only is an error",
    )
    qa_score: Literal["em_f1", "f1"] = Field(
        "em_f1",
        description="the per-language score of QA targets in the report: 'em_f1' ((EM + F1) / 2, the official "
        "evaluate.py) or 'f1' (F1 only, as some papers' XTREME-R tables); the rows keep both metrics",
    )
    models: list[ModelSpec] = Field(min_length=1)
    intermediate_tasks: list[str | MixtureSpec] = Field(min_length=1)
    target_tasks: list[str | TargetSpec] = Field(min_length=1)
    seeds: list[int] = Field([0], min_length=1)
    hyperparameters: dict[str, HyperParam] = Field(default_factory=dict)
    intermediate_training: IntermediateTraining = IntermediateTraining()
    target_training: TargetTraining = TargetTraining()
    asha: AshaSpec = AshaSpec()
    search: SearchSpec = SearchSpec()

    @field_validator("hyperparameters")
    @classmethod
    def _known_hps(cls, hps: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(hps) - set(HP_NAMES))
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {unknown}; known: {sorted(HP_NAMES)}")
        return hps

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be unique, got {seeds}")
        return seeds

    @field_validator("intermediate_tasks")
    @classmethod
    def _unique_intermediate(cls, tasks: list[str | MixtureSpec]) -> list[str | MixtureSpec]:
        names = [t if isinstance(t, str) else t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"intermediate tasks must be unique, got {names}")
        for t in tasks:
            if isinstance(t, MixtureSpec) and t.tasks != "all" and len(t.tasks) < 2:
                raise ValueError(f"mixture {t.name!r} needs at least 2 tasks, got {t.tasks}")
        return tasks

    @model_validator(mode="after")
    def _cross_field(self) -> StudySpec:
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"models: duplicate model name(s) {dupes}")
        targets = [t.task for t in self.targets]
        if len(set(targets)) != len(targets):
            raise ValueError(f"target_tasks: duplicate target task(s) {targets}")
        if self.asha.signal.startswith("task:") and self.asha.signal[5:] not in targets:
            raise ValueError(f"asha.signal names {self.asha.signal[5:]!r}, which is not a target task {targets}")
        self._check_warmup()
        return self

    def _check_warmup(self) -> None:
        """A warmup at least as long as a run's budget never reaches its learning rate (and, in `independent`
        mode, never decays): refused, naming the model and its milestones."""
        warmup = self.intermediate_training.warmup_steps
        if warmup == 0 or self.intermediate == ["none"]:
            return
        for i, m in enumerate(self.models):
            grid = [s for s in m.milestones if s > 0]
            if self.intermediate_training.schedule == "independent":
                short = [s for s in grid if s <= warmup]
                if short:
                    raise ValueError(
                        f"intermediate_training.warmup_steps {warmup} is at least models[{i}] ({m.name})'s step "
                        f"budget(s) {short}: an independent run to such a budget would end before its warmup does "
                        "and never decay; use fewer warmup steps or larger milestones"
                    )
            elif grid and grid[-1] <= warmup:
                raise ValueError(
                    f"intermediate_training.warmup_steps {warmup} is at least models[{i}] ({m.name})'s last milestone "
                    f"{grid[-1]}: its trunk would end within the warmup, never at its learning rate; use fewer "
                    "warmup steps or larger milestones"
                )

    # --------------------------------------------------------------------------------- derived views
    @property
    def uri(self) -> str:
        """The study's folder or cloud URI: `study.storage` (made absolute) joined with `study.name`."""
        from study import storage

        return storage.join(storage.normalize(self.study.storage), self.study.name)

    @property
    def targets(self) -> list[TargetSpec]:
        return [TargetSpec(task=t) if isinstance(t, str) else t for t in self.target_tasks]

    @property
    def intermediate(self) -> list[str]:
        """The intermediate tasks and mixtures by name, with the `none` baseline always first."""
        names = [t if isinstance(t, str) else t.name for t in self.intermediate_tasks]
        return ["none", *[n for n in names if n != "none"]]

    def members(self, name: str) -> list[str]:
        """The single tasks an intermediate task or mixture trains on ([] for the baseline)."""
        if name == "none":
            return []
        for t in self.intermediate_tasks:
            if isinstance(t, MixtureSpec) and t.name == name:
                if t.tasks == "all":
                    return sorted(x for x in self.intermediate_tasks if isinstance(x, str) and x != "none")
                return list(t.tasks)
        return [name]

    def mixture(self, name: str) -> MixtureSpec | None:
        return next((t for t in self.intermediate_tasks if isinstance(t, MixtureSpec) and t.name == name), None)

    def model(self, name: str) -> ModelSpec:
        return next(m for m in self.models if m.name == name)

    def signal_families(self) -> dict[str, str]:
        """The tasks whose English dev scores ASHA's signal (`asha.signal`) averages, and their metric families:
        every target for `targets_mean`, the one target of `task:NAME`, the member tasks of every intermediate
        task and mixture for `intermediate`."""
        from study.tasks import registry

        signal = self.asha.signal
        if signal == "intermediate":
            names = [m for name in self.intermediate for m in self.members(name)]
        elif signal.startswith("task:"):
            names = [signal[5:]]
        else:
            names = [t.task for t in self.targets]
        return {name: registry.get(name).metric for name in dict.fromkeys(names)}

    def signal_mode(self) -> str:
        """ASHA's and Optuna's `mode` ("max" or "min"): the direction of the signal's metrics, as registered in
        study.metrics. Raises a ValueError where the signal would average scores of both directions."""
        from study import metrics

        return metrics.signal_mode(self.signal_families())

    def languages_of(self, target: TargetSpec) -> list[str]:
        """A target's zero-shot test languages: its `languages:`, else `benchmark`'s list for the task (in the
        official scorer's order), else, for a task of neither benchmark (the built-in ones), all it has."""
        from study.tasks import registry
        from study.tasks.languages import TASK_LANGUAGES

        if target.languages:
            return list(target.languages)
        listed = TASK_LANGUAGES[self.benchmark].get(target.task)
        return list(listed) if listed is not None else list(registry.get(target.task).test_languages)

    def convention(self):
        """How the report aggregates this study's scores (`analysis.aggregate.Convention`)."""
        from analysis.aggregate import Convention

        benchmark_tasks = {t.task for t in self.targets} & set(_benchmark_tasks())
        return Convention(
            benchmark=self.benchmark if benchmark_tasks else None, qa_score=self.qa_score,
            languages={t.task: tuple(self.languages_of(t)) for t in self.targets},
        )


def convention_of(data: Any):
    """The `analysis.aggregate.Convention` of a stored spec (`spec.json` as parsed JSON); the default one when
    it does not validate (a spec of another version), so that a report or a status can still be made."""
    from analysis.aggregate import Convention

    try:
        return StudySpec.model_validate(data).convention()
    except (ValidationError, TypeError, ValueError, KeyError):
        return Convention()


def _benchmark_tasks() -> set[str]:
    """Every task of XTREME or XTREME-R."""
    from study.tasks.languages import TASK_LANGUAGES

    return {task for tasks in TASK_LANGUAGES.values() for task in tasks}


# ---------------------------------------------------------------------------------------------- loading
class SpecError(Exception):
    """A spec that cannot be run; `errors` holds (field path, rule) pairs."""

    def __init__(self, source: str, errors: list[tuple[str, str]]):
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  {path}: {rule}" for path, rule in errors)
        super().__init__(f"{source}: {len(errors)} error(s)\n{lines}")


def field_path(loc: tuple[Any, ...]) -> str:
    """('models', 1, 'steps') -> 'models[1].steps'; pydantic's union-member tags are dropped."""
    out = ""
    for i, part in enumerate(loc):
        if not isinstance(part, (int, str)):  # a mapping key of another type (YAML allows any scalar)
            part = repr(part)
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        is_member_tag = (
            part[:1].isupper() or "[" in part or part in _UNION_TAGS
            or (i > 0 and loc[i - 1] == "source" and part in ("builtin", "hub", "path"))
            or (i > 1 and loc[i - 2] == "hyperparameters" and part in ("constant", "choice", "grid", "loguniform", "uniform"))
        )
        if not is_member_tag:
            out += f".{part}" if out else part
    return out or "(top level)"


_UNION_TAGS = {"float", "int", "str", "bool", "list[int]", "str | TargetSpec"}


def _errors_of(exc: ValidationError) -> list[tuple[str, str]]:
    seen: dict[str, list[str]] = {}
    for err in exc.errors():
        path = field_path(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the spec schema; check the spelling)"
        elif err["type"] == "invalid_key":  # YAML reads `1:` or `true:` as a number or bool key, not a name
            path = field_path(err["loc"][:-1])
            msg = f"key {err['loc'][-1]!r} is not a string (every key of the spec is a name)"
        seen.setdefault(path, [])
        if msg not in seen[path]:
            seen[path].append(msg)
    return [(path, "; ".join(msgs)) for path, msgs in seen.items()]


def parse_spec(data: Any, source: str = "<spec>", check_registry: bool = True) -> StudySpec:
    """Validate a spec; every error found is reported at once, schema and registry alike."""
    if not isinstance(data, dict):
        raise SpecError(source, [("(top level)", "the spec must be a YAML mapping")])
    errors: list[tuple[str, str]] = []
    spec = None
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as exc:
        errors = _errors_of(exc)
    if check_registry:
        known = {path for path, _ in errors}
        errors += [(path, rule) for path, rule in registry_errors(data) if path not in known]
        if spec is not None and not errors:
            errors += signal_errors(spec)
    if errors:
        raise SpecError(source, sorted(errors, key=lambda e: _path_order(e[0])))
    return spec


def signal_errors(spec: StudySpec) -> list[tuple[str, str]]:
    """ASHA's signal must have one direction (`StudySpec.signal_mode`), and the flat-curve rule, which predicts
    what the next milestone can add, a rising one."""
    try:
        mode = spec.signal_mode()
    except ValueError as err:
        return [("asha.signal", str(err))]
    if mode == "min" and spec.intermediate_training.stop_when_flat is not None:
        return [("intermediate_training.stop_when_flat", "the flat-curve rule predicts a gain of a higher-is-better "
                 f"signal; asha.signal ({spec.asha.signal}) is lower-is-better")]
    return []


def _path_order(path: str) -> list[tuple[int, Any]]:
    # (0, index) before (1, name): list indexes and names never compare with each other directly.
    return [(0, int(p)) if p.isascii() and p.isdigit() else (1, p) for p in re.split(r"[\[\].]+", path) if p]


class _SpecLoader(yaml.SafeLoader):
    """yaml's safe loader, whose value errors say where they are.

    A scalar that its tag cannot hold (`!!int x`, the date 2001-02-30, `!!timestamp 2001-02-30 -`) makes the
    safe loader's constructors raise a bare ValueError or AttributeError with no position; here it becomes a
    YAML error at the scalar's line and column.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:  # noqa: BLE001 - any constructor failure is a value its tag cannot hold
            shown = node.value if isinstance(node, yaml.ScalarNode) else node.tag
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown!r} is not a valid {node.tag.rsplit(':', 1)[-1]} ({exc})", node.start_mark
            ) from None


def load_spec(path: str | Path, check_registry: bool = True) -> StudySpec:
    path = Path(path)
    if not path.is_file():
        raise SpecError(str(path), [("(file)", "no such file")])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(str(path), [("(file)", f"cannot be read: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(str(path), [(f"line {line}", f"not UTF-8 text ({exc.reason})")]) from None
    try:
        data = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise SpecError(str(path), [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    except RecursionError:
        raise SpecError(str(path), [("(file)", "not a spec: nested too deeply")]) from None
    return parse_spec(data, str(path), check_registry)


def registry_errors(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Names that the schema cannot check alone: tasks, languages, built-in model sizes.

    Works on the raw mapping, so these errors are reported together with the schema's own.
    """
    from study.tasks import registry
    from study.synthetic.pretraining import TINY_SIZES

    errors: list[tuple[str, str]] = []
    intermediate = data.get("intermediate_tasks")
    for i, entry in enumerate(intermediate if isinstance(intermediate, list) else []):
        members = entry.get("tasks") if isinstance(entry, dict) else [entry]
        where = f"intermediate_tasks[{i}].tasks" if isinstance(entry, dict) else f"intermediate_tasks[{i}]"
        for name in members if isinstance(members, list) else []:
            if not isinstance(name, str) or name == "none":
                continue
            task = registry.get(name, None)
            if task is None:
                errors.append((where, f"unknown task {name!r}; known: {registry.names('intermediate')}"))
            elif "intermediate" not in task.roles:
                errors.append((where, f"{name!r} is not an intermediate task"))
    from study.tasks.languages import BENCHMARKS, TASK_LANGUAGES

    benchmark = data.get("benchmark", "xtreme-r")
    targets = data.get("target_tasks")
    for i, target in enumerate(targets if isinstance(targets, list) else []):
        name = target.get("task") if isinstance(target, dict) else target
        if not isinstance(name, str):
            continue
        task = registry.get(name, None)
        if task is None:
            errors.append((f"target_tasks[{i}]", f"unknown task {name!r}; known: {registry.names('target')}"))
            continue
        if benchmark in BENCHMARKS and name in _benchmark_tasks() and name not in TASK_LANGUAGES[benchmark]:
            other = next(b for b in BENCHMARKS if name in TASK_LANGUAGES[b])
            errors.append((f"target_tasks[{i}]", f"{name!r} is a task of benchmark {other!r}, not of {benchmark!r}, so "
                           f"the overall score would be neither benchmark's; {benchmark!r} has "
                           f"{list(TASK_LANGUAGES[benchmark])}. Set `benchmark: {other}` or drop the task"))
        if "target" not in task.roles:
            errors.append((f"target_tasks[{i}]", f"{name!r} is not a target task"))
        langs = target.get("languages") if isinstance(target, dict) else None
        for lang in langs if isinstance(langs, list) else []:
            if lang not in task.test_languages:
                errors.append((f"target_tasks[{i}].languages", f"{name} has no language {lang!r}; it has {list(task.test_languages)}"))
    models = data.get("models")
    for i, model in enumerate(models if isinstance(models, list) else []):
        source = model.get("source") if isinstance(model, dict) else None
        size = source.get("builtin") if isinstance(source, dict) else None
        if isinstance(size, str) and size not in TINY_SIZES:
            errors.append((f"models[{i}].source.builtin", f"unknown built-in size {size!r}; known: {sorted(TINY_SIZES)}"))
    return errors + length_errors(data)


def length_errors(data: dict[str, Any]) -> list[tuple[str, str]]:
    """A model's max_length shorter than a task format needs (span QA: question, context window and special
    tokens must fit), naming the tasks and the minimum."""
    from study.tasks import registry

    def listed(key: str) -> list:  # the schema's own errors name a field that is not a list
        value = data.get(key)
        return value if isinstance(value, list) else []

    names = [t for t in listed("intermediate_tasks") if isinstance(t, str)]
    for entry in listed("intermediate_tasks"):
        if isinstance(entry, dict) and isinstance(entry.get("tasks"), list):
            names += [t for t in entry["tasks"] if isinstance(t, str)]
    for target in listed("target_tasks"):
        name = target.get("task") if isinstance(target, dict) else target
        task = registry.get(name, None) if isinstance(name, str) else None
        names += [name, *task.train_first, task.training_set] if task is not None else []
    tasks = [registry.get(n) for n in dict.fromkeys(names) if isinstance(n, str) and registry.get(n, None) is not None]
    errors = []
    for i, model in enumerate(listed("models")):
        length = model.get("max_length", ModelSpec.model_fields["max_length"].default) if isinstance(model, dict) else None
        if not isinstance(length, int):
            continue
        short = {t.name: t.format.min_length for t in tasks if length < t.format.min_length}
        if short:
            errors.append((f"models[{i}].max_length", f"{length} is too short for task(s) {sorted(short)}: "
                           f"{max(short.values())} tokens at least (span QA needs room for the question, a context "
                           f"window and the special tokens)"))
    return errors
