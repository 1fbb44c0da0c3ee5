"""Memory: peak RSS of a whole trial on the tiny encoders, against the bare Python + torch + ray imports.

Each measurement is a new process that reports its own peak resident set size (`ru_maxrss`):

- `bare`: `import torch, ray` and nothing else: the floor of any Ray Tune trial with torch;
- `imports`: additionally imports what a trial imports (study.trial and study.launch: transformers,
  datasets, pyarrow, pandas, ...) without running anything;
- `trial_<size>`: runs one trial of the smoke study, outside Ray (`Trial.run`): the size's encoder,
  builtin_nli through milestones 50 and 100 with cooldown branches, then builtin_pos, builtin_xnli and
  builtin_tatoeba fine-tuned (60 steps) and scored in all languages at each milestone, rows and
  predictions written.

One thread, as in a 1-CPU trial. The kinds alternate within each repetition (order reversed every other
time); the figures are medians of the paired ratios to `bare`.

    python bench/memory.py [--repeats 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

from summary import emit  # bench/summary.py: scripts run as `python bench/NAME.py`

MLM_STEPS = {"tiny": 800, "small": 500}


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(kind: str, storage: str) -> None:
    import ray  # noqa: F401
    import torch

    torch.set_num_threads(1)
    if kind != "bare":
        import study.launch  # noqa: F401
        import study.trial  # noqa: F401
    if kind.startswith("trial_"):
        from study.spec import parse_spec
        from study.trial import Trial

        size = kind.removeprefix("trial_")
        spec = parse_spec({
            "study": {"name": "memory", "storage": storage},
            "models": [{"name": size, "source": {"builtin": size, "mlm_steps": MLM_STEPS[size]}, "batch_size": 32,
                        "max_length": 64, "steps": [0, 50, 100]}],
            "intermediate_tasks": ["builtin_nli"],
            "target_tasks": ["builtin_pos", "builtin_xnli", "builtin_tatoeba"],
            "hyperparameters": {"intermediate_lr": 5e-4, "target_lr": 2e-3},
            "intermediate_training": {"warmup_steps": 10, "cooldown_fraction": 0.1},
            "target_training": {"steps": 60, "eval_batch_size": 256},
        })
        Trial(spec, {"model": size, "intermediate_task": "builtin_nli", "seed": 0}, "memory").run(lambda m, f: None)
    print(json.dumps({"kind": kind, "peak_mib": peak_mib()}))


def measure(kind: str) -> float:
    with tempfile.TemporaryDirectory(prefix="xstudy-bench-mem-") as storage:
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, __file__, "--child", kind, storage], env=env, check=True,
                              capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_mib"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", dest="out", default=None)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    from study.model import ensure_builtin
    from study.spec import BuiltinSource

    for size, steps in MLM_STEPS.items():  # pretrained (once per machine) before anything is measured
        ensure_builtin(BuiltinSource(builtin=size, mlm_steps=steps))
    kinds = ["bare", "imports", "trial_tiny", "trial_small"]
    reps = []
    for rep in range(args.repeats):
        row = {k: measure(k) for k in (kinds if rep % 2 == 0 else list(reversed(kinds)))}
        reps.append(row)
        print(json.dumps(row), file=sys.stderr)

    def ratio(a: str) -> float:
        return statistics.median(r[a] / r["bare"] for r in reps)

    med = {k: statistics.median(r[k] for r in reps) for k in kinds}
    summary = {
        "peak_rss_mib": med,
        "trial_tiny_over_bare": ratio("trial_tiny"),
        "trial_small_over_bare": ratio("trial_small"),
        "imports_over_bare": ratio("imports"),
        "trial_tiny_own_mib": med["trial_tiny"] - med["imports"],
        "trial_small_own_mib": med["trial_small"] - med["imports"],
        "repetitions": reps,
    }
    return emit(summary, args.out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
