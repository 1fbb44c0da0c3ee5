"""The peer: one sweep run by xstudy and by the usual transformers Trainer + Ray Tune recipe, side by side.

The sweep: 2 sizes (the smoke study's tiny encoders) x 2 intermediate tasks (builtin_nli, builtin_squad) x
4 intermediate step counts, each followed by fine-tuning on the English training data of the target tasks
(builtin_pos, builtin_xnli; builtin_tatoeba is retrieval, never fine-tuned) and zero-shot evaluation in the
generated languages. Same pretrained encoders, same tokenized data (the project's cached splits), same
hyperparameters (batch 32 x 64 tokens, AdamW lr 5e-4 / 2e-3, weight decay 0.01 off biases and LayerNorm,
gradient clipping 1.0, target warmup 10%), same step counts and the same metric code.

- **xstudy**: a spec built here (branch mode: one warmup-stable run per configuration with a 10% cooldown
  branch at each milestone; ASHA as in search_spaces/smoke.yaml: reduction factor 2 on the mean English
  dev score of the targets, within a size). xstudy always adds the step-0 `none` baseline per size: it is
  run, and counted in its wall time, but not compared.
- **peer**: what a user writes today: per intermediate task, a `Trainer` with a `model_init`
  (`AutoModelForSequenceClassification` / `AutoModelForQuestionAnswering` over the same encoder folder) and
  `trainer.hyperparameter_search(backend="ray")` over a grid of sizes and `max_steps` (one run per step
  count: linear warmup and decay to that count), ASHA (Ray's, reduction factor 2) on the intermediate dev
  score evaluated every `min(steps)` steps. A `TrainerCallback` fine-tunes each target with its own
  `Trainer` at the end of a run (`AutoModelForTokenClassification` / `...SequenceClassification` from the
  saved encoder: a fresh head); then a separate zero-shot evaluation script (`--peer-eval DIR`, a new
  process) scores every finished run on every language with `Trainer.predict`.

Runs are interleaved xstudy (seed 0), peer (seed 0), xstudy (seed 1): the two xstudy runs bracket the peer
run, so the speedup `peer wall / mean xstudy wall` cancels a linear drift in the machine's load, and their
score differences measure seed noise. On a shared machine wall time still swings with other people's work,
so the CPU seconds of every process involved (Ray's and the evaluation script's included) are reported
too: `cpu_ratio_peer_over_xstudy` is the work each side did, nearly independent of the machine's load.
Metrics: per configuration (size, task, steps) the mean over target tasks of the mean zero-shot test score
over xa..xd, compared on the configurations both sides finished (ASHA stops different ones on each side).

ASHA makes the two sides finish different configurations (Ray's ASHA compares all runs of a search,
across sizes and budgets; xstudy's only within a size), so `--no-asha` runs both without it: every
configuration to its end, the same 16 deliverables, the like-for-like speed comparison.

    python bench/peer.py [--steps 25 50 100 200] [--target-steps 60] [--warmup 10] [--no-asha]
                         [--length-grouping xstudy|both|neither] [--peer-schedule linear|wsd]
                         [--peer-head-init hf|torch] [--json OUT]

Length grouping: xstudy groups intermediate batches by length by default, the Trainer does not
(`train_sampling_strategy="random"`). `--length-grouping both` turns the Trainer's on too, `neither` turns xstudy's
off: the two sides then draw their batches alike.

Schedule: xstudy's milestone of N steps is a warmup-stable trunk of N steps and a cooldown branch of
ceil(0.1 N) steps decaying linearly towards zero; the Trainer's recipe decays linearly from the warmup to N
(`--peer-schedule linear`, the default: what a user writes). `--peer-schedule wsd` gives the Trainer the same
shape instead (`lr_scheduler_type="warmup_stable_decay"`, linear decay over ceil(0.1 N) steps after N), so
the two sides train with the same learning rates step for step, up to the rounding of the ramps.

Heads: the same architectures on both sides, but transformers initialises a fresh head's linear layers from
N(0, initializer_range = 0.02) and xstudy's keep PyTorch's default (uniform within 1/sqrt(fan_in)).
`--peer-head-init torch` draws the Trainer's fresh heads the PyTorch way too.

The smoke study's own scale is `--steps 50 100 200 400 --target-steps 120 --warmup 20` (about twice as long).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from summary import emit  # bench/summary.py: scripts run as `python bench/NAME.py`

MLM_STEPS = {"tiny": 800, "small": 500}  # the built-in sizes as BENCHMARKS.md measured them
SIZES = ["tiny", "small"]
TASKS = ["builtin_nli", "builtin_squad"]
TARGETS = ["builtin_pos", "builtin_xnli", "builtin_tatoeba"]
ZERO_SHOT = ["xa", "xb", "xc", "xd"]
MAX_LENGTH, BATCH, EVAL_BATCH = 64, 32, 256
INTERMEDIATE_LR, TARGET_LR, WEIGHT_DECAY, TARGET_WARMUP = 5e-4, 2e-3, 0.01, 0.1


# ------------------------------------------------------------------------------------------------ shared
def encoder_dir(size: str) -> str:
    from study.model import ensure_builtin
    from study.spec import BuiltinSource

    return ensure_builtin(BuiltinSource(builtin=size, mlm_steps=MLM_STEPS[size]))


def split(task: str, name: str, lang: str, train: bool):
    """The project's tokenized split (Arrow cache): the same input for both sides."""
    from transformers import AutoTokenizer

    from study.data import load_split
    from study.tasks import registry
    from study.tasks.registry import LoadContext

    tokenizer = AutoTokenizer.from_pretrained(encoder_dir("tiny"))  # both sizes share one tokenizer
    return load_split(registry.get(task), name, lang, tokenizer, MAX_LENGTH, LoadContext(), train)


