"""The results table: one tidy row per (trial, milestone, target task, language, split, metric).

Trials write their rows for each milestone as one Parquet file,
`<study>/rows/<trial_id>/<milestone>.parquet`, through pyarrow's filesystems (a local folder or a cloud URI).
Each file is written to a temporary name and then renamed, so a reader never sees half a file, and a
milestone that runs again after a crash replaces its own file instead of adding duplicate rows.
`collect` reads every finished file into one table; plots and exports are derived from that table only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from study import storage

# The schema is the contract with `analysis/` and with users' own notebooks: change it only by adding columns.
SCHEMA = pa.schema(
    [
        ("study", pa.string()),
        ("trial_id", pa.string()),
        ("model", pa.string()),  # the model size's name in the spec
        ("model_params", pa.int64()),  # encoder parameters, embeddings included
        ("intermediate_task", pa.string()),  # "none" for the no-intermediate baseline
        ("schedule", pa.string()),  # "branch" or "independent"
        ("seed", pa.int64()),
        ("config", pa.string()),  # the trial's hyperparameters as sorted JSON
        ("intermediate_steps", pa.int64()),  # the milestone: optimizer steps of intermediate training
        ("intermediate_examples", pa.int64()),
        ("intermediate_tokens", pa.int64()),  # non-padding tokens seen in intermediate training
        ("intermediate_flops", pa.float64()),  # matmul FLOPs (study.flops: non-embedding params, attention)
        ("intermediate_seconds", pa.float64()),  # wall seconds spent reaching this milestone
        ("target_task", pa.string()),
        ("target_format", pa.string()),
        ("language", pa.string()),
        ("split", pa.string()),  # "dev" (English, the ASHA signal) or "test" (zero-shot)
        ("metric", pa.string()),  # a metric name, or "score": the official per-language task score
        ("value", pa.float64()),  # 0-100, as the official scorer reports
        ("higher_is_better", pa.bool_()),
        ("target_steps", pa.int64()),  # fine-tuning steps on the target's English training data
        ("target_tokens", pa.int64()),
        ("target_flops", pa.float64()),  # matmul FLOPs, as intermediate_flops
        ("target_seconds", pa.float64()),
        ("eval_examples", pa.int64()),
        ("eval_tokens", pa.int64()),
        ("eval_flops", pa.float64()),  # forward matmul FLOPs (a third of training's)
        ("eval_seconds", pa.float64()),
        ("node", pa.string()),  # the host the trial ran on
        ("recorded_at", pa.string()),  # ISO 8601, UTC
        # Added later; each has a default (ADDED_DEFAULTS), so rows written before them stay valid.
        ("cooldown_steps", pa.int64()),  # branch mode: steps of the cooldown branch (included above)
        ("cooldown_tokens", pa.int64()),
        ("cooldown_seconds", pa.float64()),
        ("intermediate_accelerator_seconds", pa.float64()),  # GPU-seconds: wall seconds x GPUs used
        ("cooldown_accelerator_seconds", pa.float64()),
        ("target_accelerator_seconds", pa.float64()),
        ("eval_accelerator_seconds", pa.float64()),
        ("mixture", pa.string()),  # multi-task intermediate training: task -> sampling share, as JSON
        ("chance", pa.float64()),  # English dev rows: the task's chance score (ASHA's signal is normalised by it)
        ("model_non_embedding_params", pa.int64()),  # the N of the FLOPs (0: a row written before the column)
        ("intermediate_flops_all_params", pa.float64()),  # 6 x all parameters x tokens, embeddings included
        ("cooldown_flops", pa.float64()),  # branch mode: the cooldown branch's FLOPs (included in intermediate_flops)
    ]
)
COLUMNS = tuple(SCHEMA.names)
ADDED_DEFAULTS: dict[str, Any] = {
    "cooldown_steps": 0, "cooldown_tokens": 0, "cooldown_seconds": 0.0,
    "intermediate_accelerator_seconds": 0.0, "cooldown_accelerator_seconds": 0.0,
    "target_accelerator_seconds": 0.0, "eval_accelerator_seconds": 0.0, "mixture": "",
    "chance": float("nan"), "model_non_embedding_params": 0, "intermediate_flops_all_params": float("nan"),
    "cooldown_flops": 0.0,
}


def rows_dir(study_uri: str) -> str:
    return storage.join(study_uri, "rows")


def to_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows as dicts -> a table with exactly SCHEMA; a missing or extra column is an error."""
    rows = [{**ADDED_DEFAULTS, **row} for row in rows]
    for i, row in enumerate(rows):
        missing = set(COLUMNS) - set(row)
        extra = set(row) - set(COLUMNS)
        if missing or extra:
            raise ValueError(f"result row {i}: missing columns {sorted(missing)}, unknown columns {sorted(extra)}")
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def milestone_uri(study_uri: str, trial_id: str, milestone: int) -> str:
    return storage.join(rows_dir(study_uri), trial_id, f"{milestone:012d}.parquet")


def write_milestone(study_uri: str, trial_id: str, milestone: int, rows: Iterable[Mapping[str, Any]]) -> str:
    """Write one milestone's rows atomically; returns the file's URI."""
    table = to_table(rows)
    final = milestone_uri(study_uri, trial_id, milestone)
    write_table_atomic(table, final)
    return final


def write_table_atomic(table: pa.Table, uri: str) -> None:
    storage.write_atomic(uri, lambda fs, tmp: pq.write_table(table, tmp, filesystem=fs), suffix=".parquet")


def collect(study_uri: str) -> pd.DataFrame:
    """Every finished milestone file of a study as one DataFrame (a consistent snapshot of finished files)."""
    fs, root = storage.filesystem(rows_dir(study_uri))
    import pyarrow.fs as pafs

    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        return pd.DataFrame({name: pd.Series(dtype=SCHEMA.field(name).type.to_pandas_dtype()) for name in COLUMNS})
    files = sorted(
        f.path
        for f in fs.get_file_info(pafs.FileSelector(root, recursive=True))
        if f.type == pafs.FileType.File and f.path.endswith(".parquet") and not f.base_name.startswith(".tmp-")
    )
    tables = [conform(pq.read_table(p, filesystem=fs)) for p in files]
    if not tables:
        return SCHEMA.empty_table().to_pandas()
    return pa.concat_tables(tables).to_pandas()


def conform(table: pa.Table) -> pa.Table:
    """A table written under an earlier schema, with the columns added since filled by their defaults."""
    for name in COLUMNS:
        if name not in table.column_names:
            value = ADDED_DEFAULTS[name]
            table = table.append_column(name, pa.array([value] * table.num_rows, type=SCHEMA.field(name).type))
    return table.select(list(COLUMNS)).cast(SCHEMA)


def config_json(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)
