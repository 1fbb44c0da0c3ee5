"""study.launch_order: trials start longest first, with a configuration's seeds together."""

from __future__ import annotations

from study.grid import grid_points
from study.launch_order import expected_flops, longest_first, model_params, target_round_steps
from helpers import small_spec


def test_the_largest_size_and_the_longest_budgets_start_first_with_seeds_together(tmp_path):
    spec = small_spec(str(tmp_path), seeds=[0, 1], intermediate_tasks=["none", "builtin_nli"],
                      intermediate_training={"schedule": "independent"})
    ordered = longest_first(spec, grid_points(spec))
    assert sorted(map(str, ordered)) == sorted(map(str, grid_points(spec))), "the same points"
    params = model_params(spec)
    assert params["small"] > params["tiny"]
    work = [expected_flops(spec, p, params) for p in ordered]
    assert work == sorted(work, reverse=True)
    heads = [(p["model"], p["intermediate_task"], p.get("budget")) for p in ordered[::2]]
    assert heads[0] == ("small", "builtin_nli", 20)
    for size in ("tiny", "small"):
        assert [h[1:] for h in heads if h[0] == size] == [("builtin_nli", 20), ("builtin_nli", 10), ("none", None)]
    assert all(a["seed"] == 0 and b["seed"] == 1 and {**a, "seed": 1} == b for a, b in zip(ordered[::2], ordered[1::2]))


def test_expected_work_counts_trunk_cooldowns_and_one_target_round_per_milestone(tmp_path):
    spec = small_spec(str(tmp_path))  # steps [0, 10, 20], cooldown 0.2, batch 16, max_length 48, target steps 8
    params = {"tiny": 1.0, "small": 2.0}
    rounds = target_round_steps(spec)
    assert rounds == 8 + 8  # builtin_pos and builtin_xnli train; builtin_tatoeba (retrieval) does not
    trunk = (20 + 2 + 4) * 16 * 48  # tokens: the trunk to 20, cooldowns of 2 and 4 steps
    target = 2 * rounds * 16 * 48
    assert expected_flops(spec, {"model": "tiny", "intermediate_task": "builtin_nli"}, params) == 6 * (trunk + target)
    assert expected_flops(spec, {"model": "small", "intermediate_task": "none"}, params) == 6 * 2 * rounds * 16 * 48


def test_sizes_whose_config_is_not_here_rank_by_their_place_in_the_spec(tmp_path):
    spec = small_spec(str(tmp_path), models=[
        {"name": "a", "source": {"path": str(tmp_path / "missing")}, "batch_size": 16, "max_length": 48, "steps": [0, 10]},
        {"name": "b", "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16, "max_length": 48, "steps": [0, 10]},
    ])
    assert model_params(spec) == {"a": 1.0, "b": 2.0}
    assert longest_first(spec, grid_points(spec))[0]["model"] == "b"
