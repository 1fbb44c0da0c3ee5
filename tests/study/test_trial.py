"""One trial on one configuration, without Ray: milestones, rows, costs, checkpoints and exact resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from study import results
from study.trial import Trial
from helpers import small_spec


def run_trial(spec, config, trial_id, checkpoint=None, stop_after=None, keep=None):
    reports: list[dict] = []

    def report(metrics, folder):
        reports.append(metrics)
        if keep is not None:
            shutil.copytree(folder, keep / str(metrics["intermediate_steps"]))
        if stop_after is not None and metrics["intermediate_steps"] >= stop_after:
            raise KeyboardInterrupt  # a crash right after a milestone was reported

    trial = Trial(spec, config, trial_id)
    try:
        trial.run(report, checkpoint)
    except KeyboardInterrupt:
        pass
    return reports


CONFIG = {"model": "tiny", "intermediate_task": "builtin_nli", "seed": 3, "intermediate_lr": 1e-3, "target_lr": 1e-3}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    storage = tmp_path_factory.mktemp("store")
    spec = small_spec(str(storage))
    reports = run_trial(spec, CONFIG, "full", keep=tmp_path_factory.mktemp("ckpt"))
    return spec, reports, results.collect(f"{storage}/t")


def test_reports_every_milestone_in_order(full_run):
    _, reports, _ = full_run
    assert [r["intermediate_steps"] for r in reports] == [10, 20]
    for r in reports:
        assert 0 <= r["dev_signal"] <= 100
        assert set(r) >= {"dev/builtin_pos", "dev/builtin_xnli", "dev/builtin_tatoeba", "test_mean", "intermediate_dev"}


def test_rows_are_tidy_and_complete(full_run):
    spec, _, df = full_run
    assert list(df.columns) == list(results.COLUMNS)
    assert set(df.intermediate_steps) == {10, 20}
    # Per milestone: dev in English plus each requested test language, for each target task.
    got = set(map(tuple, df[df.metric == "score"][["target_task", "split", "language"]].drop_duplicates().values))
    assert got == {
        ("builtin_pos", "dev", "en"), ("builtin_pos", "test", "en"), ("builtin_pos", "test", "xa"),
        ("builtin_xnli", "dev", "en"), ("builtin_xnli", "test", "en"), ("builtin_xnli", "test", "xb"),
        ("builtin_tatoeba", "dev", "en"), ("builtin_tatoeba", "test", "xc"),
    }
    assert df.value.between(0, 100).all()
    assert (df.seed == 3).all() and (df.model == "tiny").all() and (df.intermediate_task == "builtin_nli").all()
    assert set(df[df.target_task == "builtin_pos"].metric) == {"f1", "score"}
    assert set(df[df.target_task == "builtin_xnli"].metric) == {"accuracy", "score"}


def test_costs_are_counted(full_run):
    _, _, df = full_run
    per = df.groupby("intermediate_steps").first()
    # 20 trunk steps cost more than 10; the cooldown (20% of the steps so far) adds examples on top.
    assert per.loc[20, "intermediate_tokens"] > per.loc[10, "intermediate_tokens"] > 0
    assert per.loc[10, "intermediate_examples"] == 16 * (10 + 2)
    assert per.loc[20, "intermediate_examples"] == 16 * (20 + 4)
    assert per.loc[10, "intermediate_flops"] == pytest.approx(6 * per.loc[10, "model_params"] * per.loc[10, "intermediate_tokens"])
    pos = df[(df.target_task == "builtin_pos") & (df.intermediate_steps == 10)].iloc[0]
    assert pos.target_steps == 8 and pos.target_tokens > 0 and pos.eval_tokens > 0
    tat = df[(df.target_task == "builtin_tatoeba") & (df.intermediate_steps == 10)].iloc[0]
    assert tat.target_steps == 0, "retrieval is evaluated without fine-tuning"


def test_resume_from_checkpoint_gives_identical_results(full_run, tmp_path):
    spec_full, _, full_df = full_run
    spec = small_spec(str(tmp_path))
    keep = tmp_path / "ckpt"
    first = run_trial(spec, CONFIG, "resumed", stop_after=10, keep=keep)
    assert [r["intermediate_steps"] for r in first] == [10]
    second = run_trial(spec, CONFIG, "resumed", checkpoint=keep / "10")
    assert [r["intermediate_steps"] for r in second] == [20], "a finished milestone must not run again"
    df = results.collect(f"{tmp_path}/t")
    cols = ["intermediate_steps", "target_task", "split", "language", "metric", "value", "intermediate_tokens", "target_tokens"]
    a = full_df[cols].sort_values(cols[:5]).reset_index(drop=True)
    b = df[cols].sort_values(cols[:5]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_baseline_trial_reports_only_step_zero(tmp_path):
    spec = small_spec(str(tmp_path))
    reports = run_trial(spec, {**CONFIG, "intermediate_task": "none"}, "base")
    assert [r["intermediate_steps"] for r in reports] == [0]
    df = results.collect(f"{tmp_path}/t")
    assert (df.intermediate_tokens == 0).all() and (df.intermediate_steps == 0).all()
    assert not any(Path(tmp_path).rglob("*.tmp-*")), "no temporary files are left behind"
