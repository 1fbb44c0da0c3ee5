"""Length-grouped intermediate batches: the padding fraction and the training steps/s, random batches
against batches grouped by length (`study.train.DataStream(group_by_length=True)`).

Real release files from `../shared/data` (XSTUDY_DATA_DIR or XSTUDY_SHARED_DIR/data): XQuAD's contexts in
every language, tokenized as span-QA training windows (max_length 384, stride 128), and the UD treebanks'
sentences tokenized for tagging (max_length 256), with the real XLM-R sentencepiece tokenizer of
multilingual-e5-small (`.cache/real-model`, built by `../shared/tools/make_real_model.sh`).

Padding fraction: over one epoch of batches of 32, the share of padded positions in the batches as
collated (each padded to its longest member). Steps/s: forward and backward steps of a 2-layer encoder of
hidden size 256 with the same 250k vocabulary, on the same batches both ways, interleaved over `--repeats`
rounds; the figure is the median of the paired ratio grouped / random.

    python bench/length_grouping.py [--repeats 3] [--steps 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from summary import emit  # bench/summary.py: scripts run as `python bench/NAME.py`

ROOT = Path(__file__).resolve().parents[1]
BATCH = 32
SETS = {"xquad": ("span_qa", 384), "udpos": ("tagging", 256)}


def data_dir() -> Path:
    if os.environ.get("XSTUDY_DATA_DIR"):
        return Path(os.environ["XSTUDY_DATA_DIR"])
    return Path(os.environ.get("XSTUDY_SHARED_DIR", ROOT.parent / "shared")) / "data"


def features_of(name: str, tokenizer) -> dict:
    from study.data import tokenize
    from study.tasks import registry
    from study.tasks.registry import LoadContext

    task = registry.get(name)
    ctx = LoadContext(data_dir=str(data_dir()))
    max_length = SETS[name][1]
    merged: dict = {}
    for lang in task.test_languages:
        try:
            examples = task.load("test", lang, ctx)
        except Exception:  # noqa: BLE001 - a language the samples do not hold
            continue
        feats = tokenize(task, "test", lang, examples, tokenizer, max_length, train=True)
        for key, values in feats.items():
            merged.setdefault(key, []).extend(values)
    return merged


def padding_fraction(stream, batches: int) -> float:
    lengths = [len(ids) for ids in stream.features["input_ids"]]
    real = padded = 0
    for _ in range(batches):
        got = [lengths[i] for i in stream.next_indices()]
        real += sum(got)
        padded += max(got) * len(got)
    return 1.0 - real / padded


def steps_per_s(stream, fmt, model, head, steps: int) -> float:
    optimizer = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=1e-5)
    start = time.perf_counter()
    for _ in range(steps):
        batch = stream.next_batch(fmt, 1)
        loss = fmt.loss(model, head, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

    from study.tasks import registry
    from study.train import DataStream, StreamState

    tokenizer = AutoTokenizer.from_pretrained(str(ROOT / ".cache" / "real-model"))
    summary: dict = {"batch_size": BATCH}
    for name, (fmt_name, max_length) in SETS.items():
        task = registry.get(name)
        feats = features_of(name, tokenizer)
        n = len(feats["input_ids"])
        epoch = n // BATCH
        row = {"examples": n, "max_length": max_length}
        for label, grouped in (("random", False), ("grouped", True)):
            row[f"padding_{label}"] = padding_fraction(DataStream(feats, BATCH, StreamState(seed=0), grouped), epoch)
        torch.manual_seed(0)
        config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=256, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=1024, max_position_embeddings=max_length + 2)
        model = XLMRobertaModel(config, add_pooling_layer=False)
        head = task.format.make_head(256, task)
        ratios, rates = [], {"random": [], "grouped": []}
        for r in range(args.repeats):
            pair = {}
            for label, grouped in (("random", False), ("grouped", True))[:: 1 if r % 2 == 0 else -1]:
                stream = DataStream(feats, BATCH, StreamState(seed=r), grouped)
                pair[label] = steps_per_s(stream, task.format, model, head, args.steps)
                rates[label].append(pair[label])
            ratios.append(pair["grouped"] / pair["random"])
        row.update({"steps_per_s_random": statistics.median(rates["random"]),
                    "steps_per_s_grouped": statistics.median(rates["grouped"]),
                    "speedup_median": statistics.median(ratios)})
        summary[name] = row
    return emit(summary, args.json)


if __name__ == "__main__":
    sys.exit(main())
