"""`xstudy export PATH`: the study's answer under PATH/report/: data, fronts, gains, per-language views, report.

It reads only finished milestone files (each written atomically), once, into one table, and derives
everything from that table: it works on a study that is still running, and every file of one export
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
import html
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from analysis import aggregate, curves, gains, languages, pareto, plots, recommend, report, transfer
from analysis.pareto import OVERALL
from analysis.plots import COST_LABELS
from study import results, storage

OBJECTIVE = "target_task"  # the column naming what a score is of: a target task, or "overall"
GROUPINGS = ("family", "script")  # language properties the per-language heatmap is also grouped by


@dataclass
class Tables:
    """Everything the report shows, computed from one snapshot of the results table."""

    results: pd.DataFrame
    points: pd.DataFrame  # seed means per configuration and milestone, per objective
    fronts: pd.DataFrame
    gains: pd.DataFrame
    size_comparison: pd.DataFrame
    language_gains: pd.DataFrame  # per language, with the language's properties
    language_views: dict[str, pd.DataFrame]  # "language", "family", "script" -> heatmap table
    dev_vs_zero_shot: pd.DataFrame
    rank_correlation: pd.DataFrame
    convention: aggregate.Convention  # how the scores were aggregated (benchmark, QA score, languages)
    curves: curves.Curves | None = None  # fitted duration curves and the points behind them
    recommendation: pd.DataFrame | None = None  # per size: task and steps for the default budget
    best_size: pd.DataFrame | None = None  # per FLOPs budget: the size predicted best, with its probability
    crossovers: pd.DataFrame | None = None  # where a larger size trained briefly overtakes a smaller one


def analyse(df: pd.DataFrame, convention: aggregate.Convention | None = None) -> Tables:
    """Every table of the report from the results table (a pure function of `df` and `convention`).

    `convention` (the study's, `StudySpec.convention`) says which languages each task score covers and how
    QA is scored; None expects every language a task has in `df` and scores QA (EM + F1) / 2.
    """
    convention = convention or aggregate.Convention()
    metrics = convention.metrics(df)
    per_task = aggregate.task_scores(df, split="test", metrics=metrics, expected_languages=convention.languages)
    overall = aggregate.overall_scores(df, split="test", metrics=metrics, expected_languages=convention.languages)
    overall = overall.assign(**{OBJECTIVE: OVERALL})
    points = pd.concat([aggregate.seed_means(overall), aggregate.seed_means(per_task)], ignore_index=True)
    fronts = pareto.study_fronts(points, objective=OBJECTIVE)

    gain_table = pd.concat(
        [gains.gains_over_baseline(overall), gains.gains_over_baseline(per_task)], ignore_index=True,
    )
    comparison = pd.concat(
        [gains.size_comparison(overall), gains.size_comparison(per_task)], ignore_index=True,
    )
    properties = language_properties()
    per_language = gains.gains_over_baseline(aggregate.language_scores(df, split="test", metrics=metrics))
    per_language = per_language.merge(properties[["language", *GROUPINGS]], on="language", how="left")
    for column in GROUPINGS:
        per_language[column] = per_language[column].fillna(languages.UNKNOWN)
    views = {
        by: languages.language_gain_table(per_language, by=by, properties=properties) for by in ("language", *GROUPINGS)
    }
    scatter = transfer.dev_vs_zero_shot(df, metrics=metrics, expected_languages=convention.languages)
    fitted = curves.study_curves(df, convention)
    return Tables(
        results=df, points=points, fronts=fronts, gains=gain_table, size_comparison=comparison,
        language_gains=per_language, language_views=views, dev_vs_zero_shot=scatter,
        rank_correlation=transfer.rank_correlation(scatter), convention=convention,
        curves=fitted, recommendation=recommend.recommend(fitted), best_size=curves.best_size_by_budget(fitted),
        crossovers=curves.crossovers(fitted),
    )


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

    tables = analyse(df, study_convention(uri))
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
    put("report", "report.html", render(tables, uri).encode("utf-8"))
    on_stage(STAGES[3])
    return written


def draw(tables: Tables, folder: Path) -> dict[str, list[Path]]:
    """The static figures (PNG and SVG) into `folder`; {what: [png, svg]}. Empty tables draw nothing."""
    out: dict[str, list[Path]] = {}
    score_bands, gain_bands = _bands(tables, "score"), _bands(tables, "gain")
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


def _bands(tables: Tables, quantity: str) -> pd.DataFrame:
    """The fitted curves of `quantity` with their 95% bands, for the plots (empty without curves)."""
    if tables.curves is None:
        return pd.DataFrame(columns=curves.BAND_COLUMNS)
    return curves.bands(tables.curves, quantity)


def render(tables: Tables, uri: str) -> str:
    """The self-contained interactive HTML report."""
    sections: list[report.Section] = []
    waiting = "Not enough finished results yet: export again as the study runs."
    if tables.curves is not None:
        sections.append(_recommendation_section(tables, waiting))
    score_bands, gain_bands = _bands(tables, "score"), _bands(tables, "gain")

    fronts = report.Section(
        "Pareto fronts: zero-shot score against intermediate-training cost",
        "Each point is one configuration at one milestone, averaged over its seeds. Left: each model size's "
        "front on intermediate steps (how long to train it). Right: one front across sizes on FLOPs "
        f"({COST_LABELS[pareto.FLOPS_AXIS]}), which answers whether a large model trained briefly beats a small one trained "
        f"long. Scores: {tables.convention.describe()}.",
    )
    for i, objective in enumerate(objectives(tables.points)):
        points = tables.points[tables.points[OBJECTIVE] == objective]
        fronts.items.append(report.figure_html(
            report.pareto_figure(points, tables.fronts[tables.fronts[OBJECTIVE] == objective], objective,
                                 bands=score_bands[score_bands[OBJECTIVE] == objective]), f"pareto-{i}"
        ))
    fronts.items.append(report.table_html(_front_columns(tables.fronts), "frontier points", collapsed=True)
                        if not tables.fronts.empty else f"<p>{waiting}</p>")
    sections.append(fronts)

    gain_section = report.Section(
        "Gains over the no-intermediate baseline",
        f"Scores: {tables.convention.describe()}. "
        "Mean gain in points over the step-0 baseline of the same size and seed, with 95% paired Student-t "
        "intervals over seeds (each seed's gain over its own baseline). With one seed there is no interval: "
        "the point is marked '1 seed'. The intervals cover the spread between seeds, not the sampling of "
        "the test examples, which every seed shares.",
    )
    trained = tables.gains[tables.gains["intermediate_steps"] > 0]
    if trained.dropna(subset=["gain"]).empty:
        gain_section.items.append(f"<p>{waiting}</p>")
    else:
        gain_section.items.append(report.figure_html(report.gains_figure(tables.gains, OBJECTIVE, bands=gain_bands), "gains"))
        gain_section.items.append(report.table_html(_gain_columns(trained), "gains", collapsed=True))
    sections.append(gain_section)

    comparison = report.Section(
        "Does the gain grow or shrink with model size?",
        "For each pair of sizes and each step count both ran: the larger size's gain minus the smaller's, "
        "with a 95% Welch t interval (the sizes' seeds are independent samples with their own spreads). "
        "'grows' and 'shrinks' mean the interval excludes 0; with fewer than 2 seeds per size there is no "
        "interval and no verdict.",
    )
    if tables.size_comparison.empty:
        comparison.items.append("<p>No step count has results from two sizes yet.</p>")
    else:
        comparison.items.append(report.figure_html(report.size_comparison_figure(tables.size_comparison, OBJECTIVE),
                                                   "size-comparison"))
        comparison.items.append(report.table_html(tables.size_comparison, "size comparison", collapsed=True))
    sections.append(comparison)

    per_language = report.Section(
        "Per-language gains",
        "Mean gain over the baseline per language (then per language family and per script: the unweighted "
        "mean of the languages' gains) at each step count, averaged over intermediate and target tasks. "
        "language_gains.csv has every (intermediate task, target task, language) cell with its interval.",
    )
    for by, view in tables.language_views.items():
        if not view.empty:
            per_language.items.append(report.figure_html(report.language_heatmap_figure(view, by), f"languages-{by}"))
    if len(per_language.items) == 0:
        per_language.items.append(f"<p>{waiting}</p>")
    sections.append(per_language)

    signal = report.Section(
        "Does English dev (ASHA's signal) predict zero-shot transfer?",
        "Each point is one trial at one milestone: ASHA's default signal (the mean over target tasks of the "
        "English dev score normalised by the task's chance level, 0 at chance and 100 perfect: the number a "
        "trial reports to ASHA) against its zero-shot score without English. Spearman's rank correlation per size over all milestones, and "
        "per milestone, which is the comparison ASHA makes at a rung (fewer than 3 points: no value).",
    )
    if tables.dev_vs_zero_shot.empty:
        signal.items.append(f"<p>{waiting}</p>")
    else:
        signal.items.append(report.figure_html(
            report.dev_vs_zero_shot_figure(tables.dev_vs_zero_shot, tables.rank_correlation), "dev-vs-zero-shot"
        ))
        shown = tables.rank_correlation.astype({"intermediate_steps": object})
        shown["intermediate_steps"] = shown["intermediate_steps"].map(lambda s: "all" if pd.isna(s) else str(s))
        signal.items.append(report.table_html(shown, "rank correlation (intermediate_steps 'all': every milestone of a size)", digits=3))
    sections.append(signal)

    data = report.Section(
        "Data",
        "Every number on this page comes from results.parquet (the same rows as results.csv) next to this "
        "file; the tables behind each view are the CSV files beside it.",
    )
    data.items.append("<ul>" + "".join(
        f"<li><a href='{name}'>{name}</a></li>"
        for name in ("results.parquet", "results.csv", "pareto_front.csv", "gains.csv", "size_comparison.csv",
                     "language_gains.csv", "dev_vs_zero_shot.csv", "rank_correlation.csv", "curves.csv",
                     "recommendation.csv", "best_size_by_budget.csv", "crossovers.csv")
    ) + "</ul>")
    sections.append(data)
    summary = _summary(tables.results, uri, tables.convention)
    return report.render_page(f"xstudy report: {_study_name(tables.results, uri)}", summary, sections)


def _recommendation_section(tables: Tables, waiting: str) -> report.Section:
    """The answer first: per size, what to train and for how long, from the fitted curves."""
    section = report.Section(
        "Recommendation: which intermediate task, and how many steps",
        "Per model size, for the overall score: the intermediate task and step count whose fitted gain curve "
        f"is within {recommend.DEFAULT_WITHIN:g} points of its plateau gain, with the 95% interval of the predicted "
        "gain and score there (`xstudy recommend PATH --budget-gpu-hours H` answers for a GPU-hour budget). "
        "Curves: a - b*(s+s0)^-c fitted per seed with 4 or more milestones (simpler families with fewer, as "
        "curves.csv's family column says); intervals are t intervals over seeds, or the fit's own with one "
        "seed. 'extrapolated' marks a step count past the last measured milestone: a prediction, not a "
        "measurement. curves.csv's holdout_error checks each curve by refitting without its last milestone.",
    )
    rec = tables.recommendation
    if rec is None or rec.empty:
        section.items.append(f"<p>{waiting}</p>")
        return section
    shown = rec[["model", "intermediate_task", "steps", "predicted_gain", "gain_ci_low", "gain_ci_high",
                 "predicted_score", "score_ci_low", "score_ci_high", "extrapolated", "why"]]
    section.items.append(report.table_html(shown, "recommendation"))
    if tables.crossovers is not None and not tables.crossovers.empty:
        section.items.append(report.table_html(tables.crossovers, "crossovers: where a larger size overtakes a smaller one (FLOPs)", collapsed=True))
    if tables.best_size is not None and not tables.best_size.empty:
        section.items.append(report.table_html(tables.best_size, "size predicted best at each FLOPs budget", collapsed=True))
    table = tables.curves.table
    keep = ["model", "intermediate_task", "target_task", "quantity", "family", "reason", "plateau", "plateau_ci_low",
            "plateau_ci_high", "steps_to_90", "steps_to_95", "residual_rms", "n_milestones", "n_seeds",
            "holdout_error", "holdout_within_interval"]
    section.items.append(report.table_html(table[keep], "fitted curves", collapsed=True))
    return section


def objectives(points: pd.DataFrame) -> list[str]:
    """The overall score first, then the target tasks in name order."""
    names = sorted(points[OBJECTIVE].astype(str).unique()) if OBJECTIVE in points else []
    return ([OVERALL] if OVERALL in names else []) + [n for n in names if n != OVERALL]


def _summary(df: pd.DataFrame, uri: str, convention: aggregate.Convention) -> str:
    """What this snapshot holds, and the study's progress when its Ray files can be read."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    milestones = df[["trial_id", "intermediate_steps"]].drop_duplicates()
    rows = [
        ("study folder", uri),
        ("benchmark", aggregate.BENCHMARK_NAMES.get(convention.benchmark or "", "none (tasks of neither XTREME nor XTREME-R)")),
        ("overall score", convention.describe()),
        ("exported at", now),
        ("model sizes", ", ".join(plots.size_order(df)) or "-"),
        ("intermediate tasks", ", ".join(sorted(df["intermediate_task"].unique())) or "-"),
        ("target tasks", ", ".join(sorted(df["target_task"].unique())) or "-"),
        ("seeds", ", ".join(str(s) for s in sorted(df["seed"].unique())) or "-"),
        ("trials with results", str(df["trial_id"].nunique())),
        ("finished (trial, milestone) results", str(len(milestones))),
    ]
    try:
        from study.status import gather

        status = gather(uri)
        counts = ", ".join(f"{n} {state}" for state, n in status["trials_by_state"].items() if n)
        rows.append(("trials", counts or "-"))
        rows.append(("study state", "in progress: this is a partial snapshot" if status["running"] else "done"))
    except Exception as exc:  # the summary must never stop the report; say why it is shorter
        rows.append(("study state", f"unknown ({type(exc).__name__})"))
    cells = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='summary'>{cells}</table>"


def _study_name(df: pd.DataFrame, uri: str) -> str:
    names = df["study"].dropna().unique() if "study" in df else []
    return str(names[0]) if len(names) == 1 else storage.parent_and_name(uri)[1]


def _front_columns(fronts: pd.DataFrame) -> pd.DataFrame:
    keep = [OBJECTIVE, "front", "cost_axis", "model", "intermediate_task", "intermediate_steps", "intermediate_flops",
            "score", "score_sd", "n_seeds", "hyperparameters", "trial_ids"]
    return fronts[[c for c in keep if c in fronts.columns]]


def _gain_columns(table: pd.DataFrame) -> pd.DataFrame:
    keep = ["model", "intermediate_task", "intermediate_steps", OBJECTIVE, "gain", "ci_low", "ci_high", "n_seeds",
            "score", "baseline"]
    return table[[c for c in keep if c in table.columns]]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
