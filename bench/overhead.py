"""Framework overhead: training steps/s inside a Ray Tune trial against a raw PyTorch loop.

The same tiny encoder trains on the same batches in three settings, repeated with their order alternating
(driver, Tune, trial / trial, Tune, driver) so that drift in the machine's load cancels:

- `driver`: in this process, a minimal raw PyTorch loop over pre-collated batches (forward, cross-entropy,
  backward, gradient clipping, AdamW step, the learning rate set per step: what the hardware allows) and
  the project's loop (`study.train.Phase`, with its data stream, collation, finite-loss check and token
  counting), in alternating chunks of `--chunk` steps;
- `tune`: the same two loops in alternating chunks, inside a Ray Tune trial that sets threads and builds
  the trial (`Trial.setup`) as the project's trainable `run_in_tune` does;
- `trial`: a real trial of the project (`study.launch.run` on a one-task spec), whose training speed is
  read from its result rows (`intermediate_steps / intermediate_seconds`: the Phase's own wall clock).

Every loop runs with the trial's CPU count as its thread count (`--cpus`: Ray sets OMP_NUM_THREADS to it
and the trainable sets torch's threads to it), and Ray runs one trial at a time. Before timing, in the
driver and again inside the Tune trial, the raw loop and the project's loop are checked to compute exactly
the same losses for 20+ steps (the same work; this also warms both processes up alike). The figure is
`tune_phase_over_driver_raw`: the project's loop inside a Tune trial against the raw loop outside Ray,
the median over repetitions of the ratio of block medians.

    python bench/overhead.py [--chunk 50] [--pairs 6] [--repeats 5] [--cpus 1] [--model tiny] [--json OUT]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

from summary import emit  # bench/summary.py: scripts run as `python bench/NAME.py`

MODELS = {"tiny": 800, "small": 500}  # the built-in sizes and masked-LM pretraining steps as BENCHMARKS.md measured them
TASK = "builtin_nli"  # sentence-pair classification: the raw loop below is written for it
SEED = 0


def bench_spec(root: str, name: str, model: str, steps: int, cpus: int):
    from study.spec import parse_spec

    return parse_spec({
        "study": {"name": name, "storage": root, "max_failures": 0},
        "models": [{"name": model, "source": {"builtin": model, "mlm_steps": MODELS[model]}, "resources": {"cpu": cpus},
                    "batch_size": 32, "max_length": 64, "steps": [0, steps]}],
        "intermediate_tasks": [TASK],
        # The targets are not what is measured: one language, no fine-tuning, to keep the trial short.
        "target_tasks": [{"task": "builtin_pos", "languages": ["xa"]}],
        "hyperparameters": {"intermediate_lr": 5e-4, "target_lr": 2e-3},
        "intermediate_training": {"warmup_steps": 20, "cooldown_fraction": 0.0},
        "target_training": {"steps": 0, "eval_batch_size": 256},
        "asha": {"enabled": False},
        "search": {"max_concurrent_trials": 1},
    })


class Setup:
    """The trial's own model, head, optimizer settings and data stream, built as `Trial.setup` builds them."""

    def __init__(self, spec, model: str, steps: int):
        from study.trial import Trial

        trial = Trial(spec, {"model": model, "intermediate_task": TASK, "seed": SEED}, "overhead")
        trial.setup(None)
        self.trial = trial
        self.phase = trial.phase
        self.encoder0 = copy.deepcopy(self.phase.encoder.state_dict())
        self.heads0 = {k: copy.deepcopy(h.state_dict()) for k, h in self.phase.heads.items()}
        self.steps = steps
        stream = self.fresh_stream()
        fmt = self.phase.formats[TASK]
        self.batches = [stream.next_batch(fmt, self.phase.pad_id) for _ in range(steps)]

    def fresh_stream(self):
        from study.train import DataStream, StreamState

        s = self.phase.streams[TASK]
        return DataStream(s.features, s.batch_size, StreamState(seed=SEED))

    def fresh_modules(self):
        encoder = copy.deepcopy(self.phase.encoder)
        encoder.load_state_dict(self.encoder0)
        head = copy.deepcopy(self.phase.heads[TASK])
        head.load_state_dict(self.heads0[TASK])
        return encoder, head

    def optimizer(self, encoder, head):
        from study.train import adamw

        return adamw([encoder, head], self.trial.hp["intermediate_lr"], self.trial.hp["weight_decay"])