def needed_splits() -> list[tuple[str, str, str, bool]]:
    out = []
    for t in TASKS:
        out += [(t, "train", "en", True), (t, "dev", "en", False)]
    for t in TARGETS:
        out += [(t, "train", "en", True), (t, "dev", "en", False)]
        out += [(t, "test", lang, False) for lang in ["en", *ZERO_SHOT]]
    return out


def zero_shot_mean(scores: dict[str, dict[str, float]]) -> float:
    """Mean over target tasks of the mean test score over the generated languages."""
    return float(np.mean([np.mean([scores[t][lang] for lang in ZERO_SHOT]) for t in TARGETS]))


def per_target(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each target's English test score and its mean over the generated languages: where two sides differ."""
    return {t: {"en": float(scores[t].get("en", "nan")),
                "zero_shot": float(np.mean([scores[t][lang] for lang in ZERO_SHOT]))} for t in TARGETS}


def by_size_and_target(per_config: dict[str, dict[str, dict[str, float]]]) -> dict:
    """Means over the configurations of each size: {size: {target: {"en", "zero_shot"}}}."""
    out: dict = {}
    for size in SIZES:
        rows = [v for k, v in per_config.items() if k.split("/")[0] == size]
        out[size] = {t: {part: round(float(np.mean([r[t][part] for r in rows])), 2) for part in ("en", "zero_shot")}
                     for t in TARGETS} if rows else {}
    return out


# ------------------------------------------------------------------------------------------------ xstudy
def xstudy_spec(root: str, seed: int, steps: list[int], target_steps: int, warmup: int, asha: bool = True,
                group_by_length: bool = True):
    from study.spec import parse_spec

    return parse_spec({
        "study": {"name": f"xstudy-s{seed}", "storage": root, "max_failures": 0},
        "models": [{"name": s, "source": {"builtin": s, "mlm_steps": MLM_STEPS[s]}, "resources": {"cpu": 1},
                    "batch_size": BATCH, "max_length": MAX_LENGTH, "steps": [0, *steps]} for s in SIZES],
        "intermediate_tasks": TASKS,
        "target_tasks": TARGETS,
        "seeds": [seed],
        "hyperparameters": {"intermediate_lr": INTERMEDIATE_LR, "target_lr": TARGET_LR},
        "intermediate_training": {"schedule": "branch", "warmup_steps": warmup, "cooldown_fraction": 0.1,
                                  "weight_decay": WEIGHT_DECAY, "group_by_length": group_by_length},
        "target_training": {"steps": target_steps, "batch_size": BATCH, "eval_batch_size": EVAL_BATCH,
                            "warmup_ratio": TARGET_WARMUP},
        "asha": {"enabled": asha, "reduction_factor": 2, "signal": "targets_mean"},
        "search": {"max_concurrent_trials": 2},
    })


def run_xstudy(root: str, seed: int, steps: list[int], target_steps: int, warmup: int, asha: bool,
               group_by_length: bool) -> dict:
    from study import launch, results

    spec = xstudy_spec(root, seed, steps, target_steps, warmup, asha, group_by_length)
    start = time.perf_counter()
    launch.run(spec, num_cpus=2)
    wall = time.perf_counter() - start
    df = results.collect(spec.uri)
    test = df[(df.split == "test") & (df.metric == "score") & (df.intermediate_task != "none")]
    configs: dict[str, float] = {}
    targets: dict[str, dict] = {}
    for (model, task, n), g in test.groupby(["model", "intermediate_task", "intermediate_steps"]):
        scores = {t: dict(zip(x.language, x.value)) for t, x in g.groupby("target_task")}
        if set(scores) == set(TARGETS):
            configs[f"{model}/{task}/{int(n)}"] = zero_shot_mean(scores)
            targets[f"{model}/{task}/{int(n)}"] = per_target(scores)
    per_trial = df.drop_duplicates(["trial_id", "intermediate_steps"])
    trunk = per_trial.groupby("trial_id").intermediate_steps.max().sum()
    return {"seed": seed, "wall_seconds": wall, "configs": configs, "targets": targets,
            "intermediate_steps_trained": int(trunk + per_trial.cooldown_steps.sum()),
            "trials": int(df.trial_id.nunique())}


# -------------------------------------------------------------------------------------------------- peer
def hf_dataset(data, with_labels: bool = True):
    """The project's features under the column names transformers' models take."""
    import datasets

    f = data.features
    cols = {"input_ids": f["input_ids"], "attention_mask": [[1] * len(x) for x in f["input_ids"]]}
    if with_labels:
        if "label" in f:
            cols["labels"] = f["label"]
        elif "labels" in f:
            cols["labels"] = f["labels"]
        elif "start" in f:
            cols["start_positions"], cols["end_positions"] = f["start"], f["end"]
    return datasets.Dataset.from_dict(cols)


def head_model(task: str, path: str, head_init: str = "hf"):
    """The usual Auto class for a task's format, over an encoder folder (a fresh head, or the fine-tuned one of
    a saved model). `head_init` "torch": the fresh head's linear layers drawn again with PyTorch's default
    (uniform within 1/sqrt(fan_in)), as xstudy's heads are, instead of transformers' N(0, initializer_range)."""
    from torch import nn
    from transformers import (AutoModelForQuestionAnswering, AutoModelForSequenceClassification,
                              AutoModelForTokenClassification)

    from study.tasks import registry

    t = registry.get(task)
    if t.format_name == "classification":
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(t.labels))
    elif t.format_name == "tagging":
        model = AutoModelForTokenClassification.from_pretrained(path, num_labels=len(t.labels))
    elif t.format_name == "span_qa":
        model = AutoModelForQuestionAnswering.from_pretrained(path)
    else:
        raise ValueError(f"no Trainer recipe here for {t.format_name}")
    if head_init == "torch":
        head = getattr(model, "classifier", None) or model.qa_outputs
        for layer in head.modules():
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
    return model


