"""Multi-worker trials (study.distributed): data-parallel steps equal one process's, and a Ray Train job
inside a Tune trial gives the single-process trial's rows, reports, restore and resource release.

Tolerances, and why:
- Steps (`test_data_parallel_steps_equal_one_process`, dropout off): every worker draws the same global
  batch and trains on its half; DDP averages the halves' gradients, and FSDP2 reduce-scatters them, which is
  the gradient of the whole batch up to the order of float additions (and each half is padded to its own
  longest sequence, which changes matrix shapes, not values). So the per-step losses agree to 1e-5 relative
  (measured: 1e-7) and after 6 AdamW steps the weights to 5e-5 absolute (measured: 7e-6; Adam divides by
  the root of the squared gradients, so float noise in near-zero gradients becomes a visible share of a
  1e-3 step). A trunk checkpointed halfway and resumed equals the uninterrupted one to 1e-6.
- Trials (the Tune study, dropout on, as a study runs): each worker draws dropout masks for its own half,
  so 1 and 2 workers differ as two dropout seeds do, not by float order. Their dev and zero-shot scores at
  milestone 10 agree within 15 points (measured on this tiny study: at most 9.8, mean 4-6); the examples
  and tokens counted, which dropout does not change, agree exactly.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pandas as pd
import pytest
import torch
from ray.tune import Stopper

from study import results
from helpers import small_spec

pytestmark = pytest.mark.slow

CONFIG = {"model": "tiny", "intermediate_task": "builtin_nli", "seed": 3, "intermediate_lr": 1e-3, "target_lr": 1e-3}
STEPS = 6


def _no_dropout(trial) -> None:
    for module in [trial.encoder.module, *trial.phase.heads.values()]:
        for sub in module.modules():
            if isinstance(sub, torch.nn.Dropout):
                sub.p = 0.0


def _trunk(trial) -> dict[str, torch.Tensor]:
    """The trunk's full weights (gathered onto rank 0 when sharded)."""
    weights, _ = trial._full_state(trial._trunk_modules(), None)
    return {f"{n}.{k}": v.detach().clone() for n, sd in weights.items() for k, v in sd.items()}


def _dp_trial(rank: int, world: int, storage: str, parallelism: str, checkpoint=None):
    from study.distributed import DistributedTrial, Group

    spec = small_spec(storage)
    models = [m.model_copy(update={"parallelism": parallelism}) if m.name == CONFIG["model"] else m for m in spec.models]
    spec = spec.model_copy(update={"models": models})
    trial = DistributedTrial(spec, CONFIG, "dp", Group(rank, world, torch.device("cpu")))
    trial.setup(checkpoint)
    _no_dropout(trial)
    return trial


def _join(rank: int, world: int, port: int) -> None:
    """This spawned process as one gloo worker of `world`, with one thread (as a Train worker of 1 CPU)."""
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)


