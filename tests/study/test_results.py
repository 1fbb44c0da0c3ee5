"""study.results: rows checked against the schema, one Parquet file per milestone written atomically (a rerun
replaces it), files of an earlier schema read with the added columns' defaults."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from study import results
from written_study import milestone_rows


def test_rows_must_have_exactly_the_schema_columns_added_ones_defaulted():
    rows = milestone_rows("small", "nli", 0, 100)
    for name in results.ADDED_DEFAULTS:
        rows[0].pop(name)
    table = results.to_table(rows)
    assert table.schema == results.SCHEMA and table.num_rows == len(rows)
    assert table.column("cooldown_steps")[0].as_py() == 0 and math.isnan(table.column("chance")[0].as_py())
    with pytest.raises(ValueError, match=r"result row 1: missing columns \['value'\], unknown columns \[\]"):
        results.to_table([rows[0], {k: v for k, v in rows[1].items() if k != "value"}])
    with pytest.raises(ValueError, match=r"result row 0: missing columns \[\], unknown columns \['colour'\]"):
        results.to_table([{**rows[0], "colour": "red"}])


def test_every_added_column_has_a_default_and_comes_after_the_first_ones():
    assert set(results.ADDED_DEFAULTS) <= set(results.COLUMNS)
    first_added = min(results.COLUMNS.index(name) for name in results.ADDED_DEFAULTS)
    assert set(results.COLUMNS[first_added:]) == set(results.ADDED_DEFAULTS), "columns are only ever appended"


def test_a_milestone_written_again_replaces_its_file(tmp_path):
    uri = str(tmp_path / "study")
    assert list(results.collect(uri).columns) == list(results.COLUMNS) and results.collect(uri).empty
    path = results.write_milestone(uri, "t1", 100, milestone_rows("small", "nli", 0, 100))
    assert path == f"{uri}/rows/t1/000000000100.parquet"
    results.write_milestone(uri, "t1", 1000, milestone_rows("small", "nli", 0, 1000))
    rerun = milestone_rows("small", "nli", 0, 100)
    for row in rerun:
        row["value"] += 1
    results.write_milestone(uri, "t1", 100, rerun)
    df = results.collect(uri)
    assert len(df) == 2 * len(rerun), "no duplicate rows from the rerun"
    first = df[df.intermediate_steps == 100].value.tolist()
    assert first == [r["value"] for r in rerun]
    # A half-written file of another writer is not read.
    (tmp_path / "study" / "rows" / "t1" / ".tmp-x.parquet").write_bytes(b"not parquet")
    assert len(results.collect(uri)) == len(df)


def test_a_file_of_an_earlier_schema_reads_with_the_defaults(tmp_path):
    uri = str(tmp_path / "study")
    old = results.to_table(milestone_rows("large", "none", 1, 0)).drop_columns(["chance", "mixture", "cooldown_flops"])
    target = results.milestone_uri(uri, "old", 0)
    (tmp_path / "study" / "rows" / "old").mkdir(parents=True)
    pq.write_table(old, target)
    df = results.collect(uri)
    assert list(df.columns) == list(results.COLUMNS) and len(df) == old.num_rows
    assert df.mixture.eq("").all() and df.cooldown_flops.eq(0.0).all() and df.chance.isna().all()
    assert results.conform(old).schema == results.SCHEMA
    assert results.conform(old).column("value").to_pylist() == old.column("value").to_pylist()


def test_config_json_is_sorted_and_stable():
    assert results.config_json({"b": 1, "a": 2e-5}) == '{"a": 2e-05, "b": 1}'
    assert results.config_json({"path": Path("/x/y")}) == '{"path": "/x/y"}', "values JSON lacks are written as text"
