"""`xstudy plan`: counts that can be checked by hand, and a plan that equals what the trials spend."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from study.cli import app
from study.flops import Shape
from study.plan import DEFAULT_DEVICE_TFLOPS, SplitProfile, plan
from helpers import small_spec

ROOT = Path(__file__).resolve().parents[2]
SHAPES = {"tiny": (1000, Shape(600, 2, 8)), "small": (2000, Shape(1200, 2, 8))}
FEATURE = SplitProfile(tokens=10.0, pairs=100.0, examples=100, estimate="given")


def profiles(spec, tasks):
    return {(m.name, t): FEATURE for m in spec.models for t in tasks}


def test_step_counts_by_hand(tmp_path):
    spec = small_spec(str(tmp_path), seeds=[0, 1], intermediate_tasks=["builtin_nli", "builtin_swag"])
    p = plan(spec, shapes=SHAPES, profiles=profiles(spec, ["builtin_nli", "builtin_swag", "builtin_pos", "builtin_xnli"]))
    # Each size: grid [10, 20], cooldown 20%: branch 20 + 2 + 4 = 26 steps per configuration,
    # independent 10 + 20 = 30; configurations = 2 tasks x 2 seeds.
    assert p["intermediate_steps"] == {"branch": 2 * 4 * 26, "independent": 2 * 4 * 30}
    assert p["branch_saving"] == 1 - 26 / 30
    tiny = p["models"]["tiny"]
    assert tiny["trials"] == {"branch": 4 + 2, "independent": 8 + 2}
    # Targets: builtin_pos and builtin_xnli train 8 steps each; builtin_tatoeba (retrieval) never trains.
    # Branch: 2 milestones x 4 configurations + 2 baselines = 10 rounds of 16 steps. Independent: the run to
    # 10 steps fine-tunes once, the run to 20 at 10 and at 20 (ASHA's rung): 3 x 4 + 2 = 14 rounds.
    assert tiny["phases"]["branch"]["target"]["steps"] == 10 * 16
    assert tiny["phases"]["independent"]["target"]["steps"] == 14 * 16
    assert tiny["phases"]["branch"]["cooldown"]["steps"] == 4 * 6 and tiny["phases"]["independent"]["cooldown"]["steps"] == 0
    # Tokens: batch 16 x 10 per example for both phases; FLOPs by study.flops: 6 N tokens + 6 n_layer d_attn pairs.
    target = tiny["phases"]["branch"]["target"]
    assert target["tokens"] == 160 * 16 * 10
    assert target["flops"] == 6 * 600 * 160 * 16 * 10 + 6 * 2 * 8 * 160 * 16 * 100
    assert math.isclose(tiny["flops"]["branch"], sum(v["flops"] for v in tiny["phases"]["branch"].values()))
    assert tiny["flops"]["branch_with_asha"] < tiny["flops"]["branch"]
    assert math.isclose(tiny["gpu_hours"]["branch"], tiny["flops"]["branch"] / (DEFAULT_DEVICE_TFLOPS * 1e12) / 3600)


def test_asha_saving_by_hand(tmp_path):
    spec = small_spec(str(tmp_path), intermediate_tasks=["builtin_nli"],
                      intermediate_training={"cooldown_fraction": 0.0}, target_training={"steps": 0})
    p = plan(spec, shapes={"tiny": (1, Shape(1, 1, 1)), "small": (1, Shape(1, 1, 1))},
             profiles=profiles(spec, ["builtin_nli"]))
    per_step = 16 * (6 * 10 + 6 * 100)  # batch 16, 10 tokens and 100 pairs per example
    # Branch, rf=2: segment [0,10] by all, [10,20] by half -> 15 step-equivalents instead of 20.
    assert p["models"]["tiny"]["flops"]["branch"] == 20 * per_step
    assert p["models"]["tiny"]["flops"]["branch_with_asha"] == 15 * per_step


def test_targets_that_never_train_cost_nothing_and_xcopa_trains_on_socialiqa_first(tmp_path):
    spec = small_spec(str(tmp_path), benchmark="xtreme-r",
                      models=[{"name": "large", "source": {"hub": "FacebookAI/xlm-roberta-large"}, "batch_size": 16,
                               "max_length": 48, "steps": [0, 10]}],
                      intermediate_tasks=["builtin_nli"],
                      target_tasks=["xcopa", "tatoeba", "mewslix", "lareqa", "xnli"], target_training={"steps": 7})
    given = {("large", t): FEATURE for t in ("builtin_nli", "socialiqa", "xcopa", "xnli")}
    p = plan(spec, profiles=given)
    large = p["models"]["large"]
    # One round: XCOPA 7 steps of SocialIQA then 7 of COPA, XNLI 7; the three retrieval tasks nothing.
    # Rounds: one milestone + the baseline.
    assert large["phases"]["branch"]["target"]["steps"] == 2 * (7 + 7 + 7)
    assert set(large["token_estimates"]) == {"builtin_nli", "socialiqa", "xcopa", "xnli"}
    assert large["parameters"] == 558_840_832 and large["non_embedding_parameters"] == 302_311_424


def test_xquad_and_mlqa_fine_tune_once_on_squad(tmp_path):
    from study.tasks import registry

    assert registry.fine_tune_key(registry.get("xquad"), 7) == registry.fine_tune_key(registry.get("mlqa"), 7)
    assert registry.fine_tune_key(registry.get("tydiqa"), 7) != registry.fine_tune_key(registry.get("xquad"), 7)
    models = [{"name": "large", "source": {"hub": "FacebookAI/xlm-roberta-large"}, "batch_size": 16,
               "max_length": 384, "steps": [0, 10]}]
    given = {("large", t): FEATURE for t in ("builtin_nli", "squad_v1", "tydiqa")}

    def target_steps(targets):
        spec = small_spec(str(tmp_path), models=models, intermediate_tasks=["builtin_nli"], target_tasks=targets,
                          target_training={"steps": 7})
        large = plan(spec, profiles=given)["models"]["large"]
        return large["phases"]["branch"]["target"]["steps"], set(large["token_estimates"])

    # Rounds: one milestone + the baseline. SQuAD v1.1 once for both; TyDiQA trains on its own English set.
    assert target_steps(["xquad", "mlqa"]) == (2 * 7, {"builtin_nli", "squad_v1"})
    assert target_steps(["xquad", "mlqa", "tydiqa"]) == (2 * (7 + 7), {"builtin_nli", "squad_v1", "tydiqa"})


def test_tokens_fall_back_to_the_upper_bound_where_the_data_cannot_be_read(tmp_path, monkeypatch):
    monkeypatch.setenv("XSTUDY_DATA_DIR", str(tmp_path / "nothing"))
    spec = small_spec(str(tmp_path), benchmark="xtreme-r",
                      models=[{"name": "large", "source": {"hub": "FacebookAI/xlm-roberta-large"}, "batch_size": 16,
                               "max_length": 48, "steps": [0, 10]}],
                      intermediate_tasks=["builtin_nli"], target_tasks=["xnli"], target_training={"steps": 7})
    p = plan(spec)  # offline, and the hub model's tokenizer is not in the cache: no estimate from data
    large = p["models"]["large"]
    assert all(v.startswith("upper bound (max_length)") for v in large["token_estimates"].values())
    assert large["phases"]["branch"]["target"]["tokens"] == 2 * 7 * 32 * 48  # 2 rounds x 7 steps x batch 32 x 48


def test_plan_cli_json_on_a_shipped_spec():
    result = CliRunner().invoke(app, ["plan", str(ROOT / "search_spaces" / "smoke.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data["intermediate_steps"]) == {"branch", "independent"}
    assert data["intermediate_steps"]["branch"] < data["intermediate_steps"]["independent"]
    assert data["models"]["tiny"]["parameters"] < data["models"]["small"]["parameters"]
    assert all(not v.startswith("upper bound") for v in data["models"]["tiny"]["token_estimates"].values())
    human = CliRunner().invoke(app, ["plan", str(ROOT / "search_spaces" / "smoke.yaml"), "--device-tflops", "100"])
    assert human.exit_code == 0 and "GPU-hours" in human.output


# ------------------------------------------------------------------------------ the plan against the rows
@pytest.fixture(scope="module")
def spent(local_ray, tmp_path_factory):
    """A small study run through Ray with ASHA off (every trial runs every milestone), and its plan."""
    from study import launch, results

    storage = tmp_path_factory.mktemp("plan")
    spec = small_spec(str(storage), name="plan", asha={"enabled": False},
                      target_training={"steps": 12, "batch_size": 16, "eval_batch_size": 128})
    predicted = plan(spec)
    assert launch.run(spec).grid.num_errors == 0
    return predicted, results.collect(f"{storage}/plan")


def _spent_by_phase(df) -> dict[str, dict[str, float]]:
    """Steps, tokens and FLOPs per phase, read back from the rows (each milestone's costs once)."""
    milestones = df.drop_duplicates(["trial_id", "intermediate_steps"])
    last = milestones.sort_values("intermediate_steps").groupby("trial_id").tail(1)
    targets = df.drop_duplicates(["trial_id", "intermediate_steps", "target_task"])
    return {
        # The trunk: to each trial's last milestone, without that milestone's cooldown branch.
        "intermediate": {"steps": last.intermediate_steps.sum(),
                         "tokens": (last.intermediate_tokens - last.cooldown_tokens).sum(),
                         "flops": (last.intermediate_flops - last.cooldown_flops).sum()},
        "cooldown": {"steps": milestones.cooldown_steps.sum(), "tokens": milestones.cooldown_tokens.sum(),
                     "flops": milestones.cooldown_flops.sum()},
        "target": {"steps": targets.target_steps.sum(), "tokens": targets.target_tokens.sum(),
                   "flops": targets.target_flops.sum()},
    }


@pytest.mark.slow
def test_the_plan_equals_what_the_trials_spent(spent):
    predicted, df = spent
    for model, rows in df.groupby("model"):
        got = _spent_by_phase(rows)
        wanted = predicted["models"][model]["phases"]["branch"]
        for phase in ("intermediate", "cooldown", "target"):
            assert wanted[phase]["steps"] == got[phase]["steps"], f"{model} {phase} steps"
            for key in ("tokens", "flops"):
                assert wanted[phase][key] == pytest.approx(got[phase][key], rel=0.05), f"{model} {phase} {key}"
