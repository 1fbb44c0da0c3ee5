"""A trial over several workers: a Ray Train job (`TorchTrainer`) inside its Ray Tune trial.

A model size runs this way when `resources.workers > 1`, or when its `parallelism` is set explicitly (then
also with one worker, e.g. to compare with it); otherwise its trial stays one process (`study.trial`).

- **The Tune trial is a driver.** `run_in_tune` calls `run_in_train`, which starts a `TorchTrainer` with
  the size's workers and waits for it. The trial itself reserves no CPU or GPU (`driver_resources`), only a
  little memory: the workers' resources are reserved by Train's own placement group, all at once, so a trial
  waiting for its workers holds nothing another trial needs, and trials cannot deadlock. `launch` limits
  how many trials run at once (`concurrency_limit`), so drivers do not pile up waiting.
- **Data parallel over the workers.** Every worker draws the same global batch of `batch_size` examples
  from the same seeded stream, in the single-process order, and trains on its contiguous share of it
  (`shard_bounds`: sizes differ by at most one). Gradients are averaged by DDP (gloo on CPU, nccl on GPU)
  or reduce-scattered by FSDP2 (`parallelism: fsdp`); each shard's loss is weighted by its share of the
  batch, so the update is that of the whole global batch, as in one process. The loss each step records
  (and checks for NaN) is the global batch's, the same on every worker, so all stop together.
- **Rank 0 does the milestone work** exactly as the single-process trial does, with the same code
  (`Trial.run`): cooldown branch, target fine-tuning, evaluation, result rows, predictions, checkpoint and
  report. Meanwhile the other workers wait in `ray.train.report`, which every worker calls once per
  milestone. Reports and checkpoints go from rank 0 through Train to Tune (`TuneReportCallback`), so ASHA
  sees the same metrics; the Train run is named after the Tune trial and stored under the study's storage,
  so a retried or resumed trial starts its Train run again under that name and Train hands every worker
  the latest checkpoint. Unlike `tune.report` in one process, the workers do not wait for Tune's decision
  after a report: a trial ASHA stops goes on until the stop reaches it (seconds), and may write the next
  milestone's rows if it is that short (docs/ray.md).
- **Costs.** Intermediate examples and tokens are summed over the workers (the global batch's), seconds
  are the slowest worker's wall time, and accelerator seconds are wall seconds x GPUs x workers.

With FSDP, the trunk's parameters, gradients and optimizer state are sharded during intermediate training;
at each milestone the full weights and optimizer state are gathered onto rank 0, whose milestone work then
runs on the whole model as in one process. So FSDP saves memory in intermediate training only: rank 0
must still hold and fine-tune the whole model (see docs/ray.md).
"""

from __future__ import annotations

import contextlib
import copy
import os
import socket
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from study import storage
from study.model import autocast
from study.spec import ModelSpec, StudySpec
from study.train import Cost, Phase
from study.trial import Reporter, Trial, point_of

DRIVER_MEMORY = 256 * 1024**2  # bytes: what a driver trial reserves (a request cannot be empty, and no CPU)
CONTROLLER_FAILURE_LIMIT = 30  # worker-group start timeouts (60 s each by default) before a Train run fails
PROCESS_GROUP_TIMEOUT_S = 4 * 3600  # workers wait in collectives while rank 0 evaluates a milestone


def uses_train(model: ModelSpec) -> bool:
    """Whether a size's trials run as a Ray Train job (several workers, or a parallelism set explicitly)."""
    return model.resources.workers > 1 or model.parallelism is not None


