"""The time a running study still needs: the measured rates, and the work left, by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from study import eta


def rows(trial: str, model: str, steps: int, intermediate_seconds: float, per_target: dict[str, tuple[float, float]]):
    out = []
    for task, (target_seconds, eval_seconds) in per_target.items():
        for language in ("en", "de"):  # several rows per target: its seconds count once
            out.append({"trial_id": trial, "model": model, "intermediate_steps": steps,
                        "intermediate_seconds": intermediate_seconds, "target_task": task, "language": language,
                        "target_seconds": target_seconds, "eval_seconds": eval_seconds})
    return out


TABLE = pd.DataFrame(
    rows("a", "small", 0, 0.0, {"xnli": (4.0, 1.0), "panx": (2.0, 1.0)})
    + rows("b", "small", 100, 50.0, {"xnli": (6.0, 1.0), "panx": (4.0, 1.0)})
    + rows("b", "small", 200, 100.0, {"xnli": (6.0, 1.0), "panx": (4.0, 1.0)})
)


def trial(trial_id, state, task="nli", done=(), reported=(), final=300, model="small"):
    return {"trial_id": trial_id, "model": model, "intermediate_task": task, "state": state,
            "milestones_done": list(done), "milestones_reported": list(reported), "final_milestone": final}


def test_rates_per_size():
    # (50 + 100) s over (100 + 200) steps; fixed work (4+1 + 2+1), (6+1 + 4+1) twice: mean (8 + 12 + 12) / 3
    assert eta.rates(TABLE) == {"small": {"seconds_per_step": pytest.approx(0.5),
                                          "seconds_per_milestone": pytest.approx(32 / 3)}}


def test_work_left_from_milestones_live_progress_and_trials_not_created_yet():
    status = {
        "trials": [trial("a", "finished", task="none", done=[0], final=0),
                   trial("b", "running", done=[100, 200]),  # at work towards 300, live file says 40 s more
                   trial("c", "running", done=[100]),  # no live file: 200 and 300 at the measured rates
                   trial("d", "pending")],  # created, not started: 100, 200, 300
        "planned_trials": {"by_size": {"small": 5}},  # one more that Ray has not created
    }
    live = {"b": {"state": "running", "milestone": 300, "eta_milestone_s": 40.0}}
    per_step, fixed = 0.5, 32 / 3
    full = per_step * 300 + 3 * fixed
    expected = 40.0 + (per_step * 200 + 2 * fixed) + full + full
    got = eta.remaining(status, TABLE, live, {"small": [0, 100, 200, 300]})
    assert got["work_seconds"] == pytest.approx(expected)
    assert got["trials_at_once"] == 2 and got["wall_seconds"] == pytest.approx(expected / 2)
    assert got["complete"] and got["sizes_without_rate"] == []


def test_a_size_without_a_finished_milestone_is_named_not_guessed():
    status = {"trials": [trial("x", "running", model="large")], "planned_trials": {"by_size": {"large": 1}}}
    got = eta.remaining(status, TABLE, {}, {"large": [0, 100]})
    assert got["work_seconds"] == 0 and got["sizes_without_rate"] == ["large"] and not got["complete"]
    baseline_only = TABLE[TABLE.intermediate_steps == 0]  # a rate per milestone, none per step yet
    got = eta.remaining({"trials": [trial("y", "pending", task="none", final=0)], "planned_trials": {}},
                        baseline_only, {}, {"small": [0, 100]})
    assert got["work_seconds"] == pytest.approx(8.0) and got["complete"]
    got = eta.remaining({"trials": [trial("z", "pending")], "planned_trials": {}}, baseline_only, {}, {"small": [0, 100]})
    assert got["sizes_without_rate"] == ["small"]
