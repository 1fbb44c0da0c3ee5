"""study.storage: the one atomic write, on a local folder (the S3 tests run it against a bucket)."""

from __future__ import annotations

import pytest

from study import storage


def test_a_write_lands_whole_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "a" / "b" / "x.json"
    storage.write_text_atomic(str(target), "first")
    storage.write_text_atomic(str(target), "second ü")
    assert target.read_text(encoding="utf-8") == "second ü"
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary_file(tmp_path):
    target = tmp_path / "x.bin"
    storage.write_bytes_atomic(str(target), b"old")

    def half(fs, tmp):
        with fs.open_output_stream(tmp) as f:
            f.write(b"ha")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        storage.write_atomic(str(target), half)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"], "no .tmp- file left behind"


def test_the_temporary_name_is_one_readers_skip(tmp_path):
    seen = []
    storage.write_atomic(str(tmp_path / "t.parquet"), lambda fs, tmp: seen.append(tmp) or fs.open_output_stream(tmp).close(),
                         suffix=".parquet")
    name = seen[0].rsplit("/", 1)[-1]
    assert name.startswith(".tmp-") and name.endswith(".parquet")