def parallelism_of(model: ModelSpec) -> str:
    return model.parallelism or "ddp"


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """This worker's contiguous share [lo, hi) of a global batch of n rows; sizes differ by at most one."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


# --------------------------------------------------------------------------------------------- resources
def driver_resources() -> dict[str, float]:
    """What the Tune trial of a Train-run size reserves: no CPU or GPU (its workers reserve those)."""
    return {"cpu": 0, "gpu": 0, "memory": DRIVER_MEMORY}


def tune_request(spec: StudySpec, single_process):
    """The per-config resource request for `tune.with_resources`: the driver's for Train-run sizes, else
    `single_process(config)` (a trial's own cpu and gpu)."""

    def request(config: dict[str, Any]) -> dict[str, float]:
        if uses_train(spec.model(point_of(config)["model"])):
            return driver_resources()
        return single_process(config)

    return request


def concurrency_limit(spec: StudySpec, cluster: dict[str, float]) -> int | None:
    """How many trials may run at once, when some size runs through Ray Train (None: no limit needed).

    A Train-run trial's driver reserves almost nothing, so Tune alone would start every trial at once and
    most would wait for workers. The limit is the most trials of any one size that fit on the cluster
    together; `search.max_concurrent_trials` lowers it further.
    """
    if not any(uses_train(m) for m in spec.models):
        return spec.search.max_concurrent_trials
    fits = []
    for m in spec.models:
        r = m.resources
        n = [cluster.get(key, 0.0) / (need * r.workers) for key, need in (("CPU", r.cpu), ("GPU", r.gpu)) if need > 0]
        fits.append(max(1, int(min(n) + 1e-9)) if n else 1)
    limit = max(fits)
    if spec.search.max_concurrent_trials:
        limit = min(limit, spec.search.max_concurrent_trials)
    return limit


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

    Its fields keep the plain modules and optimizer that `Trial` reads (checkpoints, cooldown branches,
    targets); the parallel wrappers live beside them and are used only inside `run`.
    """

    group: Group | None = None
    parallelism: str = "ddp"
    precision: str = "fp32"
    rng_seed: int = 0

    def __post_init__(self) -> None:
        self.wrapped: dict[int, nn.Module] = {}
        modules = {"encoder": self.encoder, **{f"head.{k}": h for k, h in self.heads.items()}}
        trainable = {k: m for k, m in modules.items() if m is not None and any(p.requires_grad for p in m.parameters())}
        if self.parallelism == "fsdp":
            self._shard(trainable)
        else:
            import inspect

            from torch.nn.parallel import DistributedDataParallel as DDP

            kwargs: dict[str, Any] = {"device_ids": [self.device.index] if self.device.type == "cuda" else None}
            # Buffers (position ids) are constant: no broadcast before every forward (the argument's name
            # changed in torch 2.13).
            sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters else "broadcast_buffers"
            kwargs[sync] = False
            for module in trainable.values():
                self.wrapped[id(module)] = DDP(module, **kwargs)

    @classmethod
    def wrap(cls, phase: Phase, group: Group, parallelism: str, precision: str, rng_seed: int) -> DataParallelPhase:
        values = {f.name: getattr(phase, f.name) for f in fields(Phase)}
        return cls(**values, group=group, parallelism=parallelism, precision=precision, rng_seed=rng_seed)

    # ------------------------------------------------------------------------------------- FSDP
    def _shard(self, modules: dict[str, nn.Module]) -> None:
        """Sharded copies of the modules, and an optimizer over them with the plain one's settings and state."""
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        # One container, so that parameter names (FQNs) are the same in the plain and the sharded copy.
        self._plain = nn.ModuleDict({k.replace(".", "__"): m for k, m in modules.items()})
        self._sharded = copy.deepcopy(self._plain)
        policy = MixedPrecisionPolicy()
        if self.precision == "bf16":  # bf16 compute and all-gathers; fp32 master weights and gradient reduction
            policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        for sub in self._sharded.modules():
            if isinstance(sub, nn.ModuleList):  # transformer layers (XLM-R's encoder.layer, mT5's block)
                for layer in sub:
                    fully_shard(layer, mp_policy=policy)
        for module in self._sharded.values():  # a ModuleDict has no forward: each module is its own root
            fully_shard(module, mp_policy=policy)
        for key, module in modules.items():
            self.wrapped[id(module)] = self._sharded[key.replace(".", "__")]
        name_of = {id(p): n for n, p in self._plain.named_parameters()}
        sharded = dict(self._sharded.named_parameters())
        groups = [
            {**{k: v for k, v in g.items() if k != "params"}, "params": [sharded[name_of[id(p)]] for p in g["params"]]}
            for g in self.optimizer.param_groups
        ]
        self._sharded_optimizer = type(self.optimizer)(groups)
        if self.optimizer.state:  # restored from a checkpoint: every worker holds the full state
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(self._sharded, self._sharded_optimizer, _fqn_optimizer_state(self._plain, self.optimizer),
                                     options=StateDictOptions(full_state_dict=True))

    def _gather(self) -> None:
        """The full weights and optimizer state into the plain modules and optimizer, on rank 0."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        weights = get_model_state_dict(self._sharded, options=options)
        state = get_optimizer_state_dict(self._sharded, self._sharded_optimizer, options=options)
        if self.group.rank == 0:
            self._plain.load_state_dict(weights)
            _load_fqn_optimizer_state(self._plain, self.optimizer, state)

    # -------------------------------------------------------------------------------------- steps
    def run(self, n_steps: int) -> Cost:
        formats, optimizer = self.formats, self.optimizer
        self.formats = {name: _ShardedFormat(f, self) for name, f in formats.items()}
        if self.parallelism == "fsdp":
            self.optimizer = self._sharded_optimizer
            self._sharded.train()
        try:
            with self._rng():
                cost = super().run(n_steps)
        finally:
            self.formats, self.optimizer = formats, optimizer
        if self.parallelism == "fsdp":
            self._gather()
        examples, tokens = self.group.all_reduce([cost.examples, cost.tokens])
        (seconds,) = self.group.all_reduce([cost.seconds], dist.ReduceOp.MAX)
        return Cost(steps=cost.steps, examples=int(examples), tokens=int(tokens), seconds=seconds)

    def _rng(self):
        """Rank 0 draws dropout from the trial's own random stream; the others from streams of their own,
        seeded by (seed, step, rank), so their masks are independent of rank 0's and resume exactly."""
        if self.group.rank == 0:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []))
        torch.manual_seed((self.rng_seed * 1_000_003 + self.step) * 1_009 + self.group.rank)
        return stack


