"""Grouped ASHA driven by synthetic learning curves: who is stopped, who is kept, and against whom."""

from __future__ import annotations

from itertools import count

from study.launch import group_of
from study.scheduler import CONTINUE, STOP, GroupedASHA

_lr = count(1)


def make(rf=2.0, min_seeds=1, rungs=None):
    return GroupedASHA(
        metric="dev_signal", mode="max", time_attr="intermediate_steps",
        rungs=rungs or {"small": [100, 300], "large": [1000]}, group_of=group_of, reduction_factor=rf,
        min_seeds=min_seeds,
    )


def cfg(model, task="nli", lr=None, seed=0, **extra):
    """A distinct configuration per call unless `lr` is given (configurations differ by more than the seed)."""
    return {"point": {"model": model, "intermediate_task": task, "seed": seed, **extra},
            "intermediate_lr": lr if lr is not None else next(_lr)}


def at(steps, score):
    return {"intermediate_steps": steps, "dev_signal": score}


def test_first_trial_at_a_rung_is_kept_and_worse_later_trial_is_stopped():
    s = make()
    assert s.decide("a", cfg("small"), at(100, 60.0)) == CONTINUE
    assert s.decide("b", cfg("small"), at(100, 40.0)) == STOP
    assert s.decide("c", cfg("small"), at(100, 70.0)) == CONTINUE
    assert [d["trial_id"] for d in s.decisions if d["decision"] == STOP] == ["b"]


def test_sizes_are_never_compared():
    s = make()
    # A strong large model reaches its rung first; a much weaker small model is not stopped by it.
    assert s.decide("L1", cfg("large"), at(1000, 90.0)) == CONTINUE
    assert s.decide("S1", cfg("small"), at(100, 10.0)) == CONTINUE
    assert s.decide("S2", cfg("small"), at(100, 5.0)) == STOP
    s2 = [d for d in s.decisions if d["trial_id"] == "S2"][0]
    assert s2["compared_with"] == ["S1"] and s2["group"] == "small"


def test_independent_mode_groups_by_size_and_budget():
    rungs = {"small@300": [100], "small@1000": [100, 300]}
    s = make(rungs=rungs)
    assert s.decide("a", cfg("small", budget=300), at(100, 90.0)) == CONTINUE
    # Same size, other budget: not compared with the 300-step run.
    assert s.decide("b", cfg("small", budget=1000), at(100, 10.0)) == CONTINUE
    assert s.decide("c", cfg("small", budget=1000), at(100, 5.0)) == STOP
    assert {d["group"] for d in s.decisions} == {"small@300", "small@1000"}


def test_rungs_are_the_milestones_only():
    s = make()
    assert s.decide("a", cfg("small"), at(200, 1.0)) == CONTINUE  # 200 is not a rung of "small"
    assert s.decisions == []


def test_baseline_is_never_ranked():
    s = make()
    s.decide("a", cfg("small"), at(100, 90.0))
    assert s.decide("base", cfg("small", "none"), at(0, 1.0)) == CONTINUE
    assert all(d["trial_id"] != "base" for d in s.decisions)


def test_a_trial_is_judged_once_per_rung_and_at_each_rung():
    s = make()
    a, b = cfg("small"), cfg("small")
    s.decide("a", a, at(100, 50.0))
    s.decide("b", b, at(100, 60.0))
    assert s.decide("a", a, at(100, 0.0)) == CONTINUE  # a retried trial repeating a rung is not judged again
    assert s.decide("b", b, at(300, 65.0)) == CONTINUE
    assert s.decide("a", a, at(300, 55.0)) == STOP


def test_quantile_follows_reduction_factor():
    s = make(rf=4.0)  # only the top quarter survives: the cutoff is the 75th percentile
    for i, v in enumerate([10.0, 20.0, 30.0, 40.0]):
        s.decide(f"t{i}", cfg("small"), at(100, v))
    assert s.decide("x", cfg("small"), at(100, 32.0)) == STOP
    assert s.decide("y", cfg("small"), at(100, 39.0)) == CONTINUE


