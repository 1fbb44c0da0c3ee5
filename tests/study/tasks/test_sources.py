"""study.tasks.sources on a small made-up dataset: release files win over the hub, a dataset folder without
the file is an error (never a hub fall-back), ambiguity and missing data name what to do, and the fingerprint
follows the files."""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import pytest

from study.tasks import sources as S
from study.tasks.readers import DataError, MissingData
from study.tasks.registry import LoadContext


def read_lines(files: list[Path], lang: str) -> list[dict]:
    return [{"text": line, "lang": lang, "file": f.name} for f in files for line in f.read_text().splitlines()]


def convert(ds, lang: str) -> list[dict]:
    return [{"text": r["text"], "lang": lang, "file": "hub"} for r in ds]


HUB = S.Hub("org/toy", "toy.{lang}", "test", convert)


def plan(split: str, lang: str) -> list[S.Part]:
    hub = S.Hub(HUB.path, f"toy.{lang}", split, convert) if lang != "xx" else None
    local = S.Local(("toy", "TOY_v1"), f"{split}.{lang}.txt", read_lines)
    return [S.Part((local,), hub, lang, fields=(("source", "toy"),), no_hub="only released as files")]


def toy() -> S.DataSource:
    return S.DataSource("toy", {"test": ("de", "xx"), "train": ("en",)}, plan)


