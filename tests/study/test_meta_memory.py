"""Host memory of a whole FSDP trial (`DistributedTrial` with `parallelism: fsdp`, 2 gloo workers) against
one process running the same trial (`Trial`), and no full-state file on any worker.

Measured over the real multilingual-e5-small (118M parameters, fp32; its word embeddings are 96M of them),
each side in fresh spawned processes with one thread: the peak resident set (VmHWM, reset with
`echo 5 > /proc/self/clear_refs` once the imports are done, and the process group joined) above the
resident set at that moment. The work, the same code for every side:

- the trial `run` to milestone 1: loading (one process: `load_encoder`, from_pretrained; a worker:
  `load_empty_encoder` then `FullySharded.place_pretrained`, its own rows only), 1 intermediate step
  (builtin_nli), a 1-step cooldown branch (a copy of the trunk and its optimizer state), the intermediate
  dev set scored, one target (builtin_pos) fine-tuned 1 step on a copy of the branch, its English dev and
  one zero-shot language (`xa`) scored, rows written, and the checkpoint saved (one process: whole-model
  safetensors files; a worker: its shards, torch.distributed.checkpoint);
- a second trial, resumed from that checkpoint (as a retried trial, with milestone 2 added to its grid):
  loading again, the checkpoint restored, and milestone 2's work as above.

Batches of 4 x 16 tokens; each evaluated split (300 examples, the built-in size) in one batch of 300, which
the workers share. What the test compares is the weights, gradients and optimizer states of the trunk and
its copies, which do not depend on the length; 16 tokens halve evaluation, the longest part of each
milestone here, against 32. The data are tokenized before any side starts (`study.prepare`), and
every side finds them in the cache (`XSTUDY_REQUIRE_PREPARED`). The tokenizer (whole on every side, about
350 MiB for the 250k vocabulary) is loaded, and BERT's modeling code run once, before the measure starts.

Two figures per side: the peak once the encoder is loaded, sharded and every weight the process holds read
once (`load`: from_pretrained maps the file lazily), and the peak over both runs (`trial`). Asserted: each
worker's `load` and `trial` are each at most 0.65x one process's; no worker reads or writes a whole-model
state (every call of from_pretrained, safetensors' load_file and save_file, torch.load and torch.save is
recorded with its file: a worker's are torch.distributed.checkpoint's shard files, in-memory buffers and the
RNG state only), while the same watch sees the one process's whole-model files; and the checkpoint the 2
workers wrote is DCP shards. Measured: load 0.51x, trial 0.52-0.56x (0.58-0.59x before FSDP phases
trimmed the malloc heap, `study.distributed.trim_host_heap`). BENCHMARKS.md ("Host memory of an FSDP
worker") records the figures.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import time
from pathlib import Path

import pytest
import torch

from test_meta_load import REAL_MODEL, _free_port, _join, _watch_state_files

pytestmark = pytest.mark.slow

LIMIT = 0.65  # a worker's peak over one process's
SIDES = {"single": 1, "fsdp": 2}  # side: processes
CONFIG = {"model": "e5-small", "intermediate_task": "builtin_nli", "seed": 0, "intermediate_lr": 1e-5,
          "target_lr": 1e-5}
RUNS = ([0, 1], [0, 1, 2])  # the step grid of the first run, and of the run resumed from its checkpoint


def _spec(storage: str, steps: list[int], parallelism: str | None = None):
    """The smallest trial that still does every phase (see the module docstring)."""
    from helpers import small_spec

    model = {"name": "e5-small", "source": {"path": str(REAL_MODEL)}, "batch_size": 4, "max_length": 16,
             "steps": steps, **({"parallelism": parallelism} if parallelism else {})}
    return small_spec(storage, models=[model], intermediate_tasks=["builtin_nli"],
                      target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}],
                      intermediate_training={"warmup_steps": 0, "cooldown_fraction": 0.5},
                      target_training={"steps": 1, "batch_size": 4, "eval_batch_size": 300})


def _status(field: str) -> int:
    """A /proc/self/status figure, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> int:
    """Resets VmHWM to the current resident set, and returns that."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def _tokenizer_loaded_once():
    """The model's tokenizer loaded before the measure, and handed out by AutoTokenizer.from_pretrained: it is
    whole on every side (about 350 MiB for a 250k vocabulary), not part of the model's weights. Returned with
    the patch, for the caller to keep it alive to the end on every side, as a trial keeps its encoder's: a side
    that dropped it would free about 200 MiB of heap after the reset, which its training then reuses, so its
    peak would read that much lower."""
    from unittest import mock

    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(REAL_MODEL))
    return tokenizer, mock.patch.object(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: tokenizer)


def _modeling_imported() -> None:
    """BERT's modeling code imported and run once (a tiny model) before the measure, on every side, with what
    either side's trial imports on its way (FSDP, vocabulary-parallel embeddings, torch.distributed.checkpoint,
    the metrics, the results' Parquet writer), so that neither side's peak counts imports."""
    import importlib

    import transformers

    for name in ("torch.distributed.checkpoint", "torch.distributed.fsdp", "study.distributed", "study.vocab_parallel",
                 "study.metrics", "study.results"):
        importlib.import_module(name)
    transformers.BertModel(transformers.BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=8))


def _measuring_load(cls, base: int, figures: dict):
    """The trial class, recording in `figures["load"]` the peak above `base` once its first encoder is loaded
    (and, for FSDP, sharded) and every weight it holds read once."""

    class MeasuredLoad(cls):
        def _load_encoder(self):
            encoder = super()._load_encoder()
            with torch.no_grad():
                sum(float(getattr(p, "to_local", lambda p=p: p)().sum()) for p in encoder.module.parameters())
            gc.collect()
            figures.setdefault("load", _status("VmHWM") - base)
            return encoder

    return MeasuredLoad


def _keeping_checkpoint(milestone: int, into: Path, reported: list):
    """A trial's `report` that moves this process's checkpoint files of `milestone` into `into`: each
    worker's shards land in one folder, as Ray Train puts them (`trainable.train_worker`)."""

    def report(metrics: dict, folder: Path | None) -> None:
        reported.append({k: v for k, v in metrics.items() if k == "intermediate_steps" or k.endswith("_reason")})
        if folder is None or metrics["intermediate_steps"] != milestone:
            return
        for file in [f for f in folder.rglob("*") if f.is_file()]:
            (into / file.relative_to(folder)).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(file, into / file.relative_to(folder))

    return report