def test_nan_signal_is_stopped():
    s = make()
    s.decide("a", cfg("small"), at(100, 50.0))
    assert s.decide("b", cfg("small"), at(100, float("nan"))) == STOP


def test_one_noisy_seed_does_not_decide_alone():
    s = make(min_seeds=3)
    good = [cfg("small", lr=1.0, seed=k) for k in range(3)]
    bad = [cfg("small", lr=2.0, seed=k) for k in range(3)]
    for k, c in enumerate(good):
        s.decide(f"g{k}", c, at(100, 60.0 + k))
    # The bad configuration's first seed is terrible, but it waits for its siblings.
    assert s.decide("b0", bad[0], at(100, 1.0)) == CONTINUE
    assert s.decide("b1", bad[1], at(100, 80.0)) == CONTINUE
    # Mean of the three seeds: (1 + 80 + 90) / 3 = 57 < 61 (the good configuration's mean): stopped...
    assert s.decide("b2", bad[2], at(100, 90.0)) == STOP
    # ...and every seed of it stops at its next report, wherever it is.
    assert s.decide("b0", bad[0], at(300, 99.0)) == STOP
    assert s.decide("b1", bad[1], at(300, 99.0)) == STOP
    waits = [d for d in s.decisions if d["decision"] == "WAIT"]
    assert [d["trial_id"] for d in waits] == ["g0", "g1", "b0", "b1"]


def test_a_noisy_seed_is_rescued_by_its_siblings():
    s = make(min_seeds=2)
    for k, v in enumerate([50.0, 52.0]):
        s.decide(f"a{k}", cfg("small", lr=1.0, seed=k), at(100, v))
    assert s.decide("b0", cfg("small", lr=2.0, seed=0), at(100, 20.0)) == CONTINUE
    assert s.decide("b1", cfg("small", lr=2.0, seed=1), at(100, 95.0)) == CONTINUE  # mean 57.5 > 51


def test_min_mode():
    s = GroupedASHA(metric="loss", mode="min", time_attr="t", rungs={"g": [1]}, group_of=lambda c: "g")
    s.decide("a", {"x": 1}, {"t": 1, "loss": 1.0})
    assert s.decide("b", {"x": 2}, {"t": 1, "loss": 2.0}) == STOP
    assert s.decide("c", {"x": 3}, {"t": 1, "loss": 0.5}) == CONTINUE


def test_a_moved_study_keeps_its_decisions_and_writes_where_it_now_is(tmp_path):
    """Tune saves no scheduler state: a resumed study's scheduler is the one built at launch, empty. Relocated,
    it reads scheduler.json back (scores at each rung, stopped configurations) and writes to the new folder."""
    import json
    from ray import cloudpickle as pickle
    import shutil

    old, new = tmp_path / "old" / "study", tmp_path / "new" / "study"
    built = GroupedASHA(metric="dev_signal", mode="max", time_attr="intermediate_steps", rungs={"small": [100, 300]},
                        group_of=group_of, min_seeds=2, decisions_uri=str(old / "scheduler.json"))
    pickled = pickle.dumps(built)  # what tuner.pkl holds
    good = [cfg("small", lr=1.0, seed=k) for k in range(2)]
    bad = [cfg("small", lr=2.0, seed=k) for k in range(2)]
    built.decide("g0", good[0], at(100, 60.0))
    built.decide("g1", good[1], at(100, 62.0))
    built.decide("b0", bad[0], at(100, 10.0))
    assert built.decide("b1", bad[1], at(100, 12.0)) == STOP
    before = json.loads((old / "scheduler.json").read_text())
    new.parent.mkdir()
    shutil.move(str(old), str(new))

    restored = pickle.loads(pickled)
    assert restored.decisions == []
    restored.relocate(str(new / "scheduler.json"))
    assert restored.decisions == before
    # The stopped configuration stays stopped; a trial already judged at a rung is not judged again there.
    assert restored.decide("b0", bad[0], at(300, 99.0)) == STOP
    assert restored.decide("g0", good[0], at(100, 0.0)) == CONTINUE and len(restored.decisions) == len(before)
    # A new configuration is ranked against the recorded seeds' own scores: the cutoff is the median of the
    # configurations' means 61 and 11, 36 (with nothing recorded there would be no cutoff, and no stop).
    late = [cfg("small", lr=3.0, seed=k) for k in range(2)]
    restored.decide("l0", late[0], at(100, 5.0))
    assert restored.decide("l1", late[1], at(100, 7.0)) == STOP
    assert restored.decisions[-1]["cutoff"] == 36.0
    written = json.loads((new / "scheduler.json").read_text())
    assert written[: len(before)] == before and [d["trial_id"] for d in written[len(before):]] == ["l0", "l1"]
    assert not old.exists()  # nothing written where the study was


