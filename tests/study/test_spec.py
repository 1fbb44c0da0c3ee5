"""The spec schema: valid specs load, and every kind of bad spec names its field and rule."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from study.spec import SpecError, field_path, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "search_spaces").glob("*.yaml"))

BASE = {
    "study": {"name": "t", "storage": "/tmp/x"},
    "models": [
        {"name": "a", "source": {"builtin": "tiny"}, "steps": [0, 10, 20]},
        {"name": "b", "source": {"hub": "FacebookAI/xlm-roberta-large"}, "steps": [0, 100]},
    ],
    "intermediate_tasks": ["none", "builtin_nli"],
    "target_tasks": ["builtin_pos", {"task": "builtin_xnli", "languages": ["en"]}],
    "hyperparameters": {"intermediate_lr": {"loguniform": [1e-5, 1e-3]}, "target_lr": {"choice": [1e-4, 3e-4]}},
}


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_every_search_space_validates(path):
    spec = load_spec(path)
    assert spec.models and spec.targets
    assert path.read_text().startswith("# xstudy run search_spaces/"), "each spec starts with the command that runs it"


def test_valid_spec_and_derived_views():
    spec = parse_spec(BASE)
    assert spec.model("a").milestones == [0, 10, 20]
    assert spec.intermediate[0] == "none"
    assert [t.task for t in spec.targets] == ["builtin_pos", "builtin_xnli"]
    assert spec.targets[1].languages == ["en"]


def test_baseline_is_always_a_milestone_and_none_always_a_task():
    data = copy.deepcopy(BASE)
    data["models"][0]["steps"] = [10, 20]
    data["intermediate_tasks"] = ["builtin_nli"]
    spec = parse_spec(data)
    assert spec.model("a").milestones == [0, 10, 20]
    assert spec.intermediate == ["none", "builtin_nli"]


def _errors(mutate) -> dict[str, str]:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return dict(info.value.errors)


CASES = [
    ("typo'd key", lambda d: d["models"][1].update(batchsize=8), "models[1].batchsize", "unknown key"),
    ("wrong type", lambda d: d["models"][0].update(max_length="long"), "models[0].max_length", "integer"),
    ("empty grid", lambda d: d["models"][1].update(steps=[]), "models[1].steps", "empty"),
    ("unsorted grid", lambda d: d["models"][1].update(steps=[100, 10]), "models[1].steps", "strictly increasing"),
    ("negative step", lambda d: d["models"][0].update(steps=[-1, 5]), "models[0].steps", ">= 0"),
    ("duplicate model", lambda d: d["models"][1].update(name="a"), "(top level)", "duplicate model name"),
    ("unknown task", lambda d: d["intermediate_tasks"].append("mnli_typo"), "intermediate_tasks[2]", "unknown task"),
    ("target as intermediate", lambda d: d["intermediate_tasks"].append("builtin_pos"), "intermediate_tasks[2]", "not an intermediate task"),
    ("unknown language", lambda d: d["target_tasks"][1].update(languages=["zz"]), "target_tasks[1].languages", "no language 'zz'"),
    ("unknown builtin size", lambda d: d["models"][0].update(source={"builtin": "huge"}), "models[0].source.builtin", "unknown built-in size"),
    ("bad source", lambda d: d["models"][0].update(source={"url": "x"}), "models[0].source", "exactly one of the keys"),
    ("unknown hyperparameter", lambda d: d["hyperparameters"].update(lr=1), "hyperparameters", "unknown hyperparameter"),
    ("bad loguniform", lambda d: d["hyperparameters"].update(intermediate_lr={"loguniform": [1e-3, 1e-5]}), "hyperparameters.intermediate_lr.loguniform", "low < high"),
    ("asha signal", lambda d: d.update(asha={"signal": "task:builtin_tatoeba"}), "(top level)", "not a target task"),
    ("missing name", lambda d: d["study"].pop("name"), "study.name", "Field required"),
    ("bad name", lambda d: d["study"].update(name="a b"), "study.name", "pattern"),
    ("duplicate seeds", lambda d: d.update(seeds=[1, 1]), "seeds", "unique"),
    ("flat stopper confidence", lambda d: d.update(intermediate_training={"stop_when_flat": {"confidence": 1.5}}),
     "intermediate_training.stop_when_flat.confidence", "less than 1"),
    ("flat stopper gain", lambda d: d.update(intermediate_training={"stop_when_flat": {"min_gain": 0}}),
     "intermediate_training.stop_when_flat.min_gain", "greater than 0"),
    ("flat stopper key", lambda d: d.update(intermediate_training={"stop_when_flat": {"min_gian": 1}}),
     "intermediate_training.stop_when_flat.min_gian", "unknown key"),
    ("flat stopper without a trunk", lambda d: d.update(intermediate_training={
        "schedule": "independent", "stop_when_flat": {}}), "intermediate_training", "needs schedule 'branch'"),
    ("models not a list", lambda d: d.update(models=5), "models", "list"),
    ("target tasks not a list", lambda d: d.update(target_tasks=3), "target_tasks", "list"),
]


@pytest.mark.parametrize("what,mutate,path,rule", CASES, ids=[c[0] for c in CASES])
def test_bad_specs_name_field_and_rule(what, mutate, path, rule):
    errors = _errors(mutate)
    assert path in errors, errors
    assert rule in errors[path], errors


def test_load_spec_reports_yaml_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("study:\n  name: x\n models: [\n")
    with pytest.raises(SpecError) as info:
        load_spec(p)
    (where, rule), = info.value.errors
    assert where.startswith("line ") and "YAML" in rule


def test_load_spec_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")


def test_field_path_format():
    assert field_path(("models", 1, "steps")) == "models[1].steps"
    assert field_path(("models", 0, "source", "BuiltinSource", "builtin")) == "models[0].source.builtin"


def test_yaml_roundtrip_of_base(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(BASE))
    assert load_spec(p).study.name == "t"


def test_source_errors_name_the_inner_field():
    errors = _errors(lambda d: d["models"][0].update(source={"builtin": 3}))
    assert "models[0].source.builtin" in errors
    errors = _errors(lambda d: d["models"][0].update(source={"hub": "x", "hubb": 1}))
    assert "models[0].source.hubb" in errors


def test_the_flat_stopper_is_off_by_default_and_takes_its_defaults():
    assert parse_spec(copy.deepcopy(BASE)).intermediate_training.stop_when_flat is None
    data = copy.deepcopy(BASE)
    data["intermediate_training"] = {"stop_when_flat": {}}
    flat = parse_spec(data).intermediate_training.stop_when_flat
    assert (flat.min_gain, flat.confidence) == (0.5, 0.9)


def test_the_signal_mode_follows_the_registered_direction_of_the_signals_tasks(lower_is_better_xnli):
    assert parse_spec(BASE).signal_mode() == "max"
    lower = {**copy.deepcopy(BASE), "target_tasks": [lower_is_better_xnli]}
    assert parse_spec(lower).signal_families() == {lower_is_better_xnli: "error_rate"}
    assert parse_spec(lower).signal_mode() == "min"
    mixed = {**copy.deepcopy(BASE), "target_tasks": ["builtin_pos", lower_is_better_xnli]}
    # one target named by `task:NAME`: only its direction counts; the intermediate task's for `intermediate`
    assert parse_spec({**mixed, "asha": {"signal": f"task:{lower_is_better_xnli}"}}).signal_mode() == "min"
    assert parse_spec({**mixed, "asha": {"signal": "intermediate"}}).signal_families() == {"builtin_nli": "accuracy"}
    with pytest.raises(SpecError) as err:
        parse_spec(mixed)
    assert [path for path, _ in err.value.errors] == ["asha.signal"]
    assert "higher-is-better scores (builtin_pos) with lower-is-better ones (error_xnli)" in err.value.errors[0][1]
    with pytest.raises(SpecError, match="intermediate_training.stop_when_flat: the flat-curve rule"):
        parse_spec({**lower, "intermediate_training": {"stop_when_flat": {}}})
