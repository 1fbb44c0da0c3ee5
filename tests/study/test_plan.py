"""`xstudy plan`: counts that can be checked by hand, and the JSON the issue names."""

from __future__ import annotations

import json
import math
from pathlib import Path

from typer.testing import CliRunner

from study.cli import app
from study.plan import DEFAULT_DEVICE_TFLOPS, plan
from helpers import small_spec

ROOT = Path(__file__).resolve().parents[2]


def test_step_counts_by_hand(tmp_path):
    spec = small_spec(str(tmp_path), seeds=[0, 1], intermediate_tasks=["builtin_nli", "builtin_swag"])
    # Each size: grid [10, 20], cooldown 20%: branch 20 + 2 + 4 = 26 steps per configuration,
    # independent 10 + 20 = 30; configurations = 2 tasks x 2 seeds.
    p = plan(spec, params={"tiny": 1000, "small": 2000})
    assert p["intermediate_steps"] == {"branch": 2 * 4 * 26, "independent": 2 * 4 * 30}
    assert p["branch_saving"] == 1 - 26 / 30
    assert p["models"]["tiny"]["trials"] == {"branch": 4 + 2, "independent": 8 + 2}
    # FLOPs scale with parameters: the 2000-parameter size costs exactly twice the 1000-parameter one.
    assert p["models"]["small"]["flops"]["branch"] == 2 * p["models"]["tiny"]["flops"]["branch"]
    tiny = p["models"]["tiny"]
    assert tiny["flops"]["branch_with_asha"] < tiny["flops"]["branch"]
    assert math.isclose(tiny["gpu_hours"]["branch"], tiny["flops"]["branch"] / (DEFAULT_DEVICE_TFLOPS * 1e12) / 3600)


def test_asha_saving_by_hand(tmp_path):
    spec = small_spec(str(tmp_path), intermediate_tasks=["builtin_nli"],
                      intermediate_training={"cooldown_fraction": 0.0}, target_training={"steps": 0})
    p = plan(spec, params={"tiny": 1, "small": 1})
    tokens = 16 * 48  # batch x max length
    # Branch, rf=2: segment [0,10] by all, [10,20] by half -> 15 step-equivalents instead of 20.
    assert p["models"]["tiny"]["flops"]["branch"] == 6 * 20 * tokens
    assert p["models"]["tiny"]["flops"]["branch_with_asha"] == 6 * 15 * tokens


def test_plan_cli_json_on_a_shipped_spec():
    result = CliRunner().invoke(app, ["plan", str(ROOT / "search_spaces" / "smoke.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data["intermediate_steps"]) == {"branch", "independent"}
    assert data["intermediate_steps"]["branch"] < data["intermediate_steps"]["independent"]
    assert data["models"]["tiny"]["parameters"] < data["models"]["small"]["parameters"]
    human = CliRunner().invoke(app, ["plan", str(ROOT / "search_spaces" / "smoke.yaml"), "--device-tflops", "100"])
    assert human.exit_code == 0 and "GPU-hours" in human.output