def _trial_worker(rank: int, world: int, side: str, port: int, folder: str) -> None:
    import torch.distributed as dist

    from study.cache import REQUIRE_PREPARED_ENV
    from study.distributed import DistributedTrial, Group
    from study.trial import Trial

    if side != "single":
        _join(rank, world, port)
    torch.set_num_threads(1)
    os.environ[REQUIRE_PREPARED_ENV] = "1"  # tokenized before (the test's `prepare`): no side tokenizes
    root = Path(folder) / side
    checkpoint = root / "checkpoint"
    figures: dict = {"calls": [], "reported": []}
    try:
        tokenizer, tokenizer_patch = _tokenizer_loaded_once()  # alive to the end, on every side
        _modeling_imported()
        with tokenizer_patch, _watch_state_files(lambda function, file: figures["calls"].append((function, file))):
            base = _reset_peak()
            start = time.perf_counter()
            report = _keeping_checkpoint(RUNS[0][-1], checkpoint, figures["reported"])
            for steps, resume_from in zip(RUNS, (None, checkpoint)):
                spec = _spec(str(root / "study"), steps, None if side == "single" else "fsdp")
                cls = Trial if side == "single" else DistributedTrial
                group = () if side == "single" else (Group(rank, world, torch.device("cpu")),)
                trial = _measuring_load(cls, base, figures)(spec, CONFIG, "t", *group)
                trial.run(report, resume_from)
                del trial
                gc.collect()
                if side != "single":
                    dist.barrier()  # every worker's shards are in `checkpoint` before any resumes
            figures["trial"] = _status("VmHWM") - base
            figures["seconds"] = time.perf_counter() - start
        figures["base"] = base
        figures["checkpoint"] = sorted(str(f.relative_to(checkpoint)) for f in checkpoint.rglob("*") if f.is_file())
        Path(f"{folder}/figures.{side}.{rank}").write_text(json.dumps(figures))
        del tokenizer
    finally:
        if side != "single":
            dist.destroy_process_group()


def measure(folder: Path) -> dict[str, list[dict]]:
    """{side: [each process's figures]}, one side after the other."""
    import torch.multiprocessing as mp

    from study.prepare import prepare

    prepare(_spec(str(folder / "prepare"), RUNS[-1]))
    figures = {}
    for side, world in SIDES.items():
        mp.spawn(_trial_worker, args=(world, side, _free_port(), str(folder)), nprocs=world)
        figures[side] = [json.loads(Path(f"{folder}/figures.{side}.{r}").read_text()) for r in range(world)]
    return figures


def _whole_state_calls(calls: list) -> list:
    """The (function, file) calls on a file other than torch.distributed.checkpoint's shards, an in-memory
    buffer or the RNG state (`rng.safetensors`, a few KiB)."""
    from study.distributed import SHARDED_CHECKPOINT

    return [(function, file) for function, file in calls if not (
        file.startswith("<") or Path(file).parent.name == SHARDED_CHECKPOINT or Path(file).name == "rng.safetensors")]


