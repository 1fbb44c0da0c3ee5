"""Kept as one module: the trial's recipe reads top to bottom in one class (the numbered steps below), and its
milestone state must stay consistent across those steps.

One trial: (model size, intermediate task, hyperparameters, seed), through its step milestones.

The recipe reads top to bottom:
1. load the encoder and the intermediate task's English training data (several tasks for a mixture);
2. train intermediate steps up to the next milestone;
3. at the milestone, take the encoder the targets start from: in `branch` mode a copy of the trunk whose
   learning rate cools down to zero over a fraction of the steps so far; in `independent` mode the run
   itself, whose schedule decays to zero at its own step count;
4. fine-tune a fresh head on each target task's English training data, score English dev (the ASHA
   signal) and zero-shot test in every target language;
5. write the milestone's result rows, then report to Tune with a checkpoint; go on at step 2.

In `branch` mode the trunk never sees the branch: one warmup-stable run serves every milestone. In
`independent` mode a trial trains to one step count (its budget); at the earlier milestones it only scores
English dev, so ASHA can stop it, and its result rows are written at the budget. Step 0 (no intermediate
training) is the baseline: the `none` trial reports only that.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import socket
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.aggregate import asha_signal
from study import grid, progress, recovery, results, state_io, storage
from study.baselines import chance_of
from study.data import Split, SplitMemory
from study.evaluate import OnDevice, SplitScore, score_split
from study.grid import POINT
from study.metrics import METRIC_FAMILIES
from study.model import Encoder, autocast, load_encoder
from study.predictions import write_predictions
from study.spec import StudySpec
from study.tasks import registry
from study.tasks.readers import DataError
from study.tasks.registry import LoadContext
from study.train import (
    Cost,
    DataStream,
    Phase,
    StreamState,
    adamw,
    ceil_steps,
    cooldown_steps,
    linear_decay_from,
    warmup_linear,
    warmup_stable,
)

# Cost columns of the result rows that each milestone also reports (to Tune, and so to the trackers).
COST_COLUMNS = ("intermediate_examples", "intermediate_tokens", "intermediate_flops", "intermediate_seconds",
                "intermediate_accelerator_seconds", "cooldown_steps", "cooldown_tokens", "cooldown_seconds",
                "cooldown_accelerator_seconds")
TARGET_COST_COLUMNS = ("target_steps", "target_tokens", "target_flops", "target_seconds", "target_accelerator_seconds",
                       "eval_examples", "eval_tokens", "eval_flops", "eval_seconds", "eval_accelerator_seconds")
HP_DEFAULTS = {"intermediate_lr": 1e-4, "target_lr": 1e-4, "weight_decay": None, "warmup_ratio": None}

Reporter = Callable[[dict[str, Any], Path | None], None]

# point_of stays importable from here: a study made before it moved to study.grid has Tune's scheduler pickled
# with functions that name it as study.trial.point_of, and `xstudy resume` unpickles them.
point_of = grid.point_of


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class TrunkState:
    """What survives between milestones (saved in every checkpoint, as JSON)."""

    milestone_done: int = -1  # the last milestone that was reported
    step: int = 0
    streams: dict[str, dict[str, int]] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=lambda: asdict(Cost()))


class Trial:
    def __init__(self, spec: StudySpec, config: dict[str, Any], trial_id: str, node: str | None = None):
        self.spec = spec
        if POINT in config:
            raise ValueError(f"a Trial takes its config flat (study.grid.point_of), not with a nested {POINT!r}")
        self.config = dict(config)
        self.trial_id = trial_id
        self.node = node or socket.gethostname()
        self.model_spec = spec.model(self.config["model"])
        self.task_name: str = self.config["intermediate_task"]
        self.members = spec.members(self.task_name)
        self.seed = int(self.config["seed"])
        self.mode = spec.intermediate_training.schedule
        self.hp = {k: self.config.get(k, v) for k, v in HP_DEFAULTS.items()}
        if self.hp["weight_decay"] is None:
            self.hp["weight_decay"] = spec.intermediate_training.weight_decay
        if self.hp["warmup_ratio"] is None:
            self.hp["warmup_ratio"] = spec.target_training.warmup_ratio
        self.ctx = LoadContext(data_dir=spec.study.data_dir)
        self.splits = SplitMemory()  # every milestone evaluates the same splits: read each once per trial
        self.progress: progress.Progress | None = None  # made in setup, once this process knows whether it writes
        self.study_uri = spec.uri
        self.device = torch.device("cuda" if self.model_spec.resources.gpu > 0 and torch.cuda.is_available() else "cpu")
        self.gpus = 1 if self.device.type == "cuda" else 0  # accelerator-seconds = wall seconds x GPUs
        self.autocast = autocast(self.model_spec.precision, self.device)
        grid = [m for m in self.model_spec.milestones if m > 0]
        if self.task_name == "none":
            self.milestones, self.budget = [0], 0
        elif self.mode == "independent":
            self.budget = int(self.config["budget"])
            self.milestones = [m for m in grid if m <= self.budget]
        else:
            self.budget = grid[-1]
            self.milestones = grid

    # ------------------------------------------------------------------------------------------- setup
    def setup(self, checkpoint: Path | None) -> None:
        self.progress = progress.Progress(self.study_uri, self.trial_id, enabled=self.writer)
        # Building a built-in model (first use on a machine) draws random numbers of its own.
        with state_io.forked_rng(self.device):
            self.encoder: Encoder = self._load_encoder()
        self._place(self.encoder.module)
        self.pad_id = self.encoder.tokenizer.pad_token_id
        self.hidden = self.encoder.module.config.hidden_size
        self.chance = {t.task: self._chance(registry.get(t.task)) for t in self.spec.targets}
        self.state = TrunkState()
        self.phase: Phase | None = None
        self.shares: dict[str, float] = {}
        if self.members:
            tasks = [registry.get(name) for name in self.members]
            train = {t.name: self._split(t.name, "train", t.train_language, train=True) for t in tasks}
            self.intermediate_dev = [self._split(t.name, "dev", t.train_language, train=False) for t in tasks]
            mixture = self.spec.mixture(self.task_name)
            if mixture is not None:
                self.shares = mixture.shares({name: len(split) for name, split in train.items()})
            seed_everything(self.seed)
            heads = {t.name: self._place(t.format.make_head(self.hidden, t)) for t in tasks}
            lr = self.hp["intermediate_lr"]
            warmup = self.spec.intermediate_training.warmup_steps
            self.phase = self._new_phase(
                rng_seed=self.seed, encoder=self.encoder.module, heads=heads, formats={t.name: t.format for t in tasks},
                streams={
                    t.name: DataStream(train[t.name].features, self.model_spec.batch_size, StreamState(seed=self.seed),
                                       group_by_length=self.spec.intermediate_training.group_by_length)
                    for t in tasks
                },
                optimizer=adamw([self.encoder.module, *heads.values()], lr, self.hp["weight_decay"]),
                lr_at=(warmup_stable(lr, warmup) if self.mode == "branch"
                       else warmup_linear(lr, self.budget, warmup)),
                max_grad_norm=self.spec.intermediate_training.max_grad_norm, pad_id=self.pad_id,
                device=self.device, autocast=self.autocast, weights=self.shares or None, mix_seed=self.seed,
            )
        else:
            seed_everything(self.seed)
        if checkpoint is not None:
            self._restore(checkpoint)

    @staticmethod
    def _has_dev(task: registry.Task) -> bool:
        """Whether the task has an English dev set (Tatoeba, BUCC and LAReQA have test data only)."""
        return task.splits is None or task.train_language in task.splits.get("dev", ())

    def _chance(self, task: registry.Task) -> float:
        """Chance level of the English dev set (0 where a format has none, e.g. span QA)."""
        if not self._has_dev(task):
            return 0.0
        dev = self._split(task.name, "dev", task.train_language, train=False).examples
        data = registry.get(task.training_set)
        train = self._split(data.name, "train", data.train_language, train=True).examples if task.format.trains else []
        return chance_of(task, dev, train, task.train_language) or 0.0

    def _split(self, task: str, split: str, lang: str, train: bool) -> Split:
        return self.splits.load(registry.get(task), split, lang, self.encoder.tokenizer, self.model_spec.max_length, self.ctx, train)

    # --------------------------------------------------------------------------------------- checkpoint
    def _trunk_modules(self) -> dict[str, torch.nn.Module]:
        """The trunk's modules by checkpoint file name."""
        heads = self.phase.heads if self.phase is not None else {}
        return {"encoder": self.encoder.module, **{f"head-{name}": head for name, head in heads.items()}}

    def _save(self, folder: Path) -> None:
        """The trunk's checkpoint: weights and optimizer state (`_save_trunk`), then the data order, step and
        random state, which the writer alone writes (`trunk.json`, `rng.safetensors`)."""
        if self.phase is not None:
            self.state.step = self.phase.step
            self.state.streams = {name: asdict(s.state) for name, s in self.phase.streams.items()}
        self._save_trunk(folder)
        if not self.writer:
            return
        state_io.save_tensors(state_io.rng_state(self.device), folder / "rng.safetensors")
        (folder / "trunk.json").write_text(json.dumps(asdict(self.state)))

    def _save_trunk(self, folder: Path) -> None:
        """Whole-model files, one per module, and the optimizer's (the writer writes them)."""
        optimizer = self.phase.optimizer if self.phase is not None else None
        weights, optimizer_state = self._full_state(self._trunk_modules(), optimizer)
        if not self.writer:
            return
        for name, state in weights.items():
            state_io.save_module(state, folder / f"{name}.safetensors")
        if optimizer_state is not None:
            state_io.save_optimizer(optimizer_state, folder, "optimizer")

    def _restore_trunk(self, folder: Path) -> None:
        modules = self._trunk_modules()
        optimizer = self.phase.optimizer if self.phase is not None else None
        weights = optimizer_state = None
        if self.reads_full_state:
            weights = {name: state_io.load_module(folder / f"{name}.safetensors") for name in modules}
            optimizer_state = state_io.load_optimizer(folder, "optimizer") if optimizer is not None else None
        self._load_full_state(modules, optimizer, weights, optimizer_state)

    def _restore(self, folder: Path) -> None:
        self.state = TrunkState(**json.loads((folder / "trunk.json").read_text()))
        self._restore_trunk(folder)
        if self.phase is not None:
            self.phase.step = self.state.step
            self.phase.streams = {
                name: s.at(StreamState(**self.state.streams[name])) for name, s in self.phase.streams.items()
            }
        state_io.set_rng_state(state_io.load_tensors(folder / "rng.safetensors"), self.device)

    # --------------------------------------------------------------- what several workers do differently
    # One process does everything itself. On several workers (study.distributed) every worker runs this same
    # recipe in step; these hooks are where a worker differs: its modules may be sharded, its phases data
    # parallel, its evaluation shares each batch with the others, and only rank 0 writes.
    writer = True  # whether this process writes result rows, predictions, records and checkpoint files
    reads_full_state = True  # whether this process reads a checkpoint's files on restore

    def _load_encoder(self) -> Encoder:
        """The pretrained encoder (a distributed trial may load it sharded)."""
        return load_encoder(self.model_spec)

    def _place(self, module: torch.nn.Module | None) -> torch.nn.Module | None:
        """A module the trial trains or evaluates, made ready for it (here: moved to the device)."""
        return module.to(self.device) if module is not None else None

    def _clone(self, module: torch.nn.Module) -> torch.nn.Module:
        """An independent copy of a placed module (a cooldown branch, a target's encoder)."""
        return copy.deepcopy(module)

    def _new_phase(self, rng_seed: int, **fields: Any) -> Phase:
        """A training phase over placed modules; `rng_seed` seeds what other workers draw (dropout)."""
        return Phase(**fields, **self._progress_hooks())

    examples_per_step_share = 1  # a worker's batch is this share of the examples a step trains on (inverse)

    def _progress_hooks(self) -> dict[str, Any]:
        """What a phase calls after each step: the live progress file (study.progress), and its test hook."""
        scale = self.examples_per_step_share
        return {"on_step": lambda examples: self.progress.advance(1, examples * scale),
                "step_delay_s": progress.step_delay()}

    def _for_scoring(self, encoder: torch.nn.Module) -> torch.nn.Module:
        """The encoder as evaluation calls it: with the formats' CPU-built batches moved to the device."""
        return OnDevice(encoder, self.device)

    def _agree(self, value: Any) -> Any:
        """A value every worker must act on alike (what a storage read gave rank 0)."""
        return value

    def _full_state(self, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer | None):
        """(state_dict by module name, optimizer state_dict or None): what a checkpoint holds."""
        return {name: m.state_dict() for name, m in modules.items()}, (optimizer.state_dict() if optimizer else None)

    def _load_full_state(self, modules, optimizer, weights, optimizer_state) -> None:
        for name, module in modules.items():
            module.load_state_dict(weights[name], strict=True)
        if optimizer is not None:
            optimizer.load_state_dict(optimizer_state)

    # ---------------------------------------------------------------------------------------------- run
    def run(self, report: Reporter, checkpoint: Path | None = None) -> None:
        """Every milestone in turn. A data or tokenization error (`DataError`: a malformed file, examples the
        tokenizer cannot window) would recur on every retry: the trial fails at once, with its reason in
        `<study>/failed/<trial>.json`, instead of raising into Tune's retries (`study.max_failures`)."""
        self._milestone = self.milestones[0]
        try:
            self._run(report, checkpoint)
        except DataError as exc:
            self._end(self._milestone, f"{type(exc).__name__}: {exc}", report, "failed")

    def _run(self, report: Reporter, checkpoint: Path | None) -> None:
        self.setup(checkpoint)
        for milestone in self.milestones:
            if milestone <= self.state.milestone_done:
                continue  # finished before a restart: its rows are written and it was reported
            self._milestone = milestone
            trunk_cost = Cost(**self.state.cost)
            final = self.mode == "branch" or milestone == self.budget
            self.progress.start_milestone(milestone, self._milestone_plan(milestone, zero_shot=final))
            if self.phase is not None:
                self.progress.start("intermediate", milestone - self.phase.step)
                try:
                    trunk_cost.add(self.phase.run(milestone - self.phase.step))
                except FloatingPointError as exc:
                    # Retrying would reproduce it: stop this trial with its reason, and let the study go on.
                    self._end(milestone, f"non-finite intermediate loss: {exc}", report, "stopped")
                    return
            self.state.cost = asdict(trunk_cost)
            # Rows written before a crash or a killed driver are final: report what was recorded with them.
            metrics = self._agree(recovery.recorded_metrics(self.study_uri, self.trial_id, milestone) if final else None)
            if metrics is None:
                # Evaluation draws from a fork of the RNG, so the trunk's stream is the same whether it ran or not.
                with state_io.forked_rng(self.device):
                    encoder, heads, cooldown = self._branch(milestone)
                    metrics, rows = self._targets(encoder, heads, milestone, trunk_cost, cooldown, zero_shot=final)
                if final and self.writer:
                    recovery.record_metrics(self.study_uri, self.trial_id, milestone, metrics)
                    results.write_milestone(self.study_uri, self.trial_id, milestone, rows)
                    recovery.inject_fault(self.study_uri, self.trial_id, self.task_name, milestone)  # a test hook
            self.state.milestone_done = milestone
            with tempfile.TemporaryDirectory(prefix="xstudy-ckpt-") as tmp:
                self._save(Path(tmp))
                report(metrics, Path(tmp))
            self.progress.finish()

    def _end(self, milestone: int, reason: str, report: Reporter, outcome: str) -> None:
        """End the trial without a retry: `stopped` (a non-finite loss) or `failed` (a data or tokenization
        error); the reason goes to `<study>/<outcome>/<trial>.json` and, as `<outcome>_reason`, to Tune."""
        record = {"trial_id": self.trial_id, "config": self.config, "milestone": milestone, "reason": reason,
                  "recorded_at": dt.datetime.now(dt.UTC).isoformat()}
        if self.writer:
            storage.write_text_atomic(storage.join(self.study_uri, outcome, f"{self.trial_id}.json"), json.dumps(record, default=str))
        if self.progress is not None:
            self.progress.finish(state=outcome)  # not "running" for ever in `xstudy status`
        report({"intermediate_steps": milestone, "dev_signal": float("nan"), f"{outcome}_reason": reason}, None)

    def _branch(self, milestone: int) -> tuple[torch.nn.Module, dict[str, torch.nn.Module], Cost]:
        """The encoder (and intermediate heads) the targets start from: the run itself, or a cooled-down copy."""
        trunk = self.phase
        if trunk is None:
            return self.encoder.module, {}, Cost()
        n = cooldown_steps(self.spec.intermediate_training.cooldown_fraction, milestone) if self.mode == "branch" else 0
        if n == 0:
            return trunk.encoder, trunk.heads, Cost()
        # The branch trains copies of everything the trunk owns, so the trunk resumes untouched.
        encoder = self._clone(trunk.encoder)
        heads = {name: self._clone(head) for name, head in trunk.heads.items()}
        optimizer = adamw([encoder, *heads.values()], self.hp["intermediate_lr"], self.hp["weight_decay"])
        optimizer.load_state_dict(copy.deepcopy(trunk.optimizer.state_dict()))
        self.progress.start("cooldown", n)
        branch = self._new_phase(
            rng_seed=self.seed * 1_000 + milestone, encoder=encoder, heads=heads, formats=trunk.formats,
            streams={name: s.at(StreamState(**asdict(s.state))) for name, s in trunk.streams.items()},
            optimizer=optimizer, lr_at=linear_decay_from(trunk.lr_at(trunk.step), trunk.step, n),
            max_grad_norm=trunk.max_grad_norm, pad_id=self.pad_id, device=self.device, autocast=self.autocast,
            weights=trunk.weights, mix_seed=trunk.mix_seed, step=trunk.step,
        )
        with state_io.forked_rng(self.device):  # the branch's dropout leaves the trunk's random stream alone
            cost = branch.run(n)
        return encoder, heads, cost

    # ------------------------------------------------------------------------------------------ targets
    def _score(self, data: Split, encoder: torch.nn.Module, head: torch.nn.Module | None) -> SplitScore:
        tt = self.spec.target_training
        self.progress.start("evaluation", 1, data.task.name, data.lang)
        score = score_split(data, self._for_scoring(encoder), head, tt.eval_batch_size, self.pad_id, self.model_spec.retrieval_layer, self.autocast)
        self.progress.advance(1, len(data.examples))
        return score

    def _milestone_plan(self, milestone: int, zero_shot: bool) -> list[progress.PlannedPhase]:
        """The phases of a milestone's work, in the order `run` does them (for the progress estimate)."""
        planned = []
        if self.phase is not None:
            planned.append(progress.PlannedPhase("intermediate", milestone - self.phase.step))
            n = cooldown_steps(self.spec.intermediate_training.cooldown_fraction, milestone) if self.mode == "branch" else 0
            if n:
                planned.append(progress.PlannedPhase("cooldown", n))
            planned += [progress.PlannedPhase("evaluation", 1, name, registry.get(name).train_language) for name in self.members]
        fine_tuned = set()
        for target in self.spec.targets:
            task = registry.get(target.task)
            steps = self._target_steps(target)
            key = registry.fine_tune_key(task, steps)
            if task.format.trains and steps > 0 and key not in fine_tuned:
                fine_tuned.add(key)
                planned.append(progress.PlannedPhase("fine-tune", steps * (1 + len(task.train_first)), task.name))
            langs = (target.languages or list(task.test_languages)) if zero_shot else []
            planned += [progress.PlannedPhase("evaluation", 1, task.name, lang)
                        for lang in ([task.train_language] if self._has_dev(task) else []) + langs]
        return planned

    def _targets(
        self, branch: torch.nn.Module, heads: dict[str, torch.nn.Module], milestone: int, trunk: Cost, cooldown: Cost,
        zero_shot: bool,
    ) -> tuple[dict, list[dict]]:
        n_params, shape = self.encoder.n_params, self.encoder.shape
        rows: list[dict] = []
        dev_scores: dict[str, float] = {}
        test_means: dict[str, float] = {}
        intermediate_dev = None
        if self.phase is not None:
            intermediate_dev = float(np.mean([self._score(d, branch, heads[d.task.name]).values["score"] for d in self.intermediate_dev]))
        path_tokens = trunk.tokens + cooldown.tokens
        path_flops = shape.training(path_tokens, trunk.pairs + cooldown.pairs)
        common = {
            "study": self.spec.study.name, "trial_id": self.trial_id, "model": self.model_spec.name,
            "model_params": n_params, "intermediate_task": self.task_name,
            "schedule": self.mode, "seed": self.seed, "config": results.config_json(self.config),
            "intermediate_steps": milestone, "intermediate_examples": trunk.examples + cooldown.examples,
            "intermediate_tokens": path_tokens, "intermediate_flops": path_flops,
            "intermediate_flops_all_params": 6.0 * n_params * path_tokens,
            "model_non_embedding_params": shape.non_embedding_params,
            "intermediate_seconds": trunk.seconds + cooldown.seconds, "node": self.node,
            "cooldown_steps": cooldown.steps, "cooldown_tokens": cooldown.tokens, "cooldown_seconds": cooldown.seconds,
            "cooldown_flops": shape.training(cooldown.tokens, cooldown.pairs),
            "intermediate_accelerator_seconds": self.gpus * (trunk.seconds + cooldown.seconds),
            "cooldown_accelerator_seconds": self.gpus * cooldown.seconds,
            "mixture": json.dumps(self.shares, sort_keys=True) if self.shares else "",
        }
        totals = dict.fromkeys(TARGET_COST_COLUMNS, 0.0)
        keys = {t.task: registry.fine_tune_key(registry.get(t.task), self._target_steps(t)) for t in self.spec.targets
                if registry.get(t.task).format.trains}
        sharers = Counter(keys.values())
        waiting = Counter(keys.values())  # targets yet to use each key's model: it is dropped after the last
        shared: dict[tuple, tuple[torch.nn.Module, torch.nn.Module, Cost]] = {}  # key -> a fine-tuned model
        for target in self.spec.targets:
            task = registry.get(target.task)
            fmt = task.format
            steps = self._target_steps(target)
            encoder, head, fine_tune, share = branch, None, Cost(), 1.0
            if fmt.trains:
                key = keys[task.name]
                share = 1.0 / sharers[key]  # the targets sharing a fine-tuned model split its cost evenly
                waiting[key] -= 1
                if key in shared:
                    encoder, head, fine_tune = shared.pop(key) if waiting[key] == 0 else shared[key]
                else:
                    encoder = self._clone(branch)
                    with state_io.forked_rng(self.device):  # the head is the same whichever targets come before
                        torch.manual_seed(self._stream_seed(task.training_set))
                        head = self._place(fmt.make_head(self.hidden, task))
                    if steps > 0:
                        fine_tune = self._fine_tune(task, encoder, head, steps)
                    if waiting[key] > 0:
                        shared[key] = (encoder, head, fine_tune)
            langs = self.spec.languages_of(target) if zero_shot else []
            dev = [self._score(self._split(task.name, "dev", task.train_language, False), encoder, head)] if self._has_dev(task) else []
            tests = [self._score(self._split(task.name, "test", lang, False), encoder, head) for lang in langs]
            for lang, s in zip(langs, tests if self.writer else []):
                # In the XTREME submission layout, so the official scorer can read them too.
                data = self._split(task.name, "test", lang, False)
                write_predictions(storage.join(self.study_uri, "predictions", self.trial_id, str(milestone)),
                                  task, lang, data.examples, s.predictions)
            scores = dev + tests
            eval_cost = Cost()
            for s in scores:
                eval_cost.add(s.cost)
            target_costs = {
                "target_steps": share * fine_tune.steps, "target_tokens": share * fine_tune.tokens,
                "target_flops": share * shape.training(fine_tune.tokens, fine_tune.pairs),
                "target_seconds": share * fine_tune.seconds,
                "target_accelerator_seconds": share * self.gpus * fine_tune.seconds,
                "eval_examples": eval_cost.examples, "eval_tokens": eval_cost.tokens,
                "eval_flops": shape.forward(eval_cost.tokens, eval_cost.pairs), "eval_seconds": eval_cost.seconds,
                "eval_accelerator_seconds": self.gpus * eval_cost.seconds,
            }
            for k, v in target_costs.items():
                totals[k] += v
            now = dt.datetime.now(dt.UTC).isoformat()
            higher_is_better = METRIC_FAMILIES[task.metric].higher_is_better  # every value of a task: one direction
            for s in scores:
                for metric, value in s.values.items():
                    rows.append({
                        **common, "target_task": task.name, "target_format": fmt.name, "language": s.lang,
                        "split": s.split, "metric": metric, "value": float(value), "higher_is_better": higher_is_better,
                        "chance": self.chance[task.name] if s.split == "dev" else float("nan"),
                        **target_costs, "recorded_at": now,
                    })
            if dev:
                dev_scores[task.name] = dev[0].values["score"]
            if tests:
                test_means[task.name] = float(np.mean([s.values["score"] for s in tests]))
        metrics = {
            "intermediate_steps": milestone,
            "dev_signal": self._signal(dev_scores, intermediate_dev),
            "dev_mean": float(np.mean(list(dev_scores.values()))) if dev_scores else float("nan"),
            **{f"dev/{k}": v for k, v in dev_scores.items()},
            **{f"test/{k}": v for k, v in test_means.items()},
            # The milestone's cost columns, for Tune and the trackers (study.trackers): the intermediate path as in
            # the rows, target fine-tuning and evaluation summed over the target tasks.
            **{k: common[k] for k in COST_COLUMNS},
            **totals,
        }
        if test_means:
            metrics["test_mean"] = float(np.mean(list(test_means.values())))
        if intermediate_dev is not None:
            metrics["intermediate_dev"] = intermediate_dev
        return metrics, rows

    def _signal(self, dev_scores: dict[str, float], intermediate_dev: float | None) -> float:
        signal = self.spec.asha.signal
        if signal == "intermediate":
            # The baseline has no intermediate task; it is never compared at a rung (milestone 0).
            return intermediate_dev if intermediate_dev is not None else float("nan")
        if signal.startswith("task:"):
            return dev_scores.get(signal[5:], float("nan"))
        if not dev_scores:
            return float("nan")  # no target has an English dev set: nothing to rank on
        return asha_signal(list(dev_scores.values()), [self.chance[k] for k in dev_scores])

    def _fine_tune(self, task: registry.Task, encoder: torch.nn.Module, head: torch.nn.Module, steps: int) -> Cost:
        """Fine-tune on the task's English training data; first on its `train_first` tasks, with the same
        head (XCOPA: SocialIQA, then COPA), each for the same number of steps."""
        cost = Cost()
        self.progress.start("fine-tune", steps * (1 + len(task.train_first)), task.name)
        for pre in task.train_first:
            cost.add(self._fine_tune_on(registry.get(registry.get(pre).training_set), task, encoder, head, steps))
        cost.add(self._fine_tune_on(registry.get(task.training_set), task, encoder, head, steps))
        return cost

    def _target_steps(self, target) -> int:
        return target.train_steps if target.train_steps is not None else self.spec.target_training.steps

    def _stream_seed(self, data_task: str) -> int:
        """The seed of fine-tuning on `data_task`'s training set: each training set gets its own stream, so that
        targets do not depend on each other's order, and targets that train on the same set train alike."""
        return self.seed * 1_000 + sum(data_task.encode())

    def _fine_tune_on(self, data_task: registry.Task, task: registry.Task, encoder, head, steps: int) -> Cost:
        tt = self.spec.target_training
        train = self._split(data_task.name, "train", data_task.train_language, train=True)
        stream_seed = self._stream_seed(data_task.name)
        phase = self._new_phase(
            rng_seed=stream_seed, encoder=encoder, heads={task.name: head}, formats={task.name: task.format},
            streams={task.name: DataStream(train.features, tt.batch_size, StreamState(seed=stream_seed))},
            optimizer=adamw([encoder, head], self.hp["target_lr"], self.hp["weight_decay"]),
            lr_at=warmup_linear(self.hp["target_lr"], steps, ceil_steps(steps * self.hp["warmup_ratio"])),
            max_grad_norm=self.spec.intermediate_training.max_grad_norm, pad_id=self.pad_id,
            device=self.device, autocast=self.autocast,
        )
        with state_io.forked_rng(self.device):
            torch.manual_seed(stream_seed)
            return phase.run(steps)
