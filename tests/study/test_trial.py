"""One trial on one configuration, without Ray: milestones, rows, costs, checkpoints and exact resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from study import results
from study.tasks import registry
from study.trial import Trial
from helpers import small_spec


def run_trial(spec, config, trial_id, checkpoint=None, stop_after=None, keep=None, trials=None):
    reports: list[dict] = []

    def report(metrics, folder):
        reports.append(metrics)
        if keep is not None:
            shutil.copytree(folder, keep / str(metrics["intermediate_steps"]))
        if stop_after is not None and metrics["intermediate_steps"] >= stop_after:
            raise KeyboardInterrupt  # a crash right after a milestone was reported

    trial = Trial(spec, config, trial_id)
    if trials is not None:
        trials.append(trial)
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
    trials = []
    reports = run_trial(spec, CONFIG, "full", keep=tmp_path_factory.mktemp("ckpt"), trials=trials)
    run = FullRun((spec, reports, results.collect(f"{storage}/t")))
    run.splits = trials[0].splits
    return run


class FullRun(tuple):
    """(spec, reports, rows) of the module's trial, and the trial's SplitMemory as `splits`."""


def test_each_split_is_read_from_disk_once_per_trial(full_run):
    memory = full_run.splits
    assert memory.reads > 0
    assert memory.reads == len(memory._kept), "no split was read twice"
    assert memory.loads > 2 * memory.reads - 1, "the second milestone evaluated from memory"


def test_reports_every_milestone_in_order(full_run):
    _, reports, _ = full_run
    assert [r["intermediate_steps"] for r in reports] == [10, 20]
    for r in reports:
        assert 0 <= r["dev_signal"] <= 100
        assert set(r) >= {"dev/builtin_pos", "dev/builtin_xnli", "dev/builtin_tatoeba", "test_mean", "intermediate_dev"}


def test_the_report_dev_vs_zero_shot_shows_the_signal_asha_ranked(full_run):
    # The trial reports ASHA's signal; the report recomputes it from the rows with the same function.
    from analysis.transfer import dev_vs_zero_shot

    _, reports, df = full_run
    shown = dev_vs_zero_shot(df).set_index("intermediate_steps")["dev"]
    for r in reports:
        assert shown[r["intermediate_steps"]] == pytest.approx(r["dev_signal"], abs=1e-9)
    dev = df[(df.split == "dev") & (df.metric == "score")]
    assert dev.chance.notna().all() and (dev.groupby("target_task").chance.nunique() == 1).all()
    assert dev.set_index("target_task").chance.loc["builtin_xnli"].iloc[0] > 0  # a majority label scores above 0


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
    # Matmul FLOPs: 6 x non-embedding parameters x tokens, plus attention, 6 x n_layer x d_attn x length^2
    # summed over sequences (each between 1 and max_length = 48 tokens long); the embeddings cost nothing.
    row = per.loc[10]
    assert 0 < row.model_non_embedding_params < row.model_params
    attention = row.intermediate_flops - 6 * row.model_non_embedding_params * row.intermediate_tokens
    per_token = 6 * 2 * 64  # tiny: 2 layers, d_attn 64
    assert per_token * row.intermediate_tokens <= attention <= per_token * row.intermediate_tokens * 48
    assert row.intermediate_flops_all_params == pytest.approx(6 * row.model_params * row.intermediate_tokens)
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


def _trunk_state(trial):
    phase = trial.phase
    params = {k: v.clone() for k, v in phase.encoder.state_dict().items()}
    params.update({f"head.{k}": v.clone() for name, h in phase.heads.items() for k, v in h.state_dict().items()})
    opt = phase.optimizer.state_dict()["state"]
    return params, opt, {n: (s.state.epoch, s.state.position) for n, s in phase.streams.items()}, phase.step


def test_cooldown_branches_leave_the_trunk_exactly_as_without_them(tmp_path):
    import torch

    states = []
    for fraction in (0.5, 0.0):
        spec = small_spec(str(tmp_path / str(fraction)), intermediate_training={"warmup_steps": 2, "cooldown_fraction": fraction})
        trial = Trial(spec, CONFIG, "exact")
        trial.run(lambda metrics, folder: None)
        states.append(_trunk_state(trial))
    (pa, oa, sa, ka), (pb, ob, sb, kb) = states
    assert ka == kb == 20 and sa == sb, "same steps and data order"
    assert pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa), "same parameters"
    assert all(torch.equal(oa[i][k], ob[i][k]) for i in oa for k in oa[i]), "same optimizer state"


def test_branch_and_independent_modes_give_comparable_rows(tmp_path):
    rows = {}
    for mode in ("branch", "independent"):
        spec = small_spec(str(tmp_path / mode), intermediate_training={"schedule": mode, "warmup_steps": 2, "cooldown_fraction": 0.2})
        budgets = [None] if mode == "branch" else [10, 20]
        for b in budgets:
            config = {**CONFIG, **({"budget": b} if b else {})}
            reports = run_trial(spec, config, f"{mode}-{b}")
            assert [r["intermediate_steps"] for r in reports] == ([10, 20] if mode == "branch" else [10, 20][: [10, 20].index(b) + 1])
        rows[mode] = results.collect(f"{tmp_path / mode}/t")
    b, i = rows["branch"], rows["independent"]
    assert set(b.schedule) == {"branch"} and set(i.schedule) == {"independent"}
    keys = ["intermediate_steps", "target_task", "split", "language", "metric"]
    assert sorted(map(tuple, b[keys].values.tolist())) == sorted(map(tuple, i[keys].values.tolist()))
    # Independent runs train exactly their budget, without a cooldown branch.
    assert (i.cooldown_steps == 0).all() and set(i.intermediate_examples) == {16 * 10, 16 * 20}
    assert set(b.cooldown_steps) == {2, 4}


def test_multitask_mixture_records_its_composition(tmp_path):
    import json

    mixture = {"name": "mix", "tasks": ["builtin_nli", "builtin_swag"], "sampling": "temperature", "temperature": 2.0}
    spec = small_spec(str(tmp_path), intermediate_tasks=["builtin_nli", "builtin_swag", mixture])
    trial = Trial(spec, {**CONFIG, "intermediate_task": "mix"}, "mix")
    trial.run(lambda metrics, folder: None)
    assert set(trial.phase.heads) == {"builtin_nli", "builtin_swag"}, "one head per task over one encoder"
    df = results.collect(f"{tmp_path}/t")
    shares = json.loads(df.mixture.iloc[0])
    assert set(shares) == {"builtin_nli", "builtin_swag"} and abs(sum(shares.values()) - 1) < 1e-9
    assert (df.intermediate_task == "mix").all()
    # Both tasks were actually trained on.
    picked = {trial.phase.task_at(s) for s in range(20)}
    assert picked == {"builtin_nli", "builtin_swag"}


def test_mixture_shares():
    from study.spec import MixtureSpec

    sizes = {"a": 900, "b": 100}
    assert MixtureSpec(name="m", sampling="proportional").shares(sizes) == {"a": 0.9, "b": 0.1}
    assert MixtureSpec(name="m", sampling="capped", cap=100).shares(sizes) == {"a": 0.5, "b": 0.5}
    t = MixtureSpec(name="m", sampling="temperature", temperature=2.0).shares(sizes)
    assert abs(t["a"] - 30 / 40) < 1e-12 and abs(t["b"] - 10 / 40) < 1e-12


def test_non_finite_loss_stops_the_trial_with_its_reason(tmp_path):
    import json

    spec = small_spec(str(tmp_path))
    # A learning rate this large makes the loss overflow within the first milestone.
    reports = run_trial(spec, {**CONFIG, "intermediate_lr": 1e30}, "nan")
    assert len(reports) == 1 and "non-finite" in reports[0]["stopped_reason"]
    record = json.loads((tmp_path / "t" / "stopped" / "nan.json").read_text())
    assert record["trial_id"] == "nan" and "non-finite" in record["reason"]
    assert not (tmp_path / "t" / "rows" / "nan").exists(), "no rows from a diverged run"


def test_a_tokenization_error_fails_the_trial_at_once_with_its_reason(tmp_path, monkeypatch):
    import json

    from study import data, status
    from study.tasks.span_qa import SpanQA

    def old_stride_rule(self, examples, tokenizer, max_length, task, train):
        # What span QA did before the query limit: a stride of half the window, whatever the question leaves.
        return tokenizer([" ".join([ex["question"]] * 4) for ex in examples], [ex["context"] for ex in examples],
                         truncation="only_second", max_length=max_length, stride=max_length // 2,
                         return_overflowing_tokens=True)

    monkeypatch.setattr(SpanQA, "features", old_stride_rule)
    monkeypatch.setattr(data, "FEATURES_VERSION", "never-cached")  # tokenized here, not read from the cache
    spec = small_spec(str(tmp_path), intermediate_tasks=["none", "builtin_squad"])
    reports = run_trial(spec, {**CONFIG, "intermediate_task": "builtin_squad"}, "bad")  # raises nothing
    assert len(reports) == 1 and reports[0]["intermediate_steps"] == 10
    reason = reports[0]["failed_reason"]
    assert "TokenizationError" in reason and "PanicException: `stride` must be strictly less than" in reason
    record = json.loads((tmp_path / "t" / "failed" / "bad.json").read_text())
    assert "task builtin_squad, split train" in record["reason"] and "max_length 48" in record["reason"]
    (tmp_path / "t" / "spec.json").write_text(spec.model_dump_json())
    [trial] = status.gather(str(tmp_path / "t"))["trials"]
    assert trial["state"] == status.ERRORED and trial["error"] == reason


def test_test_predictions_are_written_in_the_submission_layout(full_run):
    spec, _, _ = full_run
    root = Path(spec.study.storage) / "t" / "predictions" / "full"
    assert sorted(p.name for p in root.iterdir()) == ["10", "20"]
    files = sorted(str(p.relative_to(root / "20")) for p in (root / "20").rglob("test-*"))
    assert files == ["builtin_pos/test-en.tsv", "builtin_pos/test-xa.tsv", "builtin_tatoeba/test-xc.tsv",
                     "builtin_xnli/test-en.tsv", "builtin_xnli/test-xb.tsv"]
    lines = (root / "20" / "builtin_xnli" / "test-xb.tsv").read_text().splitlines()
    assert len(lines) == 300 and set(lines) <= {"entailment", "neutral", "contradiction"}


def test_target_without_english_dev_and_with_train_first(tmp_path):
    """A target with no English dev set is scored on test only; `train_first` fine-tunes on another task
    first with the same head (as XCOPA trains on SocialIQA, then COPA)."""
    from study.tasks import registry

    base = registry.get("builtin_xnli")
    if registry.get("nodev_xnli", None) is None:
        registry.register(registry.Task(
            name="nodev_xnli", format_name=base.format_name, metric=base.metric, roles=frozenset({"target"}),
            test_languages=("en", "xa"), loader=base.loader, labels=base.labels,
            splits={"train": ("en",), "test": ("en", "xa")}, train_first=("builtin_nli",),
        ))
    spec = small_spec(str(tmp_path), target_tasks=[{"task": "nodev_xnli", "languages": ["xa"]}])
    reports = run_trial(spec, {**CONFIG, "intermediate_task": "none"}, "nodev")
    df = results.collect(f"{tmp_path}/t")
    assert set(df.split) == {"test"} and set(df.language) == {"xa"}
    # train_first: builtin_nli for 8 steps, then the task itself for 8 steps.
    assert set(df.target_steps) == {16}
    assert np.isnan(reports[0]["dev_signal"]) and "test/nodev_xnli" in reports[0]


@pytest.fixture
def pos_twin():
    """A second tagging target that fine-tunes on builtin_pos's training set (as XQuAD and MLQA on SQuAD)."""
    from dataclasses import replace

    twin = registry.register(replace(registry.get("builtin_pos"), name="builtin_pos_twin", train_data="builtin_pos"))
    yield twin.name
    registry._REGISTRY.pop(twin.name)