class RawLoop:
    """A minimal PyTorch loop: no data pipeline (batches are pre-collated), no checks, no bookkeeping."""

    def __init__(self, s: Setup):
        self.encoder, self.head = s.fresh_modules()
        self.optimizer = s.optimizer(self.encoder, self.head)
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.lr_at, self.max_norm = s.phase.lr_at, s.phase.max_grad_norm
        self.batches = s.batches
        self.step = 0
        self.losses: list[torch.Tensor] = []

    def run(self, n: int) -> float:
        """Train n steps; returns the wall seconds."""
        encoder, head, optimizer = self.encoder, self.head, self.optimizer
        encoder.train()
        head.train()
        start = time.perf_counter()
        for step in range(self.step, self.step + n):
            batch = self.batches[step]
            for g in optimizer.param_groups:
                g["lr"] = self.lr_at(step)
            hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            loss = F.cross_entropy(head(hidden[:, 0]).float(), batch["label"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, self.max_norm)
            optimizer.step()
            self.losses.append(loss.detach())
        self.step += n
        return time.perf_counter() - start


def fresh_phase(s: Setup):
    """The project's loop, exactly as a trial builds it (same model state, optimizer and data stream)."""
    from study.train import Phase

    encoder, head = s.fresh_modules()
    p = s.phase
    return Phase(
        encoder=encoder, heads={TASK: head}, formats=p.formats, streams={TASK: s.fresh_stream()},
        optimizer=s.optimizer(encoder, head), lr_at=p.lr_at, max_grad_norm=p.max_grad_norm, pad_id=p.pad_id,
        device=p.device, autocast=p.autocast,
    )


def check_same_work(s: Setup, steps: int) -> None:
    """The raw loop and the project's loop must compute exactly the same losses on the same batches."""
    raw, phase = RawLoop(s), fresh_phase(s)
    torch.manual_seed(SEED)  # dropout draws the same masks in both
    raw.run(steps)
    torch.manual_seed(SEED)
    phase.run(steps)
    if [float(x) for x in raw.losses] != phase.losses:
        raise AssertionError("the raw loop and the project's loop computed different losses")


def alternate(s: Setup, pairs: int, chunk: int) -> dict[str, list[float]]:
    """Steps/s of the raw loop and of the project's loop, in alternating chunks (A,B,B,A,A,B...)."""
    raw, phase = RawLoop(s), fresh_phase(s)
    out: dict[str, list[float]] = {"raw": [], "phase": []}
    for i in range(pairs):
        for what in (("raw", "phase") if i % 2 == 0 else ("phase", "raw")):
            seconds = raw.run(chunk) if what == "raw" else phase.run(chunk).seconds
            out[what].append(chunk / seconds)
    return out


def tune_trainable(config: dict) -> None:
    """Inside a Tune trial: the trial's own setup and loop (as `run_in_tune` sets threads and builds it)."""
    from ray import tune

    from study.spec import StudySpec

    torch.set_num_threads(max(1, int(config["cpus"])))  # what run_in_tune does
    spec = StudySpec.model_validate(config["spec"])
    s = Setup(spec, config["model"], config["pairs"] * config["chunk"])
    check_same_work(s, 20)  # also warms this new process up, as the driver's check warmed the driver
    tune.report({"speeds": json.dumps(alternate(s, config["pairs"], config["chunk"]))})


def run_tune_block(root: str, rep: int, spec, model: str, pairs: int, chunk: int, cpus: int) -> dict[str, list[float]]:
    from ray import tune

    trainable = tune.with_resources(tune_trainable, {"cpu": cpus})
    config = {"spec": spec.model_dump(mode="json"), "model": model, "pairs": pairs, "chunk": chunk, "cpus": cpus}
    tuner = tune.Tuner(trainable, param_space=config,
                       run_config=tune.RunConfig(name=f"overhead-block-{rep}", storage_path=root, verbose=0))
    (result,) = tuner.fit()
    if result.error:
        raise result.error
    return json.loads(result.metrics["speeds"])


def run_trial(root: str, rep: int, model: str, steps: int, cpus: int) -> tuple[float, float]:
    """A real trial of the project (`launch.run`); its training speed from the result rows, and the run's wall."""
    from study import launch, results

    spec = bench_spec(root, f"overhead-{rep}", model, steps, cpus)
    start = time.perf_counter()
    launch.run(spec, num_cpus=cpus)
    wall = time.perf_counter() - start
    df = results.collect(spec.uri)
    row = df[(df.intermediate_task == TASK) & (df.intermediate_steps == steps)].iloc[0]
    return steps / float(row.intermediate_seconds), wall


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=50, help="steps per timed chunk")
    parser.add_argument("--pairs", type=int, default=6, help="(raw, project) chunk pairs per block")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions of (driver block, Tune block, real trial)")
    parser.add_argument("--trial-steps", type=int, default=200, help="intermediate steps of each real trial")
    parser.add_argument("--cpus", type=int, default=1, help="the trial's CPUs, and the threads of every loop")
    parser.add_argument("--model", choices=sorted(MODELS), default="tiny")
    parser.add_argument("--json", dest="out", default=None)
    args = parser.parse_args(argv)

    import ray

    from study import launch
    from study.model import ensure_builtin
    from study.spec import BuiltinSource

    ensure_builtin(BuiltinSource(builtin=args.model, mlm_steps=MODELS[args.model]))
    torch.set_num_threads(args.cpus)
    steps = args.pairs * args.chunk
    reps: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="xstudy-bench-") as root:
        spec = bench_spec(root, "overhead-setup", args.model, steps, args.cpus)
        setup = Setup(spec, args.model, steps)
        check_same_work(setup, min(steps, 60))
        launch.init_ray(None, num_cpus=args.cpus)  # one trial at a time: nothing else competes for the cores
        for rep in range(args.repeats):
            order = ["driver", "tune", "trial"] if rep % 2 == 0 else ["trial", "tune", "driver"]
            row: dict = {"repeat": rep}
            for what in order:
                if what == "driver":
                    speeds = alternate(setup, args.pairs, args.chunk)
                    row["driver_raw"], row["driver_phase"] = speeds["raw"], speeds["phase"]
                elif what == "tune":
                    speeds = run_tune_block(root, rep, spec, args.model, args.pairs, args.chunk, args.cpus)
                    row["tune_raw"], row["tune_phase"] = speeds["raw"], speeds["phase"]
                else:
                    row["trial"], row["trial_wall_seconds"] = run_trial(root, rep, args.model, args.trial_steps, args.cpus)
            reps.append(row)
            print(json.dumps(row), file=sys.stderr)
        ray.shutdown()

    med = statistics.median

    def per_rep(key: str) -> list[float]:
        return [med(r[key]) if isinstance(r[key], list) else r[key] for r in reps]

    def ratio(a: str, b: str) -> float:
        """Median over repetitions of the ratio of the two blocks' medians (paired within a repetition)."""
        return med(x / y for x, y in zip(per_rep(a), per_rep(b)))

    # Within one block the two loops alternate chunk by chunk: the tightest pairing there is.
    def chunk_ratio(block: str) -> float:
        return med(p / r for row in reps for p, r in zip(row[f"{block}_phase"], row[f"{block}_raw"]))

    figure = ratio("tune_phase", "driver_raw")
    summary = {
        "model": args.model, "task": TASK, "batch": "32 sequences, padded to the batch's longest (<= 64 tokens)",
        "cpus": args.cpus, "chunk": args.chunk, "pairs": args.pairs, "repeats": args.repeats,
        "losses_identical": True,
        "steps_per_second": {k: med(per_rep(k)) for k in ("driver_raw", "driver_phase", "tune_raw", "tune_phase", "trial")},
        "figure": "project loop inside a Tune trial / raw loop outside Ray (steps/s)",
        "tune_phase_over_driver_raw": figure,
        "tune_phase_over_tune_raw_chunks": chunk_ratio("tune"),
        "driver_phase_over_driver_raw_chunks": chunk_ratio("driver"),
        "tune_raw_over_driver_raw": ratio("tune_raw", "driver_raw"),
        "real_trial_over_driver_raw": ratio("trial", "driver_raw"),
        "real_trial_wall_seconds": med(per_rep("trial_wall_seconds")),
        "goal": ">= 0.9 of the raw loop",
        "goal_met": figure >= 0.9,
        "repetitions": reps,
    }
    return emit(summary, args.out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