def collator(task: str):
    from transformers import AutoTokenizer, DataCollatorForTokenClassification, DataCollatorWithPadding

    from study.tasks import registry

    tokenizer = AutoTokenizer.from_pretrained(encoder_dir("tiny"))
    if registry.get(task).format_name == "tagging":
        return DataCollatorForTokenClassification(tokenizer)
    return DataCollatorWithPadding(tokenizer)


def intermediate_metrics(task: str):
    """The intermediate dev score the peer's ASHA ranks on: accuracy, or exact span match for QA."""
    def classification(p):
        return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}

    def span(p):
        (start, end), (gold_s, gold_e) = p.predictions, p.label_ids
        return {"span_accuracy": float(((start.argmax(-1) == gold_s) & (end.argmax(-1) == gold_e)).mean())}

    return span if task == "builtin_squad" else classification


def quiet() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def cooldown(steps: int) -> int:
    """xstudy's cooldown branch at a milestone of `steps` (the spec's cooldown_fraction 0.1, rounded up)."""
    return math.ceil(round(0.1 * steps, 9))


def make_callback(out_root: str, task: str, seed: int, target_steps: int, milestone_of=lambda max_steps: max_steps,
                  head_init: str = "hf"):
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class FineTuneTargets(TrainerCallback):
        """At the end of an intermediate run: save the encoder, fine-tune a fresh head on each target."""

        def on_train_end(self, args, state, control, model=None, processing_class=None, **kwargs):
            quiet()
            size = model.peer_size
            milestone = milestone_of(args.max_steps)
            out = Path(out_root) / f"{size}/{task}/{milestone}"
            model.base_model.save_pretrained(out / "encoder")
            for target in TARGETS:
                if target == "builtin_tatoeba":
                    continue  # retrieval: scored on the encoder as it is
                targs = TrainingArguments(
                    output_dir=str(out / "trainer" / target), max_steps=target_steps, per_device_train_batch_size=BATCH,
                    learning_rate=TARGET_LR, weight_decay=WEIGHT_DECAY, warmup_steps=TARGET_WARMUP,
                    lr_scheduler_type="linear", max_grad_norm=1.0, save_strategy="no", eval_strategy="no",
                    logging_strategy="no", report_to=[], seed=seed, use_cpu=True, disable_tqdm=True,
                )
                m = head_model(target, str(out / "encoder"), head_init)
                Trainer(model=m, args=targs, train_dataset=hf_dataset(split(target, "train", "en", True)),
                        data_collator=collator(target)).train()
                m.save_pretrained(out / target)
            (out / "done.json").write_text(json.dumps({"size": size, "task": task, "steps": milestone}))

    return FineTuneTargets()