def flat_scheduler(asha_rungs=None, uri=None):
    return GroupedASHA(
        metric="dev_signal", mode="max", time_attr="intermediate_steps", rungs=asha_rungs or {},
        group_of=group_of, decisions_uri=uri, stop_when_flat={"min_gain": 0.5, "confidence": 0.9},
        milestones_of=lambda config: [0, 50, 100, 200, 400, 800],
    )


def test_flat_stopper_stops_a_flat_trunk_and_records_its_numbers(tmp_path):
    import json

    s = flat_scheduler(uri=str(tmp_path / "scheduler.json"))
    config = cfg("small", lr=0.5)
    curve = [(0, 10.0), (50, 20.0), (100, 20.2), (200, 20.25)]
    decisions = [s.decide("flat", config, at(t, v)) for t, v in curve]
    assert decisions == [CONTINUE, CONTINUE, CONTINUE, STOP]
    written = json.loads((tmp_path / "scheduler.json").read_text())
    flat = [d for d in written if d.get("rule") == "stop_when_flat"]
    assert [d["decision"] for d in flat] == ["CONTINUE", "STOP"]  # judged from the 3rd milestone on
    stop = flat[-1]
    assert stop["trial_id"] == "flat" and stop["milestone"] == 200 and stop["next_milestone"] == 400
    assert stop["upper_bound"] < stop["min_gain"] == 0.5 and stop["confidence"] == 0.9
    assert stop["n_milestones"] == 4 and stop["family"] == "saturating"


def test_flat_stopper_lets_a_rising_trunk_go_on():
    s = flat_scheduler()
    config = cfg("small", lr=0.25)
    curve = [(0, 10.0), (50, 12.0), (100, 14.1), (200, 18.0), (400, 25.0)]
    assert [s.decide("rising", config, at(t, v)) for t, v in curve] == [CONTINUE] * 5
    assert all(d["decision"] == "CONTINUE" for d in s.decisions)


def test_flat_stopper_works_beside_asha():
    """ASHA still stops a configuration below the rung's cutoff; the flat rule only judges what ASHA keeps."""
    s = flat_scheduler(asha_rungs={"small": [100]})
    assert s.decide("a", cfg("small"), at(100, 60.0)) == CONTINUE
    assert s.decide("b", cfg("small"), at(100, 40.0)) == STOP
    rules = {(d["trial_id"], d["rule"]) for d in s.decisions}
    assert rules == {("a", "asha"), ("b", "asha")}


