"""`xstudy data check-hub`, offline: the comparison of a builder's info with what the converters read, fed
fake builders shaped like `datasets.load_dataset_builder`'s (the online run is tests/study/tasks/test_hub_online.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import datasets
import pytest

from study import hub_check
from study.tasks.readers import UPOS_TAGS

L, STR = datasets.List, datasets.Value("string")
UDPOS = datasets.Features({"tokens": L(STR), "pos_tags": L(datasets.ClassLabel(names=list(UPOS_TAGS)))})
COPA = datasets.Features({"premise": STR, "choice1": STR, "choice2": STR, "question": STR,
                          "idx": datasets.Value("int32"), "label": datasets.ClassLabel(names=["choice1", "choice2"])})


class FakeBuilder:
    """What the check reads of a builder: info.features, info.splits, config.data_files, as_streaming_dataset."""

    def __init__(self, features, splits=None, data_files=None, streamed=None):
        self.info = SimpleNamespace(features=features, splits=dict.fromkeys(splits) if splits else None)
        self.config = SimpleNamespace(data_files=dict.fromkeys(data_files) if data_files else None)
        self.streamed, self.streamed_splits = streamed, []

    def as_streaming_dataset(self, split):
        self.streamed_splits.append(split)
        self.info.features = self.streamed


def refs(task: str, key: tuple) -> list[hub_check.Reference]:
    return hub_check.references([task])[key]


def test_a_builder_with_the_split_and_the_columns_passes():
    [thai] = [r for r in refs("udpos", ("google/xtreme", "udpos.Thai", None, None))]
    result = hub_check.check_builder(FakeBuilder(UDPOS, splits=["test"]), [thai], ["udpos.Thai", "udpos.Tamil"])
    assert result.ok and result.splits == ["test"]
    assert result.features == {"tokens": "list<string>", "pos_tags": "list<class_label>"}
    assert result.references == [{"task": "udpos", "split": "test", "language": "th", "hub_split": "test", "problems": []}]


def test_a_missing_split_config_or_column_is_named():
    english = refs("udpos", ("google/xtreme", "udpos.English", None, None))
    assert sorted(r.split for r in english) == ["dev", "test", "train"]
    plain = datasets.Features({"tokens": L(STR), "pos_tags": L(STR)})
    result = hub_check.check_builder(FakeBuilder(plain, splits=["train", "test"]), english, ["udpos.German"])
    assert not result.ok
    problems = {r["split"]: r["problems"] for r in result.references}
    assert "no split 'validation'; the builder has ['train', 'test']" in problems["dev"]
    for split in ("train", "dev", "test"):
        assert "no config 'udpos.English' among the repository's 1 configs" in problems[split]
        assert "column 'pos_tags' is list<string>, the converter reads list<class_label>" in problems[split]


def test_features_come_from_a_streamed_split_when_the_card_has_none():
    # The parquet conversion (refs/convert/parquet) has no card: splits from the data files, features from parquet.
    copa = refs("xcopa", ("aps/super_glue", None, "refs/convert/parquet", "copa"))
    builder = FakeBuilder(None, data_files=["train", "validation", "test"], streamed=COPA)
    result = hub_check.check_builder(builder, copa, ["default"])
    assert result.ok and builder.streamed_splits == ["train"]
    assert result.features["label"] == "class_label"
    unreadable = hub_check.check_builder(FakeBuilder(None, data_files=["test"]), copa, [])
    assert not unreadable.ok and all("no split" in r["problems"][0] for r in unreadable.references)


def test_check_hub_groups_references_by_builder_and_reports_failures():
    loaded = []

    def load(path, name=None, revision=None, data_dir=None):
        loaded.append((path, name, revision, data_dir))
        if path == "aps/super_glue":
            raise RuntimeError("Dataset scripts are no longer supported, but found super_glue.py")
        return FakeBuilder(COPA if path != "cambridgeltl/xcopa" else datasets.Features(
            {**COPA, "label": datasets.Value("int32"), "changed": datasets.Value("bool")}), splits=["validation", "test"])

    results = hub_check.check_hub(["xcopa"], load_builder=load, config_names=lambda path, **kw: ["et", "qu", "default"])
    assert len(loaded) == len(set(loaded)) == 12  # 11 XCOPA languages and COPA, each loaded once
    by_path = {}
    for r in results:
        by_path.setdefault(r.path, []).append(r)
    [copa] = by_path["aps/super_glue"]
    assert not copa.loads and "loading script" in copa.error and "refs/convert/parquet" in copa.error
    assert {r["split"] for r in copa.references} == {"train", "dev"}
    ok = {r.config: r.ok for r in by_path["cambridgeltl/xcopa"]}
    assert ok["et"] and ok["qu"] and not ok["ta"]  # 'ta' is not among the configs the fake repository lists


def test_the_command_refuses_offline_and_prints_json_online(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_check.check_hub_command(["udpos"], True) == 2
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err
    assert hub_check.check_hub_command(["nope"], True) == 2
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setattr(datasets, "load_dataset_builder", lambda path, name=None, **kw: FakeBuilder(UDPOS, splits=["test"]))
    monkeypatch.setattr(datasets, "get_dataset_config_names", lambda path, **kw: [f"udpos.{x}" for x in ("Thai", "Yoruba")])
    assert hub_check.check_hub_command(["udpos"], True) == 1
    out = json.loads(capsys.readouterr().out)
    good = {b["config"] for b in out["builders"] if b["ok"]}
    assert good == {"udpos.Thai", "udpos.Yoruba"} and out["ok"] is False
    assert hub_check.check_hub_command(["udpos"], False) == 1
    shown = capsys.readouterr().out
    assert "ok   google/xtreme udpos.Thai" in shown and "FAIL google/xtreme udpos.English" in shown


@pytest.mark.parametrize("variable", hub_check.OFFLINE_VARIABLES)
def test_offline_is_either_variable(monkeypatch, variable):
    for v in hub_check.OFFLINE_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    assert hub_check.offline() is None
    monkeypatch.setenv(variable, "1")
    assert hub_check.offline() == variable