def peer_search(root: str, out_root: str, task: str, seed: int, steps: list[int], target_steps: int, warmup: int,
                asha: bool, group_by_length: bool, schedule: str = "linear", head_init: str = "hf") -> None:
    """One intermediate task: Trainer + hyperparameter_search(backend="ray") over sizes x step counts, with ASHA
    (without it, no evaluation during training: the search evaluates each run once, at its end).

    `schedule` "wsd": each run of N steps trains N + cooldown(N) steps, warmup-stable then a linear decay over
    the last cooldown(N), xstudy's shape; the run is filed under N."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from transformers import Trainer, TrainingArguments

    quiet()

    def model_init(trial):
        quiet()
        size = trial["size"] if trial else SIZES[0]
        model = head_model(task, encoder_dir(size), head_init)
        model.peer_size = size
        return model

    args = TrainingArguments(
        output_dir=os.path.join(root, f"peer-{task}-s{seed}-out"), per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=EVAL_BATCH, learning_rate=INTERMEDIATE_LR, weight_decay=WEIGHT_DECAY,
        warmup_steps=warmup, lr_scheduler_type="linear" if schedule == "linear" else "warmup_stable_decay",
        max_grad_norm=1.0, eval_strategy="steps" if asha else "no",
        eval_steps=min(steps), save_strategy="no", logging_strategy="no", report_to=[], seed=seed, use_cpu=True,
        disable_tqdm=True, train_sampling_strategy="group_by_length" if group_by_length else "random",
    )
    trainer = Trainer(
        model_init=model_init, args=args, train_dataset=hf_dataset(split(task, "train", "en", True)),
        eval_dataset=hf_dataset(split(task, "dev", "en", False)), data_collator=collator(task),
        compute_metrics=intermediate_metrics(task), callbacks=[make_callback(
            out_root, task, seed, target_steps,
            (lambda total: next(n for n in steps if n + cooldown(n) == total)) if schedule == "wsd" else (lambda n: n),
            head_init)],
    )
    space = {"size": tune.grid_search(SIZES), "max_steps": tune.grid_search(steps)}
    if schedule == "wsd":  # "milestone" is no TrainingArguments field: the Trainer skips it, Tune resolves it first
        space = {"size": tune.grid_search(SIZES), "milestone": tune.grid_search(steps),
                 "max_steps": tune.sample_from(lambda spec: spec.config.milestone + cooldown(spec.config.milestone)),
                 "lr_scheduler_kwargs": tune.sample_from(lambda spec: {
                     "num_decay_steps": cooldown(spec.config.milestone), "decay_type": "linear"})}
    scheduler = {}
    if asha:
        # max_t beyond the last evaluation (every min(steps) steps), so that no run is cut before its decay ends
        longest = max(n + (cooldown(n) if schedule == "wsd" else 0) for n in steps)
        scheduler["scheduler"] = ASHAScheduler(metric="objective", mode="max", time_attr="training_iteration",
                                               max_t=math.ceil(longest / min(steps)), grace_period=1,
                                               reduction_factor=2)
    trainer.hyperparameter_search(
        hp_space=lambda _: space,
        backend="ray", n_trials=1, direction="maximize", resources_per_trial={"cpu": 1}, storage_path=root,
        name=f"peer-{task}-s{seed}", verbose=0, **scheduler,
    )


def peer_eval(out_root: str, threads: int) -> dict[str, dict]:
    """The zero-shot evaluation script: every finished run, every target, every language, with Trainer.predict."""
    import torch
    from transformers import AutoModel, Trainer, TrainingArguments

    from study.tasks import registry
    from study.tasks.retrieval import default_layer

    quiet()
    torch.set_num_threads(threads)
    args = TrainingArguments(output_dir=os.path.join(out_root, "eval"), per_device_eval_batch_size=EVAL_BATCH,
                             report_to=[], use_cpu=True, disable_tqdm=True)

    class MeanPooled(torch.nn.Module):
        """Retrieval as XTREME does it: mean-pooled states of the middle layer, unit norm."""

        def __init__(self, encoder):
            super().__init__()
            self.encoder, self.layer = encoder, default_layer(encoder)

        def forward(self, input_ids, attention_mask):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  output_hidden_states=True).hidden_states[self.layer]
            m = attention_mask[..., None].to(states.dtype)
            return {"logits": torch.nn.functional.normalize((states * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)}

    def predict(model, dataset, task):
        return Trainer(model=model, args=args, data_collator=collator(task)).predict(dataset).predictions

    def score(model, task: str, name: str, lang: str) -> float:
        t = registry.get(task)
        data = split(task, name, lang, name == "train")
        if t.format_name == "retrieval":
            src = predict(model, hf_dataset(data, with_labels=False), task)
            targets = type(data)(data.task, data.split, data.lang, data.examples,
                                 {"input_ids": data.features["target_ids"]})
            tgt = predict(model, hf_dataset(targets, with_labels=False), task)
            preds = (src @ tgt.T).argmax(-1).tolist()
        elif t.format_name == "classification":
            preds = [t.labels[p] for p in predict(model, hf_dataset(data), task).argmax(-1)]
        else:  # tagging: the first sub-token of each word
            best = predict(model, hf_dataset(data), task).argmax(-1)
            preds = []
            for i, ex in enumerate(data.examples):
                tags = [t.labels[0]] * len(ex["tokens"])
                for p, w in zip(data.features["first_token"][i], data.features["first_word"][i]):
                    tags[w] = t.labels[best[i, p]]
                preds.append(tags)
        return t.score(t.format.gold(data.examples, t), preds, lang)["score"]

    out: dict[str, dict] = {}
    for done in sorted(Path(out_root).glob("*/*/*/done.json")):
        run = done.parent
        key = "/".join(run.parts[-3:])
        scores: dict[str, dict[str, float]] = {}
        for target in TARGETS:
            if target == "builtin_tatoeba":
                model = MeanPooled(AutoModel.from_pretrained(run / "encoder"))
            else:
                model = head_model(target, str(run / target))
            model.eval()
            scores[target] = {f"dev-{lang}": score(model, target, "dev", lang) for lang in ["en"]}
            scores[target].update({lang: score(model, target, "test", lang) for lang in ["en", *ZERO_SHOT]})
        out[key] = {"scores": scores, "zero_shot": zero_shot_mean(scores)}
    return out


def run_peer(root: str, seed: int, steps: list[int], target_steps: int, warmup: int, eval_threads: int,
             asha: bool, group_by_length: bool, schedule: str = "linear", head_init: str = "hf") -> dict:
    out_root = os.path.join(root, f"peer-s{seed}")
    start = time.perf_counter()
    for task in TASKS:
        peer_search(root, out_root, task, seed, steps, target_steps, warmup, asha, group_by_length, schedule,
                    head_init)
    searched = time.perf_counter() - start
    # The zero-shot evaluation script, as a user runs it: a new process.
    result_file = os.path.join(root, f"peer-eval-s{seed}.json")
    subprocess.run([sys.executable, __file__, "--peer-eval", out_root, "--eval-threads", str(eval_threads),
                    "--json", result_file], check=True)
    wall = time.perf_counter() - start
    evaluated = json.loads(Path(result_file).read_text())
    return {"seed": seed, "wall_seconds": wall, "search_seconds": searched, "eval_seconds": wall - searched,
            "configs": {k: v["zero_shot"] for k, v in evaluated.items()},
            "targets": {k: per_target(v["scores"]) for k, v in evaluated.items()},
            "intermediate_steps_trained_max": len(SIZES) * len(TASKS) * sum(
                n + (cooldown(n) if schedule == "wsd" else 0) for n in steps)}


# ------------------------------------------------------------------------------------------------- main
class CpuMeter:
    """CPU seconds (user + system) of this process and all its descendants: Ray's GCS, raylet and workers,
    and the peer's evaluation script. Sampled every `interval` seconds, so a process that exits is counted
    up to its last sample; the sampling thread's own CPU is left out. Unlike wall time, this hardly moves
    when other work on a shared machine competes for the cores."""

    def __init__(self, interval: float = 0.5):
        import threading

        import psutil

        self.me = psutil.Process()
        self.seen: dict[tuple[int, float], float] = {}
        self.own = 0.0  # CPU seconds of the sampling itself
        self.interval = interval
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        import psutil

        start = time.thread_time()
        for p in [self.me, *self.me.children(recursive=True)]:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    self.seen[(p.pid, p.create_time())] = t.user + t.system
            except psutil.Error:
                pass
        self.own += time.thread_time() - start

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            with self.lock:
                self._sample()

    def total(self) -> float:
        with self.lock:
            self._sample()
            return sum(self.seen.values()) - self.own

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def compare(a: dict[str, float], b: dict[str, float]) -> dict:
    common = sorted(set(a) & set(b))
    diffs = [a[k] - b[k] for k in common]
    return {"n": len(common), "mean_diff": float(np.mean(diffs)) if diffs else float("nan"),
            "mean_abs_diff": float(np.mean(np.abs(diffs))) if diffs else float("nan"),
            "sd_diff": float(np.std(diffs, ddof=1)) if len(diffs) > 1 else float("nan"),
            "configs": {k: [round(a[k], 2), round(b[k], 2)] for k in common}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs=4, default=[25, 50, 100, 200])
    parser.add_argument("--target-steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10, help="intermediate warmup steps")
    parser.add_argument("--eval-threads", type=int, default=1, help="threads of the peer's evaluation script")
    parser.add_argument("--no-asha", dest="asha", action="store_false",
                        help="both sides without ASHA: every configuration runs to its end (same deliverables)")
    parser.add_argument("--length-grouping", choices=("xstudy", "both", "neither"), default="xstudy",
                        help="which side's intermediate batches are grouped by length: xstudy's default and the "
                             "Trainer's (xstudy), or the same on both sides")
    parser.add_argument("--peer-schedule", choices=("linear", "wsd"), default="linear",
                        help="the Trainer's learning-rate schedule: linear decay to N (the usual recipe), or "
                             "xstudy's warmup-stable trunk with a 10%% linear cooldown after N")
    parser.add_argument("--peer-head-init", choices=("hf", "torch"), default="hf",
                        help="the Trainer's fresh heads: transformers' N(0, 0.02) (the usual recipe), or "
                             "PyTorch's default Linear init, as xstudy's heads")
    parser.add_argument("--peer-eval", default=None, help=argparse.SUPPRESS)  # the peer's evaluation script
    parser.add_argument("--json", dest="out", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    if args.peer_eval:
        result = peer_eval(args.peer_eval, args.eval_threads)
        Path(args.out).write_text(json.dumps(result))
        return 0

    import ray

    from study import launch

    for size in SIZES:  # pretraining and tokenization are shared by both sides: done before either is timed
        encoder_dir(size)
    for task, name, lang, train in needed_splits():
        split(task, name, lang, train)
    launch.init_ray(None, num_cpus=2)
    meter = CpuMeter()
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="xstudy-bench-") as root:
        common = (args.steps, args.target_steps, args.warmup)
        grouped_xstudy, grouped_peer = args.length_grouping != "neither", args.length_grouping == "both"
        plan = [("xstudy_s0", lambda: run_xstudy(root, 0, *common, args.asha, grouped_xstudy)),
                ("peer_s0", lambda: run_peer(root, 0, *common, args.eval_threads, args.asha, grouped_peer,
                                             args.peer_schedule, args.peer_head_init)),
                ("xstudy_s1", lambda: run_xstudy(root, 1, *common, args.asha, grouped_xstudy))]
        for name, run in plan:
            cpu = meter.total()
            runs[name] = run()
            runs[name]["cpu_seconds"] = meter.total() - cpu
            print(json.dumps({k: v for k, v in runs[name].items() if k not in ("configs", "targets")}), file=sys.stderr)
        meter.close()
        ray.shutdown()

    xs_wall = statistics.mean([runs["xstudy_s0"]["wall_seconds"], runs["xstudy_s1"]["wall_seconds"]])
    xs_cpu = statistics.mean([runs["xstudy_s0"]["cpu_seconds"], runs["xstudy_s1"]["cpu_seconds"]])
    noise = compare(runs["xstudy_s0"]["configs"], runs["xstudy_s1"]["configs"])
    peer_vs = compare(runs["peer_s0"]["configs"], runs["xstudy_s0"]["configs"])
    # Seed noise of one run's score: the sd of seed-0 minus seed-1 differences over configurations, / sqrt(2).
    seed_sd = noise["sd_diff"] / math.sqrt(2) if noise["n"] > 1 else float("nan")
    # Peer minus xstudy (same seed) is a difference of two runs: equal within noise if its mean is within
    # two standard errors of zero, the standard error being that of a difference of two single runs.
    se = math.sqrt(2) * seed_sd / math.sqrt(max(1, peer_vs["n"]))
    speedup = runs["peer_s0"]["wall_seconds"] / xs_wall
    summary = {
        "sweep": {"sizes": SIZES, "intermediate_tasks": TASKS, "steps": args.steps, "target_steps": args.target_steps,
                  "targets": TARGETS, "zero_shot_languages": ZERO_SHOT, "warmup": args.warmup},
        "wall_seconds": {k: round(v["wall_seconds"], 1) for k, v in runs.items()},
        "cpu_seconds": {k: round(v["cpu_seconds"], 1) for k, v in runs.items()},
        "peer_breakdown_seconds": {"searches": round(runs["peer_s0"]["search_seconds"], 1),
                                   "eval_script": round(runs["peer_s0"]["eval_seconds"], 1)},
        "asha": args.asha,
        "length_grouping": args.length_grouping,
        "peer_schedule": args.peer_schedule,
        "peer_head_init": args.peer_head_init,
        "speedup_peer_over_xstudy": speedup,
        "cpu_ratio_peer_over_xstudy": runs["peer_s0"]["cpu_seconds"] / xs_cpu,
        "configs_finished": {k: len(v["configs"]) for k, v in runs.items()},
        "seconds_per_finished_config": {k: round(v["wall_seconds"] / max(1, len(v["configs"])), 1)
                                        for k, v in runs.items()},
        "xstudy_intermediate_steps_trained": {k: v["intermediate_steps_trained"] for k, v in runs.items()
                                              if k.startswith("xstudy")},
        "peer_intermediate_steps_without_asha": runs["peer_s0"]["intermediate_steps_trained_max"],
        "seed_noise_xstudy_s0_vs_s1": noise,
        "by_size_and_target": {k: by_size_and_target(v["targets"]) for k, v in runs.items()},
        "seed_sd_of_one_run": seed_sd,
        "peer_vs_xstudy_s0": peer_vs,
        "peer_minus_xstudy_within_2se": abs(peer_vs["mean_diff"]) <= 2 * se if peer_vs["n"] else None,
        "goal": "xstudy >= 2x less CPU work, zero-shot scores equal within seed noise",
        "goal_met": bool(runs["peer_s0"]["cpu_seconds"] / xs_cpu >= 2 and peer_vs["n"]
                         and abs(peer_vs["mean_diff"]) <= 2 * se),
        "configs": {k: v["configs"] for k, v in runs.items()},
    }
    return emit(summary, args.out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