@pytest.fixture
def hub_rows(monkeypatch):
    calls = []

    def load_dataset(path, split=None, **kwargs):
        calls.append((path, split, kwargs))
        return datasets.Dataset.from_dict({"text": ["vom hub"]})

    monkeypatch.delenv(S.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def write(base: Path, rel: str, text: str) -> Path:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_files_win_over_the_hub_and_fields_are_added(tmp_path, hub_rows):
    write(tmp_path, "toy/deep/er/test.de.txt", "a\nb\n")
    got = toy()("test", "de", LoadContext(data_dir=str(tmp_path)))
    assert got == [{"text": t, "lang": "de", "file": "test.de.txt", "source": "toy"} for t in ("a", "b")]
    assert hub_rows == []


def test_without_the_dataset_folder_the_hub_is_loaded(tmp_path, hub_rows):
    (tmp_path / "other").mkdir()
    got = toy()("test", "de", LoadContext(data_dir=str(tmp_path)))
    assert got == [{"text": "vom hub", "lang": "de", "file": "hub", "source": "toy"}]
    assert hub_rows == [("org/toy", "test", {"name": "toy.de"})]


def test_a_folder_without_the_file_is_an_error_not_a_hub_fallback(tmp_path, hub_rows):
    write(tmp_path, "TOY_v1/test.fr.txt", "x\n")
    with pytest.raises(MissingData, match=r"task toy, split test, language de: .*TOY_v1: file missing: no "
                                          r"'test.de.txt' in this folder or below it"):
        toy()("test", "de", LoadContext(data_dir=str(tmp_path)))
    assert hub_rows == []


def test_two_matching_files_are_ambiguous(tmp_path, hub_rows):
    write(tmp_path, "toy/a/test.de.txt", "1\n")
    write(tmp_path, "TOY_v1/b/test.de.txt", "2\n")
    with pytest.raises(DataError, match="2 files match 'test.de.txt'"):
        toy()("test", "de", LoadContext(data_dir=str(tmp_path)))
    many = S.Local(("toy", "TOY_v1"), "test.de.txt", read_lines, many=True)
    # many=True reads every match, in path order (TOY_v1/ sorts before toy/)
    assert [f.parent.name for f in many.find(tmp_path)] == ["b", "a"]
    assert [ex["text"] for ex in many.read(many.find(tmp_path), "de")] == ["2", "1"]


def test_no_files_and_no_hub_copy_says_why_and_where(tmp_path, hub_rows):
    with pytest.raises(MissingData, match=r"no local release files and no hub copy of this data \(only released as "
                                          r"files\).*toy\|TOY_v1/\*\*/test.xx.txt"):
        toy()("test", "xx", LoadContext())


def test_splits_and_languages_are_checked_and_empty_data_is_an_error(tmp_path, hub_rows):
    with pytest.raises(DataError, match=r"task toy has no 'dev' split \(expected: one of \['test', 'train'\]\)"):
        toy()("dev", "de", LoadContext())
    with pytest.raises(DataError, match=r"no 'test' split in language 'en' \(expected: one of \['de', 'xx'\]\)"):
        toy()("test", "en", LoadContext())
    write(tmp_path, "toy/test.de.txt", "")
    with pytest.raises(DataError, match="task toy, split test, language de: no examples"):
        toy()("test", "de", LoadContext(data_dir=str(tmp_path)))


def test_data_dir_from_the_context_else_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(S.DATA_DIR_ENV, raising=False)
    assert S.data_dir(LoadContext()) is None
    monkeypatch.setenv(S.DATA_DIR_ENV, str(tmp_path))
    assert S.data_dir(LoadContext()) == tmp_path
    assert S.data_dir(None) == tmp_path
    with pytest.raises(DataError, match=r"does not exist \(LoadContext.data_dir"):
        S.data_dir(LoadContext(data_dir=str(tmp_path / "gone")))
    monkeypatch.setenv(S.DATA_DIR_ENV, str(tmp_path / "gone"))
    with pytest.raises(DataError, match=f"does not exist \\({S.DATA_DIR_ENV}\\)"):
        S.data_dir(LoadContext())


def test_hub_errors_name_the_dataset_and_both_ways_to_get_it(monkeypatch):
    def script_repo(path, split=None, **kwargs):
        raise RuntimeError("Dataset scripts are no longer supported, but found toy.py")

    monkeypatch.delenv(S.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(datasets, "load_dataset", script_repo)
    with pytest.raises(DataError, match=r"'org/toy' config 'toy.de' split 'test' is a dataset loading script.*"
                                        r"instead: a repository with data files"):
        toy()("test", "de", LoadContext())

    def offline(path, split=None, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingData, match=r"cannot load 'org/toy' .*\(offline mode is on\): ConnectionError: no network"):
        toy()("test", "de", LoadContext())


def test_hub_load_arguments_and_refs():
    parquet = S.Hub("aps/super_glue", None, "train", convert, revision="refs/convert/parquet", data_dir="copa")
    assert parquet.load_kwargs() == {"name": None, "revision": "refs/convert/parquet", "data_dir": "copa"}
    assert parquet.describe() == "'aps/super_glue' config None split 'train' revision 'refs/convert/parquet' data_dir 'copa'"
    assert HUB.load_kwargs() == {"name": "toy.{lang}"}
    refs = toy().hub_refs()
    assert set(refs) == {("test", "de"), ("test", "xx"), ("train", "en")}
    assert refs[("test", "xx")] == [] and [h.name for h in refs[("train", "en")]] == ["toy.en"]


def test_the_fingerprint_follows_the_files_or_names_the_hub_source(tmp_path, monkeypatch):
    monkeypatch.delenv(S.DATA_DIR_ENV, raising=False)
    ctx = LoadContext(data_dir=str(tmp_path))
    hub = toy().fingerprint("test", "de", ctx)
    assert hub == [S.READERS_VERSION, ["hub", "org/toy", "toy.de", "test", "de", [("source", "toy")]]]
    f = write(tmp_path, "toy/test.de.txt", "a\n")
    first = toy().fingerprint("test", "de", ctx)
    assert first[1][0] == "local" and first[1][3] == [[str(f.resolve()), 2, f.stat().st_mtime_ns]]
    assert toy().fingerprint("test", "de", ctx) == first
    f.write_text("a longer line\n")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    assert toy().fingerprint("test", "de", ctx) != first
