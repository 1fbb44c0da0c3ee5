"""Data preparation: a trial's data with a cold cache, for the next trial, and after a restart.

A trial of the smoke study (tiny encoder, builtin_nli) reads 18 tokenized splits: its intermediate task's
train and dev sets, and each target's train, dev and test sets in every language. `study.data.load_split`
builds each once (generate or read the examples, tokenize, save as Arrow under a fingerprint) and reads
the Arrow files afterwards. Each repetition uses a fresh `XSTUDY_CACHE_DIR` (the pretrained models are
linked in, so nothing is pretrained) and times, in new processes:

- `first`: the first trial's data, cold cache (what the first trial on a machine pays);
- `second`: the same splits again in the same process (the next trial in a reused Ray worker: another
  seed, step budget, or a retry);
- `other_task`: the splits of a trial with another intermediate task (builtin_squad), same process:
  its targets are cached, its intermediate task is not;
- `restart`: the first trial's splits in a new process over the now-warm cache (a resumed study, another
  worker, another run).

The tokenizer is loaded before timing. Repetitions alternate with the next's cold start; the figures are
the medians of the paired ratios to `first`.

    python bench/data_cache.py [--repeats 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from summary import emit  # bench/summary.py: scripts run as `python bench/NAME.py`

MODEL = {"builtin": "tiny", "mlm_steps": 800}
MAX_LENGTH = 64
TARGETS = ["builtin_pos", "builtin_xnli", "builtin_tatoeba"]


def trial_splits(intermediate: str) -> list[tuple[str, str, str, bool]]:
    """The splits a trial of the smoke study loads: as `Trial.setup` and `Trial._targets` ask for them."""
    from study.tasks import registry

    out = [(intermediate, "train", "en", True), (intermediate, "dev", "en", False)]
    for name in TARGETS:
        task = registry.get(name)
        if task.format.trains:
            out.append((name, "train", "en", True))
        out.append((name, "dev", "en", False))
        out += [(name, "test", lang, False) for lang in task.test_languages]
    return out


def child(phases: list[str]) -> None:
    """Runs in a new process: times the named phases, prints their seconds as JSON."""
    from transformers import AutoTokenizer

    from study.data import load_split
    from study.model import ensure_builtin
    from study.spec import BuiltinSource
    from study.tasks import registry
    from study.tasks.registry import LoadContext

    tokenizer = AutoTokenizer.from_pretrained(ensure_builtin(BuiltinSource(**MODEL)))
    registry.get("builtin_nli")  # the registry imports its modules once; not data preparation
    out = {}
    for phase in phases:
        splits = trial_splits("builtin_squad" if phase == "other_task" else "builtin_nli")
        start = time.perf_counter()
        for task, split, lang, train in splits:
            load_split(registry.get(task), split, lang, tokenizer, MAX_LENGTH, LoadContext(), train)
        out[phase] = time.perf_counter() - start
        out[f"{phase}_splits"] = len(splits)
    print(json.dumps(out))


def run_child(cache: str, phases: list[str]) -> dict:
    env = {**os.environ, "XSTUDY_CACHE_DIR": cache, "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, __file__, "--child", *phases], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", nargs="+", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", dest="out", default=None)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0

    from study.cache import cache_root
    from study.model import ensure_builtin
    from study.spec import BuiltinSource

    ensure_builtin(BuiltinSource(**MODEL))  # in the real cache; linked into each fresh one
    models = cache_root() / "models"
    reps = []
    for rep in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="xstudy-bench-cache-") as cache:
            (Path(cache) / "models").symlink_to(models, target_is_directory=True)
            row = run_child(cache, ["first", "second", "other_task"])
            row.update(run_child(cache, ["restart"]))
        reps.append(row)
        print(json.dumps(row), file=sys.stderr)

    def ratio(a: str) -> float:
        return statistics.median(r[a] / r["first"] for r in reps)

    summary = {
        "trial": "smoke study, tiny encoder, builtin_nli; targets " + ", ".join(TARGETS),
        "splits_per_trial": reps[0]["first_splits"],
        "seconds": {k: statistics.median(r[k] for r in reps) for k in ("first", "second", "other_task", "restart")},
        "second_over_first": ratio("second"),
        "other_task_over_first": ratio("other_task"),
        "restart_over_first": ratio("restart"),
        "goal": "a cached trial's data preparation costs a small fraction of the cold one",
        "repetitions": reps,
    }
    return emit(summary, args.out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
