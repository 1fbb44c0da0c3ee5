"""A study caught mid-run, with Ray Tune's files as Ray writes them: for the status tests."""

from __future__ import annotations

import json

import pytest

from written_study import trial_id, write_study

T0 = 1_700_000_000.0  # Unix seconds: when the fake experiment started


def trial_dir(root, tid, config, lines, partial_line=False, error=None):
    folder = root / f"xstudy_trial_{tid}_0_model={config['model']}_2026-01-01_00-00-00"
    folder.mkdir()
    text = "".join(json.dumps({"trial_id": tid, "config": config, **line}) + "\n" for line in lines)
    if partial_line:
        text += '{"trial_id": "' + tid + '", "intermediate_steps": 10'  # a line being written as we read
    (folder / "result.json").write_text(text)
    (folder / "params.json").write_text(json.dumps(config))
    if error:
        (folder / "error.txt").write_text(f"Traceback (most recent call last):\n  ...\n{error}\n")


@pytest.fixture
def live_study(tmp_path):
    """A study caught mid-run: every state a trial can be in, Ray's files as Ray Tune writes them."""
    root = tmp_path / "syn"
    skip = {("small", "nli", 1, 1000), ("small", "nli", 2, 1000), ("large", "nli", 1, 100), ("large", "nli", 1, 1000),
            ("large", "nli", 2, 100), ("large", "nli", 2, 1000), ("large", "nli", 0, 100), ("large", "nli", 0, 1000)}
    write_study(str(root), skip=skip)

    def config(model, task, seed):
        return {"model": model, "intermediate_task": task, "seed": seed, "intermediate_lr": 1e-4, "target_lr": 3e-5}

    ray_state = {}
    for model in ("small", "large"):
        for seed in range(3):
            tid = trial_id(model, "none", seed)
            trial_dir(root, tid, config(model, "none", seed),
                       [{"intermediate_steps": 0, "time_total_s": 10.0, "timestamp": T0 + 60, "done": True}])
            ray_state[tid] = "TERMINATED"
    small = [trial_id("small", "nli", s) for s in range(3)]
    trial_dir(root, small[0], config("small", "nli", 0),
               [{"intermediate_steps": 100, "time_total_s": 50.0, "timestamp": T0 + 300, "done": False},
                {"intermediate_steps": 1000, "time_total_s": 200.0, "timestamp": T0 + 600, "done": True}])
    trial_dir(root, small[1], config("small", "nli", 1),
               [{"intermediate_steps": 100, "time_total_s": 55.0, "timestamp": T0 + 320, "done": False}])
    trial_dir(root, small[2], config("small", "nli", 2),
               [{"intermediate_steps": 100, "time_total_s": 60.0, "timestamp": T0 + 400, "done": False}],
               partial_line=True)
    large = [trial_id("large", "nli", s) for s in range(3)]
    trial_dir(root, large[0], config("large", "nli", 0), [], error="RuntimeError: CUDA out of memory")
    ray_state.update({small[0]: "TERMINATED", small[1]: "TERMINATED", small[2]: "RUNNING", large[0]: "ERROR",
                      large[1]: "PENDING"})  # large[2]: not created by Ray yet
    configs = {trial_id(m, t, s): config(m, t, s) for m in ("small", "large") for t in ("none", "nli") for s in range(3)}
    state = {
        "trial_data": [
            [json.dumps({"trial_id": tid, "status": st, "config": configs[tid]}), json.dumps({"start_time": T0 + 5})]
            for tid, st in ray_state.items()
        ],
        "runner_data": {"_start_time": T0},
        "stats": {"start_time": T0},
    }
    (root / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(state))
    decisions = [
        {"group": "small", "milestone": 100, "trial_id": small[0], "score": 80.0, "cutoff": None, "decision": "CONTINUE"},
        {"group": "small", "milestone": 100, "trial_id": small[1], "score": 70.0, "cutoff": 80.0, "decision": "STOP"},
    ]
    (root / "scheduler.json").write_text(json.dumps(decisions))
    return root
