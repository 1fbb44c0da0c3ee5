"""`xstudy prepare SPEC` makes every model and tokenized split the trials read, once; with
XSTUDY_REQUIRE_PREPARED=1 a trial never makes anything, so a study that runs under it made nothing itself."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from helpers import TEST_MLM_STEPS, small_spec
from study import prepare as preparing
from study.cache import REQUIRE_PREPARED_ENV, NotPrepared
from study.cli import app
from study.spec import HubSource

TARGETS = [{"task": "builtin_pos", "languages": ["xa"]}, {"task": "builtin_tatoeba", "languages": ["xc"]}]


def _spec(storage: Path, **overrides):
    settings = dict(
        models=[{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": TEST_MLM_STEPS}, "batch_size": 16,
                 "max_length": 48, "steps": [0, 10]}],
        intermediate_tasks=["none", "builtin_nli"], target_tasks=TARGETS,
        target_training={"steps": 5, "batch_size": 16, "eval_batch_size": 128},
    )
    settings.update(overrides)
    return small_spec(str(storage), name="prep", **settings)


@contextlib.contextmanager
def _environ(**values: str | None):
    """Set (or, for None, unset) environment variables for a block, module fixtures included."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in values.items():
            if v is None:
                mp.delenv(k, raising=False)
            else:
                mp.setenv(k, v)
        yield


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache with no tokenized data yet; its models are the session's (pretraining is not what is tested)."""
    shared = Path(os.environ["XSTUDY_CACHE_DIR"])
    root = tmp_path_factory.mktemp("cache")
    (shared / "models").mkdir(parents=True, exist_ok=True)
    (root / "models").symlink_to(shared / "models", target_is_directory=True)
    with _environ(XSTUDY_CACHE_DIR=str(root), **{REQUIRE_PREPARED_ENV: None}):
        yield root


def _data_folders(root: Path) -> set[str]:
    data = root / "data"
    return {p.name for p in data.iterdir() if p.is_dir()} if data.is_dir() else set()


@pytest.fixture(scope="module")
def prepared(cache, tmp_path_factory):
    """Refused before `prepare` (required but not prepared), then `prepare` twice, through the command line."""
    work = tmp_path_factory.mktemp("prep")
    spec = _spec(work / "results")
    spec_file = work / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    from study.model import ensure_builtin

    ensure_builtin(spec.models[0].source)  # the session's model, built once if this runs first
    before = preparing.missing(spec)
    with _environ(**{REQUIRE_PREPARED_ENV: "1"}):
        refused = CliRunner().invoke(app, ["run", str(spec_file), "--num-cpus", "2"])
    first = CliRunner().invoke(app, ["prepare", str(spec_file), "--json"])
    assert first.exit_code == 0, first.output
    folders = _data_folders(cache)
    second = preparing.prepare(spec)
    return {"spec": spec, "spec_file": spec_file, "work": work, "before": before, "refused": refused,
            "first": json.loads(first.output), "folders": folders, "second": second,
            "after": preparing.missing(spec)}


def test_before_prepare_every_split_is_missing(prepared):
    needs = preparing.data_needs(prepared["spec"])
    assert {(t, s, lang) for t, s, lang, _ in needs} >= {
        ("builtin_nli", "train", "en"), ("builtin_nli", "dev", "en"), ("builtin_pos", "train", "en"),
        ("builtin_pos", "dev", "en"), ("builtin_pos", "test", "xa"), ("builtin_tatoeba", "test", "xc")}
    missing = prepared["before"]
    assert [i.kind for i in missing] == ["data"] * len(needs), "the model is there, no data is"


def test_run_refuses_when_required_and_not_prepared(prepared):
    refused = prepared["refused"]
    out = " ".join(refused.output.split())
    assert refused.exit_code == 2, refused.output
    assert "not prepared" in out and REQUIRE_PREPARED_ENV in out and "xstudy prepare" in out
    assert "builtin_nli train en" in out
    assert not (prepared["work"] / "results" / "prep").exists(), "nothing was started"


