"""Kept as one module: the multi-worker trial (placement, data shards, fully sharded parameters, the shared
forward) is one protocol between workers, each part relying on the others' layout of shards; about 40 lines are
the docstring that describes it.

A trial over several workers: a Ray Train job (`TorchTrainer`) inside its Ray Tune trial.

A model size runs this way when `resources.workers > 1`, or when its `parallelism` is set explicitly (then
also with one worker, e.g. to compare with it); otherwise its trial stays one process (`study.trial`).

- **The Tune trial is a driver.** `trainable.run_in_tune` calls `trainable.run_in_train`, which starts a `TorchTrainer` with
  the size's workers and waits for it. The trial itself reserves no CPU or GPU (`study.resources`), only a
  little memory: the workers' resources are reserved by Train's own placement group, all at once, so a trial
  waiting for its workers holds nothing another trial needs, and trials cannot deadlock. `launch` limits
  how many trials run at once (`resources.concurrency_limit`), so drivers do not pile up waiting.
- **Data parallel over the workers.** Every worker draws the same global batch of `batch_size` examples
  from the same seeded stream, in the single-process order, and trains on its contiguous share of it
  (`shard_bounds`: sizes differ by at most one). Gradients are averaged by DDP (gloo on CPU, nccl on GPU)
  or reduce-scattered by FSDP2 (`parallelism: fsdp`); each shard's loss is weighted by its share of the
  batch, so the update is that of the whole global batch, as in one process. The loss each step records
  (and checks for NaN) is the global batch's, the same on every worker, so all stop together.
- **Every worker does the milestone work**, in step, with the single-process code (`Trial.run`) through
  its hooks (`DistributedTrial`): the cooldown branch and each target's fine-tuning are data parallel like
  the trunk, and evaluation shares each batch's rows among the workers and gathers their outputs
  (`SharedForward`), so each worker computes 1/world of every phase. Rank 0 alone writes rows, predictions,
  records and checkpoint files; a value read from storage (metrics recorded before a crash) is broadcast
  from rank 0, so all take the same path. Every worker calls `ray.train.report` once per milestone, rank 0
  with the metrics and the checkpoint, which Train forwards to Tune (`TuneReportCallback`), so ASHA sees
  the same metrics. The Train run is named after the Tune trial and stored under the study's storage, so a
  retried or resumed trial starts its Train run again under that name and Train hands every worker the
  latest checkpoint. As `tune.report` in one process, rank 0 waits after each report until Tune has
  decided to let the trial go on (`trainable.blocking_tune_report`), so a trial ASHA stops writes nothing
  past its rung (docs/ray.md).
- **FSDP** (`parallelism: fsdp`, for models one GPU cannot train): the encoder and heads are sharded in
  place as they are placed (every transformer layer, then each module whole; the input word embeddings by
  vocabulary rows, never gathered: `study.vocab_parallel`), and stay sharded through
  every phase: a cooldown branch or a target's encoder is a sharded copy built from a meta-device skeleton
  (`FullySharded.clone`), so no worker's device holds more than its shards of any copy. A checkpoint is
  sharded too (`SHARDED_CHECKPOINT`, torch.distributed.checkpoint): each worker writes and reads only its
  own shards of the trunk and optimizer, on any number of workers. Nor does a worker's host hold the whole
  pretrained model: the encoder is built on the meta device, sharded, and each worker reads only its rows
  of every parameter from the safetensors files (`FullySharded.place_pretrained`; a model without
  safetensors is loaded whole, then sharded), and what a worker frees leaves its host: its malloc heap is
  trimmed before each phase (`trim_host_heap`).
- **Costs.** Examples and tokens are summed over the workers (the global batch's), seconds are the
  slowest worker's wall time, and accelerator seconds are wall seconds x GPUs x workers.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from study import state_io, storage
from study.model import Encoder, PretrainedWeights, autocast, load_empty_encoder
from study.spec import ModelSpec, StudySpec
from study.train import Cost, Phase
from study.evaluate import OnDevice
from study.trial import Trial
# The resource policy lives in study.resources. These names stay importable from here: the pickled experiment
# state of a study started before they moved names them in this module, and `xstudy resume` unpickles it.
from study import resources as _resources

DRIVER_MEMORY, driver_resources, uses_train = _resources.DRIVER_MEMORY, _resources.driver_resources, _resources.uses_train

# Token heads return nn.Linear's output, a view; FSDP2 warns at every forward in case it is changed in place,
# which no format does.
warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module .* returned a view tensor")

SHARDED_CHECKPOINT = "trunk-dcp"  # an FSDP trial's checkpoint folder: torch.distributed.checkpoint shards
READ_BYTES = 32 * 1024**2  # bytes: the most an FSDP worker reads from a pretrained file at once (place_pretrained)


def parallelism_of(model: ModelSpec) -> str:
    return model.parallelism or "ddp"


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """This worker's contiguous share [lo, hi) of a global batch of n rows; sizes differ by at most one."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


