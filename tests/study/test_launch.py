"""A two-size study through Ray Tune: ASHA stops weak trials, but only ever against trials of their own size."""

from __future__ import annotations

import json

import pytest
from ray.tune.schedulers import TrialScheduler

from study import launch, results
from helpers import small_spec

pytestmark = pytest.mark.slow

GOOD_LR, BAD_LRS = 3e-3, [1e-8, 1e-9]  # a target learning rate this small leaves the heads at chance


@pytest.fixture(scope="module")
def study(local_ray, tmp_path_factory):
    storage = tmp_path_factory.mktemp("tune")
    spec = small_spec(
        str(storage), name="asha",
        intermediate_tasks=["builtin_nli"],
        target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}, {"task": "builtin_xnli", "languages": ["xb"]}],
        hyperparameters={"intermediate_lr": 1e-3, "target_lr": {"grid": [GOOD_LR, *BAD_LRS]}},
        target_training={"steps": 25, "batch_size": 16, "eval_batch_size": 128},
        search={"max_concurrent_trials": 2},
    )
    ended = launch.run(spec)
    grid, table_uri = ended.grid, ended.table
    decisions = json.loads((storage / "asha" / "scheduler.json").read_text())
    return spec, grid, results.collect(f"{storage}/asha"), decisions, table_uri


def test_every_trial_ran_and_none_errored(study):
    spec, grid, df, _, table_uri = study
    assert grid.num_errors == 0
    # 2 sizes x (none + builtin_nli) x 3 target learning rates
    assert len(grid) == 12
    assert set(df.model) == {"tiny", "small"}
    assert table_uri.endswith("asha/results.parquet")
    import pandas as pd

    assert len(pd.read_parquet(table_uri)) == len(df)


def test_baseline_always_runs_at_step_zero(study):
    _, _, df, _, _ = study
    base = df[df.intermediate_task == "none"]
    assert set(base.intermediate_steps) == {0}
    assert base.groupby("model").trial_id.nunique().to_dict() == {"small": 3, "tiny": 3}


def test_asha_stops_within_a_size_only(study):
    _, _, df, decisions, _ = study
    stops = [d for d in decisions if d["decision"] == TrialScheduler.STOP]
    assert stops, "ASHA should stop at least one trial with a useless target learning rate"
    trial_model = df.groupby("trial_id").model.first().to_dict()
    for d in decisions:
        assert d["milestone"] == 10, "the only rung is the first non-zero milestone"
        assert all(trial_model[other] == trial_model[d["trial_id"]] == d["group"] for other in d["compared_with"])
    # A stopped trial has rows for the rung it was stopped at, and none beyond.
    for d in stops:
        assert set(df[df.trial_id == d["trial_id"]].intermediate_steps) == {10}
        config = json.loads(df[df.trial_id == d["trial_id"]].config.iloc[0])
        assert config["target_lr"] in BAD_LRS
    kept = {d["trial_id"] for d in decisions if d["decision"] == TrialScheduler.CONTINUE}
    for trial_id in kept:
        assert set(df[df.trial_id == trial_id].intermediate_steps) == {10, 20}


def test_rows_record_node_and_hyperparameters(study):
    _, _, df, _, _ = study
    assert df.node.str.len().gt(0).all()
    configs = df.groupby("trial_id").config.first().map(json.loads)
    assert {c["target_lr"] for c in configs} == {GOOD_LR, *BAD_LRS}


TINY_ONLY = [{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16, "max_length": 48,
              "steps": [0, 10, 20]}]


def run_tiny_study(tmp_path_factory, name: str, **overrides):
    """A study of the tiny size alone on the session's local Ray: (result grid, rows, ASHA's decisions)."""
    storage = tmp_path_factory.mktemp(name)
    spec = small_spec(str(storage), name=name, models=TINY_ONLY, **overrides)
    grid = launch.run(spec).grid
    return grid, results.collect(f"{storage}/{name}"), json.loads((storage / name / "scheduler.json").read_text())


@pytest.fixture(scope="module")
def seeded(local_ray, tmp_path_factory):
    return run_tiny_study(
        tmp_path_factory, "seeds",
        intermediate_tasks=["builtin_nli", "builtin_swag"], seeds=[0, 1, 2],
        target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}],
        hyperparameters={"intermediate_lr": {"loguniform": [1e-4, 3e-3]}, "target_lr": 1e-3},
        search={"algorithm": "optuna", "max_concurrent_trials": 2, "seed": 7},
    )


def test_three_seeds_per_point_and_every_row_traces_to_its_seed(seeded):
    grid, df, _ = seeded
    assert grid.num_errors == 0 and len(grid) == 9  # (none + 2 tasks) x 3 seeds
    per_task = df.groupby("intermediate_task").seed.apply(lambda s: sorted(s.unique())).to_dict()
    assert per_task == {"none": [0, 1, 2], "builtin_nli": [0, 1, 2], "builtin_swag": [0, 1, 2]}
    configs = df.groupby("trial_id").agg(seed=("seed", "first"), config=("config", "first"), n=("seed", "nunique"))
    assert (configs.n == 1).all(), "one seed per trial"
    for _, row in configs.iterrows():
        assert json.loads(row.config)["seed"] == row.seed, "the row's seed is the trial's seed"