def _milestone_rows(tmp_path, name, targets):
    spec = small_spec(str(tmp_path), name=name, target_tasks=[{"task": t, "languages": ["xa"]} for t in targets])
    reports = run_trial(spec, {**CONFIG, "intermediate_task": "none"}, "base")
    return reports, results.collect(f"{tmp_path}/{name}")


def test_targets_that_train_alike_share_one_fine_tune_with_the_scores_of_separate_runs(tmp_path, pos_twin):
    both, rows = _milestone_rows(tmp_path, "both", ["builtin_pos", pos_twin])
    alone, alone_rows = _milestone_rows(tmp_path, "alone", ["builtin_pos"])
    twin, twin_rows = _milestone_rows(tmp_path, "twin", [pos_twin])

    def scores(df, task):
        part = df[df.target_task == task].sort_values(["split", "language", "metric"])
        return part[["split", "language", "metric", "value"]].reset_index(drop=True)

    pd.testing.assert_frame_equal(scores(rows, "builtin_pos"), scores(alone_rows, "builtin_pos"), check_exact=True)
    pd.testing.assert_frame_equal(scores(rows, pos_twin), scores(twin_rows, pos_twin), check_exact=True)
    pd.testing.assert_frame_equal(scores(rows, pos_twin), scores(rows, "builtin_pos"), check_exact=True)
    # One fine-tune, its cost split between the two targets' rows: the milestone's total is one run's.
    assert both[0]["target_steps"] == alone[0]["target_steps"] == 8
    per_target = rows.groupby("target_task").target_steps.first()
    assert per_target.to_dict() == {"builtin_pos": 4.0, pos_twin: 4.0}


def test_a_target_trains_the_same_whichever_targets_come_before_it(tmp_path):
    first = _milestone_rows(tmp_path, "first", ["builtin_pos", "builtin_xnli"])[1]
    second = _milestone_rows(tmp_path, "second", ["builtin_xnli", "builtin_pos"])[1]
    for task in ("builtin_pos", "builtin_xnli"):
        a = first[first.target_task == task].sort_values(["split", "language", "metric"]).value.to_numpy()
        b = second[second.target_task == task].sort_values(["split", "language", "metric"]).value.to_numpy()
        assert (a == b).all(), task


def test_rows_carry_the_registered_direction_of_their_tasks_metric(tmp_path, lower_is_better_xnli):
    spec = small_spec(str(tmp_path), target_tasks=[{"task": "builtin_pos", "languages": ["xa"]},
                                                   {"task": lower_is_better_xnli, "languages": ["xb"]}],
                      asha={"signal": "task:builtin_pos"})
    run_trial(spec, {**CONFIG, "intermediate_task": "none"}, "base")
    df = results.collect(f"{tmp_path}/t")
    assert df.groupby("target_task").higher_is_better.unique().map(list).to_dict() == {
        "builtin_pos": [True], lower_is_better_xnli: [False]}
