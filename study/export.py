"""`xstudy export PATH`: the study's answer under PATH/report/: data, fronts, gains, per-language views, report.

This module reads the study and writes files; the tables are `analysis.tables.analyse`'s, the figures
`analysis.plots`' and `analysis.report`'s (both drawing `analysis.figures`' descriptions) and the page's text
`analysis.report_page`'s. It reads only finished milestone files (each written atomically), once, into one
table, and derives everything from that table: it works on a study that is still running, and every file of one export
describes the same snapshot. Plots are drawn from the exported tables, never from Ray's internal files.

What it writes (the README lists the columns of each table):
- `results.parquet`, `results.csv`: the results table;
- `pareto_front.csv`; `pareto.png/.svg` (the overall score) and `pareto_<task>.png/.svg`: fronts of the
  zero-shot score against cost, per size on steps and across sizes on FLOPs;
- `gains.csv`, `gains.png/.svg`: gain over the step-0 baseline with 95% paired t intervals over seeds;
- `size_comparison.csv`, `size_comparison.png/.svg`: does the gain grow or shrink with model size;
- `language_gains.csv`, `language_gains[_family|_script].png/.svg`: gains per language (or family, script);
- `dev_vs_zero_shot.csv`, `rank_correlation.csv`, `dev_vs_zero_shot.png/.svg`: ASHA's signal against
  zero-shot, and Spearman's rank correlation per size;
- `curves.csv`: fitted duration curves (`analysis.curves`) per (size, intermediate task, target task or
  overall, score or gain), with plateau, steps to 90%/95% of it, marginal gains, and the held-back-milestone
  check (`holdout_error`, drawn in `holdout.png/.svg`); `best_size_by_budget.csv`, `crossovers.csv`: which size a FLOPs budget favours;
- `recommendation.csv`: per size, the intermediate task and step count to train (`analysis.recommend`);
- `report.html`: all of the above in one self-contained interactive page (plotly, no network needed), the
  recommendation first; the Pareto and gain plots draw the fitted curves with their 95% bands.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa

from analysis import aggregate, curves, languages, plots, report_page
from analysis.figures import objectives
from analysis.pareto import OBJECTIVE, OVERALL
from analysis.tables import Tables, analyse
from study import results, storage


def study_convention(uri: str) -> aggregate.Convention:
    """The convention of the study at `uri`, from its `spec.json` (`study.spec.convention_of`); the default
    one without a spec.json that parses (a folder of rows alone)."""
    import json

    from study.spec import convention_of

    spec_uri = storage.join(uri, "spec.json")
    try:
        return convention_of(json.loads(storage.read_text(spec_uri))) if storage.exists(spec_uri) else aggregate.Convention()
    except (ValueError, OSError):
        return aggregate.Convention()


def language_properties() -> pd.DataFrame:
    """The XTREME languages' table, plus the built-in benchmark's generated languages (family "generated",
    their word order as the genus), so the demo's languages group too."""
    from study.synthetic.benchmark import BUILTIN_LANGUAGES, WORD_ORDERS

    generated = []
    for code in BUILTIN_LANGUAGES:
        if code == "en":
            continue
        order = WORD_ORDERS.get(code)
        genus = f"{order.clause}{', postpositions' if order.postpositions else ''}" if order else "generated"
        generated.append({"language": code, "name": f"generated {code}", "family": "generated", "genus": genus,
                          "script": "Latin"})
    return languages.language_table(pd.DataFrame(generated))


STAGES = ("results table", "tables", "figures", "report")  # what `on_stage` is told has been done, in order