def test_optuna_samples_once_per_configuration_and_seeds_repeat_it(seeded):
    _, df, _ = seeded
    lrs = df[df.intermediate_task != "none"].groupby("intermediate_task").config.apply(
        lambda c: {json.loads(x)["intermediate_lr"] for x in c})
    for task, values in lrs.items():
        assert len(values) == 1, f"the seeds of {task} share one sampled learning rate"
    assert lrs["builtin_nli"] != lrs["builtin_swag"], "TPE samples each configuration"
    assert all(1e-4 <= next(iter(v)) <= 3e-3 for v in lrs)


def test_asha_waits_for_all_seeds_before_judging(seeded):
    _, _, decisions = seeded
    judged = [d for d in decisions if d["decision"] != "WAIT"]
    assert judged and all(d["seeds_at_rung"] == 3 for d in judged)
    assert sum(d["decision"] == "WAIT" for d in decisions) == 2 * 2  # two early seeds of each configuration


# search.seed 47 draws target learning rates of about 2e-3 (sample 0) and 8e-9 (sample 1, which leaves the
# heads at chance): the second configuration judged at the rung is far below the first.
SAMPLED_SEARCH_SEED = 47


@pytest.fixture(scope="module")
def sampled(local_ray, tmp_path_factory):
    return run_tiny_study(
        tmp_path_factory, "sampled",
        intermediate_tasks=["builtin_nli"], seeds=[0, 1, 2],
        target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}],
        hyperparameters={"intermediate_lr": 1e-3, "target_lr": {"loguniform": [1e-9, 1e-2]}},
        target_training={"steps": 25, "batch_size": 16, "eval_batch_size": 128},
        search={"algorithm": "grid", "num_samples": 2, "max_concurrent_trials": 2, "seed": SAMPLED_SEARCH_SEED},
    )


def test_grid_search_seeds_share_sampled_hyperparameters_and_asha_stops(sampled):
    grid, df, decisions = sampled
    assert grid.num_errors == 0 and len(grid) == 2 * 2 * 3  # 2 samples x (none + builtin_nli) x 3 seeds
    trials = df.groupby("trial_id").agg(seed=("seed", "first"), config=("config", "first"), task=("intermediate_task", "first"))
    trials["lr"] = trials.config.map(lambda c: json.loads(c)["target_lr"])
    trials["sample"] = trials.config.map(lambda c: json.loads(c)["sample"])
    for (task, sample), members in trials.groupby(["task", "sample"]):
        assert sorted(members.seed) == [0, 1, 2], f"{task} sample {sample} runs every seed"
        assert members.lr.nunique() == 1, f"the seeds of {task} sample {sample} share one learning rate"
    assert trials[trials.task == "builtin_nli"].lr.nunique() == 2
    judged = [d for d in decisions if d["decision"] != "WAIT"]
    assert judged and all(d["seeds_at_rung"] == 3 for d in judged)
    stops = [d for d in decisions if d["decision"] == TrialScheduler.STOP]
    assert stops, "the configuration with a useless learning rate is stopped at the rung"
    worst = trials[trials.task == "builtin_nli"].lr.min()
    assert all(json.loads(d["config"])["target_lr"] == worst for d in stops)


def test_resume_points_the_restored_recorder_and_scheduler_at_the_moved_study(tmp_path):
    """What Tuner.restore unpickles names the folder the study was made in; `relocate` (called by `resume`)
    makes the retry recorder and scheduler.json write where the study is now."""
    from ray import cloudpickle as pickle
    import shutil
    from types import SimpleNamespace

    from ray import tune

    from study import recovery
    from study.recovery_callback import RetryRecorder

    old, new = tmp_path / "old" / "s", tmp_path / "new" / "s"
    spec = small_spec(str(tmp_path / "old"), name="s")
    run_config = tune.RunConfig(callbacks=[RetryRecorder(spec.uri)])
    tune_config = tune.TuneConfig(scheduler=launch.scheduler(spec))
    run_config, tune_config = pickle.loads(pickle.dumps((run_config, tune_config)))  # as tuner.pkl has them
    old.mkdir(parents=True)
    (old / "scheduler.json").write_text(json.dumps([
        {"group": "tiny", "milestone": 10, "trial_id": "t1", "config": "{}", "score": 0.5, "trial_score": 0.5,
         "seeds_at_rung": 1, "cutoff": None, "compared_with": [], "decision": "STOP"}]))
    new.parent.mkdir()
    shutil.move(str(old), str(new))

    launch.relocate(run_config, tune_config, str(new))
    trial = SimpleNamespace(trial_id="t2", num_failures=1, error_file=None,
                            latest_checkpoint_result=SimpleNamespace(metrics={"intermediate_steps": 10}))
    run_config.callbacks[0].on_trial_recover(0, [], trial)
    assert recovery.trial_retries(str(new), "t2")[0]["restarted_from"] == 10
    scheduler = tune_config.scheduler
    assert scheduler.decide("t3", {"point": {"model": "tiny", "intermediate_task": "builtin_nli", "seed": 0}},
                            {"intermediate_steps": 10, "dev_signal": 0.9}) == TrialScheduler.CONTINUE
    assert [d["trial_id"] for d in json.loads((new / "scheduler.json").read_text())] == ["t1", "t3"]
    assert not old.exists()
