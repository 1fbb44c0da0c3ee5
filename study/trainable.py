"""The entry points Ray calls: the Tune trainable of every trial, and the Ray Train worker of a trial that
runs over several workers.

They sit here, above `study.trial` and `study.distributed`, so that those two import in one direction
only (distributed builds on trial), and each entry point reads top to bottom: settings, spec, the trial,
its reports.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import torch

from study import environment
from study.distributed import DistributedTrial, Group, train_storage
from study.resources import uses_train
from study.grid import point_of
from study.spec import StudySpec
from study.trial import Trial

GATE_TIMEOUT_S = 900  # seconds rank 0 waits for Tune's decision on a milestone before going on regardless
TRAINABLE_NAME = "xstudy_trial"  # Tuner.restore needs the trainable under the same name
CONTROLLER_FAILURE_LIMIT = 30  # worker-group start timeouts (60 s each by default) before a Train run fails
PROCESS_GROUP_TIMEOUT_S = 4 * 3600  # seconds a collective may wait (rank 0 writing a 10B checkpoint)


def run_in_tune(config: dict[str, Any], spec_data: dict[str, Any], env: dict[str, str] | None = None) -> None:
    """The Ray Tune function trainable: restores from Tune's checkpoint and reports with checkpoints.

    `env` holds the driver's settings (study.environment), set here before anything reads them. The spec comes
    as JSON and is validated here, once per trial: the Train workers of a several-worker trial get the
    validated `StudySpec` itself (pickled by Ray), not JSON to validate again. Tune's config, whose grid point
    is nested (study.grid.point_of says why), is flattened here once; the trial takes it flat.
    """
    import ray
    from ray import tune

    environment.apply(env)
    quiet_checkpoint_logs()
    spec = StudySpec.model_validate(spec_data)
    config = point_of(config)
    ctx = tune.get_context()
    model = spec.model(config["model"])
    if uses_train(model):
        # Several workers: this trial drives a Ray Train job, which reports to Tune (study.distributed).
        run_in_train(spec, config, ctx.get_trial_id())
        return
    torch.set_num_threads(max(1, int(model.resources.cpu)))
    # The host for people, and the Ray node id's first 8 hex digits to tell apart nodes that share a host.
    node = f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"

    def report(metrics: dict[str, Any], folder: Path | None) -> None:
        checkpoint = tune.Checkpoint.from_directory(str(folder)) if folder is not None else None
        tune.report({**metrics, "node": node}, checkpoint=checkpoint)

    trial = Trial(spec, config, ctx.get_trial_id(), node=node)
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        trial.run(report)
    else:
        with checkpoint.as_directory() as folder:
            trial.run(report, Path(folder))


run_in_tune.__name__ = TRAINABLE_NAME
run_in_tune.__qualname__ = TRAINABLE_NAME


def train_worker(loop_config: dict[str, Any]) -> None:
    """`train_loop_per_worker` of the TorchTrainer: one worker of one trial."""
    import ray
    import ray.train
    import ray.train.torch

    environment.apply(loop_config.get("environment"))
    quiet_checkpoint_logs()
    context = ray.train.get_context()
    spec = loop_config["spec"]  # validated by run_in_tune (or the caller of run_in_train): not again
    if not isinstance(spec, StudySpec):
        raise TypeError(f"train_loop_config['spec'] is a {type(spec).__name__}; run_in_train passes a StudySpec")
    model = spec.model(loop_config["config"]["model"])
    torch.set_num_threads(max(1, int(model.resources.cpu)))
    device = ray.train.torch.get_device() if model.resources.gpu > 0 and torch.cuda.is_available() else torch.device("cpu")
    group = Group(rank=context.get_world_rank(), world=context.get_world_size(), device=device)
    # As run_in_tune names it: the host, and the Ray node id's first 8 hex digits (rank 0's node is the rows').
    node = f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"
    trial = DistributedTrial(spec, loop_config["config"], loop_config["trial_id"], group, node=node)

    gate = loop_config.get("gate")

    def report(metrics: dict[str, Any], folder: Path | None) -> None:
        if group.rank != 0:  # its shards of a sharded (FSDP) checkpoint, if it wrote any; nothing otherwise
            shards = folder is not None and any(folder.iterdir())
            ray.train.report({}, checkpoint=ray.train.Checkpoint.from_directory(str(folder)) if shards else None)
            return
        checkpoint = ray.train.Checkpoint.from_directory(str(folder)) if folder is not None else None
        ray.train.report({**metrics, "node": node}, checkpoint=checkpoint)
        if gate is not None:  # under Tune: go on only once Tune has taken this milestone and not stopped the trial
            wait_for_tune(gate, metrics["intermediate_steps"])

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        trial.run(report)
    else:
        with checkpoint.as_directory() as folder:
            trial.run(report, Path(folder))


def run_in_train(spec: StudySpec, config: dict[str, Any], trial_id: str) -> Any:
    """Run one trial as a Train job and wait for it; from a Tune trial its reports go to Tune.

    `config` is the trial's flat config (study.grid.point_of); `spec` goes to the workers as it is, validated.
    Outside Tune (tests, a single run), the rows and checkpoints are written all the same.
    """
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.trainable.trainable_fn_utils import _in_tune_session

    model = spec.model(config["model"])
    r = model.resources
    fs, path = train_storage(spec)
    callbacks, gate = [], None
    if _in_tune_session():
        from ray.util.queue import Queue

        gate = Queue(actor_options={"num_cpus": 0})
        callbacks.append(blocking_tune_report(gate))
    resources = {"CPU": r.cpu, **({"GPU": r.gpu} if r.gpu > 0 else {})}
    # Workers wait in a report while rank 0 writes a checkpoint: Train's default warns every 60 s.
    os.environ.setdefault("RAY_TRAIN_COLLECTIVE_WARN_INTERVAL_S", "600")
    trainer = TorchTrainer(
        train_worker,
        # The driver's settings, as this trial received them (study.environment), for every worker.
        train_loop_config={"spec": spec, "config": config, "trial_id": trial_id,
                           "environment": environment.captured(), "gate": gate},
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


def quiet_checkpoint_logs() -> None:
    """Ray logs "Checkpoint successfully created at: ..." at INFO for every milestone of every trial, and
    forwards it to the driver's terminal; `xstudy status` and the run's own view say the same per milestone."""
    import logging

    for name in ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage"):
        logging.getLogger(name).setLevel(logging.WARNING)


def blocking_tune_report(gate):
    """Train's `TuneReportCallback`, made to block until Tune has decided on each report, then to open `gate`
    (a `ray.util.queue.Queue`) with the report's milestone, which rank 0 waits for (`wait_for_tune`).

    The callback hands rank 0's metrics to the Tune trial through a queue of one item, which the trial's
    session empties each time Tune asks it for a result; Tune asks again only after its scheduler and
    stoppers have let the trial go on. So after the metrics, two empty items (which the session skips) are
    put in turn: the second is accepted only once the first was taken, that is once Tune asked for the next
    result. A trial that Tune stops is never asked again: the callback waits until the trial's actor, and
    with it this Train run, is stopped, and rank 0 never starts the next milestone. Without this, ASHA's
    stop arrived while the workers were already on the next milestone, and a short milestone was written.
    """
    from ray.tune.integration.ray_train import TuneReportCallback

    class BlockingTuneReport(TuneReportCallback):
        def after_report(self, run_context, metrics, checkpoint):
            super().after_report(run_context, metrics, checkpoint)
            steps = metrics[0].get("intermediate_steps") if metrics else None
            if steps is None:
                return
            self._training_actor_item_queue.put({})  # accepted once Tune has taken the metrics
            self._training_actor_item_queue.put({})  # accepted once Tune has asked for the next result
            gate.put(steps)

    return BlockingTuneReport()


def wait_for_tune(gate, milestone: int) -> None:
    """Rank 0, after reporting `milestone`: wait until Tune lets the trial go on (`blocking_tune_report`)."""
    import queue
    import time
    import warnings

    deadline = time.monotonic() + GATE_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            if gate.get(timeout=left) == milestone:  # earlier milestones' items, if any, are passed over
                return
        except queue.Empty:  # ray.util.queue.Empty is one
            break
    warnings.warn(f"no decision from Tune on milestone {milestone} within {GATE_TIMEOUT_S} s; going on", stacklevel=2)