def export(path: str, out: str | None = None, on_stage=None) -> dict[str, str]:
    """Write the report of the study at `path` (a folder or a cloud URI) under `path/report/`, or under
    `out` (a local folder or another URI) when given; returns {what: URI} of each file.

    `on_stage` is called with each of STAGES once it is written (the command's progress bar)."""
    on_stage = on_stage or (lambda stage: None)
    uri = storage.normalize(path)
    if not storage.exists(storage.join(uri, "spec.json")) and not storage.exists(results.rows_dir(uri)):
        raise FileNotFoundError(f"{path}: no study here (no spec.json and no rows/ written by `xstudy run`)")
    df = results.collect(uri)  # the one snapshot everything below is derived from
    target = storage.normalize(out) if out else storage.join(uri, "report")
    written: dict[str, str] = {}

    def put(kind: str, name: str, data: bytes) -> None:
        storage.write_bytes_atomic(storage.join(target, name), data)
        written[kind] = storage.join(target, name)

    table = pa.Table.from_pandas(df, schema=results.SCHEMA, preserve_index=False)
    results.write_table_atomic(table, storage.join(target, "results.parquet"))
    written["results table"] = storage.join(target, "results.parquet")
    put("results csv", "results.csv", df.to_csv(index=False).encode())
    on_stage(STAGES[0])

    tables = analyse(df, study_convention(uri), language_properties())
    csvs = {
        "pareto front": ("pareto_front.csv", tables.fronts),
        "gains": ("gains.csv", tables.gains),
        "size comparison": ("size_comparison.csv", tables.size_comparison),
        "language gains": ("language_gains.csv", tables.language_gains),
        "dev vs zero-shot": ("dev_vs_zero_shot.csv", tables.dev_vs_zero_shot),
        "rank correlation": ("rank_correlation.csv", tables.rank_correlation),
        "curves": ("curves.csv", tables.curves.table),
        "recommendation": ("recommendation.csv", tables.recommendation),
        "best size by budget": ("best_size_by_budget.csv", tables.best_size),
        "crossovers": ("crossovers.csv", tables.crossovers),
    }
    for kind, (name, frame) in csvs.items():
        put(kind, name, frame.to_csv(index=False).encode())
    on_stage(STAGES[1])

    with tempfile.TemporaryDirectory(prefix="xstudy-report-") as tmp:
        for kind, files in draw(tables, Path(tmp)).items():
            for f in files:
                put(f"{kind} ({f.suffix[1:]})", f.name, f.read_bytes())
    on_stage(STAGES[2])
    exported_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    page = report_page.render(tables, uri, storage.parent_and_name(uri)[1], exported_at, study_progress(uri))
    put("report", "report.html", page.encode("utf-8"))
    on_stage(STAGES[3])
    return written


def draw(tables: Tables, folder: Path) -> dict[str, list[Path]]:
    """The static figures (PNG and SVG) into `folder`; {what: [png, svg]}. Empty tables draw nothing."""
    out: dict[str, list[Path]] = {}
    score_bands, gain_bands = tables.bands("score"), tables.bands("gain")
    for objective in objectives(tables.points):
        points = tables.points[tables.points[OBJECTIVE] == objective]
        fronts = tables.fronts[tables.fronts[OBJECTIVE] == objective]
        name = "pareto" if objective == OVERALL else f"pareto_{_slug(objective)}"
        kind = "pareto plot" if objective == OVERALL else f"pareto plot {objective}"
        out[kind] = plots.plot_fronts(points, fronts, folder / f"{name}.png", objective=objective,
                                      bands=score_bands[score_bands[OBJECTIVE] == objective])
    if not tables.gains[tables.gains["intermediate_steps"] > 0].dropna(subset=["gain"]).empty:
        out["gains plot"] = plots.plot_gains(tables.gains, folder / "gains.png", objective=OBJECTIVE, bands=gain_bands)
    if tables.curves is not None and curves.holdout_summary(tables.curves.table)["curves"]:
        out["holdout plot"] = plots.plot_holdout(tables.curves.table, folder / "holdout.png")
    if not tables.size_comparison.empty:
        out["size comparison plot"] = plots.plot_size_comparison(
            tables.size_comparison, folder / "size_comparison.png", objective=OBJECTIVE
        )
    for by, view in tables.language_views.items():
        if not view.empty:
            name = "language_gains" if by == "language" else f"language_gains_{by}"
            out[f"language gains plot{'' if by == 'language' else ' by ' + by}"] = plots.plot_language_gains(
                view, folder / f"{name}.png", by=by
            )
    if not tables.dev_vs_zero_shot.empty:
        out["dev vs zero-shot plot"] = plots.plot_dev_vs_zero_shot(
            tables.dev_vs_zero_shot, tables.rank_correlation, folder / "dev_vs_zero_shot.png"
        )
    return out


def study_progress(uri: str) -> list[tuple[str, str]]:
    """The report summary's rows about the study's trials (`study.status.gather`), when its Ray files can be
    read; else one row saying why not (the summary must never stop the report)."""
    try:
        from study.status import gather

        status = gather(uri)
        counts = ", ".join(f"{n} {state}" for state, n in status["trials_by_state"].items() if n)
        return [("trials", counts or "-"),
                ("study state", "in progress: this is a partial snapshot" if status["running"] else "done")]
    except Exception as exc:  # the summary must never stop the report; say why it is shorter
        return [("study state", f"unknown ({type(exc).__name__})")]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
