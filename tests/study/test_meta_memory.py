"""Host memory of an FSDP worker that loads its encoder from the meta device (`load_empty_encoder`,
`FullySharded.place_pretrained`), against one process that loads and trains the same model whole.

Measured over the real multilingual-e5-small (118M parameters, fp32; its word embeddings are 96M of them),
each in a fresh spawned process with one thread: the peak resident set (VmHWM, reset with
`echo 5 > /proc/self/clear_refs` once the imports are done, and the process group joined) above the
resident set at that moment. The work, the same code for every side except the load:

- `single`: one process, as a single-process trial: `load_encoder` (from_pretrained), then 3 AdamW steps on
  a batch of 8 x 64 tokens (loss: the mean square of the last hidden state);
- `fsdp-full` (before): 2 gloo workers, each `load_encoder` then `FullySharded.place`, then the 3 steps on
  its 4 rows of each batch;
- `fsdp-meta` (now): 2 gloo workers, each `load_empty_encoder` then `FullySharded.place_pretrained` (with
  every whole-model reader patched to fail), then the same 3 steps.

The tokenizer (whole on every side, about 350 MiB for the 250k vocabulary) is loaded, and BERT's modeling code
run once, before the measure starts. Two figures per side: the peak after loading, sharding and reading every
weight the process holds once (`load`: from_pretrained maps the file lazily), and the peak over the whole
run (`train`). Asserted: each `fsdp-meta` worker's `load` and `train` are each at most 0.65x of `single`'s
(measured: load 0.51x, `fsdp-full` 1.02x; train 0.56-0.58x, `fsdp-full` 0.56-0.58x). Training gets there
because the word embeddings are sharded by vocabulary rows and never gathered (`study.vocab_parallel`);
while FSDP kept them in its root unit, all-gathered whole at every forward with a whole gradient until the
reduce-scatter, a worker's training peak was 0.76-0.78x one process's. BENCHMARKS.md ("Host memory of an
FSDP worker") records the figures.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
import torch

from test_meta_load import REAL_MODEL, _free_port, _join, _refuse_full_loads

pytestmark = pytest.mark.slow

STEPS, ROWS, TOKENS = 3, 8, 64
LIMIT = 0.65  # a worker's peak over one process's


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
    that dropped it (`load_encoder(spec).module` drops the Encoder that holds it) would free about 200 MiB of
    heap after the reset, which its training then reuses, so its peak would read that much lower."""
    from unittest import mock

    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(REAL_MODEL))
    return tokenizer, mock.patch.object(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: tokenizer)


def _modeling_imported():
    """BERT's modeling code imported and run once (a tiny model) before the measure, on every side."""
    import contextlib

    import transformers

    transformers.BertModel(transformers.BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=8))
    return contextlib.nullcontext()


def _memory_worker(rank: int, world: int, mode: str, port: int, out: str) -> None:
    import torch.distributed as dist

    from study.distributed import FullySharded, shard_bounds
    from study.model import load_empty_encoder, load_encoder
    from study.spec import ModelSpec

    if mode != "single":
        _join(rank, world, port)
    torch.set_num_threads(1)
    try:
        spec = ModelSpec(name="m", source={"path": str(REAL_MODEL)}, steps=[0])
        g = torch.Generator().manual_seed(0)
        batches = [torch.randint(5, 250000, (ROWS, TOKENS), generator=g) for _ in range(STEPS)]
        tokenizer, tokenizer_patch = _tokenizer_loaded_once()  # alive to the end, on every side
        with tokenizer_patch, _modeling_imported():
            base = _reset_peak()
            if mode == "single":
                module = load_encoder(spec).module
            elif mode == "fsdp-full":
                module = FullySharded(torch.device("cpu"), "fp32").place(load_encoder(spec).module)
            else:
                with _refuse_full_loads():
                    encoder = load_empty_encoder(spec)
                    assert encoder is not None
                    module = FullySharded(torch.device("cpu"), "fp32").place_pretrained(encoder.module, encoder.weights)
        with torch.no_grad():  # every weight this process holds read once (from_pretrained maps the file lazily)
            sum(float(getattr(p, "to_local", lambda p=p: p)().sum()) for p in module.parameters())
        gc.collect()
        load = _status("VmHWM") - base
        module.train()
        optimizer = torch.optim.AdamW(module.parameters(), lr=1e-5)
        lo, hi = shard_bounds(ROWS, rank, world)
        for ids in batches:
            ids = ids[lo:hi]
            loss = module(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.pow(2).mean()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        train = _status("VmHWM") - base
        Path(f"{out}.{mode}.{rank}").write_text(json.dumps({"load": load, "train": train, "base": base}))
        del tokenizer
    finally:
        if mode != "single":
            dist.destroy_process_group()


def measure(folder: Path) -> dict[str, list[dict[str, int]]]:
    """{mode: [each worker's figures]} for the three sides."""
    import torch.multiprocessing as mp

    figures = {}
    for mode, world in (("single", 1), ("fsdp-full", 2), ("fsdp-meta", 2)):
        out = str(folder / "rss")
        mp.spawn(_memory_worker, args=(world, mode, _free_port(), out), nprocs=world)
        figures[mode] = [json.loads(Path(f"{out}.{mode}.{r}").read_text()) for r in range(world)]
    return figures


def test_an_fsdp_worker_holds_a_share_of_the_host_memory(tmp_path):
    if not (REAL_MODEL / "model.safetensors").is_file():
        pytest.skip(f"no real model at {REAL_MODEL}")
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pytest.skip("cannot reset the peak resident set here (/proc/self/clear_refs)")
    figures = measure(tmp_path)
    mib = lambda b: f"{b / 2**20:.0f} MiB"  # noqa: E731
    single = figures["single"][0]
    for mode, workers in figures.items():
        for rank, f in enumerate(workers):
            print(f"{mode} rank {rank}: load {mib(f['load'])} ({f['load'] / single['load']:.2f}x), "
                  f"train {mib(f['train'])} ({f['train'] / single['train']:.2f}x)")
    for f in figures["fsdp-meta"]:
        assert f["load"] <= LIMIT * single["load"], figures
        assert f["train"] <= LIMIT * single["train"], figures
