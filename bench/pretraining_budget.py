"""Do the built-in sizes get a fair pretraining budget? Both sizes' step-0 transfer over several pretraining seeds.

For each pretraining seed, pretrains every built-in size of SPEC (default: the smoke study) with that seed
(`source.mlm_seed`) and the spec's `mlm_steps` (or those given with `--mlm-steps`), then runs each size's
no-intermediate baseline trial: target fine-tuning on English and zero-shot test, exactly the study's
step-0 milestone. It reports, per size and target task, the zero-shot score (test, mean over the
non-English languages) of every seed, and per seed whether the larger size scores at least as well as
the smaller one. Intermediate training is left out: it is what the study measures, the pretraining is
what it stands on.

    python bench/pretraining_budget.py [SPEC] [--seeds 0 1 2] [--mlm-steps tiny=800 small=800] [--json OUT]

The smoke study's budgets (tiny 800 steps, small 2,900) give each size the same pretraining tokens per
parameter; `--mlm-steps tiny=800 small=800` gives both the same steps instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from summary import emit  # bench/summary.py: scripts run as `python bench/NAME.py`


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="search_spaces/smoke.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--mlm-steps", nargs="*", default=[], metavar="SIZE=STEPS")
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    from analysis import aggregate
    from study import results
    from study.model import builtin_config, prepare_builtin
    from study.spec import BuiltinSource, load_spec
    from study.trial import Trial

    spec = load_spec(args.spec)
    steps = {name: int(value) for name, value in (item.split("=") for item in args.mlm_steps)}
    models = []
    for m in spec.models:
        if isinstance(m.source, BuiltinSource):
            source = m.source.model_copy(update={"mlm_steps": steps.get(m.name, m.source.mlm_steps)})
            models.append(m.model_copy(update={"source": source}))
    scores: dict[str, dict[str, list[float]]] = {m.name: {} for m in models}
    pretraining: dict[str, list[dict]] = {m.name: [] for m in models}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xstudy-budget-") as storage:
        for seed in args.seeds:
            seeded = [m.model_copy(update={"source": m.source.model_copy(update={"mlm_seed": seed})}) for m in models]
            paths = prepare_builtin([m.source for m in seeded])
            for m, path in zip(seeded, paths, strict=True):
                info = json.loads((Path(path) / "pretrain.json").read_text())
                pretraining[m.name].append({
                    "seed": seed, "mlm_steps": builtin_config(m.source).mlm_steps,
                    "final_mlm_loss": info["final_mlm_loss"], "parameters": info["parameters"],
                    "tokens_seen": info["tokens_seen"],
                    "tokens_per_parameter": round(info["tokens_seen"] / info["parameters"], 2),
                    "train_seconds": info["train_seconds"]})
            run = spec.model_copy(update={
                "models": seeded, "intermediate_tasks": ["none"], "seeds": [0],
                "study": spec.study.model_copy(update={"name": f"budget-seed{seed}", "storage": storage}),
            })
            for m in seeded:
                config = {"model": m.name, "intermediate_task": "none", "seed": 0,
                          **{k: v for k, v in spec.hyperparameters.items() if isinstance(v, (int, float, str))}}
                Trial(run, config, f"{m.name}-pretrain{seed}").run(lambda metrics, folder: None)
            df = results.collect(f"{storage}/budget-seed{seed}")
            per_task = aggregate.task_scores(df, split="test", exclude_english=True)
            for row in per_task.itertuples():
                scores[row.model].setdefault(row.target_task, []).append(round(float(row.score), 2))
    sizes = [m.name for m in models]
    comparison = {}
    for smaller, larger in zip(sizes, sizes[1:]):
        for task in scores[smaller]:
            a, b = np.array(scores[smaller][task]), np.array(scores[larger][task])
            comparison[f"{larger} vs {smaller}: {task}"] = {
                "difference_per_seed": [round(float(x), 2) for x in b - a],
                "mean_difference": round(float((b - a).mean()), 2),
                "larger_at_least_as_good_in_seeds": int((b >= a).sum()),
            }
    summary = {
        "spec": args.spec, "seeds": args.seeds, "pretraining": pretraining,
        "zero_shot_step0_non_english_mean": scores, "comparison": comparison,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    return emit(summary, args.json)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
