"""The report page: its text (sections, captions, the tables around the figures) from `analysis.tables.Tables`,
and the one self-contained HTML page they make (`render_page`: plotly.js inline, no network needed).

`render` is a pure function of the tables and of what the caller read about the study (its URI, its folder
name, when it was read, its trials' progress); `study.export` reads the study and writes the page. The
figures themselves are `analysis.report`'s (described in `analysis.figures`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from analysis import aggregate, pareto, recommend, report
from analysis.figures import COST_LABELS, objectives, size_order
from analysis.pareto import OBJECTIVE
from analysis.report import PANEL_HEIGHT
from analysis.tables import Tables

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
USAGE = (
    "Hover a point for its trials and configuration. Click a model size in a legend to show that size "
    "alone; click it again to show every size."
)


@dataclass
class Section:
    """One part of the page: a heading, a short text, then figures and tables (as HTML), in order."""

    title: str
    text: str = ""
    items: list[str] = field(default_factory=list)


def figure_html(fig: go.Figure, div_id: str) -> str:
    """A figure's div and its `Plotly.newPlot` call, without plotly.js (the page carries it once)."""
    height = fig.layout.height or PANEL_HEIGHT
    return pio.to_html(
        fig, full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG,
        default_width="100%", default_height=f"{height}px",
    )


def table_html(table: pd.DataFrame, caption: str = "", collapsed: bool = False, digits: int = 2) -> str:
    """A table as escaped HTML; floats to `digits` decimals; optionally folded under its caption."""
    body = table.to_html(
        index=False, border=0, classes="data", na_rep="", escape=True,
        float_format=lambda v: f"{v:.{digits}f}" if abs(v) < 1e6 or v == 0 else f"{v:.3g}",
    )
    if collapsed:
        return f"<details><summary>{html.escape(caption)} ({len(table)} rows)</summary>{body}</details>"
    return (f"<p class='caption'>{html.escape(caption)}</p>" if caption else "") + body


