"""`study.loggers: [mlflow, wandb, tensorboard]`: Ray Tune's own logger callbacks receive every trial's milestone
metrics, config and cost columns, checked against the results table in the stores themselves: a real MLflow
file store read back with `mlflow.search_runs`, W&B's offline run files, TensorBoard event files.

One tiny study on a local Ray serves every test here; its third trial reads a malformed data file, which
fails it at once, with its reason, and without a retry (study.trial).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pandas as pd
import pytest

from helpers import TEST_MLM_STEPS, small_spec
from study import launch, recovery, results, status, trackers

NAME = "trk"


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    import ray

    work = tmp_path_factory.mktemp("trackers")
    (work / "data" / "squad").mkdir(parents=True)
    (work / "data" / "squad" / "train-v1.1.json").write_text('{"data": [', encoding="utf-8")  # cut short
    spec = small_spec(
        str(work / "store"), name=NAME,
        study={"name": NAME, "storage": str(work / "store"), "data_dir": str(work / "data"), "max_failures": 2,
               "loggers": ["mlflow", "wandb", "tensorboard"]},
        models=[{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": TEST_MLM_STEPS}, "batch_size": 16,
                 "max_length": 48, "steps": [0, 10, 20]}],
        intermediate_tasks=["none", "builtin_nli", "squad_v1"],
        target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}],
        target_training={"steps": 4, "batch_size": 16, "eval_batch_size": 128},
        asha={"enabled": False},
    )
    with pytest.MonkeyPatch.context() as mp:
        for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "WANDB_PROJECT", "WANDB_API_KEY"):
            mp.delenv(variable, raising=False)
        mp.setenv("WANDB_MODE", "offline")  # Ray's workers (W&B's logging actors) inherit it from Ray's start:
        mp.setenv("WANDB_SILENT", "true")  # so this study starts a Ray of its own, after setting them
        ray.shutdown()
        launch.init_ray(None, num_cpus=2)
        try:
            grid = launch.run(spec).grid
        finally:
            ray.shutdown()
    study = work / "store" / NAME
    return spec, grid, study, results.collect(str(study))


def trial_of(df: pd.DataFrame, task: str) -> str:
    return df[df.intermediate_task == task].trial_id.iloc[0]


def costs(df: pd.DataFrame, trial_id: str, milestone: int) -> dict[str, float]:
    """What a milestone's report must carry: the path's cost columns, target and eval costs summed over targets."""
    rows = df[(df.trial_id == trial_id) & (df.intermediate_steps == milestone)]
    one = rows.iloc[0]
    per_target = rows.groupby("target_task").first()
    out = {k: float(one[k]) for k in ("intermediate_tokens", "intermediate_flops", "intermediate_seconds",
                                     "intermediate_examples", "cooldown_steps", "cooldown_seconds")}
    out.update({k: float(per_target[k].sum()) for k in ("target_steps", "target_tokens", "target_flops",
                                                         "eval_examples", "eval_tokens", "eval_seconds")})
    dev = rows[(rows.split == "dev") & (rows.metric == "score")]
    out["dev/builtin_pos"] = float(dev.value.iloc[0])
    return out


@pytest.mark.slow
def test_the_study_ran_and_the_table_is_the_record(tracked):
    _, grid, study, df = tracked
    assert len(grid) == 3 and grid.num_errors == 0
    assert set(df.intermediate_task) == {"none", "builtin_nli"}  # the failed trial wrote no rows
    assert sorted(set(df[df.intermediate_task == "builtin_nli"].intermediate_steps)) == [10, 20]


@pytest.mark.slow
def test_a_data_error_fails_its_trial_at_once_without_a_retry(tracked):
    _, grid, study, _ = tracked
    [failed] = [r for r in grid if "failed_reason" in r.metrics]
    assert "DataError" in failed.metrics["failed_reason"] and "train-v1.1.json" in failed.metrics["failed_reason"]
    s = status.gather(str(study))
    [errored] = [t for t in s["trials"] if t["state"] == status.ERRORED]
    assert errored["intermediate_task"] == "squad_v1" and "train-v1.1.json" in errored["error"]
    assert s["retries"] == {} and recovery.retry_counts(str(study)) == {}, "max_failures 2, yet no retry"
    assert (study / "failed" / f"{errored['trial_id']}.json").is_file()


@pytest.mark.slow
def test_mlflow_file_store_holds_each_trials_reports(tracked):
    import mlflow
    from mlflow.tracking import MlflowClient

    spec, _, study, df = tracked
    uri = trackers.mlflow_uri(spec)
    assert uri == f"file://{study}/mlruns"
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=[NAME])
    assert len(runs) == 3 and set(runs["tags.study"]) == {NAME}
    assert set(runs["params.point/intermediate_task"]) == {"none", "builtin_nli", "squad_v1"}
    assert set(runs["params.point/model"]) == {"tiny"} and set(runs["params.intermediate_lr"]) == {"0.001"}
    nli = runs[runs["params.point/intermediate_task"] == "builtin_nli"].iloc[0]
    trial_id = trial_of(df, "builtin_nli")
    for key, value in costs(df, trial_id, 20).items():  # the last report: milestone 20
        assert nli[f"metrics.{key}"] == pytest.approx(value, rel=1e-6), key
    history = MlflowClient().get_metric_history(nli.run_id, "intermediate_steps")
    assert [m.value for m in history] == [10, 20]
    first = {m.key: m.value for m in [MlflowClient().get_metric_history(nli.run_id, k)[0] for k in ("intermediate_flops",)]}
    assert first["intermediate_flops"] == pytest.approx(costs(df, trial_id, 10)["intermediate_flops"])


def wandb_records(path: Path) -> list:
    """The protobuf records of a W&B run file (`run-ID.wandb`): W&B's record log, a 7-byte header and 32 KiB
    blocks of records, each with a checksum, a length and a type (full, or first/middle/last of a split one)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, records, pending = 7, 32768, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a record header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        payload, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):
            records.append(wandb_internal_pb2.Record.FromString(pending + payload))
            pending = b""
        elif kind in (2, 3):
            pending += payload
    return records


