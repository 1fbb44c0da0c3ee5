"""Measure what `study.memory_plan` estimates: the peak of allocated tensor bytes of intermediate-training steps
on every worker, on CPU with gloo, so the plan can be checked without a GPU.

Each worker is a process (`torch.multiprocessing` spawn) in a gloo process group. It builds an XLM-R
encoder of the architecture with a classification head, places it as a trial does (`study.distributed`:
DDP with the trial's wrapper settings, or `FullySharded`, FSDP2), and runs a few steps in `Phase.run`'s
order (forward, `zero_grad(set_to_none=True)`, backward, gradient clipping, AdamW from `study.train.adamw`).
The CPU allocator reports every allocation and free to the profiler (`profile_memory=True`), storage
resizes included (FSDP2 frees its unsharded parameters by resizing their storage to 0); the peak is the
largest running sum over the steps, on top of the tensors already live when profiling starts. This is what
`torch.cuda.max_memory_allocated` measures on a GPU, without the caching allocator's rounding.
"""

from __future__ import annotations

import gc
import os
import socket
from dataclasses import asdict
from typing import Any

import torch

from study.memory_plan import Architecture, Setting


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _live_bytes(module: torch.nn.Module) -> int:
    """Bytes of the module's parameters and buffers (local shards for DTensors), each storage once."""
    seen: dict[int, int] = {}
    for t in [*module.parameters(), *module.buffers()]:
        local = t.to_local() if hasattr(t, "to_local") else t
        storage = local.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def _peak_of(prof) -> int:
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for e in events:
        current += e.nbytes()
        peak = max(peak, current)
    return peak


def _measure(a: Architecture, s: Setting, steps: int, rank: int) -> int:
    from torch import nn
    from torch.profiler import ProfilerActivity, profile
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from study.distributed import FullySharded
    from study.train import adamw

    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                              num_attention_heads=a.heads, intermediate_size=a.intermediate,
                              max_position_embeddings=a.max_positions, type_vocab_size=a.type_vocab)
    encoder = XLMRobertaModel(config, add_pooling_layer=False)
    if s.gradient_checkpointing:
        encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    head = nn.Linear(a.hidden, 3)
    b = s.per_worker(s.batch_size)
    g = torch.Generator().manual_seed(rank)
    batches = [(torch.randint(5, a.vocab, (b, s.max_length), generator=g), torch.randint(0, 3, (b,), generator=g))
               for _ in range(steps)]
    if s.parallelism == "fsdp":
        sharded = FullySharded(torch.device("cpu"), s.precision)
        sharded.place(encoder)
        sharded.place(head)
    gc.collect()
    base = _live_bytes(encoder) + _live_bytes(head)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model, top = encoder, head
        if s.parallelism == "ddp":
            import inspect

            from torch.nn.parallel import DistributedDataParallel as DDP

            # As study.distributed.DataParallelPhase wraps a trial's modules (no buffer sync before a forward).
            sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters else "broadcast_buffers"
            model, top = DDP(encoder, **{sync: False}), DDP(head, **{sync: False})
        optimizer = adamw([encoder, head], 1e-4, 0.01)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for input_ids, labels in batches:
            hidden = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).last_hidden_state
            loss = nn.functional.cross_entropy(top(hidden[:, 0]), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
    peak = base + _peak_of(prof)
    del prof, optimizer, model, top, encoder, head
    gc.collect()
    return peak


def _worker(rank: int, world: int, port: int, arch: dict[str, Any], settings: list[dict[str, Any]], steps: int,
            out) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    peaks = [_measure(Architecture(**arch), Setting(**setting), steps, rank) for setting in settings]
    out.put((rank, peaks))
    dist.barrier()
    dist.destroy_process_group()


def measured_peaks(arch: Architecture, settings: list[Setting], steps: int = 2) -> list[list[int]]:
    """Per setting, the peak allocated tensor bytes of each gloo worker over `steps` training steps (two: the
    second holds AdamW's state and the first step's gradients). The settings run one after the other in the
    same workers (one start for all), and must agree on the number of workers."""
    import torch.multiprocessing as mp

    workers = {s.workers for s in settings}
    if len(workers) != 1 or any(s.parallelism not in ("ddp", "fsdp") for s in settings):
        raise ValueError("measured_peaks runs DDP or FSDP settings that share one number of workers, got "
                         f"{[(s.parallelism, s.workers) for s in settings]}")
    (world,) = workers
    out = mp.get_context("spawn").Queue()
    env = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        procs = mp.start_processes(_worker, args=(world, _free_port(), asdict(arch), [asdict(s) for s in settings], steps, out),
                                   nprocs=world, join=False, start_method="spawn")
        peaks = dict(out.get(timeout=900) for _ in range(world))
        procs.join()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return [[peaks[r][i] for r in range(world)] for i in range(len(settings))]