def _dp_worker(rank: int, world: int, storage: str, port: int, out: str) -> None:
    import torch.distributed as dist

    _join(rank, world, port)
    try:
        got = {}
        for parallelism in ("ddp", "fsdp"):
            trial = _dp_trial(rank, world, storage, parallelism)
            cost = trial.phase.run(STEPS)
            got[parallelism] = {"trunk": _trunk(trial), "losses": trial.phase.losses, "tokens": cost.tokens,
                                "examples": cost.examples}
            # Half the steps, a checkpoint (written by rank 0, from the gathered trunk), then the rest.
            trial = _dp_trial(rank, world, storage, parallelism)
            trial.phase.run(STEPS // 2)
            folder = Path(storage) / f"ckpt-{parallelism}"
            folder.mkdir(exist_ok=True)
            trial._save(folder)  # DDP: rank 0 writes whole-model files; FSDP: every worker writes its shards
            dist.barrier()
            got[parallelism]["files"] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
            trial = _dp_trial(rank, world, storage, parallelism, checkpoint=folder)
            got[parallelism]["halfway"] = _trunk(trial)
            trial.phase.run(STEPS - STEPS // 2)
            got[parallelism]["resumed"] = _trunk(trial)
        if rank == 0:
            torch.save(got, out)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_data_parallel_steps_equal_one_process(tmp_path):
    """2 workers with DDP and with FSDP2 (gloo, CPU) train the trunk as one process does, and resume from a
    checkpoint halfway exactly: DDP's whole-model files, FSDP's shards (read back on 1 worker too)."""
    import torch.multiprocessing as mp

    from study.trial import Trial

    torch.set_num_threads(1)
    ref = Trial(small_spec(str(tmp_path)), CONFIG, "ref")
    ref.setup(None)
    _no_dropout(ref)
    cost = ref.phase.run(STEPS)
    expected = _trunk(ref)
    out = str(tmp_path / "dp.pt")
    mp.spawn(_dp_worker, args=(2, str(tmp_path), _free_port(), out), nprocs=2)
    for parallelism, got in torch.load(out).items():
        assert got["examples"] == cost.examples == 16 * STEPS, "examples are counted over both workers"
        assert got["tokens"] == cost.tokens
        assert got["losses"] == pytest.approx(ref.phase.losses, rel=1e-5), parallelism
        assert got["trunk"].keys() == expected.keys()
        worst = max(float((got["trunk"][k].float() - expected[k].float()).abs().max()) for k in expected)
        loss_rel = max(abs(a - b) / abs(b) for a, b in zip(got["losses"], ref.phase.losses))
        print(f"{parallelism}: weights differ by at most {worst:.2e}, losses by {loss_rel:.2e} relative")
        assert worst < 5e-5, f"{parallelism}: weights differ by {worst}"
        resumed = max(float((got["resumed"][k] - got["trunk"][k]).abs().max()) for k in expected)
        print(f"{parallelism}: resumed halfway, the trunk differs by {resumed:.2e}")
        assert resumed < 1e-6, f"{parallelism}: a resumed trunk differs by {resumed}"
    files = {p: got["files"] for p, got in torch.load(out).items()}
    assert "encoder.safetensors" in files["ddp"] and "optimizer.safetensors" in files["ddp"]
    # FSDP: one shard file per worker and the metadata; no whole-model file on any rank.
    assert [f for f in files["fsdp"] if f.startswith("trunk-dcp/")] == [
        "trunk-dcp/.metadata", "trunk-dcp/__0_0.distcp", "trunk-dcp/__1_0.distcp"]
    assert not [f for f in files["fsdp"] if f.endswith(".safetensors") and f != "rng.safetensors"], files["fsdp"]
    # The checkpoint 2 workers wrote, read by 1 worker (DCP reshards on load): the trunk the 2 workers resumed.
    mp.spawn(_reader_worker, args=(1, str(tmp_path), _free_port(), str(tmp_path / "one.pt")), nprocs=1)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(out)["fsdp"]["halfway"]
    assert one["step"] == STEPS // 2
    worst = max(float((one["trunk"][k] - two[k]).abs().max()) for k in two)
    assert worst == 0.0, f"read on 1 worker, the trunk differs by {worst}"


def _reader_worker(rank: int, world: int, storage: str, port: int, out: str) -> None:
    """Reads the 2-worker FSDP checkpoint of test_data_parallel_steps_equal_one_process on `world` workers."""
    import torch.distributed as dist

    _join(rank, world, port)
    try:
        trial = _dp_trial(rank, world, storage, "fsdp", checkpoint=Path(storage) / "ckpt-fsdp")
        trunk = _trunk(trial)
        if rank == 0:
            torch.save({"trunk": trunk, "step": trial.phase.step}, out)
    finally:
        dist.destroy_process_group()


# -------------------------------------------------------------------------------- the milestone work
MILESTONE_CONFIG = {"model": "tiny", "intermediate_task": "builtin_squad", "seed": 5, "intermediate_lr": 1e-3,
                    "target_lr": 1e-3}


def _milestone_spec(storage: str, parallelism: str | None):
    # Span QA as the intermediate task (its dev set is scored at each milestone); tagging, classification
    # and retrieval as targets; an evaluation batch of 101 rows, so 2 workers' shares are uneven (51 and 50,
    # and 49 each in a split's last batch of 98: the built-in splits have 300 examples).
    spec = small_spec(storage, intermediate_tasks=["builtin_squad"],
                      target_training={"steps": 8, "batch_size": 16, "eval_batch_size": 101})
    models = [m.model_copy(update={"parallelism": parallelism}) if m.name == "tiny" else m for m in spec.models]
    return spec.model_copy(update={"models": models})


def _without_dropout(cls):
    """The trial class with dropout off in every module it places (trunk, heads, copies are made from
    those), so that 1 and 2 workers differ only by the order of float additions."""

    class NoDropout(cls):
        def _place(self, module):
            if module is not None:
                for sub in module.modules():
                    if isinstance(sub, torch.nn.Dropout):
                        sub.p = 0.0
            return super()._place(module)

    return NoDropout


def _milestone_worker(rank: int, world: int, storage: str, port: int, out: str) -> None:
    import torch.distributed as dist
    from torch.distributed.tensor import DTensor

    from study.distributed import DistributedTrial, Group, SharedForward

    _join(rank, world, port)
    try:
        seen = {}
        for parallelism in ("ddp", "fsdp"):
            spec = _milestone_spec(f"{storage}/{parallelism}", parallelism)
            trial = _without_dropout(DistributedTrial)(spec, MILESTONE_CONFIG, "m", Group(rank, world, torch.device("cpu")))
            reports = []

            def report(metrics, folder, trial=trial, reports=reports):
                reports.append(dict(metrics))
                # What this worker holds: with FSDP, only shards of the trunk (each a DTensor, ~1/world of it).
                params = list(trial.encoder.module.parameters())
                local = sum(p.to_local().numel() if isinstance(p, DTensor) else p.numel() for p in params)
                seen.setdefault(parallelism, []).append(
                    (all(isinstance(p, DTensor) for p in params), local / trial.encoder.n_params))

            trial.run(report)
            seen[parallelism + "/reports"] = reports
            if parallelism == "fsdp":
                # A sharded copy equals its source, and is independent of it.
                copied = trial._clone(trial.encoder.module)
                with torch.no_grad():
                    for p in copied.parameters():
                        p.to_local().zero_()
                same = [torch.equal(a.detach().full_tensor(), b.detach().full_tensor()) for a, b in
                        zip(trial._clone(trial.encoder.module).parameters(), trial.encoder.module.parameters())]
                seen["clone_equal"] = all(same)
                seen["source_kept"] = any(float(p.detach().full_tensor().abs().sum()) > 0 for p in trial.encoder.module.parameters())
        # A shared forward equals the whole batch's, for shares of 2 and 1 rows and an empty one.
        encoder = trial.encoder.module
        ids = torch.randint(5, 100, (3, 7))
        mask = torch.ones_like(ids)
        whole = encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        for n in (3, 1):
            shared = SharedForward(encoder, trial.group)(ids[:n], mask[:n], output_hidden_states=True)
            seen[f"shared_{n}"] = (float((shared.last_hidden_state - whole.last_hidden_state[:n]).abs().max()),
                                   len(shared.hidden_states) == len(whole.hidden_states))
        if rank == 1:
            torch.save(seen, out)
    finally:
        dist.destroy_process_group()


def test_milestone_work_is_shared_by_the_workers(tmp_path):
    """2 workers (gloo) run the whole milestone work together, with DDP and with FSDP: cooldown branch,
    target fine-tuning and evaluation, data parallel; with FSDP every worker holds only its shards all the
    way. Their rows equal one process's (dropout off, see the module docstring). Evaluation batches are
    split unevenly between the workers; an empty share is tested with `SharedForward` below."""
    import torch.multiprocessing as mp

    from study.trial import Trial

    torch.set_num_threads(1)
    ref_reports = []
    _without_dropout(Trial)(_milestone_spec(f"{tmp_path}/ref", None), MILESTONE_CONFIG, "m").run(
        lambda metrics, folder: ref_reports.append(dict(metrics)))
    out = str(tmp_path / "seen.pt")
    mp.spawn(_milestone_worker, args=(2, str(tmp_path), _free_port(), out), nprocs=2)
    seen = torch.load(out)
    assert seen["fsdp"] and all(sharded and share < 0.55 for sharded, share in seen["fsdp"]), seen["fsdp"]
    assert not any(sharded for sharded, _ in seen["ddp"])
    assert seen["clone_equal"] and seen["source_kept"]
    assert seen["shared_3"][0] < 1e-5 and seen["shared_1"][0] < 1e-5 and seen["shared_3"][1]
    keys = ["intermediate_steps", "target_task", "split", "language", "metric"]
    ref = results.collect(f"{tmp_path}/ref/t").sort_values(keys).reset_index(drop=True)
    assert len(ref) > 0
    for parallelism in ("ddp", "fsdp"):
        got = results.collect(f"{tmp_path}/{parallelism}/t").sort_values(keys).reset_index(drop=True)
        assert (got[keys] == ref[keys]).all().all(), f"{parallelism}: the same rows"
        for col in ("intermediate_examples", "intermediate_tokens", "cooldown_steps", "cooldown_tokens",
                    "target_steps", "target_tokens", "eval_examples", "eval_tokens"):
            assert (got[col] == ref[col]).all(), f"{parallelism}: {col} counted over both workers"
        gap = (got.value - ref.value).abs()
        print(f"{parallelism}: values differ by at most {gap.max():.3f} points (mean {gap.mean():.4f})")
        assert gap.max() < 1.0, f"{parallelism}: {got[gap >= 1.0]}"
        reports = seen[parallelism + "/reports"]
        assert [r["intermediate_steps"] for r in reports] == [r["intermediate_steps"] for r in ref_reports]
        assert [r["dev_signal"] for r in reports] == pytest.approx([r["dev_signal"] for r in ref_reports], abs=1.0)


# ----------------------------------------------------------------------------------- Ray Train in Tune
def _model(name: str, workers: int) -> dict:
    return {"name": name, "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16, "max_length": 48,
            "steps": [0, 10, 20], "resources": {"cpu": 0.5, "workers": workers}, "parallelism": "ddp"}


def _spec(storage: str, w2_steps=(0, 10, 20)):
    return small_spec(
        storage, name="dist",
        # w2 shards with FSDP: its Train checkpoints are every worker's shards in one directory.
        models=[_model("w1", 1), {**_model("w2", 2), "steps": list(w2_steps), "parallelism": "fsdp"}],
        intermediate_tasks=["builtin_nli"],
        target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}, {"task": "builtin_xnli", "languages": ["xb"]}],
    )


