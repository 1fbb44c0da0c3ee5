"""Evaluation throughput: zero-shot evaluation over every language in examples/s, length-bucketed batches
against padding every batch to the maximum length.

The project's evaluation (`study.evaluate.score_split`, through each format's `predict`) sorts a split by
length, cuts batches, pads each to its own longest sequence and restores the order
(`study.tasks.base.batches_by_length`). Two baselines run the same code with batching swapped out:

- `max_length`: batches in file order, every batch padded to the model's max length (what tokenizing with
  `padding="max_length"` gives): the naive scheme;
- `dynamic`: batches in file order, each padded to its own longest sequence (what a padding collator
  such as transformers' `DataCollatorWithPadding` gives).

Every repetition evaluates the smoke study's target tasks (builtin_pos, builtin_xnli, builtin_tatoeba) on
their test sets in all 5 languages plus English dev, with the tiny encoder and fresh heads, once per scheme
in alternating order; predictions and scores must be identical across schemes (asserted). The figure is
the median over repetitions of the paired ratio of examples/s, bucketed / max_length.

    python bench/eval_throughput.py [--repeats 5] [--threads 1] [--model tiny] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time

import torch

from summary import emit  # bench/summary.py: scripts run as `python bench/NAME.py`

MODELS = {"tiny": 800, "small": 500}
TARGETS = ["builtin_pos", "builtin_xnli", "builtin_tatoeba"]
MAX_LENGTH, EVAL_BATCH = 64, 256
FORMAT_MODULES = ["study.tasks.classification", "study.tasks.tagging", "study.tasks.span_qa",
                  "study.tasks.multiple_choice", "study.tasks.retrieval"]


@contextlib.contextmanager
def unbucketed(pad_to: int | None):
    """Batches in file order; each padded to `pad_to` tokens (None: to its own longest sequence)."""
    import importlib

    from study.tasks import base

    def in_order(lengths, batch_size):
        return [list(range(i, min(i + batch_size, len(lengths)))) for i in range(0, len(lengths), batch_size)]

    def pad(seqs, value):
        if pad_to is None:
            return base.pad(seqs, value)
        out = torch.full((len(seqs), max(pad_to, *(len(s) for s in seqs))), value, dtype=torch.long)
        for i, s in enumerate(seqs):
            out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        return out

    modules = [importlib.import_module(m) for m in FORMAT_MODULES]
    saved = [(m, name, getattr(m, name)) for m in modules for name in ("batches_by_length", "pad") if hasattr(m, name)]
    try:
        for m, name, _ in saved:
            setattr(m, name, in_order if name == "batches_by_length" else pad)
        yield
    finally:
        for m, name, fn in saved:
            setattr(m, name, fn)


def evaluate_all(splits, encoder, heads, pad_id: int) -> tuple[float, list, int]:
    """Score every split as a trial does; returns (seconds, [(values, predictions)], examples)."""
    from study.evaluate import score_split

    out, examples = [], 0
    start = time.perf_counter()
    for data in splits:
        s = score_split(data, encoder, heads[data.task.name], EVAL_BATCH, pad_id, None)
        out.append((s.values, s.predictions))
        examples += len(data)
    return time.perf_counter() - start, out, examples


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a 1-CPU trial has 1)")
    parser.add_argument("--model", choices=sorted(MODELS), default="tiny")
    parser.add_argument("--json", dest="out", default=None)
    args = parser.parse_args(argv)

    from study.data import load_split
    from study.model import load_encoder
    from study.spec import ModelSpec
    from study.tasks import registry
    from study.tasks.registry import LoadContext

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = ModelSpec(name=args.model, source={"builtin": args.model, "mlm_steps": MODELS[args.model]},
                     max_length=MAX_LENGTH, steps=[0])
    enc = load_encoder(spec)
    enc.module.eval()
    hidden = enc.module.config.hidden_size
    heads, splits = {}, []
    for name in TARGETS:
        task = registry.get(name)
        heads[name] = task.format.make_head(hidden, task)
        parts = [("dev", "en")] + [("test", lang) for lang in task.test_languages]
        splits += [load_split(task, split, lang, enc.tokenizer, MAX_LENGTH, LoadContext(), False) for split, lang in parts]
    pad_id = enc.tokenizer.pad_token_id
    tokens = sum(len(x) for d in splits for key in ("input_ids", "target_ids") for x in d.features.get(key, []))

    schemes = {"bucketed": None, "max_length": MAX_LENGTH, "dynamic": "dynamic"}
    reps, reference = [], None
    for rep in range(args.repeats):
        order = list(schemes) if rep % 2 == 0 else list(reversed(schemes))
        row = {}
        for scheme in order:
            ctx = contextlib.nullcontext() if scheme == "bucketed" else unbucketed(None if scheme == "dynamic" else MAX_LENGTH)
            with ctx:
                seconds, results, n = evaluate_all(splits, enc.module, heads, pad_id)
            if reference is None:
                reference = results
            if results != reference:
                raise AssertionError(f"{scheme} evaluation gave different predictions or scores")
            row[scheme] = n / seconds
        reps.append(row)
        print(json.dumps(row), file=sys.stderr)

    def ratio(a: str, b: str) -> float:
        return statistics.median(r[a] / r[b] for r in reps)

    figure = ratio("bucketed", "max_length")
    summary = {
        "model": args.model, "threads": args.threads, "eval_batch_size": EVAL_BATCH, "max_length": MAX_LENGTH,
        "splits": len(splits), "examples": sum(len(d) for d in splits), "non_padding_tokens": tokens,
        "identical_predictions_and_scores": True,
        "examples_per_second": {k: statistics.median(r[k] for r in reps) for k in schemes},
        "bucketed_over_max_length": figure,
        "bucketed_over_dynamic": ratio("bucketed", "dynamic"),
        "goal": "bucketed faster than padding to the max length, identical results",
        "goal_met": figure > 1.0,
        "repetitions": reps,
    }
    return emit(summary, args.out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