def render_page(title: str, summary: str, sections: list[Section]) -> str:
    """The whole page: plotly.js inline in the head, then the summary and each section."""
    from plotly.offline import get_plotlyjs

    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        summary,
        f"<p class='usage'>{html.escape(USAGE)}</p>",
        "<nav><ul>" + "".join(f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>" for i, s in enumerate(sections)) + "</ul></nav>",
    ]
    for i, section in enumerate(sections):
        parts.append(f"<section id='s{i}'><h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        parts.extend(section.items)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)



def render(tables: Tables, uri: str, folder_name: str, exported_at: str,
           progress: list[tuple[str, str]] = ()) -> str:
    """The self-contained interactive HTML report of the study at `uri`.

    `folder_name`: the title's name of a study whose rows do not name one; `exported_at`: when its snapshot
    was read; `progress`: (what, value) rows about the study's trials, after those about the snapshot."""
    sections: list[Section] = []
    waiting = "Not enough finished results yet: export again as the study runs."
    if tables.curves is not None:
        sections.append(_recommendation_section(tables, waiting))
    score_bands, gain_bands = tables.bands("score"), tables.bands("gain")

    fronts = Section(
        "Pareto fronts: zero-shot score against intermediate-training cost",
        "Each point is one configuration at one milestone, averaged over its seeds. Left: each model size's "
        "front on intermediate steps (how long to train it). Right: one front across sizes on FLOPs "
        f"({COST_LABELS[pareto.FLOPS_AXIS]}), which answers whether a large model trained briefly beats a small one trained "
        f"long. Scores: {tables.convention.describe()}.",
    )
    for i, objective in enumerate(objectives(tables.points)):
        points = tables.points[tables.points[OBJECTIVE] == objective]
        fronts.items.append(figure_html(
            report.pareto_figure(points, tables.fronts[tables.fronts[OBJECTIVE] == objective], objective,
                                 bands=score_bands[score_bands[OBJECTIVE] == objective]), f"pareto-{i}"
        ))
    fronts.items.append(table_html(_front_columns(tables.fronts), "frontier points", collapsed=True)
                        if not tables.fronts.empty else f"<p>{waiting}</p>")
    sections.append(fronts)

    gain_section = Section(
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
        gain_section.items.append(figure_html(report.gains_figure(tables.gains, OBJECTIVE, bands=gain_bands), "gains"))
        gain_section.items.append(table_html(_gain_columns(trained), "gains", collapsed=True))
    sections.append(gain_section)

    comparison = Section(
        "Does the gain grow or shrink with model size?",
        "For each pair of sizes and each step count both ran: the larger size's gain minus the smaller's, "
        "with a 95% Welch t interval (the sizes' seeds are independent samples with their own spreads). "
        "'grows' and 'shrinks' mean the interval excludes 0; with fewer than 2 seeds per size there is no "
        "interval and no verdict.",
    )
    if tables.size_comparison.empty:
        comparison.items.append("<p>No step count has results from two sizes yet.</p>")
    else:
        comparison.items.append(figure_html(report.size_comparison_figure(tables.size_comparison, OBJECTIVE),
                                                   "size-comparison"))
        comparison.items.append(table_html(tables.size_comparison, "size comparison", collapsed=True))
    sections.append(comparison)

    per_language = Section(
        "Per-language gains",
        "Mean gain over the baseline per language (then per language family and per script: the unweighted "
        "mean of the languages' gains) at each step count, averaged over intermediate and target tasks. "
        "language_gains.csv has every (intermediate task, target task, language) cell with its interval.",
    )
    for by, view in tables.language_views.items():
        if not view.empty:
            per_language.items.append(figure_html(report.language_heatmap_figure(view, by), f"languages-{by}"))
    if len(per_language.items) == 0:
        per_language.items.append(f"<p>{waiting}</p>")
    sections.append(per_language)

    signal = Section(
        "Does English dev (ASHA's signal) predict zero-shot transfer?",
        "Each point is one trial at one milestone: ASHA's default signal (the mean over target tasks of the "
        "English dev score normalised by the task's chance level, 0 at chance and 100 perfect: the number a "
        "trial reports to ASHA) against its zero-shot score without English. Spearman's rank correlation per size over all milestones, and "
        "per milestone, which is the comparison ASHA makes at a rung (fewer than 3 points: no value).",
    )
    if tables.dev_vs_zero_shot.empty:
        signal.items.append(f"<p>{waiting}</p>")
    else:
        signal.items.append(figure_html(
            report.dev_vs_zero_shot_figure(tables.dev_vs_zero_shot, tables.rank_correlation), "dev-vs-zero-shot"
        ))
        shown = tables.rank_correlation.astype({"intermediate_steps": object})
        shown["intermediate_steps"] = shown["intermediate_steps"].map(lambda s: "all" if pd.isna(s) else str(s))
        signal.items.append(table_html(shown, "rank correlation (intermediate_steps 'all': every milestone of a size)", digits=3))
    sections.append(signal)

    data = Section(
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
    summary = _summary(tables.results, uri, tables.convention, exported_at, progress)
    return render_page(f"xstudy report: {_study_name(tables.results, folder_name)}", summary, sections)


def _recommendation_section(tables: Tables, waiting: str) -> Section:
    """The answer first: per size, what to train and for how long, from the fitted curves."""
    section = Section(
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
    section.items.append(table_html(shown, "recommendation"))
    if tables.crossovers is not None and not tables.crossovers.empty:
        section.items.append(table_html(tables.crossovers, "crossovers: where a larger size overtakes a smaller one (FLOPs)", collapsed=True))
    if tables.best_size is not None and not tables.best_size.empty:
        section.items.append(table_html(tables.best_size, "size predicted best at each FLOPs budget", collapsed=True))
    table = tables.curves.table
    keep = ["model", "intermediate_task", "target_task", "quantity", "family", "reason", "plateau", "plateau_ci_low",
            "plateau_ci_high", "steps_to_90", "steps_to_95", "residual_rms", "n_milestones", "n_seeds",
            "holdout_error", "holdout_within_interval"]
    section.items.append(table_html(table[keep], "fitted curves", collapsed=True))
    return section


def _summary(df: pd.DataFrame, uri: str, convention: aggregate.Convention, exported_at: str,
             progress: list[tuple[str, str]]) -> str:
    """What this snapshot holds, then `progress`: the study's trials, when its Ray files could be read."""
    milestones = df[["trial_id", "intermediate_steps"]].drop_duplicates()
    rows = [
        ("study folder", uri),
        ("benchmark", aggregate.BENCHMARK_NAMES.get(convention.benchmark or "", "none (tasks of neither XTREME nor XTREME-R)")),
        ("overall score", convention.describe()),
        ("exported at", exported_at),
        ("model sizes", ", ".join(size_order(df)) or "-"),
        ("intermediate tasks", ", ".join(sorted(df["intermediate_task"].unique())) or "-"),
        ("target tasks", ", ".join(sorted(df["target_task"].unique())) or "-"),
        ("seeds", ", ".join(str(s) for s in sorted(df["seed"].unique())) or "-"),
        ("trials with results", str(df["trial_id"].nunique())),
        ("finished (trial, milestone) results", str(len(milestones))),
    ]
    rows.extend(progress)
    cells = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='summary'>{cells}</table>"


def _study_name(df: pd.DataFrame, folder_name: str) -> str:
    names = df["study"].dropna().unique() if "study" in df else []
    return str(names[0]) if len(names) == 1 else folder_name


def _front_columns(fronts: pd.DataFrame) -> pd.DataFrame:
    keep = [OBJECTIVE, "front", "cost_axis", "model", "intermediate_task", "intermediate_steps", "intermediate_flops",
            "score", "score_sd", "n_seeds", "hyperparameters", "trial_ids"]
    return fronts[[c for c in keep if c in fronts.columns]]


def _gain_columns(table: pd.DataFrame) -> pd.DataFrame:
    keep = ["model", "intermediate_task", "intermediate_steps", OBJECTIVE, "gain", "ci_low", "ci_high", "n_seeds",
            "score", "baseline"]
    return table[[c for c in keep if c in table.columns]]


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 1300px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
section { margin-bottom: 2.5rem; }
table.data { border-collapse: collapse; font-size: .8rem; margin: .5rem 0 1rem; }
table.data th, table.data td { padding: .15rem .5rem; border-bottom: 1px solid #eee; text-align: right; }
table.data th { background: #f6f6f6; }
p.usage { background: #f3f6ff; padding: .4rem .7rem; border-radius: 4px; font-size: .9rem; }
p.caption { font-weight: 600; margin-bottom: 0; }
nav ul { columns: 2; font-size: .9rem; }
.summary td { padding: .1rem .8rem .1rem 0; }
details summary { cursor: pointer; font-weight: 600; margin: .3rem 0; }
"""