def _fqn_optimizer_state(container: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """A plain optimizer's state keyed by parameter names, as torch.distributed.checkpoint expects."""
    name_of = {id(p): n for n, p in container.named_parameters()}
    sd = optimizer.state_dict()
    ordered = [name_of[id(p)] for g in optimizer.param_groups for p in g["params"]]
    state = {ordered[i]: s for i, s in sd["state"].items()}
    groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [ordered[i] for i in g["params"]]} for g in sd["param_groups"]]
    return {"state": state, "param_groups": groups}


def _load_fqn_optimizer_state(container: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    name_of = {id(p): n for n, p in container.named_parameters()}
    ordered = [name_of[id(p)] for g in optimizer.param_groups for p in g["params"]]
    sd = optimizer.state_dict()
    sd["state"] = {i: state["state"][name] for i, name in enumerate(ordered) if name in state["state"]}
    optimizer.load_state_dict(sd)


class DistributedTrial(Trial):
    """The trial recipe on one Train worker: rank 0 runs `Trial.run` unchanged; the others train the trunk
    in step with it and wait at each milestone."""

    def __init__(self, spec: StudySpec, config: dict[str, Any], trial_id: str, group: Group, node: str | None = None):
        super().__init__(spec, config, trial_id, node=node)
        self.group = group
        self.parallelism = parallelism_of(self.model_spec)
        if self.device.type == "cuda":
            self.device = group.device
            self.autocast = autocast(self.model_spec.precision, self.device)
        self.gpus = group.world if self.device.type == "cuda" else 0  # accelerator-seconds: wall x GPUs x workers

    def setup(self, checkpoint: Path | None) -> None:
        super().setup(checkpoint)
        if self.phase is not None:
            self.phase = DataParallelPhase.wrap(self.phase, self.group, self.parallelism, self.model_spec.precision,
                                                rng_seed=self.seed)

    def run(self, report: Reporter, checkpoint: Path | None = None) -> None:
        if self.group.rank == 0:
            super().run(report, checkpoint)
            return
        self.setup(checkpoint)
        for milestone in self.milestones:
            if milestone <= self.state.milestone_done:
                continue
            if self.phase is not None:
                try:
                    self.phase.run(milestone - self.phase.step)
                except FloatingPointError:
                    report({}, None)  # rank 0 stops the trial with its reason (the loss is the same everywhere)
                    return
            report({}, None)  # waits for rank 0's milestone work and checkpoint


def train_worker(loop_config: dict[str, Any]) -> None:
    """`train_loop_per_worker` of the TorchTrainer: one worker of one trial."""
    import ray
    import ray.train
    import ray.train.torch

    context = ray.train.get_context()
    spec = StudySpec.model_validate(loop_config["spec"])
    model = spec.model(point_of(loop_config["config"])["model"])
    torch.set_num_threads(max(1, int(model.resources.cpu)))
    device = ray.train.torch.get_device() if model.resources.gpu > 0 and torch.cuda.is_available() else torch.device("cpu")
    group = Group(rank=context.get_world_rank(), world=context.get_world_size(), device=device)
    # As run_in_tune names it: the host, and the Ray node id's first 8 hex digits (rank 0's node is the rows').
    node = f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"
    trial = DistributedTrial(spec, loop_config["config"], loop_config["trial_id"], group, node=node)

    def report(metrics: dict[str, Any], folder: Path | None) -> None:
        if group.rank != 0:
            ray.train.report({}, checkpoint=None)
            return
        checkpoint = ray.train.Checkpoint.from_directory(str(folder)) if folder is not None else None
        ray.train.report({**metrics, "node": node}, checkpoint=checkpoint)

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        trial.run(report)
    else:
        with checkpoint.as_directory() as folder:
            trial.run(report, Path(folder))


def train_storage(spec: StudySpec):
    """(filesystem, path) of the study's Train runs: `<study>/train/<trial id>/`, on the study's storage so
    that every node reads and writes the same checkpoints."""
    uri = storage.join(storage.normalize(spec.study.storage), spec.study.name, "train")
    return storage.filesystem(uri)


def run_in_train(spec: StudySpec, config: dict[str, Any], trial_id: str) -> Any:
    """Run one trial as a Train job and wait for it; from a Tune trial its reports go to Tune.

    Outside Tune (tests, a single run), the rows and checkpoints are written all the same.
    """
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.trainable.trainable_fn_utils import _in_tune_session

    model = spec.model(point_of(config)["model"])
    r = model.resources
    fs, path = train_storage(spec)
    callbacks = []
    if _in_tune_session():
        from ray.tune.integration.ray_train import TuneReportCallback

        callbacks.append(TuneReportCallback())
    resources = {"CPU": r.cpu, **({"GPU": r.gpu} if r.gpu > 0 else {})}
    # Workers wait in a report while rank 0 evaluates a milestone: Train's default warns every 60 s.
    os.environ.setdefault("RAY_TRAIN_COLLECTIVE_WARN_INTERVAL_S", "600")
    trainer = TorchTrainer(
        train_worker,
        train_loop_config={"spec": spec.model_dump(mode="json"), "config": config, "trial_id": trial_id},
        torch_config=TorchConfig(backend="nccl" if r.gpu > 0 else "gloo", timeout_s=PROCESS_GROUP_TIMEOUT_S),
        scaling_config=ray.train.ScalingConfig(num_workers=r.workers, use_gpu=r.gpu > 0, resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=trial_id,
            storage_path=path,
            storage_filesystem=fs,
            # A crash fails the Train run, and Tune retries the trial (study.max_failures): one retry count.
            failure_config=ray.train.FailureConfig(max_failures=0, controller_failure_limit=CONTROLLER_FAILURE_LIMIT),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=getattr(spec.study, "checkpoints_to_keep", 2)),
            callbacks=callbacks,
        ),
    )
    return trainer.fit()