# ------------------------------------------------------------------------------------------ the workers
@dataclass
class Group:
    """This worker's place in the Train job."""

    rank: int
    world: int
    device: torch.device

    @property
    def comm_device(self) -> torch.device:
        """Where tensors for collectives live: the GPU with nccl, the CPU with gloo."""
        return self.device if dist.is_initialized() and dist.get_backend() == "nccl" else torch.device("cpu")

    def all_reduce(self, values: list[float], op=None) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.comm_device)
        dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
        return t.tolist()


class _ShardedFormat:
    """A task format seen by one worker during data-parallel steps: this worker's share of each global
    batch, the loss through the parallel wrappers, weighted so that the average over workers is the global
    batch's loss, and with the global loss as its value (the gradient stays this shard's)."""

    def __init__(self, base, phase: DataParallelPhase):
        self.base = base
        self.phase = phase
        self.factor = 1.0

    def __getattr__(self, name: str):
        return getattr(self.base, name)

    def collate(self, rows, pad_id: int) -> dict[str, torch.Tensor]:
        group = self.phase.group
        n = len(rows["input_ids"])
        lo, hi = shard_bounds(n, group.rank, group.world)
        self.factor = (hi - lo) * group.world / n
        return self.base.collate({k: v[lo:hi] for k, v in rows.items()}, pad_id)

    def loss(self, encoder: nn.Module, head: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        wrapped = self.phase.wrapped
        local = self.base.loss(wrapped.get(id(encoder), encoder), wrapped.get(id(head), head), batch) * self.factor
        total = local.detach().float().reshape(1).to(self.phase.group.comm_device)
        dist.all_reduce(total)
        value = (total / self.phase.group.world).to(local.device).reshape(local.shape).to(local.dtype)
        return local + (value - local.detach())


@dataclass
class DataParallelPhase(Phase):
    """A Phase whose steps run data parallel over the Train workers.

    With DDP its modules are plain (the same on every worker) and wrapped here, for its steps only; with
    FSDP they are sharded already (`FullySharded.place`) and run as they are.
    """

    group: Group | None = None
    parallelism: str = "ddp"
    rng_seed: int = 0

    def __post_init__(self) -> None:
        self.wrapped: dict[int, nn.Module] = {}
        if self.parallelism != "ddp":
            return
        import inspect

        from torch.nn.parallel import DistributedDataParallel as DDP

        kwargs: dict[str, Any] = {"device_ids": [self.device.index] if self.device.type == "cuda" else None}
        # Buffers (position ids) are constant: no broadcast before every forward (the argument's name changed
        # in torch 2.13).
        sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters else "broadcast_buffers"
        kwargs[sync] = False
        for module in [self.encoder, *self.heads.values()]:
            if module is not None and any(p.requires_grad for p in module.parameters()):
                self.wrapped[id(module)] = DDP(module, **kwargs)

    def run(self, n_steps: int) -> Cost:
        if self.parallelism == "fsdp":
            trim_host_heap()  # what earlier phases freed, before this one's optimizer state and buffers
        formats = self.formats
        self.formats = {name: _ShardedFormat(f, self) for name, f in formats.items()}
        try:
            with self._rng():
                cost = super().run(n_steps)
        finally:
            self.formats = formats
        examples, tokens, pairs = self.group.all_reduce([cost.examples, cost.tokens, cost.pairs])
        (seconds,) = self.group.all_reduce([cost.seconds], dist.ReduceOp.MAX)
        return Cost(steps=cost.steps, examples=int(examples), tokens=int(tokens), seconds=seconds, pairs=int(pairs))

    def _rng(self):
        """Rank 0 draws dropout from the trial's own random stream; the others from streams of their own,
        seeded by (seed, step, rank), so their masks are independent of rank 0's and resume exactly."""
        if self.group.rank == 0:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(state_io.forked_rng(self.device))
        torch.manual_seed((self.rng_seed * 1_000_003 + self.step) * 1_009 + self.group.rank)
        return stack


# ------------------------------------------------------------------------------------------------ FSDP
def trim_host_heap() -> None:
    """Hands back to the system the host memory glibc's malloc holds freed (`malloc_trim(0)`); nothing
    without glibc.

    glibc serves blocks under its mapping threshold from its heap, and raises that threshold, up to 32 MiB,
    to the size of each mapped block freed; what is freed in the heap stays resident until trimmed. An FSDP
    worker frees many blocks of that size: each layer's all-gathered weights and whole gradient, a copy's
    shards and optimizer state, evaluation's activations. Over a whole trial of multilingual-e5-small on 2
    gloo workers (tests/study/test_meta_memory.py), 550-680 MiB of freed heap was still resident at a
    worker's peak (the first step of a target's fine-tuning), which read 0.58-0.61x one process's; trimmed
    before each phase, 0.52-0.56x. A phase then maps its buffers' pages afresh, once: here about 1 CPU second
    per worker (4 steps took 7.0-7.8 CPU seconds instead of 6.3-6.8), which a phase of hundreds of steps
    does not notice. Mapping every block from 1 MiB apart instead (`mallopt(M_MMAP_THRESHOLD)`) reached
    0.51-0.52x, but its page faults at every step took 50-65% more CPU per step and per evaluation."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return  # not glibc (musl, macOS): its allocator keeps no such heap to hand back
    trim(0)


class FullySharded:
    """FSDP2 for one trial's modules: every transformer layer (each `nn.ModuleList` member, as XLM-R's
    `encoder.layer` and mT5's `block`; the outermost only, not mT5's `block.i.layer`) and each module as a
    whole are sharded over the workers, in place. With more than one worker the input word embeddings
    (most of a multilingual encoder's parameters) are left out of FSDP's root unit, which would gather them
    whole at every step, and sharded by vocabulary rows instead (`study.vocab_parallel`): the same
    `Shard(0)` DTensor on the same mesh, so everything below treats them as any other parameter.

    The pretrained encoder is sharded while still empty and each worker reads its own rows from the
    safetensors files (`place_pretrained`); a head, or an encoder loaded whole, is sharded as it is (`place`).
    FSDP2 modules refuse `copy.deepcopy`, so a copy (a cooldown branch, a target's encoder) is built from a
    skeleton of the module on the meta device (no memory), sharded the same way, materialised and filled
    with the source's local shards: no worker ever holds more than its shards.
    """

    def __init__(self, device: torch.device, precision: str):
        from torch.distributed.fsdp import MixedPrecisionPolicy

        self.device = device
        self.policy = MixedPrecisionPolicy()
        if precision == "bf16":  # bf16 compute and all-gathers; fp32 master weights and gradient reduction
            self.policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        self.skeletons: weakref.WeakKeyDictionary[nn.Module, nn.Module] = weakref.WeakKeyDictionary()
        self._mesh = None

    @property
    def mesh(self):
        """One 1-D mesh over all workers for every module this object shards, FSDP's units and the
        vocabulary-parallel embeddings alike: DTensors on one mesh mix in clip_grad_norm_ and the optimizer."""
        if self._mesh is None:
            from torch.distributed.device_mesh import init_device_mesh

            self._mesh = init_device_mesh(self.device.type, (dist.get_world_size(),))
        return self._mesh

    def _shard(self, module: nn.Module) -> None:
        """The input embeddings sharded by vocabulary rows and never gathered (`study.vocab_parallel`, with more
        than one worker), then every transformer layer and the module's remaining parameters by FSDP."""
        from torch.distributed.fsdp import fully_shard
        from transformers.utils.output_capturing import _CAN_RECORD_REGISTRY

        from study.vocab_parallel import shard_input_embeddings

        # transformers finds what a model records (output_hidden_states) by its class's name, and FSDP2
        # swaps each sharded module's class for a subclass (FSDPXLMRobertaModel): register it under that too.
        recorded = [(sub, _CAN_RECORD_REGISTRY.get(sub)) for sub in module.modules()]
        ignored = shard_input_embeddings(module, self.mesh, self.device, self.policy.param_dtype) or None
        layers = [layer for sub in module.modules() if isinstance(sub, nn.ModuleList) for layer in sub]
        # The outermost ones only: a layer inside another (mT5's block.i.layer.j in block.i) is its part.
        inner = {id(m) for layer in layers for m in layer.modules() if m is not layer}
        for layer in layers:
            if id(layer) not in inner:
                fully_shard(layer, mesh=self.mesh, mp_policy=self.policy, ignored_params=ignored)
        # Moves the shards to the mesh's device.
        fully_shard(module, mesh=self.mesh, mp_policy=self.policy, ignored_params=ignored)
        for sub, can_record in recorded:
            if can_record:
                _CAN_RECORD_REGISTRY[sub] = can_record

    def place(self, module: nn.Module) -> nn.Module:
        """Shards a whole module in place (a head, or an encoder `load_encoder` loaded); a module placed
        already (`place_pretrained`) is left as it is."""
        if module in self.skeletons:
            return module
        self.skeletons[module] = _meta_copy(module)
        self._shard(module)
        return module

    def place_pretrained(self, module: nn.Module, weights: PretrainedWeights) -> nn.Module:
        """Shards an empty module (`load_empty_encoder`: parameters on the meta device, buffers real) as
        `place` does, materialises it, and fills this worker's shards from the pretrained safetensors files.

        FSDP2 shards every parameter on dim 0 (`Shard(0)`) in chunks of ceil(rows / world): rank r owns rows
        [r*c, min((r+1)*c, rows)), and reads only those (`safe_open(...).get_slice(key)[lo:hi]`, at most
        `READ_BYTES` at a time, so that the rows read never double a large shard such as the word
        embeddings'), cast to the module's dtype. Buffers (not sharded) are the checkpoint's where it holds them, else those the
        module's constructor made, kept aside because `to_empty` replaces them too."""
        from torch.distributed.tensor import Shard

        buffers = {name: b.detach().clone() for name, b in module.named_buffers()}
        self.skeletons[module] = _meta_copy(module)
        self._shard(module)
        module.to_empty(device=self.device)
        with torch.no_grad():
            for name, b in module.named_buffers():
                b.copy_(weights.rows(name) if name in weights else buffers[name])
            for name, p in module.named_parameters():
                if p.placements != (Shard(0),):
                    raise ValueError(f"{name}: placements {p.placements}, expected (Shard(0),)")
                rows, world, rank = p.shape[0], p.device_mesh.size(), p.device_mesh.get_local_rank()
                chunk = -(-rows // world)
                lo, hi = min(rank * chunk, rows), min((rank + 1) * chunk, rows)
                local = p.to_local()
                if local.shape[0] != hi - lo:
                    raise ValueError(f"{name}: local shard of {local.shape[0]} rows, expected rows [{lo}, {hi})")
                # A few rows at a time: the rows read are a temporary beside the shard they go to.
                step = max(1, READ_BYTES // max(1, local[0].numel() * local.element_size())) if hi > lo else 1
                for a in range(lo, hi, step):
                    b = min(a + step, hi)
                    local[a - lo:b - lo].copy_(weights.rows(name, a, b))
        return module

    @staticmethod
    def reshard(module: nn.Module | None) -> None:
        """Back to shards only: FSDP2 keeps the root's parameters whole after a forward with no backward
        (evaluation) until the next backward."""
        from torch.distributed.fsdp import FSDPModule

        for sub in module.modules() if module is not None else []:
            if isinstance(sub, FSDPModule):
                sub.reshard()

    def clone(self, module: nn.Module) -> nn.Module:
        self.reshard(module)
        skeleton = self.skeletons[module]
        copied = copy.deepcopy(skeleton)
        self._shard(copied)
        copied.to_empty(device=self.device)
        with torch.no_grad():
            for mine, theirs in zip(copied.parameters(), module.parameters(), strict=True):
                mine.copy_(theirs)  # DTensors with the same placements: a local copy of the shard
            for mine, theirs in zip(copied.buffers(), module.buffers(), strict=True):
                mine.copy_(theirs)  # not sharded; to_empty left them uninitialised
        self.skeletons[copied] = skeleton
        return copied


def _meta_copy(module: nn.Module) -> nn.Module:
    """The module's structure with every parameter and buffer on the meta device (tied ones stay tied)."""
    memo: dict[int, Any] = {}
    for t in [*module.parameters(), *module.buffers()]:
        meta = torch.empty_like(t, device="meta")
        memo[id(t)] = nn.Parameter(meta, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else meta
    return copy.deepcopy(module, memo)


def _index_keyed(state: dict[str, Any]) -> dict[str, Any]:
    """An optimizer state keyed by parameter names (torch.distributed.checkpoint's) keyed by index, as
    `optimizer.state_dict()` is and the checkpoint files are."""
    names = [n for g in state["param_groups"] for n in g["params"]]
    index = {n: i for i, n in enumerate(names)}
    groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[n] for n in g["params"]]}
              for g in state["param_groups"]]
    return {"state": {index[n]: s for n, s in state["state"].items()}, "param_groups": groups}


def _name_keyed(state: dict[str, Any], container: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The inverse of `_index_keyed`, with the names of the optimizer's parameters in `container`."""
    name_of = {id(p): n for n, p in container.named_parameters()}
    names = [name_of[id(p)] for g in optimizer.param_groups for p in g["params"]]
    groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [names[i] for i in g["params"]]}
              for g in state["param_groups"]]
    return {"state": {names[i]: s for i, s in state["state"].items()}, "param_groups": groups}


# ----------------------------------------------------------------------------------------- evaluation
class SharedForward(OnDevice):
    """An encoder that evaluates on all workers at once: each call runs this worker's share of the batch's
    rows (`shard_bounds`) and gathers every worker's outputs, so that each worker sees the whole batch's.

    Every worker scores the same splits in the same batches, so all call the model equally often, as FSDP's
    collectives need, while each computes 1/world of the rows. Heads (small) run on the whole batch.
    """

    def __init__(self, encoder: nn.Module, group: Group):
        super().__init__(encoder, group.device)
        self.group = group

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs):
        from transformers.modeling_outputs import BaseModelOutput

        n = input_ids.shape[0]
        lo, hi = shard_bounds(n, self.group.rank, self.group.world)
        rows = slice(lo, hi) if hi > lo else slice(0, 1)  # an empty share still joins the collectives
        out = super().forward(input_ids[rows], attention_mask[rows], **kwargs)
        hidden = out.hidden_states
        return BaseModelOutput(
            last_hidden_state=self._gather(out.last_hidden_state, n),
            hidden_states=tuple(self._gather(h, n) for h in hidden) if hidden is not None else None,
        )

    def _gather(self, local: torch.Tensor, n: int) -> torch.Tensor:
        """Every worker's rows of a (rows, ...) output, in rank order: n rows."""
        group, size = self.group, -(-n // self.group.world)  # shares padded to the largest, as all_gather needs
        wire = local.to(group.comm_device)
        if dist.get_backend() == "gloo" and wire.dtype not in (torch.float32, torch.float64):
            wire = wire.float()  # gloo gathers no bf16
        padded = wire.new_zeros((size, *wire.shape[1:]))
        lo, hi = shard_bounds(n, group.rank, group.world)
        padded[: hi - lo] = wire[: hi - lo]
        parts = [torch.empty_like(padded) for _ in range(group.world)]
        dist.all_gather(parts, padded)
        kept = [part[: b - a] for r, part in enumerate(parts) for a, b in [shard_bounds(n, r, group.world)]]
        return torch.cat(kept).to(local.device, local.dtype)


# -------------------------------------------------------------------------------------------- the trial
class DistributedTrial(Trial):
    """The trial recipe on one Train worker. Every worker runs `Trial.run` in step with the others: its
    phases (trunk, cooldown branch, target fine-tuning) are data parallel, its evaluation shares each batch
    (`SharedForward`); with FSDP its modules are sharded throughout. Rank 0 alone writes files."""

    def __init__(self, spec: StudySpec, config: dict[str, Any], trial_id: str, group: Group, node: str | None = None):
        super().__init__(spec, config, trial_id, node=node)
        self.group = group
        self.parallelism = parallelism_of(self.model_spec)
        if self.device.type == "cuda":
            self.device = group.device
            self.autocast = autocast(self.model_spec.precision, self.device)
        self.group.device = self.device
        self.gpus = group.world if self.device.type == "cuda" else 0  # accelerator-seconds: wall x GPUs x workers
        self.writer = group.rank == 0
        self.examples_per_step_share = group.world  # each worker trains on 1/world of a step's examples
        self.sharded = FullySharded(self.device, self.model_spec.precision) if self.parallelism == "fsdp" else None
        # With DDP every worker reads the whole-model files itself; with FSDP the checkpoint is sharded (DCP).
        self.reads_full_state = self.sharded is None

    def _load_encoder(self) -> Encoder:
        """FSDP: the encoder built empty and each worker's shards read from the safetensors files
        (`FullySharded.place_pretrained`); without FSDP, or without safetensors, loaded whole."""
        if self.sharded is not None:
            encoder = load_empty_encoder(self.model_spec)
            if encoder is not None:
                self.sharded.place_pretrained(encoder.module, encoder.weights)
                encoder.weights = None
                return encoder
        return super()._load_encoder()

    def _place(self, module):
        if module is None or self.sharded is None:
            return super()._place(module)
        return self.sharded.place(module)

    def _clone(self, module):
        return super()._clone(module) if self.sharded is None else self.sharded.clone(module)

    def _new_phase(self, rng_seed: int, **fields: Any) -> Phase:
        return DataParallelPhase(**fields, **self._progress_hooks(), group=self.group, parallelism=self.parallelism,
                                 rng_seed=rng_seed)

    def _for_scoring(self, encoder):
        return SharedForward(encoder, self.group)

    def _score(self, data, encoder, head):
        score = super()._score(data, encoder, head)
        if self.sharded is not None:
            self.sharded.reshard(encoder)
            self.sharded.reshard(head)
        return score

    def _agree(self, value):
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def _save_trunk(self, folder: Path) -> None:
        """FSDP: every worker writes its own shards of the trunk's weights and optimizer state with
        torch.distributed.checkpoint, under `folder/trunk-dcp/` (`__RANK_0.distcp`, and rank 0 the
        `.metadata`): nothing is gathered, and no worker holds more than its shards. Each worker reports its
        folder to Train, which puts all of them in one checkpoint directory (trainable.train_worker)."""
        if self.sharded is None:
            return super()._save_trunk(folder)
        import torch.distributed.checkpoint as dcp

        dcp.save(self._sharded_state(), checkpoint_id=str(folder / SHARDED_CHECKPOINT))

    def _restore_trunk(self, folder: Path) -> None:
        """FSDP: each worker reads the slices it owns from the sharded checkpoint. DCP reshards on load, so a
        checkpoint written by N workers is read by any number of workers (tested with 2 and 1)."""
        if self.sharded is None:
            return super()._restore_trunk(folder)
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import set_state_dict

        if not (folder / SHARDED_CHECKPOINT).is_dir():
            raise FileNotFoundError(f"{folder}: no sharded checkpoint ({SHARDED_CHECKPOINT}/); an FSDP trial resumes only "
                                    "from its own checkpoints")
        state = self._sharded_state()
        dcp.load(state, checkpoint_id=str(folder / SHARDED_CHECKPOINT))
        container, optimizer = self._container()
        set_state_dict(container, optimizer or [], model_state_dict=state["model"],
                       optim_state_dict=state.get("optimizer", {}))

    def _container(self):
        optimizer = self.phase.optimizer if self.phase is not None else None
        return nn.ModuleDict(self._trunk_modules()), optimizer

    def _sharded_state(self) -> dict[str, Any]:
        """The trunk's state as this worker's shards (DTensors), keyed by parameter name."""
        from torch.distributed.checkpoint.state_dict import get_state_dict

        container, optimizer = self._container()
        weights, optimizer_state = get_state_dict(container, optimizer or [])
        return {"model": weights, **({"optimizer": optimizer_state} if optimizer is not None else {})}

    def _full_state(self, modules, optimizer):
        if self.sharded is None:
            return super()._full_state(modules, optimizer)
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

        # Gathered one tensor at a time onto rank 0's CPU; the other workers get nothing.
        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        container = nn.ModuleDict(modules)
        weights = get_model_state_dict(container, options=options)
        state = get_optimizer_state_dict(container, optimizer, options=options) if optimizer is not None else None
        by_module = {name: {k[len(name) + 1:]: v for k, v in weights.items() if k.startswith(name + ".")} for name in modules}
        return by_module, (_index_keyed(state) if state else None)

    def _load_full_state(self, modules, optimizer, weights, optimizer_state) -> None:
        if self.sharded is None:
            return super()._load_full_state(modules, optimizer, weights, optimizer_state)
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

        # Rank 0 read the files; each tensor is broadcast and every worker keeps its shard.
        options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
        container = nn.ModuleDict(modules)
        flat = {f"{name}.{k}": v for name, sd in (weights or {}).items() for k, v in sd.items()}
        set_model_state_dict(container, flat, options=options)
        if optimizer is not None:
            state = _name_keyed(optimizer_state, container, optimizer) if optimizer_state is not None else {}
            set_optimizer_state_dict(container, optimizer, state, options=options)


def train_storage(spec: StudySpec):
    """(filesystem, path) of the study's Train runs: `<study>/train/<trial id>/`, on the study's storage so
    that every node reads and writes the same checkpoints."""
    uri = storage.join(spec.uri, "train")
    return storage.filesystem(uri)
