"""The per-GPU memory plan: components against hand-computed numbers, what fits, and `plan`/`run` using it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from study import launch, preflight
from study.cli import app
from study.memory_plan import (
    KNOWN_ARCHITECTURES,
    Setting,
    activations,
    alternatives,
    estimate,
    first_that_fits,
    fit_problems,
    layer_activations,
    memory_plan,
    setting_of,
)
from study.plan import KNOWN_SHAPES
from study.spec import SpecError, parse_spec

LARGE = KNOWN_ARCHITECTURES["FacebookAI/xlm-roberta-large"]
XXL = KNOWN_ARCHITECTURES["facebook/xlm-roberta-xxl"]


def spec_of(tmp_path, hub="FacebookAI/xlm-roberta-large", **model):
    return parse_spec({
        "study": {"name": "mem", "storage": str(tmp_path)},
        "models": [{"name": "m", "source": {"hub": hub}, "steps": [0, 100], "batch_size": 32, "max_length": 128,
                    **model}],
        "intermediate_tasks": ["builtin_nli"],
        "target_tasks": ["builtin_pos"],
        "intermediate_training": {"cooldown_fraction": 0.1},
    })


def test_parameter_counts_equal_the_models_counted_on_the_meta_device():
    # KNOWN_SHAPES were counted from each model's config on the meta device (study.plan).
    for name, arch in KNOWN_ARCHITECTURES.items():
        if name in KNOWN_SHAPES:
            params, shape = KNOWN_SHAPES[name]
            assert (arch.n_params, arch.non_embedding_params) == (params, shape.non_embedding_params), name


def test_xlmr_large_components_by_hand():
    s = Setting(batch_size=32, max_length=128, cooldown=True)
    est = estimate(LARGE, s)
    n = 558_840_832
    assert est.weights == 4 * n == 2_235_363_328  # 2.24 GB of fp32 weights
    assert est.gradients == 4 * n and est.optimizer == 8 * n
    assert est.optimizer_temporaries == 4 * n  # foreach AdamW on CUDA: sqrt(exp_avg_sq) of every parameter
    # Korthikanti et al.: s b h (34 + 5 a s / h) bytes per layer with 2-byte elements and a 4h FFN.
    sq, b, h, a = 128, 32, 1024, 16
    assert layer_activations(LARGE, b * sq, sq, 2) == sq * b * h * (34 + 5 * a * sq // h)
    # fp32: the element terms double, the one-byte dropout masks do not: 66 + 9 a s / h.
    assert layer_activations(LARGE, b * sq, sq, 4) == sq * b * h * (66 + 9 * a * sq // h)
    assert est.activations == 24 * sq * b * h * (66 + 9 * a * sq // h) + sq * b * (4 * h + h)
    # Intermediate training: weights, gradients, AdamW and the activations (larger than the temporaries).
    assert est.phases["intermediate"] == 16 * n + est.activations
    # Branch with cooldown: trunk and branch both train; a target trains next to trunk and branch.
    assert est.phases["cooldown"] == 32 * n + est.activations
    target_acts = activations(LARGE, 32, 128, 4, False)
    assert est.phases["target"] == 16 * n + 8 * n + 16 * n + target_acts
    assert est.peak == est.phases["target"] and est.peak_phase == "target"


def test_fsdp_divides_the_states_by_the_workers_and_adds_the_gathered_units():
    single = estimate(XXL, Setting(batch_size=32))
    for workers in (2, 4, 8):
        fsdp = estimate(XXL, Setting(parallelism="fsdp", workers=workers, batch_size=32))
        assert fsdp.weights == single.weights // workers
        assert fsdp.gradients == single.gradients // workers and fsdp.optimizer == single.optimizer // workers
        # The root without the input word embeddings, which are sharded by vocabulary rows, never gathered.
        assert fsdp.fsdp_gathered == 4 * (XXL.root_params - XXL.vocab * XXL.hidden + 2 * XXL.layer_params)
        tokens = -(-32 // workers) * 128
        root = XXL.root_params - XXL.vocab * XXL.hidden
        assert fsdp.fsdp_gathered_gradients == 2 * 4 * root + 3 * 4 * workers * tokens * XXL.hidden  # + the lookup's
        assert fsdp.activations == activations(XXL, -(-32 // workers), 128, 4, False)
    one = estimate(XXL, Setting(parallelism="fsdp", workers=1, batch_size=32))  # one worker: the root keeps them
    assert one.fsdp_gathered == 4 * (XXL.root_params + 2 * XXL.layer_params)
    assert one.fsdp_gathered_gradients == 2 * 4 * XXL.root_params
    ddp = estimate(XXL, Setting(parallelism="ddp", workers=4, batch_size=32))
    assert ddp.weights == single.weights and ddp.ddp_buckets == single.gradients  # buckets: one more gradient copy


def test_gradient_checkpointing_keeps_only_layer_inputs_and_one_layer():
    plain = estimate(LARGE, Setting(batch_size=32))
    gc = estimate(LARGE, Setting(batch_size=32, gradient_checkpointing=True))
    tokens, e = 32 * 128, 4
    embeddings = tokens * (1024 * e + 1024)
    assert gc.activations == embeddings + 24 * tokens * 1024 * e + layer_activations(LARGE, tokens, 128, e)
    assert gc.activations < plain.activations / 8
    assert gc.peak < plain.peak and gc.weights == plain.weights


def test_bf16_halves_activations_and_adds_the_cast_weights():
    fp32 = estimate(LARGE, Setting())
    bf16 = estimate(LARGE, Setting(precision="bf16"))
    assert bf16.autocast_copies == 2 * LARGE.non_embedding_params
    assert bf16.activations < fp32.activations < 2.1 * bf16.activations


def test_first_that_fits_is_the_first_alternative_under_the_capacity():
    s = Setting(batch_size=32, cooldown=True)
    capacity = 80 * 10**9
    label, fit, est = first_that_fits(XXL, s, capacity)
    assert est.peak <= capacity and est == estimate(XXL, fit)
    order = [lbl for lbl, _ in alternatives(s)]
    assert all(estimate(XXL, alt).peak > capacity for lbl, alt in alternatives(s)[: order.index(label)])
    assert fit.parallelism == "fsdp" and fit.workers > 1 and fit.batch_size == 32  # the science is kept
    assert first_that_fits(XXL, s, 10**6) is None


def test_setting_of_follows_the_spec(tmp_path):
    spec = spec_of(tmp_path, resources={"workers": 4, "gpu": 1}, parallelism="fsdp", gradient_checkpointing=True,
                   precision="bf16")
    s = setting_of(spec, "m")
    assert (s.parallelism, s.workers, s.gradient_checkpointing, s.precision, s.cooldown) == ("fsdp", 4, True, "bf16", True)
    assert setting_of(spec_of(tmp_path), "m").parallelism == "single"
    assert replace(s, workers=1).per_worker(33) == 33 and s.per_worker(33) == 9


def test_gpu_memory_gb_is_validated_with_its_field_path(tmp_path):
    with pytest.raises(SpecError) as info:
        spec_of(tmp_path, resources={"gpu": 1, "gpu_memory_gb": 0})
    assert "models[0].resources.gpu_memory_gb" in dict(info.value.errors)
    with pytest.raises(SpecError) as info:
        spec_of(tmp_path, resources={"gpu_memory_gb": "lots"})
    assert "models[0].resources.gpu_memory_gb" in dict(info.value.errors)


def test_fit_problems_name_the_size_and_a_setting_that_fits(tmp_path):
    spec = spec_of(tmp_path, hub="facebook/xlm-roberta-xxl", resources={"gpu": 1, "gpu_memory_gb": 80})
    (problem,) = fit_problems(spec)
    assert problem.startswith("models[0] (m): a trial needs about")
    assert "the GPU has 80.0 GB" in problem and "fsdp" in problem and "would fit" in problem
    assert fit_problems(spec_of(tmp_path, resources={"gpu": 1, "gpu_memory_gb": 80})) == []  # large fits 80 GB
    assert fit_problems(spec_of(tmp_path, hub="facebook/xlm-roberta-xxl")) == []  # no GPU asked for: nothing to check
    # A trial given half a GPU gets half its memory.
    assert fit_problems(spec_of(tmp_path, resources={"gpu": 0.25, "gpu_memory_gb": 80}))


def test_run_refuses_a_size_that_cannot_fit_before_ray_starts(tmp_path, monkeypatch):
    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(launch, "init_ray", no_ray)
    spec = spec_of(tmp_path, hub="facebook/xlm-roberta-xxl", resources={"gpu": 1, "gpu_memory_gb": 80})
    with pytest.raises(preflight.LaunchError, match=r"models\[0\] \(m\).*GB per GPU.*fsdp x\d+.* would fit"):
        launch.run(spec, verbose=False)
    assert not (tmp_path / "mem" / "spec.json").exists()  # nothing written


def test_plan_prints_the_memory_table_and_its_json(tmp_path, monkeypatch):
    from study import cli

    monkeypatch.setattr(cli.console, "width", 160)  # one line per row, as in a wide terminal
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({
        "study": {"name": "mem", "storage": str(tmp_path)},
        "models": [{"name": "large", "source": {"hub": "FacebookAI/xlm-roberta-large"}, "steps": [0, 10],
                    "resources": {"gpu": 1, "gpu_memory_gb": 24}}],
        "intermediate_tasks": ["builtin_nli"], "target_tasks": ["builtin_pos"],
    }))
    out = CliRunner().invoke(app, ["plan", str(path), "--json"])
    assert out.exit_code == 0, out.output
    memory = json.loads(out.output)["memory"]["large"]
    assert memory["estimate"]["weights"] == 4 * LARGE.n_params
    assert memory["gpu_capacity"] == 24 * 10**9 and memory["first_that_fits"]["label"] == "checkpointing"
    assert [a["label"] for a in memory["alternatives"]][:2] == ["as in the spec", "checkpointing"]
    human = CliRunner().invoke(app, ["plan", str(path)])
    assert human.exit_code == 0, human.output
    assert "memory per GPU of large" in human.output and "checkpointed" in human.output
    row = next(line for line in human.output.splitlines() if "spec: single, 1 worker, batch 32" in line)
    assert row.split("│")[2].strip() == "2.24"  # the fp32 weights of XLM-R large, in GB
    assert "large on a 24.0 GB GPU: does not fit; first that fits: checkpointing" in human.output


def test_memory_plan_says_why_where_the_architecture_cannot_be_read(tmp_path):
    spec = parse_spec({
        "study": {"name": "mem", "storage": str(tmp_path)},
        "models": [{"name": "p", "source": {"path": str(tmp_path / "absent")}, "steps": [0, 10]}],
        "intermediate_tasks": ["builtin_nli"], "target_tasks": ["builtin_pos"],
    })
    assert "config.json not found" in memory_plan(spec)["p"]["error"]