def test_prepare_makes_every_item_once(prepared):
    first, needs = prepared["first"], preparing.data_needs(prepared["spec"])
    assert first["counts"] == {"model": {"cached": 1}, "data": {"built": len(needs)}}
    assert len(prepared["folders"]) == len(needs)
    assert prepared["after"] == [], "nothing is missing once prepared"
    assert {i.status for i in prepared["second"]} == {"cached"}, "a second prepare makes nothing"


@pytest.mark.slow
def test_trials_under_require_prepared_make_nothing(prepared, cache, local_ray):
    """The study runs with XSTUDY_REQUIRE_PREPARED=1 (a trial that had to tokenize would error) and the cache
    gains no folder: every split the trials read was found by the fingerprint `prepare` used."""
    folders = _data_folders(cache)
    with _environ(**{REQUIRE_PREPARED_ENV: "1"}):  # the study forwards it to its trials (study.environment)
        result = CliRunner().invoke(app, ["run", str(prepared["spec_file"]), "--num-cpus", "2"])
    assert result.exit_code == 0, result.output[-3000:]
    assert "cache: prepared" in result.output
    import pandas as pd

    df = pd.read_parquet(prepared["work"] / "results" / "prep" / "results.parquet")
    assert set(df.intermediate_task) == {"none", "builtin_nli"} and set(df.intermediate_steps) == {0, 10}
    assert set(df.target_task) == {"builtin_pos", "builtin_tatoeba"}
    assert _data_folders(cache) == folders, "no trial tokenized anything"


def test_a_miss_under_require_prepared_names_the_item(cache, monkeypatch):
    from transformers import AutoTokenizer

    from study.data import load_split
    from study.model import ensure_builtin
    from study.spec import BuiltinSource
    from study.tasks import registry
    from study.tasks.registry import LoadContext

    tokenizer = AutoTokenizer.from_pretrained(ensure_builtin(BuiltinSource(builtin="tiny", mlm_steps=TEST_MLM_STEPS)))
    monkeypatch.setenv(REQUIRE_PREPARED_ENV, "1")
    with pytest.raises(NotPrepared, match=r"task builtin_pos, split test, language xd .*max_length 17"):
        load_split(registry.get("builtin_pos"), "test", "xd", tokenizer, 17, LoadContext(), False)
    with pytest.raises(NotPrepared, match=r"built-in model tiny \(mlm_steps 3\) is not built"):
        ensure_builtin(BuiltinSource(builtin="tiny", mlm_steps=3))
    from study.model import model_location
    from study.spec import ModelSpec

    hub = ModelSpec(name="big", source={"hub": "example/not-downloaded"}, steps=[0])
    with pytest.raises(NotPrepared, match="example/not-downloaded"):
        model_location(hub)


def test_a_local_path_model_is_prepared_for_its_own_max_length(prepared, cache):
    from study.model import ensure_builtin

    folder = ensure_builtin(prepared["spec"].models[0].source)
    spec = _spec(prepared["work"] / "results", intermediate_tasks=["none"],
                 target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}],
                 models=[{"name": "local", "source": {"path": folder}, "batch_size": 16, "max_length": 40, "steps": [0]}])
    items = preparing.prepare(spec)
    assert items[0].kind == "model" and items[0].status == "cached" and items[0].where == folder
    assert {i.status for i in items[1:]} == {"built"} and preparing.missing(spec) == []

    gone = _spec(prepared["work"] / "results", models=[{"name": "gone", "source": {"path": str(cache / "nope")},
                                                         "steps": [0]}])
    with pytest.raises(FileNotFoundError, match="nope"):
        preparing.prepare(gone)


def test_a_hub_model_is_snapshotted_with_pytorch_weights_only(monkeypatch):
    import huggingface_hub

    calls = []
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files",
                        lambda self, repo, revision=None: ["config.json", "model.safetensors", "pytorch_model.bin"])
    monkeypatch.setattr(huggingface_hub, "snapshot_download",
                        lambda repo, revision=None, ignore_patterns=None: calls.append((repo, revision, ignore_patterns)) or "/snap")
    assert preparing.fetch_hub_model(HubSource(hub="org/model", revision="abc")) == "/snap"
    (repo, revision, ignore), = calls
    assert (repo, revision) == ("org/model", "abc")
    assert {"*.bin", "*.h5", "*.msgpack", "*.onnx"} <= set(ignore), "safetensors present: no pickles, no other frameworks"