def _point(model: str) -> dict:
    return {"model": model, "intermediate_task": "builtin_nli", "seed": 0}


class StopOneWorker(Stopper):
    """Stops the 1-worker trial after its first milestone, as ASHA stops a trial at a rung, and takes its time
    to decide (DECISION_S): longer than the trial needs for its next milestone, so that a trial which did not
    wait for Tune's decision would write that milestone's rows."""

    DECISION_S = 8.0

    def __call__(self, trial_id: str, result: dict) -> bool:
        if result["config"]["point"]["model"] == "w1" and result["intermediate_steps"] >= 10:
            import time

            time.sleep(self.DECISION_S)
            return True
        return False

    def stop_all(self) -> bool:
        return False


@pytest.fixture(scope="module")
def study(local_ray, tmp_path_factory):
    """One Tune run of two trials, each a Train job: the tiny size on 1 worker (stopped by Tune after
    milestone 10) and on 2 workers (to milestone 20)."""
    import time

    import ray
    from ray import tune

    from study import launch, resources

    storage = tmp_path_factory.mktemp("dist")
    spec = resources.limit_concurrency(launch.anchored(_spec(str(storage))), ray.cluster_resources())
    tuner = tune.Tuner(
        launch._trainable(spec),
        param_space={"point": tune.grid_search([_point("w1"), _point("w2")])},
        tune_config=tune.TuneConfig(scheduler=launch.scheduler(spec), max_concurrent_trials=spec.search.max_concurrent_trials),
        run_config=tune.RunConfig(name="dist", storage_path=str(storage), stop=StopOneWorker(),
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )
    grid = tuner.fit()
    start, held = time.time(), True
    while held and time.time() - start < 60:
        held = [p for p in ray.util.placement_group_table().values() if p["state"] != "REMOVED"]
        time.sleep(0.5)
    print(f"placement groups held after the study: {len(held)}, {time.time() - start:.1f} s after it ended")
    return spec, grid, results.collect(f"{storage}/dist"), held


def test_trials_report_through_train_to_tune(study):
    spec, grid, _, held = study
    assert grid.num_errors == 0
    assert spec.search.max_concurrent_trials == 2
    steps = {}
    for result in grid:
        metrics = result.metrics
        steps[result.config["point"]["model"]] = metrics["intermediate_steps"]  # ASHA's time attribute, from rank 0
        assert 0 <= metrics["dev_signal"] <= 100 and metrics["node"]
        assert "/dist/train/" in metrics["checkpoint_path"], "Train's checkpoints live under the study"
        if result.config["point"]["model"] == "w2":  # FSDP: both workers' shards in the one checkpoint directory
            shards = sorted(p.name for p in (Path(metrics["checkpoint_path"]) / "trunk-dcp").iterdir())
            assert shards == [".metadata", "__0_0.distcp", "__1_0.distcp"], shards
    assert steps == {"w1": 10, "w2": 20}
    assert not held, "the stopped trial's workers were freed (Train's PlacementGroupCleaner, via the State API)"


def test_rows_match_one_worker(study):
    _, _, df, _ = study
    assert list(df.columns) == list(results.COLUMNS)
    # Tune stopped w1 after milestone 10, slowly: its Train job waited for the decision (trainable.wait_for_tune)
    # and wrote nothing past the stop.
    assert set(df[df.model == "w1"].intermediate_steps) == {10}
    keys = ["intermediate_steps", "target_task", "split", "language", "metric"]
    w1, w2 = (df[(df.model == m) & (df.intermediate_steps == 10)].sort_values(keys).reset_index(drop=True) for m in ("w1", "w2"))
    assert len(w1) == len(w2) > 0 and (w1[keys] == w2[keys]).all().all(), "the same rows"
    # Counted over both workers: the global batch's examples and tokens, exactly those of one worker.
    for col in ("intermediate_examples", "intermediate_tokens", "cooldown_tokens", "target_tokens", "eval_tokens"):
        assert (w1[col] == w2[col]).all(), col
    per = df[df.model == "w2"].groupby("intermediate_steps").intermediate_examples.first()
    assert per.to_dict() == {10: 16 * (10 + 2), 20: 16 * (20 + 4)}
    assert (df.intermediate_accelerator_seconds == 0).all(), "no GPU here"
    # Different dropout masks, as with another dropout seed: close, not equal (see the module docstring).
    scores = pd.merge(w1, w2, on=keys, suffixes=("_1", "_2"))
    gap = (scores[scores.metric == "score"].value_1 - scores[scores.metric == "score"].value_2).abs()
    print(f"score gaps between 1 and 2 workers: max {gap.max():.2f}, mean {gap.mean():.2f}")
    assert gap.max() < 15


def test_a_retried_trial_resumes_from_its_train_checkpoint(study):
    """The same trial id starts its Train run again: Train hands it the latest checkpoint (milestone 20),
    so with a longer step grid it trains on from step 20 and evaluates only the new milestone."""
    from study import launch, trainable

    spec, _, df, _ = study
    trial_id = df[df.model == "w2"].trial_id.iloc[0]
    uri = spec.uri
    for m in (10, 20):  # were the trial to start over, these would be evaluated and written again
        os.remove(results.milestone_uri(uri, trial_id, m))
    longer = launch.anchored(_spec(spec.study.storage, w2_steps=(0, 10, 20, 30)))
    trainable.run_in_train(longer, _point("w2"), trial_id)  # outside Tune: rows and checkpoints all the same
    rows = results.collect(uri)
    mine = rows[rows.trial_id == trial_id]
    assert set(mine.intermediate_steps) == {30}
    assert set(mine.intermediate_examples) == {16 * (30 + 6)}


def test_shard_bounds_differ_by_at_most_one():
    from study import distributed

    assert distributed.shard_bounds(16, 1, 3) == (6, 11) and distributed.shard_bounds(16, 0, 3) == (0, 6)
