"""Fuzzing the spec loader: whatever the YAML text or mapping, the only error is a SpecError naming a field.

A crash from deep inside (KeyError, TypeError, a yaml or pydantic exception, ValueError from a date) would
reach the user as a traceback instead of a line saying which field broke which rule.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzzing
from study.grid import grid_points
from study.spec import SpecError, StudySpec, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
# XSTUDY_FUZZ_EXAMPLES=5000 searches harder (minutes); the default keeps the suite fast.
FAST = settings(max_examples=int(os.environ.get("XSTUDY_FUZZ_EXAMPLES", 150)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

VALID = {
    "study": {"name": "fz", "storage": "/tmp/fz"},
    "models": [
        {"name": "a", "source": {"builtin": "tiny"}, "resources": {"cpu": 1}, "steps": [0, 10, 20]},
        {"name": "b", "source": {"hub": "FacebookAI/xlm-roberta-large"}, "steps": [0, 100]},
    ],
    "intermediate_tasks": ["none", "builtin_nli", {"name": "mix", "tasks": ["builtin_nli", "builtin_squad"]}],
    "target_tasks": ["builtin_pos", {"task": "builtin_xnli", "languages": ["en", "xa"]}],
    "seeds": [0, 1],
    "hyperparameters": {"intermediate_lr": {"loguniform": [1e-5, 1e-3]}, "target_lr": {"choice": [1e-4, 3e-4]}},
    "intermediate_training": {"schedule": "branch", "warmup_steps": 2, "cooldown_fraction": 0.1},
    "target_training": {"steps": 8},
    "asha": {"signal": "task:builtin_pos"},
    "search": {"algorithm": "grid", "max_concurrent_trials": 2},
}
# Words the schema knows, so that generated text and mutations reach the validators, not only the parser.
WORDS = sorted({"study", "name", "storage", "models", "source", "builtin", "hub", "path", "tiny", "steps",
                "resources", "cpu", "gpu", "workers", "intermediate_tasks", "target_tasks", "task", "languages",
                "seeds", "hyperparameters", "choice", "grid", "loguniform", "uniform", "asha", "signal", "search",
                "none", "builtin_nli", "builtin_pos", "tasks", "all", "sampling", "capped", "cap", "precision"})

# Any value YAML can hold: scalars of every kind, lists and mappings (keys not only strings).
scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12)
           | st.sampled_from(WORDS))
keys = st.sampled_from(WORDS) | st.text(max_size=6) | st.integers() | st.booleans() | st.floats(allow_nan=False)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=10)


def accepted_or_spec_error(run) -> StudySpec | None:
    try:
        spec = run()
    except SpecError as exc:
        assert exc.errors and all(isinstance(p, str) and isinstance(r, str) and r for p, r in exc.errors)
        return None
    # A spec that validates must also give its derived views: no check can be missing from the schema.
    assert spec.intermediate[0] == "none" and spec.targets
    for m in spec.models:
        assert m.milestones[0] == 0
    for name in spec.intermediate:
        spec.members(name)
    assert grid_points(spec)
    return spec


def test_the_valid_base_is_valid():
    assert accepted_or_spec_error(lambda: parse_spec(copy.deepcopy(VALID))) is not None


def mutated_specs() -> st.SearchStrategy:
    """The valid spec with a few random edits: a value replaced, a key removed or added, a list emptied."""
    return fuzzing.mutated(VALID, values=values, keys=keys, edits=(1, 3),
                           actions=["replace", "remove", "add", "empty"], root_odds=10)


@FAST
@given(mutated_specs())
def test_mutated_spec_mappings_give_spec_errors_only(data):
    accepted_or_spec_error(lambda: parse_spec(data, "fuzz"))


@FAST
@given(values)
def test_any_value_as_a_spec_gives_spec_errors_only(data):
    accepted_or_spec_error(lambda: parse_spec(data, "fuzz"))


# YAML fragments that exercise the parser's corners: tags, anchors, dates, flow collections, bad indents.
fragments = st.sampled_from([
    "study:", "  name: x", "models:", "  - name: a", "    steps: [0, 10]", "- ", ": ", "[", "]", "{", "}", "&a ", "*a",
    "*b", "!!binary zz", "!!python/object:os.system", "!!int x", "!!float x", "!!timestamp 2001-02-30", "2001-13-45",
    "2001-02-30 25:61:61", "? [a, b]\n: c", "<<: *a", "'", '"', "\\x", "\t", "%YAML 1.1", "---", "...", "\ufeff",
    "0x1F", "1e999", ".nan", "~", "|", ">", "#", "\x00", "\x85",
])
yaml_texts = st.lists(fragments | st.sampled_from(WORDS) | st.text(max_size=8), max_size=12).map("\n".join)


@FAST
@given(st.one_of(yaml_texts, st.text(max_size=200),
                 mutated_specs().map(lambda d: yaml.safe_dump(d, allow_unicode=True))))
def test_any_yaml_text_gives_spec_errors_only(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    accepted_or_spec_error(lambda: load_spec(path))


@FAST
@given(st.binary(max_size=200))
def test_any_bytes_give_spec_errors_only(tmp_path, raw):
    path = tmp_path / "spec.yaml"
    path.write_bytes(raw)
    accepted_or_spec_error(lambda: load_spec(path))


def test_a_folder_or_an_undecodable_file_is_a_spec_error(tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "latin1.yaml").write_bytes("study:\n  name: caf\xe9\n".encode("latin-1"))
    for name, rule in (("folder.yaml", "no such file"), ("latin1.yaml", "not UTF-8 text")):
        with pytest.raises(SpecError) as info:
            load_spec(tmp_path / name)
        assert rule in str(info.value) and str(tmp_path / name) in str(info.value)
    assert info.value.errors[0][0] == "line 2"


def test_a_value_its_tag_cannot_hold_names_its_line(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("study:\n  name: x\n  created: 2001-02-30\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    (where, rule), = info.value.errors
    assert where == "line 3, column 12" and "'2001-02-30' is not a valid timestamp" in rule


def test_keys_that_are_not_names_are_spec_errors():
    with pytest.raises(SpecError) as info:
        parse_spec({**copy.deepcopy(VALID), 1: "x"})
    assert ("(top level)", "key 1 is not a string (every key of the spec is a name)") in info.value.errors