def test_an_fsdp_trial_holds_a_share_of_the_host_memory(tmp_path):
    """A whole FSDP trial and its resume, against one process (the module docstring): each worker's peaks at
    most 0.65x, no whole-model file read or written on a worker, and a checkpoint of DCP shards."""
    if not (REAL_MODEL / "model.safetensors").is_file():
        pytest.skip(f"no real model at {REAL_MODEL}")
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pytest.skip("cannot reset the peak resident set here (/proc/self/clear_refs)")
    figures = measure(tmp_path)
    mib = lambda b: f"{b / 2**20:.0f} MiB"  # noqa: E731
    single = figures["single"][0]
    for side, workers in figures.items():
        for rank, f in enumerate(workers):
            print(f"{side} rank {rank}: load {mib(f['load'])} ({f['load'] / single['load']:.2f}x), "
                  f"trial {mib(f['trial'])} ({f['trial'] / single['trial']:.2f}x), {f['seconds']:.0f} s")
    for f in [single, *figures["fsdp"]]:
        assert f["reported"] == [{"intermediate_steps": 1}, {"intermediate_steps": 2}], f["reported"]
    for f in figures["fsdp"]:
        assert f["load"] <= LIMIT * single["load"], figures
        assert f["trial"] <= LIMIT * single["trial"], figures
        assert _whole_state_calls(f["calls"]) == [], f["calls"]
        # The watch saw the worker write its shards and read them back on resume.
        assert {"torch.save", "torch.load"} <= {function for function, file in f["calls"] if "trunk-dcp" in file}
    # The same watch sees what one process reads and writes whole.
    assert {"from_pretrained", "save_file", "load_file"} <= {function for function, _ in _whole_state_calls(single["calls"])}
    assert figures["fsdp"][0]["checkpoint"] == ["rng.safetensors", "trunk-dcp/.metadata", "trunk-dcp/__0_0.distcp",
                                                "trunk-dcp/__1_0.distcp", "trunk.json"]


def _trim_worker(_rank: int, port: int, out: str) -> None:
    """Frees 64 blocks of 4 MiB kept apart by smaller live ones (256 KiB), as a worker's freed buffers and
    copies are, after glibc raised its mapping threshold above their size (an 8 MiB block freed); then runs
    an FSDP phase (no steps; run once before, so that what its first run loads is not counted). Writes the
    resident set the freed blocks left before and after it, in bytes."""
    import contextlib

    import torch.distributed as dist

    from study.distributed import DataParallelPhase, Group

    _join(0, 1, port)
    try:
        module = torch.nn.Linear(2, 2)
        cpu = torch.device("cpu")
        phase = DataParallelPhase(encoder=module, heads={}, formats={}, streams={},
                                  optimizer=torch.optim.SGD(module.parameters()), lr_at=lambda step: 0.0,
                                  max_grad_norm=1.0, pad_id=0, device=cpu, autocast=contextlib.nullcontext(),
                                  group=Group(0, 1, cpu), parallelism="fsdp")
        phase.run(0)
        block = 2**20  # floats: 4 MiB
        freed = torch.ones(2 * block)
        del freed
        before = _status("VmRSS")
        pairs = [(torch.ones(block), torch.ones(block // 16)) for _ in range(64)]
        kept = [small for _, small in pairs]
        del pairs
        gc.collect()
        left = {"freed": _status("VmRSS") - before}
        phase.run(0)
        left["after an FSDP phase"] = _status("VmRSS") - before
        Path(out).write_text(json.dumps(left))
        del kept
    finally:
        dist.destroy_process_group()


def test_an_fsdp_phase_hands_freed_heap_back_to_the_host(tmp_path):
    """`trim_host_heap`, before each FSDP phase: 256 MiB of freed 4 MiB blocks that glibc kept resident (what
    a worker's peak counted before) leave the resident set; the 16 MiB still live stay."""
    import torch.multiprocessing as mp

    if not Path("/proc/self/status").is_file():
        pytest.skip("no /proc/self/status here")
    out = tmp_path / "left.json"
    mp.spawn(_trim_worker, args=(_free_port(), str(out)), nprocs=1)
    left = json.loads(out.read_text())
    print({k: f"{v / 2**20:.0f} MiB" for k, v in left.items()})
    if left["freed"] < 128 * 2**20:
        pytest.skip(f"this malloc hands freed blocks back by itself ({left})")
    assert left["after an FSDP phase"] < 32 * 2**20, left
