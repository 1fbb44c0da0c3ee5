"""One trial: (model size, intermediate task, hyperparameters, seed), through every step milestone.

The recipe reads top to bottom:
1. load the encoder and the intermediate task's English training data;
2. train the intermediate "trunk" up to the next milestone (warmup, then a constant learning rate);
3. at the milestone, branch: optionally cool the learning rate down to zero over a fraction of the steps so
   far, on a copy; from that branch, fine-tune a fresh head on each target task's English training data;
4. score English dev (the ASHA signal) and zero-shot test in every target language;
5. write the milestone's result rows, then report to Tune with a checkpoint of the trunk; go on at step 2.

The trunk never sees the branch: it continues from its own state, so one intermediate run serves every
milestone. Step 0 (no intermediate training) is the baseline: the `none` trial reports only that.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import random
import socket
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from study import results, state_io, storage
from study.data import Split, load_split
from study.evaluate import SplitScore, score_split
from study.model import Encoder, autocast, load_encoder
from study.spec import StudySpec
from study.tasks import registry
from study.tasks.registry import LoadContext
from study.train import Cost, DataStream, Phase, StreamState, adamw, linear_decay_from, warmup_linear, warmup_stable

TRAINABLE_NAME = "xstudy_trial"  # Tuner.restore needs the trainable under the same name
HP_DEFAULTS = {"intermediate_lr": 1e-4, "target_lr": 1e-4, "weight_decay": None, "warmup_ratio": None}

Reporter = Callable[[dict[str, Any], Path | None], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class TrunkState:
    """What survives between milestones (saved in every checkpoint, as JSON)."""

    milestone_done: int = -1  # the last milestone whose rows were written and reported
    step: int = 0
    stream: dict[str, int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=lambda: asdict(Cost()))


class Trial:
    def __init__(self, spec: StudySpec, config: dict[str, Any], trial_id: str, node: str | None = None):
        self.spec = spec
        self.config = config
        self.trial_id = trial_id
        self.node = node or socket.gethostname()
        self.model_spec = spec.model(config["model"])
        self.task_name: str = config["intermediate_task"]
        self.seed = int(config["seed"])
        self.hp = {k: config.get(k, v) for k, v in HP_DEFAULTS.items()}
        if self.hp["weight_decay"] is None:
            self.hp["weight_decay"] = spec.intermediate_training.weight_decay
        if self.hp["warmup_ratio"] is None:
            self.hp["warmup_ratio"] = spec.target_training.warmup_ratio
        self.ctx = LoadContext(data_dir=spec.study.data_dir)
        self.study_uri = storage.join(storage.normalize(spec.study.storage), spec.study.name)
        self.device = torch.device("cuda" if self.model_spec.resources.gpu > 0 and torch.cuda.is_available() else "cpu")
        self.autocast = autocast(self.model_spec.precision, self.device)
        self.milestones = [0] if self.task_name == "none" else [m for m in self.model_spec.milestones if m > 0]

    # ------------------------------------------------------------------------------------------- setup
    def setup(self, checkpoint: Path | None) -> None:
        # Building a built-in model (first use on a machine) draws random numbers of its own.
        with torch.random.fork_rng(devices=[]):
            self.encoder: Encoder = load_encoder(self.model_spec)
        self.encoder.module.to(self.device)
        self.pad_id = self.encoder.tokenizer.pad_token_id
        self.hidden = self.encoder.module.config.hidden_size
        self.state = TrunkState(stream=asdict(StreamState(seed=self.seed)))
        self.phase: Phase | None = None
        if self.task_name != "none":
            task = registry.get(self.task_name)
            train = self._split(task.name, "train", task.train_language, train=True)
            self.intermediate_dev = self._split(task.name, "dev", task.train_language, train=False)
            seed_everything(self.seed)
            head = task.format.make_head(self.hidden, task).to(self.device)
            optimizer = adamw(self.encoder.module, head, self.hp["intermediate_lr"], self.hp["weight_decay"])
            self.phase = Phase(
                encoder=self.encoder.module, head=head, fmt=task.format,
                stream=DataStream(train.features, self.model_spec.batch_size, StreamState(**self.state.stream)),
                optimizer=optimizer,
                lr_at=warmup_stable(self.hp["intermediate_lr"], self.spec.intermediate_training.warmup_steps),
                max_grad_norm=self.spec.intermediate_training.max_grad_norm, pad_id=self.pad_id,
                device=self.device, autocast=self.autocast,
            )
        else:
            seed_everything(self.seed)
        if checkpoint is not None:
            self._restore(checkpoint)

    def _split(self, task: str, split: str, lang: str, train: bool) -> Split:
        return load_split(registry.get(task), split, lang, self.encoder.tokenizer, self.model_spec.max_length, self.ctx, train)

    # --------------------------------------------------------------------------------------- checkpoint
    def _save(self, folder: Path) -> None:
        state_io.save_module(self.encoder.module, folder / "encoder.safetensors")
        if self.phase is not None:
            self.state.step = self.phase.step
            self.state.stream = asdict(self.phase.stream.state)
            state_io.save_module(self.phase.head, folder / "head.safetensors")
            state_io.save_optimizer(self.phase.optimizer, folder, "optimizer")
        from safetensors.torch import save_file

        save_file(state_io.rng_state(), str(folder / "rng.safetensors"))
        (folder / "trunk.json").write_text(json.dumps(asdict(self.state)))

    def _restore(self, folder: Path) -> None:
        from safetensors.torch import load_file

        self.state = TrunkState(**json.loads((folder / "trunk.json").read_text()))
        state_io.load_module(self.encoder.module, folder / "encoder.safetensors")
        if self.phase is not None:
            state_io.load_module(self.phase.head, folder / "head.safetensors")
            state_io.load_optimizer(self.phase.optimizer, folder, "optimizer")
            self.phase.step = self.state.step
            self.phase.stream = DataStream(self.phase.stream.features, self.phase.stream.batch_size, StreamState(**self.state.stream))
        state_io.set_rng_state(load_file(str(folder / "rng.safetensors")))

    # ---------------------------------------------------------------------------------------------- run
    def run(self, report: Reporter, checkpoint: Path | None = None) -> None:
        self.setup(checkpoint)
        for milestone in self.milestones:
            if milestone <= self.state.milestone_done:
                continue  # finished before a restart: its rows are written and it was reported
            trunk_cost = Cost(**self.state.cost)
            if self.phase is not None:
                trunk_cost.add(self.phase.run(milestone - self.phase.step))
            self.state.cost = asdict(trunk_cost)
            encoder, cooldown = self._branch(milestone)
            metrics, rows = self._targets(encoder, milestone, trunk_cost, cooldown)
            results.write_milestone(self.study_uri, self.trial_id, milestone, rows)
            self.state.milestone_done = milestone
            with tempfile.TemporaryDirectory(prefix="xstudy-ckpt-") as tmp:
                self._save(Path(tmp))
                report(metrics, Path(tmp))

    def _branch(self, milestone: int) -> tuple[torch.nn.Module, Cost]:
        """The encoder the targets start from: the trunk itself, or a cooled-down copy of it."""
        fraction = self.spec.intermediate_training.cooldown_fraction
        n = int(math.ceil(fraction * milestone)) if self.phase is not None else 0
        if n == 0:
            return self.encoder.module, Cost()
        trunk = self.phase
        # The branch trains copies of everything the trunk owns, so the trunk resumes untouched.
        rng = torch.get_rng_state()
        encoder = copy.deepcopy(trunk.encoder)
        head = copy.deepcopy(trunk.head)
        optimizer = adamw(encoder, head, self.hp["intermediate_lr"], self.hp["weight_decay"])
        optimizer.load_state_dict(copy.deepcopy(trunk.optimizer.state_dict()))
        branch = Phase(
            encoder=encoder, head=head, fmt=trunk.fmt,
            stream=DataStream(trunk.stream.features, trunk.stream.batch_size, StreamState(**asdict(trunk.stream.state))),
            optimizer=optimizer, lr_at=linear_decay_from(trunk.lr_at(trunk.step), trunk.step, n),
            max_grad_norm=trunk.max_grad_norm, pad_id=self.pad_id, device=self.device, autocast=self.autocast,
            step=trunk.step,
        )
        cost = branch.run(n)
        torch.set_rng_state(rng)
        self._cooled_head = head
        return encoder, cost

    # ------------------------------------------------------------------------------------------ targets
    def _targets(self, branch: torch.nn.Module, milestone: int, trunk: Cost, cooldown: Cost) -> tuple[dict, list[dict]]:
        n_params = self.encoder.n_params
        tt = self.spec.target_training
        rows: list[dict] = []
        dev_scores: dict[str, float] = {}
        test_means: dict[str, float] = {}
        intermediate_dev = None
        if self.phase is not None:
            s = score_split(self.intermediate_dev, branch, self._branch_head(branch), tt.eval_batch_size, self.pad_id, None, self.autocast)
            intermediate_dev = s.values["score"]
        common = {
            "study": self.spec.study.name, "trial_id": self.trial_id, "model": self.model_spec.name,
            "model_params": n_params, "intermediate_task": self.task_name,
            "schedule": "branch", "seed": self.seed, "config": results.config_json(self.config),
            "intermediate_steps": milestone, "intermediate_examples": trunk.examples + cooldown.examples,
            "intermediate_tokens": trunk.tokens + cooldown.tokens,
            "intermediate_flops": 6.0 * n_params * (trunk.tokens + cooldown.tokens),
            "intermediate_seconds": trunk.seconds + cooldown.seconds, "node": self.node,
        }
        for target in self.spec.targets:
            task = registry.get(target.task)
            fmt = task.format
            steps = target.train_steps if target.train_steps is not None else tt.steps
            encoder, head, fine_tune = branch, None, Cost()
            if fmt.trains:
                encoder = copy.deepcopy(branch)
                head = fmt.make_head(self.hidden, task).to(self.device)
                if steps > 0:
                    fine_tune = self._fine_tune(task, encoder, head, steps)
            langs = target.languages or list(task.test_languages)
            scores: list[SplitScore] = [
                score_split(self._split(task.name, "dev", task.train_language, False), encoder, head, tt.eval_batch_size,
                            self.pad_id, self.model_spec.retrieval_layer, self.autocast)
            ]
            for lang in langs:
                scores.append(score_split(self._split(task.name, "test", lang, False), encoder, head, tt.eval_batch_size,
                                          self.pad_id, self.model_spec.retrieval_layer, self.autocast))
            eval_cost = Cost()
            for s in scores:
                eval_cost.add(s.cost)
            now = dt.datetime.now(dt.UTC).isoformat()
            for s in scores:
                for metric, value in s.values.items():
                    rows.append({
                        **common, "target_task": task.name, "target_format": fmt.name, "language": s.lang,
                        "split": s.split, "metric": metric, "value": float(value), "higher_is_better": True,
                        "target_steps": fine_tune.steps, "target_tokens": fine_tune.tokens,
                        "target_flops": 6.0 * n_params * fine_tune.tokens, "target_seconds": fine_tune.seconds,
                        "eval_examples": eval_cost.examples, "eval_tokens": eval_cost.tokens,
                        "eval_flops": 2.0 * n_params * eval_cost.tokens, "eval_seconds": eval_cost.seconds,
                        "recorded_at": now,
                    })
            dev_scores[task.name] = scores[0].values["score"]
            test_means[task.name] = float(np.mean([s.values["score"] for s in scores[1:]])) if scores[1:] else float("nan")
        metrics = {
            "intermediate_steps": milestone,
            "dev_signal": self._signal(dev_scores, intermediate_dev),
            "dev_mean": float(np.mean(list(dev_scores.values()))),
            "test_mean": float(np.mean(list(test_means.values()))),
            **{f"dev/{k}": v for k, v in dev_scores.items()},
            **{f"test/{k}": v for k, v in test_means.items()},
            "intermediate_tokens": common["intermediate_tokens"],
            "intermediate_flops": common["intermediate_flops"],
        }
        if intermediate_dev is not None:
            metrics["intermediate_dev"] = intermediate_dev
        return metrics, rows

    def _branch_head(self, branch: torch.nn.Module) -> torch.nn.Module:
        return self.phase.head if branch is self.phase.encoder else self._cooled_head

    def _signal(self, dev_scores: dict[str, float], intermediate_dev: float | None) -> float:
        signal = self.spec.asha.signal
        if signal == "intermediate":
            # The baseline has no intermediate task; it is never compared at a rung (milestone 0).
            return intermediate_dev if intermediate_dev is not None else float("nan")
        if signal.startswith("task:"):
            return dev_scores[signal[5:]]
        return float(np.mean(list(dev_scores.values())))

    def _fine_tune(self, task: registry.Task, encoder: torch.nn.Module, head: torch.nn.Module, steps: int) -> Cost:
        tt = self.spec.target_training
        train = self._split(task.name, "train", task.train_language, train=True)
        # Each target gets its own seeded stream, so targets do not depend on each other's order.
        stream_seed = self.seed * 1_000 + sum(task.name.encode())
        phase = Phase(
            encoder=encoder, head=head, fmt=task.format,
            stream=DataStream(train.features, tt.batch_size, StreamState(seed=stream_seed)),
            optimizer=adamw(encoder, head, self.hp["target_lr"], self.hp["weight_decay"]),
            lr_at=warmup_linear(self.hp["target_lr"], steps, self.hp["warmup_ratio"]),
            max_grad_norm=self.spec.intermediate_training.max_grad_norm, pad_id=self.pad_id,
            device=self.device, autocast=self.autocast,
        )
        rng = torch.get_rng_state()
        torch.manual_seed(stream_seed)
        cost = phase.run(steps)
        torch.set_rng_state(rng)
        return cost


def run_in_tune(config: dict[str, Any], spec_data: dict[str, Any]) -> None:
    """The Ray Tune function trainable: restores from Tune's checkpoint and reports with checkpoints."""
    import ray
    from ray import tune

    spec = StudySpec.model_validate(spec_data)
    ctx = tune.get_context()
    torch.set_num_threads(max(1, int(spec.model(config["model"]).resources.cpu)))
    node = ray.get_runtime_context().get_node_id()

    def report(metrics: dict[str, Any], folder: Path | None) -> None:
        checkpoint = tune.Checkpoint.from_directory(str(folder)) if folder is not None else None
        tune.report({**metrics, "node": node}, checkpoint=checkpoint)

    trial = Trial(spec, config, ctx.get_trial_id(), node=node)
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        trial.run(report)
    else:
        with checkpoint.as_directory() as folder:
            trial.run(report, Path(folder))


run_in_tune.__name__ = TRAINABLE_NAME
run_in_tune.__qualname__ = TRAINABLE_NAME
