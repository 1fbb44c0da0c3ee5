"""Grouped ASHA driven by synthetic learning curves: who is stopped, who is kept, and against whom."""

from __future__ import annotations

from ray.tune.schedulers import TrialScheduler

from study.launch import group_of
from study.scheduler import GroupedASHA

STOP, CONTINUE = TrialScheduler.STOP, TrialScheduler.CONTINUE


def make(rf=2.0):
    return GroupedASHA(
        metric="dev_signal", mode="max", time_attr="intermediate_steps",
        rungs={"small": [100, 300], "large": [1000]}, group_of=group_of, reduction_factor=rf,
    )


def cfg(model, task="nli"):
    return {"model": model, "intermediate_task": task}


def test_first_trial_at_a_rung_is_kept_and_worse_later_trial_is_stopped():
    s = make()
    assert s.decide("a", cfg("small"), {"intermediate_steps": 100, "dev_signal": 60.0}) == CONTINUE
    assert s.decide("b", cfg("small"), {"intermediate_steps": 100, "dev_signal": 40.0}) == STOP
    assert s.decide("c", cfg("small"), {"intermediate_steps": 100, "dev_signal": 70.0}) == CONTINUE
    assert [d["trial_id"] for d in s.decisions if d["decision"] == STOP] == ["b"]


def test_sizes_are_never_compared():
    s = make()
    # A strong large model reaches its rung first; a much weaker small model is not stopped by it.
    assert s.decide("L1", cfg("large"), {"intermediate_steps": 1000, "dev_signal": 90.0}) == CONTINUE
    assert s.decide("S1", cfg("small"), {"intermediate_steps": 100, "dev_signal": 10.0}) == CONTINUE
    assert s.decide("S2", cfg("small"), {"intermediate_steps": 100, "dev_signal": 5.0}) == STOP
    s2 = [d for d in s.decisions if d["trial_id"] == "S2"][0]
    assert s2["compared_with"] == ["S1"] and s2["group"] == "small"


def test_rungs_are_the_milestones_only():
    s = make()
    # 200 is not a rung of "small": nothing is recorded and the trial goes on.
    assert s.decide("a", cfg("small"), {"intermediate_steps": 200, "dev_signal": 1.0}) == CONTINUE
    assert s.decisions == []


def test_baseline_is_never_ranked():
    s = make()
    s.decide("a", cfg("small"), {"intermediate_steps": 100, "dev_signal": 90.0})
    assert s.decide("base", cfg("small", "none"), {"intermediate_steps": 0, "dev_signal": 1.0}) == CONTINUE
    assert all(d["trial_id"] != "base" for d in s.decisions)


def test_a_trial_is_judged_once_per_rung_and_at_each_rung():
    s = make()
    s.decide("a", cfg("small"), {"intermediate_steps": 100, "dev_signal": 50.0})
    s.decide("b", cfg("small"), {"intermediate_steps": 100, "dev_signal": 60.0})
    # A repeated report at the same rung (a retried trial) is not judged again.
    assert s.decide("a", cfg("small"), {"intermediate_steps": 100, "dev_signal": 0.0}) == CONTINUE
    assert s.decide("b", cfg("small"), {"intermediate_steps": 300, "dev_signal": 65.0}) == CONTINUE
    assert s.decide("a", cfg("small"), {"intermediate_steps": 300, "dev_signal": 55.0}) == STOP


def test_quantile_follows_reduction_factor():
    # With rf=4 only trials in the top quarter survive: the cutoff is the 75th percentile.
    s = make(rf=4.0)
    for i, v in enumerate([10.0, 20.0, 30.0, 40.0]):
        s.decide(f"t{i}", cfg("small"), {"intermediate_steps": 100, "dev_signal": v})
    assert s.decide("x", cfg("small"), {"intermediate_steps": 100, "dev_signal": 32.0}) == STOP
    assert s.decide("y", cfg("small"), {"intermediate_steps": 100, "dev_signal": 39.0}) == CONTINUE


def test_nan_signal_is_stopped():
    s = make()
    s.decide("a", cfg("small"), {"intermediate_steps": 100, "dev_signal": 50.0})
    assert s.decide("b", cfg("small"), {"intermediate_steps": 100, "dev_signal": float("nan")}) == STOP


def test_min_mode():
    s = GroupedASHA(metric="loss", mode="min", time_attr="t", rungs={"g": [1]}, group_of=lambda c: "g")
    s.decide("a", {}, {"t": 1, "loss": 1.0})
    assert s.decide("b", {}, {"t": 1, "loss": 2.0}) == STOP
    assert s.decide("c", {}, {"t": 1, "loss": 0.5}) == CONTINUE