def test_the_spec_turns_the_flat_stopper_on_even_without_asha(tmp_path):
    from ray.tune.schedulers import FIFOScheduler

    from helpers import small_spec
    from study import launch

    models = [{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 10}, "steps": [0, 10, 20, 40, 80]}]
    off = small_spec(str(tmp_path), models=models, asha={"enabled": False})
    assert type(launch.scheduler(off)) is FIFOScheduler
    spec = small_spec(str(tmp_path), models=models, asha={"enabled": False},
                      intermediate_training={"stop_when_flat": {"min_gain": 0.5, "confidence": 0.9}})
    s = launch.scheduler(spec)
    config = {"point": {"model": "tiny", "intermediate_task": "builtin_nli", "seed": 0}, "intermediate_lr": 1e-3}
    curve = [(0, 10.0), (10, 20.0), (20, 20.2), (40, 20.25)]
    assert [s.decide("t", config, at(t, v)) for t, v in curve][-1] == STOP
    assert s.decisions[-1]["next_milestone"] == 80 and s.decisions[-1]["rule"] == "stop_when_flat"


def test_a_resumed_flat_stopper_goes_on_with_the_trunks_history(tmp_path):
    """Relocated after a resume, the flat-curve rule fits the trunk's earlier milestones too (read back from
    scheduler.json, ASHA's entries and its own), not only what it sees after the resume."""
    from ray import cloudpickle as pickle

    uri = str(tmp_path / "scheduler.json")
    built = flat_scheduler(asha_rungs={"small": [50, 100, 200]}, uri=uri)
    pickled = pickle.dumps(built)
    config = cfg("small", lr=0.5)
    for t, v in [(50, 20.0), (100, 20.2)]:
        assert built.decide("flat", config, at(t, v)) == CONTINUE
    restored = pickle.loads(pickled)
    restored.relocate(uri)
    whole = flat_scheduler(asha_rungs={"small": [50, 100, 200]})  # the same results, never interrupted
    for t, v in [(50, 20.0), (100, 20.2)]:
        whole.decide("flat", config, at(t, v))
    assert restored.decide("flat", config, at(200, 20.25)) == whole.decide("flat", config, at(200, 20.25)) == STOP
    assert restored.decisions[-1]["rule"] == "stop_when_flat" and restored.decisions[-1]["n_milestones"] == 3
    assert restored.decisions[-1]["upper_bound"] == whole.decisions[-1]["upper_bound"]


def test_asha_and_optuna_take_their_mode_from_the_direction_of_the_signals_metrics(tmp_path, lower_is_better_xnli):
    from helpers import small_spec
    from study import launch

    assert launch.scheduler(small_spec(str(tmp_path)))._mode == "max"
    lower = small_spec(str(tmp_path), target_tasks=[lower_is_better_xnli])
    assert launch.scheduler(lower)._mode == "min"
    optuna = small_spec(str(tmp_path), target_tasks=[lower_is_better_xnli], search={"algorithm": "optuna"},
                        hyperparameters={"intermediate_lr": {"loguniform": [1e-4, 1e-3]}, "target_lr": 1e-3})
    assert launch.search_algorithm(optuna)._mode == "min"


def test_a_signal_of_mixed_directions_is_refused_before_ray_starts(tmp_path, monkeypatch, lower_is_better_xnli):
    import copy

    import pytest

    from helpers import small_spec
    from study import launch, preflight
    from study.spec import parse_spec

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray started")

    monkeypatch.setattr(launch, "init_ray", no_ray)
    data = small_spec(str(tmp_path)).model_dump(mode="json")
    data["target_tasks"] = [copy.deepcopy(data["target_tasks"][0]), lower_is_better_xnli]
    mixed = parse_spec(data, check_registry=False)  # past the spec's own check (parse_spec refuses it too)
    with pytest.raises(preflight.LaunchError, match="asha.signal: the signal averages higher-is-better scores"):
        launch.run(mixed)


def test_the_flat_stopper_needs_a_rising_signal():
    import pytest

    with pytest.raises(ValueError, match="mode must be 'max'"):
        GroupedASHA(metric="loss", mode="min", time_attr="t", rungs={}, group_of=lambda c: "g",
                    stop_when_flat={"min_gain": 0.5, "confidence": 0.9}, milestones_of=lambda c: [1, 2])
