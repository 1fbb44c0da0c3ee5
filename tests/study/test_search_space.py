"""The search space Tune is given: a configuration's seeds share its sampled hyperparameters."""

from __future__ import annotations

import json
from collections import defaultdict

from ray.tune.search.variant_generator import generate_variants

from study.launch import param_space
from study.scheduler import config_key
from helpers import small_spec


def variants(spec) -> list[dict]:
    return [config for _, config in generate_variants(param_space(spec))]


def by_configuration(configs: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for config in configs:
        groups[config_key(config)].append(config)
    return groups


def sampled_spec(tmp_path, **search):
    return small_spec(
        str(tmp_path), seeds=[0, 1, 2], intermediate_tasks=["none", "builtin_nli", "builtin_swag"],
        hyperparameters={"intermediate_lr": {"loguniform": [1e-5, 1e-2]}, "target_lr": {"choice": [1e-3, 3e-3, 1e-2]},
                         "weight_decay": {"grid": [0.0, 0.1]}},
        search={"algorithm": "grid", "num_samples": 3, **search},
    )


def test_every_configuration_runs_every_seed_with_the_same_sampled_values(tmp_path):
    spec = sampled_spec(tmp_path)
    configs = variants(spec)
    # 2 sizes x 3 intermediate tasks x 2 weight decays x 3 samples, each for 3 seeds
    assert len(configs) == 2 * 3 * 2 * 3 * 3
    groups = by_configuration(configs)
    assert len(groups) == 2 * 3 * 2 * 3
    for key, members in groups.items():
        assert sorted(c["point"]["seed"] for c in members) == [0, 1, 2], key
        shared = {json.dumps({k: v for k, v in c.items() if k != "point"}, sort_keys=True) for c in members}
        assert len(shared) == 1, f"the seeds of {key} differ in their hyperparameters: {shared}"
    lrs = [json.loads(key)["intermediate_lr"] for key in groups]
    assert len(set(lrs)) == len(lrs), "distinct configurations draw their own learning rate"
    assert all(1e-5 <= lr <= 1e-2 for lr in lrs)
    assert {json.loads(key)["target_lr"] for key in groups} == {1e-3, 3e-3, 1e-2}


def test_samples_are_reproducible_and_follow_the_search_seed(tmp_path):
    first, again = variants(sampled_spec(tmp_path)), variants(sampled_spec(tmp_path))
    other = variants(sampled_spec(tmp_path, seed=1))
    assert first == again, "a resumed or repeated study draws the same values"
    lrs = lambda configs: sorted(c["intermediate_lr"] for c in configs)  # noqa: E731
    assert lrs(first) != lrs(other)


def test_one_sample_adds_no_sample_index(tmp_path):
    spec = small_spec(str(tmp_path), seeds=[0, 1], hyperparameters={"intermediate_lr": {"uniform": [1e-4, 1e-3]}})
    configs = variants(spec)
    assert all("sample" not in c["point"] for c in configs)
    assert all(len(members) == 2 for members in by_configuration(configs).values())