def items(entries) -> dict:
    """W&B record items ({key or nested key path: value}), values decoded from their JSON."""
    return {(e.key or "/".join(e.nested_key)): json.loads(e.value_json) for e in entries}


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(flat(v, f"{prefix}{k}/") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


@pytest.mark.slow
def test_wandb_offline_runs_hold_the_metrics_and_config(tracked):
    _, _, study, df = tracked
    files = sorted(study.glob("wandb/offline-run-*/run-*.wandb"))  # <study>/wandb/, written there directly
    assert len(files) == 3
    runs = {}
    for f in files:
        records = wandb_records(f)
        config = {}
        for r in records:
            kind = r.WhichOneof("record_type")
            if kind in ("run", "config"):
                config.update(flat(items((r.run.config if kind == "run" else r.config).update)))
        history = [items(r.history.item) for r in records if r.WhichOneof("record_type") == "history"]
        runs[config["point/intermediate_task"]] = history
        assert config["point/model"] == "tiny" and config["intermediate_lr"] == 0.001
    trial_id = trial_of(df, "builtin_nli")
    steps = [h["intermediate_steps"] for h in runs["builtin_nli"]]
    assert steps == [10, 20]
    for h, milestone in zip(runs["builtin_nli"], steps):
        for key, value in costs(df, trial_id, milestone).items():
            assert h[key] == pytest.approx(value, rel=1e-6), (milestone, key)
    assert [h["intermediate_steps"] for h in runs["none"]] == [0]


def tensorboard_scalars(path: Path) -> dict[str, list[float]]:
    """Scalars of a TensorBoard event file (TFRecord: length, its checksum, an Event, the Event's checksum)."""
    from tensorboardX.proto import event_pb2

    data, pos, out = path.read_bytes(), 0, {}
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
        pos += 12 + length + 4
        for value in event.summary.value:
            out.setdefault(value.tag, []).append(value.simple_value)
    return out


@pytest.mark.slow
def test_tensorboard_event_files_hold_the_scalars(tracked):
    _, _, study, df = tracked
    scalars = {}
    for f in study.rglob("events.out.tfevents.*"):
        tags = tensorboard_scalars(f)
        if tags.get("ray/tune/intermediate_steps") == [10.0, 20.0]:
            scalars = tags
    trial_id = trial_of(df, "builtin_nli")
    for i, milestone in enumerate((10, 20)):
        assert scalars["ray/tune/intermediate_flops"][i] == pytest.approx(costs(df, trial_id, milestone)["intermediate_flops"], rel=1e-6)
        assert scalars["ray/tune/dev/builtin_pos"][i] == pytest.approx(costs(df, trial_id, milestone)["dev/builtin_pos"], rel=1e-6)


def test_a_missing_package_or_cloud_storage_without_a_server_is_refused(monkeypatch):
    import importlib.util

    spec = small_spec("s3://bucket/studies", study={"name": "c", "storage": "s3://bucket/studies", "loggers": ["mlflow", "wandb"]})
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    found = trackers.problems(spec)
    assert any("'wandb' is not installed: pip install 'xstudy[wandb]'" in p for p in found)
    assert any("MLFLOW_TRACKING_URI" in p for p in found)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert len(trackers.problems(spec)) == 1 and trackers.mlflow_uri(spec) == "http://tracking:5000"


class _ListQueue:
    """What the logging actor reads from Ray's Queue, in order."""

    def __init__(self, items):
        self.items = list(items)

    def get(self):
        return self.items.pop(0)


def test_a_wandb_logging_actor_returns_only_once_its_run_file_is_closed(tmp_path, monkeypatch):
    """Ray kills a logging actor, and the actor's child processes with it, as soon as its `run()` returns.
    W&B's service (wandb-core, a child process) closes a run's file when its stream closes, which `finish()`
    does not wait for: a kill in between, on a loaded machine, left a run file with no records. So `run()`
    returns only once the service has closed the file and exited."""
    import psutil
    from ray.air.integrations.wandb import _QueueItem

    def services() -> list[psutil.Process]:
        return [c for c in psutil.Process().children(recursive=True) if "wandb" in " ".join(c.cmdline())]

    monkeypatch.chdir(tmp_path)  # the actor changes into its trial folder
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    queue = _ListQueue([(_QueueItem.RESULT, {"training_iteration": 1, "dev_signal": 71.5}), (_QueueItem.END, None)])
    actor = trackers.wandb_logging_actor()(str(tmp_path), queue, [], [], project="p", id="whole", dir=str(tmp_path),
                                           config={"point": {"intermediate_task": "builtin_nli"}})
    try:
        actor.run()
        assert services() == [], "W&B's service is still running when the actor returns"
    finally:
        for process in services():
            process.kill()
    records = wandb_records(next(tmp_path.glob("wandb/offline-run-*/run-whole.wandb")))
    kinds = [r.WhichOneof("record_type") for r in records]
    assert "run" in kinds and "exit" in kinds
    history = [items(r.history.item) for r in records if r.WhichOneof("record_type") == "history"]
    assert [h["dev_signal"] for h in history] == [71.5]
