"""`xstudy export PATH`: the results table and the Pareto plots under PATH/report/.

It reads only finished milestone files (each written atomically), so it works on a study that is still
running and always sees a consistent snapshot. Plots are drawn from the exported table, never from Ray's
internal files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa

from analysis import aggregate, pareto, plots
from study import results, storage


def export(path: str) -> dict[str, str]:
    uri = storage.normalize(path)
    if not storage.exists(storage.join(uri, "spec.json")) and not storage.exists(results.rows_dir(uri)):
        raise FileNotFoundError(f"{path}: no study here (no spec.json and no rows/ written by `xstudy run`)")
    df = results.collect(uri)
    report = storage.join(uri, "report")
    written: dict[str, str] = {}

    table = pa.Table.from_pandas(df, schema=results.SCHEMA, preserve_index=False)
    results.write_table_atomic(table, storage.join(report, "results.parquet"))
    written["results table"] = storage.join(report, "results.parquet")
    storage.write_text_atomic(storage.join(report, "results.csv"), df.to_csv(index=False))
    written["results csv"] = storage.join(report, "results.csv")

    overall = aggregate.overall_scores(df, split="test")
    if overall.empty:
        return written
    front = pareto.frontier_table(overall, cost="intermediate_flops", by="model")
    storage.write_text_atomic(storage.join(report, "pareto_front.csv"), front.to_csv(index=False))
    written["pareto front"] = storage.join(report, "pareto_front.csv")
    with tempfile.TemporaryDirectory() as tmp:
        files = plots.plot_pareto(
            overall, front, Path(tmp) / "pareto.png", cost="intermediate_flops",
            title="Zero-shot score against intermediate-training cost",
        )
        for f in files:
            target = storage.join(report, f.name)
            fs, p = storage.filesystem(target)
            fs.create_dir(p.rsplit("/", 1)[0], recursive=True)
            with fs.open_output_stream(p) as out:
                out.write(f.read_bytes())
            written[f"pareto plot ({f.suffix[1:]})"] = target
    return written
