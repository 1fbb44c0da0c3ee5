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
def study(tmp_path_factory):
    import ray

    storage = tmp_path_factory.mktemp("tune")
    spec = small_spec(
        str(storage), name="asha",
        intermediate_tasks=["builtin_nli"],
        target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}, {"task": "builtin_xnli", "languages": ["xb"]}],
        hyperparameters={"intermediate_lr": 1e-3, "target_lr": {"grid": [GOOD_LR, *BAD_LRS]}},
        target_training={"steps": 25, "batch_size": 16, "eval_batch_size": 128},
        search={"max_concurrent_trials": 2},
    )
    launch.init_ray(None, num_cpus=2)
    try:
        grid, table_uri = launch.run(spec)
    finally:
        ray.shutdown()
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
